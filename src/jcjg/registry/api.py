"""Read-only JSON API for institutions (the registry issue adds the rest)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.pagination import Page, PageParams, page_params
from jcjg.registry.models import Institution

router = APIRouter(prefix="/api/v1/institutions", tags=["检测机构"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("institution:read"))]


class InstitutionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    credit_code: str | None
    region_code: str
    status: str


@router.get("", summary="检测机构列表（按数据范围）", response_model=Page[InstitutionRead])
def list_institutions(
    db: SessionDep, principal: Reader, paging: Annotated[PageParams, Depends(page_params)]
) -> Page[InstitutionRead]:
    stmt = restrict(select(Institution), principal, "read")
    total = int(db.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    rows = db.scalars(stmt.order_by(Institution.code).offset(paging.offset).limit(paging.limit))
    return Page(
        items=[InstitutionRead.model_validate(r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/{institution_id}", summary="检测机构详情", response_model=InstitutionRead)
def get_institution(institution_id: int, db: SessionDep, principal: Reader) -> InstitutionRead:
    return InstitutionRead.model_validate(
        get_scoped(db, Institution, institution_id, principal, "read")
    )
