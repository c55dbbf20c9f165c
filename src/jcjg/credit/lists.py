"""The credit list's columns and export (``core.listing``)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, when
from jcjg.core.pagination import Key, Order
from jcjg.credit.choices import ScoreStatus
from jcjg.credit.models import CreditScore
from jcjg.tenancy.models import Institution

SCORE_ORDER = Order(
    (
        Key(CreditScore.period, lambda s: s.period, descending=True),
        Key(CreditScore.score, lambda s: s.score, descending=True),
        Key(CreditScore.id, lambda s: s.id, descending=True),
    ),
    ("", Decimal(0), 0),
)


def names(db: Session, ids: Sequence[int]) -> dict[int, Institution]:
    if not ids:
        return {}
    return {i.id: i for i in db.scalars(select(Institution).where(Institution.id.in_(ids)))}


def _cells(db: Session, rows: Sequence[CreditScore]) -> list[list[str]]:
    found = names(db, [r.institution_id for r in rows])
    return [
        [
            found[r.institution_id].name if r.institution_id in found else "",
            r.period,
            f"{r.score:.2f}",
            r.grade,
            f"{r.base:.2f}",
            f"{r.deducted:.2f}",
            ScoreStatus(r.status).label,
            when(r.computed_at),
        ]
        for r in rows
    ]


SCORES = ListView(
    name="credit_score",
    title="信用评价",
    columns=(
        Column("institution", "检测机构"),
        Column("period", "期间", CreditScore.period),
        Column("score", "得分", CreditScore.score),
        Column("grade", "等级", CreditScore.grade),
        Column("base", "评价得分", CreditScore.base),
        Column("deducted", "扣分", CreditScore.deducted),
        Column("status", "公布状态", CreditScore.status),
        Column("computed_at", "计算时间", CreditScore.computed_at),
    ),
    order=SCORE_ORDER,
    cells=_cells,
)
