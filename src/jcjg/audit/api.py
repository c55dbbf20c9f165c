"""JSON API for the audit log (read-only: there is no route that edits or deletes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from jcjg.audit import service
from jcjg.audit.models import AuditLog
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.forms import Id
from jcjg.core.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/v1/audit", tags=["审计日志"], route_class=TransactionalRoute)
AuditReader = Annotated[Principal, Depends(requires("audit:read"))]


class AuditRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: dt.datetime
    action: str
    user_id: int | None
    username: str | None
    request_id: str | None
    ip: str | None
    object_type: str | None
    object_id: str | None
    object_repr: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: str | None
    repeats: int = Field(
        default=1,
        description="该记录代表的次数：同一账号（或匿名来源地址）在同一分钟内对同一地址被拒的请求"
        "只记第一次的详情，其余计入此数；其他记录为 1",
    )


def _read(db: Session, rows: Sequence[AuditLog]) -> list[AuditRead]:
    times = service.repeats(db, [r.id for r in rows])
    return [
        AuditRead.model_validate(r).model_copy(update={"repeats": times.get(r.id, 1)}) for r in rows
    ]


@router.get("", summary="检索审计日志", response_model=Page[AuditRead])
def search(
    db: SessionDep,
    principal: AuditReader,
    paging: Annotated[PageParams, Depends(page_params)],
    action: Annotated[str | None, Query(max_length=32)] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    request_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AuditRead]:
    rows, total = service.search(
        db=db,
        principal=principal,
        offset=paging.offset,
        limit=paging.limit,
        action=action,
        username=username,
        object_type=object_type,
        object_id=object_id,
        request_id=request_id,
    )
    return Page(
        items=_read(db, rows),
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/{log_id}", summary="审计记录详情", response_model=AuditRead)
def detail(log_id: Id, db: SessionDep, principal: AuditReader) -> AuditRead:
    return _read(db, [get_scoped(db, AuditLog, log_id, principal, "read")])[0]
