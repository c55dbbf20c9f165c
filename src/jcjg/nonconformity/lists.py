"""The nonconformity register's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order
from jcjg.nonconformity.choices import NcSource, NcStatus
from jcjg.nonconformity.models import Nonconformity
from jcjg.projects.service import names_of
from jcjg.testing.models import TestRecord

# the register's order, the latest found first (as service.search_stmt orders it)
REGISTER_ORDER = Order(
    (
        Key(Nonconformity.found_at, lambda x: x.found_at),
        Key(Nonconformity.id, lambda x: x.id),
    ),
    (dt.datetime.now(dt.UTC), 0),
)
FOUND_BY = {
    "lab": "机构判定不合格",
    "platform": "机构判定合格，平台复核不合格",
    "both": "机构判定与平台复核均不合格",
}


def record_numbers(db: Session, rows: Sequence[Nonconformity]) -> dict[int, str]:
    ids = [r.test_record_id for r in rows if r.test_record_id]
    if not ids:
        return {}
    found = db.execute(select(TestRecord.id, TestRecord.number).where(TestRecord.id.in_(ids)))
    return {i: n for i, n in found}


def found_by(row: Nonconformity) -> str:
    """Who found it: the lab's own report, or the lab's or the platform's judgement."""
    if row.source == NcSource.REPORTED.value:
        return NcSource.REPORTED.label
    text = FOUND_BY.get(row.found_by, row.found_by)
    return f"{text} · {NcSource.REPORTED.label}" if row.reported_at else text


def _cells(db: Session, rows: Sequence[Nonconformity]) -> list[list[str]]:
    names, numbers = names_of(db, rows), record_numbers(db, rows)
    return [
        [
            when(r.found_at),
            r.material,
            r.grade,
            names["projects"].get(r.project_id, "") if r.project_id else "",
            r.structure_part,
            names["institutions"].get(r.institution_id, ""),
            numbers.get(r.test_record_id, "") if r.test_record_id else r.reported_number or "",
            found_by(r),
            when(r.deadline),
            label(NcStatus, r.status),
        ]
        for r in rows
    ]


REGISTER = ListView(
    name="nonconformity",
    title="不合格台账",
    columns=(
        Column("found_at", "登记时间", Nonconformity.found_at),
        Column("material", "材料", Nonconformity.material),
        Column("grade", "等级", Nonconformity.grade),
        Column("project", "工程项目"),
        Column("structure_part", "部位"),
        Column("institution", "检测机构"),
        Column("record", "原始记录编号"),
        Column("found_by", "判定"),
        Column("deadline", "期限", Nonconformity.deadline),
        Column("status", "状态", Nonconformity.status),
    ),
    order=REGISTER_ORDER,
    cells=_cells,
    # the register's row (nonconformity/list.html): not the values found
    shown=(
        Nonconformity.id,
        Nonconformity.status,
        Nonconformity.found_at,
        Nonconformity.material,
        Nonconformity.grade,
        Nonconformity.item_code,
        Nonconformity.project_id,
        Nonconformity.structure_part,
        Nonconformity.institution_id,
        Nonconformity.test_record_id,
        Nonconformity.reported_number,
        Nonconformity.source,
        Nonconformity.found_by,
        Nonconformity.reported_at,
        Nonconformity.deadline,
    ),
)
