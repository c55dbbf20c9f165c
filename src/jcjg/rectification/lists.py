"""The rectification order list's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order
from jcjg.rectification.choices import Ground, OrderStatus
from jcjg.rectification.models import RectificationOrder
from jcjg.registry.service import institution_names

# the newest first (as service.search_stmt orders them)
ORDER_ORDER = Order(
    (
        Key(RectificationOrder.issued_at, lambda r: r.issued_at),
        Key(RectificationOrder.id, lambda r: r.id),
    ),
    (dt.datetime.now(dt.UTC), 0),
)


def _cells(db: Session, rows: Sequence[RectificationOrder]) -> list[list[str]]:
    names = institution_names(db, {r.institution_id for r in rows})
    return [
        [
            r.number,
            names.get(r.institution_id, ""),
            "；".join(label(Ground, g) for g in r.grounds),
            when(r.issued_at, "%Y-%m-%d"),
            when(r.deadline),
            label(OrderStatus, r.status),
            "已公布" if r.is_public else "未公布",
        ]
        for r in rows
    ]


ORDERS = ListView(
    name="rectification_order",
    title="整改通知",
    columns=(
        Column("number", "编号", RectificationOrder.number),
        Column("institution", "检测机构"),
        Column("grounds", "整改情形"),
        Column("issued_at", "下达", RectificationOrder.issued_at),
        Column("deadline", "整改期限", RectificationOrder.deadline),
        Column("status", "状态", RectificationOrder.status),
        Column("public", "公布"),
    ),
    order=ORDER_ORDER,
    cells=_cells,
)
