"""The regulation library's columns and export (``core.listing``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case
from sqlalchemy.orm import Session

from jcjg.catalogue.regulations import Regulation, RegulationLevel, RegulationStatus
from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order
from jcjg.regions import service as regions

# laws first, then down the hierarchy to the standards; within a level, as entered
RANK = {level.value: n for n, level in enumerate(RegulationLevel)}
LEVEL_RANK = case(RANK, value=Regulation.level, else_=len(RANK))
REGULATION_ORDER = Order(
    (
        Key(LEVEL_RANK, lambda r: RANK.get(r.level, len(RANK)), descending=False),
        Key(Regulation.id, lambda r: r.id, descending=False),
    ),
    (0, 0),
)


def _cells(db: Session, rows: Sequence[Regulation]) -> list[list[str]]:
    names = regions.display_names(db=db, codes={r.region_code for r in rows if r.region_code})
    return [
        [
            r.title,
            r.number,
            label(RegulationLevel, r.level),
            r.issuer,
            names.get(r.region_code, r.region_code) if r.region_code else "全国",
            when(r.issued_date),
            when(r.effective_date),
            label(RegulationStatus, r.status),
            r.code,
        ]
        for r in rows
    ]


REGULATIONS = ListView(
    name="regulation",
    title="法规库",
    columns=(
        Column("title", "名称", Regulation.title),
        Column("number", "文号或标准号", Regulation.number),
        Column("level", "效力层级", Regulation.level),
        Column("issuer", "发布机关", Regulation.issuer),
        Column("region", "发布地区", Regulation.region_code),
        Column("issued_date", "发布日期", Regulation.issued_date),
        Column("effective_date", "施行日期", Regulation.effective_date),
        Column("status", "状态", Regulation.status),
        Column("code", "引用代号", Regulation.code),
    ),
    order=REGULATION_ORDER,
    cells=_cells,
)
