"""JSON API of credit ratings (信用评价): the current scores in reach (filters as on the page),
one score with the facts that moved it, and an institution's history. Read only: scores are
computed, published and appealed on the pages (docs/credit.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.forms import Id
from jcjg.core.pagination import Page, PageParams, count_rows, page_params
from jcjg.credit import service
from jcjg.credit.choices import ScoreStatus
from jcjg.credit.lists import names
from jcjg.credit.models import CreditModel, CreditScore

api = APIRouter(prefix="/api/v1/credit", tags=["信用评价"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("credit:read"))]


class ScoreRead(BaseModel):
    id: int
    institution_id: int
    institution_name: str
    person_id: int | None = Field(description="关键岗位人员的得分时为人员编号")
    period: str = Field(description="评价周期：2026 或 2026Q3")
    score: Decimal = Field(description="信用分")
    grade: str = Field(description="信用等级")
    base: Decimal = Field(description="四类评价的加权平均")
    deducted: Decimal = Field(description="平台事实的扣分合计")
    status: ScoreStatus
    status_label: str
    model_version: int | None = Field(description="计算所用评价模型的版本（省级）")
    is_current: bool = Field(description="是否为该周期的现行结果（重算或更正后旧结果保留为历史）")
    computed_at: dt.datetime
    published_at: dt.datetime | None
    reason: str = Field(description="计算原因（定时任务、申诉更正……）")


class ScoreDetail(ScoreRead):
    explanation: dict[str, Any] = Field(
        description="评价来源的平均分（evaluations）、各类事实的扣分（deductions）和逐条事实（facts）"
    )


def _read(db: Session, row: CreditScore, inst_names: dict[int, Any]) -> dict[str, Any]:
    model = db.get(CreditModel, row.model_id)
    inst = inst_names.get(row.institution_id)
    return {
        "id": row.id, "institution_id": row.institution_id,
        "institution_name": inst.name if inst else "", "person_id": row.person_id,
        "period": row.period, "score": row.score, "grade": row.grade, "base": row.base,
        "deducted": row.deducted, "status": row.status,
        "status_label": ScoreStatus(row.status).label,
        "model_version": model.version if model else None, "is_current": row.is_current,
        "computed_at": row.computed_at, "published_at": row.published_at, "reason": row.reason,
    }  # fmt: skip


@api.get("/scores", summary="信用评价结果（现行，按数据范围）", response_model=Page[ScoreRead])
def list_scores(
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str, Query(max_length=64, description="机构名称或统一社会信用代码")] = "",
    period: Annotated[str, Query(pattern=r"^(|20[0-9]{2}(Q[1-4])?)$")] = "",
    grade: Annotated[str, Query(max_length=8)] = "",
    status: ScoreStatus | None = None,
) -> Page[ScoreRead]:
    stmt = service.scores_stmt(
        principal=principal, period=period, grade=grade, q=q.strip(),
        status=status.value if status else "",
    )  # fmt: skip
    total = count_rows(db, stmt)
    rows = db.scalars(
        stmt.order_by(CreditScore.period.desc(), CreditScore.score.desc(), CreditScore.id)
        .offset(paging.offset)
        .limit(paging.limit)
    ).all()
    found = names(db, [r.institution_id for r in rows])
    return Page(
        items=[ScoreRead.model_validate(_read(db, r, found)) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@api.get("/scores/{score_id}", summary="一条信用评价结果及其依据", response_model=ScoreDetail)
def get_score(db: SessionDep, principal: Reader, score_id: Id) -> ScoreDetail:
    row = service.get_score(db, principal, score_id)
    found = names(db, [row.institution_id])
    return ScoreDetail.model_validate(_read(db, row, found) | {"explanation": row.explanation})


@api.get(
    "/institutions/{institution_id}/scores",
    summary="一家检测机构的信用评价历史（含关键岗位人员）",
    response_model=list[ScoreRead],
)
def institution_history(db: SessionDep, principal: Reader, institution_id: Id) -> list[ScoreRead]:
    rows = service.history(db, principal, institution_id)
    if not rows and not service.institution_in_reach(db, principal, institution_id):
        raise NotFound()
    found = names(db, [institution_id])
    return [ScoreRead.model_validate(_read(db, r, found)) for r in rows]
