"""The credit part of an institution's dossier (``registry.dossier``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.dossier import Facet, Figure, Section
from jcjg.credit import service
from jcjg.credit.choices import ScoreStatus
from jcjg.credit.models import CreditScore
from jcjg.tenancy.models import Institution


def sections(db: Session, principal: Principal, inst: Institution) -> Iterator[Section]:
    if not principal.can("credit:read"):
        return
    current = db.scalars(
        service.scores_stmt(principal=principal)
        .where(CreditScore.institution_id == inst.id)
        .order_by(CreditScore.period.desc())
        .limit(1)
    ).first()
    href = f"/credit/institutions/{inst.id}"
    if current is None:
        yield Section(
            "信用评价", 30, more=("信用评价", href), note="尚未计算信用得分。", anchor="credit"
        )
        return
    yield Section(
        "信用评价",
        30,
        figures=(
            Figure("信用等级", current.grade, href),
            Figure("得分", f"{current.score:.2f}", href),
            Figure("扣分", f"{current.deducted:.2f}", href, tone="bad" if current.deducted else ""),
            Figure("状态", ScoreStatus(current.status).label),
        ),
        note=f"{current.period} 期，{current.computed_at:%Y-%m-%d %H:%M} 计算。",
        more=("信用评价详情与扣分事实", href),
        anchor="credit",
    )


def facets(db: Session, principal: Principal) -> Iterator[Facet]:
    """信用等级 on the institution list: the current grade of the reader's readable scores."""
    if not principal.can("credit:read"):
        return
    current = service.scores_stmt(principal=principal)

    def where(grade: str) -> Any:
        graded = current.where(CreditScore.grade == grade)
        return Institution.id.in_(graded.with_only_columns(CreditScore.institution_id))

    def cells(db: Session, ids: Sequence[int]) -> dict[int, str]:
        rows = db.execute(
            current.with_only_columns(CreditScore.institution_id, CreditScore.grade)
            .where(CreditScore.institution_id.in_(ids))
            .order_by(CreditScore.period)
        ).all()
        return {i: grade for i, grade in rows}  # the latest period's last

    # the grades of the reader's province's model, as the credit list offers them
    model = service.current_model(db, service.home_province(db, principal))
    grades = [(str(band[0]), str(band[0])) for band in model.config["bands"]]
    yield Facet("grade", "信用等级", grades, where, cells, order=40)
