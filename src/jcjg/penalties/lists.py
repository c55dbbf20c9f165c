"""The penalty register's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.core.db import utcnow
from jcjg.core.listing import Column, ListView, when
from jcjg.core.masking import mask_name
from jcjg.core.pagination import Key, Order
from jcjg.core.workdays import beijing_date
from jcjg.penalties import service
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.models import Penalty

PENALTY_ORDER = Order(
    (
        Key(Penalty.decided_on, lambda p: p.decided_on, descending=True),
        Key(Penalty.id, lambda p: p.id, descending=True),
    ),
    (dt.date(2000, 1, 1), 0),
)


def _cells(db: Session, rows: Sequence[Penalty]) -> list[list[str]]:
    names = service.institution_names(db, [p.institution_id for p in rows])
    today = beijing_date(utcnow())
    return [
        [
            p.number,
            names.get(p.institution_id, ""),
            # the export masks names (as the list does): the detail page shows them
            "、".join(mask_name(n) for n in p.person_names),
            PenaltyKind(p.kind).label,
            f"{p.amount:.2f}" if p.amount is not None else "",
            when(p.decided_on),
            f"{when(p.public_from)} 至 {when(p.public_until)}",
            "公示中" if p.is_public(today) else "未公示",
            p.issuer,
        ]
        for p in rows
    ]


PENALTIES = ListView(
    name="penalty",
    title="行政处罚",
    columns=(
        Column("number", "处罚决定书文号", Penalty.number),
        Column("institution", "检测机构"),
        Column("persons", "被处罚人员"),
        Column("kind", "处罚种类", Penalty.kind),
        Column("amount", "罚款金额（元）", Penalty.amount),
        Column("decided_on", "决定日期", Penalty.decided_on),
        Column("publicity", "公示期", Penalty.public_until),
        Column("public", "公示状态"),
        Column("issuer", "处罚机关", Penalty.issuer),
    ),
    order=PENALTY_ORDER,
    cells=_cells,
)
