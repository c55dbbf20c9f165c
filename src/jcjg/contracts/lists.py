"""The contract list's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.contracts.models import Contract
from jcjg.contracts.service import working_days_late
from jcjg.core.listing import Column, ListView, when
from jcjg.core.pagination import Key, Order
from jcjg.projects.service import names_of

# the latest signed first
CONTRACT_ORDER = Order(
    (Key(Contract.signed_on, lambda c: c.signed_on), Key(Contract.id, lambda c: c.id)),
    (dt.date(2000, 1, 1), 0),  # the keys' types, to read cursors back
)


def _cells(db: Session, rows: Sequence[Contract]) -> list[list[str]]:
    names = names_of(db, rows)
    return [
        [
            c.number,
            names["institutions"].get(c.institution_id, ""),
            names["projects"].get(c.project_id, ""),
            c.client_unit,
            when(c.signed_on),
            when(c.received_at),
            str(working_days_late(c)),
            "" if c.amount_yuan is None else str(c.amount_yuan),
        ]
        for c in rows
    ]


CONTRACTS = ListView(
    name="contract",
    title="检测合同",
    columns=(
        Column("number", "合同编号", Contract.number),
        Column("institution", "检测机构"),
        Column("project", "工程项目"),
        Column("client_unit", "委托方", Contract.client_unit),
        Column("signed_on", "签订日期", Contract.signed_on),
        Column("received_at", "上传时间", Contract.received_at),
        Column("lag", "签订后第几个工作日上传"),
        Column("amount", "金额（元）", Contract.amount_yuan),
    ),
    order=CONTRACT_ORDER,
    cells=_cells,
)
