"""The list of supervision reports (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, when
from jcjg.core.pagination import Key, Order
from jcjg.overview.models import SupervisionReport
from jcjg.overview.periods import PeriodKind, parse
from jcjg.regions import service as regions

REPORT_ORDER = Order(
    (
        Key(SupervisionReport.end_date, lambda r: r.end_date, descending=True),
        Key(SupervisionReport.id, lambda r: r.id, descending=True),
    ),
    (dt.date(2000, 1, 1), 0),
)


def period_label(key: str) -> str:
    found = parse(key)
    return found.label if found else key


def _cells(db: Session, rows: Sequence[SupervisionReport]) -> list[list[str]]:
    names = regions.display_names(db=db, codes=[r.region_code for r in rows])
    return [
        [names.get(r.region_code, r.region_code), period_label(r.period),
         PeriodKind(r.kind).label, when(r.generated_at), "" if r.ledger_index is None
         else str(r.ledger_index), r.pdf_sha256, str(r.notified)]
        for r in rows
    ]  # fmt: skip


REPORTS = ListView(
    name="supervision_report",
    title="监管情况报告",
    columns=(
        Column("region", "地区", SupervisionReport.region_code),
        Column("period", "报告期", SupervisionReport.end_date),
        Column("kind", "类型", SupervisionReport.kind),
        Column("generated_at", "生成时间", SupervisionReport.generated_at),
        Column("ledger_index", "存证条目", SupervisionReport.ledger_index),
        Column("sha256", "文件 SHA-256"),
        Column("notified", "已通知账号"),
    ),
    order=REPORT_ORDER,
    cells=_cells,
)
