"""JSON API of proficiency tests: the schemes in reach, one with its statistics and results,
creating one, a participant's results, the evaluation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import CONFLICT, PermissionDenied
from jcjg.core.forms import Id
from jcjg.core.openapi import answers
from jcjg.core.pagination import Page, PageParams, count_rows, page_params
from jcjg.proficiency import service
from jcjg.proficiency.choices import SchemeStatus, Source
from jcjg.proficiency.models import ProficiencyScheme
from jcjg.proficiency.schemas import InviteIn, ResultsIn, SchemeIn, SchemeRead, SubmittedRead

router = APIRouter(prefix="/api/v1/proficiency", tags=["能力验证"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("proficiency:read"))]
Manager = Annotated[Principal, Depends(requires("proficiency:manage"))]
Submitter = Annotated[Principal, Depends(requires("proficiency:submit"))]


# 409: the scheme was evaluated; it takes no more participants or results
EVALUATED = answers({409: (CONFLICT,)})


@router.get("/schemes", summary="能力验证列表（按数据范围）", response_model=Page[SchemeRead])
def list_schemes(
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    status: SchemeStatus | None = None,
    q: Annotated[str, Query(max_length=64, description="试验编号或名称")] = "",
) -> Page[SchemeRead]:
    stmt = service.schemes_stmt(principal=principal, status=status.value if status else "", q=q)
    total = count_rows(db, stmt)
    rows = db.scalars(
        stmt.order_by(ProficiencyScheme.deadline.desc(), ProficiencyScheme.id.desc())
        .offset(paging.offset)
        .limit(paging.limit)
    ).all()
    return Page(
        items=[service.scheme_read(db, principal, s) for s in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@router.get("/schemes/{scheme_id}", summary="能力验证（统计量与结果）", response_model=SchemeRead)
def get_scheme(scheme_id: Id, db: SessionDep, principal: Reader) -> SchemeRead:
    return service.scheme_read(db, principal, service.get_scheme(db, principal, scheme_id))


@router.post(
    "/schemes", summary="创建能力验证并邀请参加机构", status_code=201, response_model=SchemeRead
)
def create_scheme(data: SchemeIn, db: SessionDep, principal: Manager) -> SchemeRead:
    scheme = service.create_scheme(db=db, principal=principal, data=data)
    return service.scheme_read(db, principal, scheme)


@router.post(
    "/schemes/{scheme_id}/participants",
    summary="追加邀请参加机构（提交截止前、统计评价前）",
    response_model=SchemeRead,
    responses=EVALUATED,
)
def invite_participants(
    scheme_id: Id, data: InviteIn, db: SessionDep, principal: Manager
) -> SchemeRead:
    scheme = service.get_scheme(db, principal, scheme_id)
    service.invite(db=db, principal=principal, scheme=scheme, institution_ids=data.institution_ids)
    return service.scheme_read(db, principal, scheme)


@router.post(
    "/schemes/{scheme_id}/results",
    summary="提交本机构的能力验证结果",
    response_model=SubmittedRead,
    responses=EVALUATED,
)
def submit_results(
    scheme_id: Id, data: ResultsIn, db: SessionDep, principal: Submitter
) -> SubmittedRead:
    scheme = service.get_scheme(db, principal, scheme_id)
    if principal.institution_id is None:
        raise PermissionDenied("只有受邀参加的检测机构可以提交结果")
    done = service.submit(
        db=db,
        scheme=scheme,
        institution_id=principal.institution_id,
        data=data,
        now=utcnow(),
        source=Source.API,
    )
    return SubmittedRead(
        scheme_code=scheme.code,
        participant_code=done.participant.code,
        created=done.created,
        updated=done.updated,
    )


@router.post(
    "/schemes/{scheme_id}/evaluate", summary="统计评价（ISO 13528:2022）", response_model=SchemeRead
)
def evaluate_scheme(scheme_id: Id, db: SessionDep, principal: Manager) -> SchemeRead:
    scheme = service.get_scheme(db, principal, scheme_id)
    service.evaluate(db=db, principal=principal, scheme=scheme, now=utcnow())
    return service.scheme_read(db, principal, scheme)
