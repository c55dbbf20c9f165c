"""The rectification part of an institution's dossier (``registry.dossier``)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.db import utcnow
from jcjg.core.dossier import Figure, Row, Section
from jcjg.core.pagination import count_rows
from jcjg.core.workdays import beijing_date
from jcjg.rectification import service
from jcjg.rectification.choices import OrderStatus
from jcjg.rectification.models import RectificationOrder
from jcjg.tenancy.models import Institution


def sections(db: Session, principal: Principal, inst: Institution) -> Iterator[Section]:
    if not principal.can("alert:read"):  # the orders' permission (rectification.domain)
        return
    mine = service.search_stmt(principal, institution_id=inst.id)  # the list's own, newest first
    late = service.search_stmt(principal, institution_id=inst.id,
                               overdue_on=beijing_date(utcnow()))  # fmt: skip
    orders = db.scalars(mine.limit(5)).all()
    total, late_count = (count_rows(db, s) for s in (mine, late))
    open_count = count_rows(db, mine.where(RectificationOrder.status != OrderStatus.CLOSED.value))
    listed = f"/rectification-orders?institution_id={inst.id}"
    yield Section(
        "整改通知",
        50,
        figures=(
            Figure("未结案", open_count, listed, tone="bad"),
            Figure("逾期未回复", late_count, f"{listed}&status=overdue", tone="bad"),
            Figure("累计", total, listed),
        ),
        headers=("编号", "期限", "状态"),
        rows=[
            Row(
                (o.number, f"{o.deadline:%Y-%m-%d}", OrderStatus(o.status).label),
                f"/rectification-orders/{o.id}",
            )
            for o in orders
        ],
        more=("该机构的全部整改通知", listed),
        empty="没有整改通知。",
        anchor="rectification",
    )
