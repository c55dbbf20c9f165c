"""JSON API of administrative penalties: the register in reach, one decision, recording and
correcting one (problem+json errors)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import CONFLICT
from jcjg.core.forms import Day, Id
from jcjg.core.openapi import answers
from jcjg.core.pagination import Page, PageParams, count_rows, page_params
from jcjg.penalties import service
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.models import Penalty
from jcjg.penalties.schemas import PenaltyIn, PenaltyPatch, PenaltyRead

router = APIRouter(prefix="/api/v1/penalties", tags=["行政处罚"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("penalty:read"))]
Manager = Annotated[Principal, Depends(requires("penalty:manage"))]


@router.get("", summary="行政处罚列表（按数据范围）", response_model=Page[PenaltyRead])
def list_penalties(
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str, Query(max_length=64, description="文号或机构名称")] = "",
    kind: PenaltyKind | None = None,
    since: Day | None = None,
    until: Day | None = None,
    institution_id: Id | None = None,
) -> Page[PenaltyRead]:
    filters = service.Filters(
        q=q, kind=kind.value if kind else "", since=since, until=until,
        institution_id=institution_id,
    )  # fmt: skip
    stmt = service.penalties_stmt(principal=principal, filters=filters)
    total = count_rows(db, stmt)
    rows = db.scalars(
        stmt.order_by(Penalty.decided_on.desc(), Penalty.id.desc())
        .offset(paging.offset)
        .limit(paging.limit)
    ).all()
    return Page(
        items=[service.read(db, principal, p) for p in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/{penalty_id}", summary="行政处罚决定", response_model=PenaltyRead)
def get_penalty(penalty_id: Id, db: SessionDep, principal: Reader) -> PenaltyRead:
    return service.read(db, principal, service.get_penalty(db, principal, penalty_id))


@router.post(
    "",
    summary="登记行政处罚决定",
    status_code=201,
    response_model=PenaltyRead,
    responses=answers({409: (CONFLICT,)}),
)
def create_penalty(data: PenaltyIn, db: SessionDep, principal: Manager) -> PenaltyRead:
    return service.read(db, principal, service.create(db=db, principal=principal, data=data))


@router.patch("/{penalty_id}", summary="更正行政处罚决定的登记", response_model=PenaltyRead)
def correct_penalty(
    penalty_id: Id, data: PenaltyPatch, db: SessionDep, principal: Manager
) -> PenaltyRead:
    penalty = service.get_penalty(db, principal, penalty_id)
    service.correct(db=db, principal=principal, penalty=penalty, data=data)
    return service.read(db, principal, penalty)
