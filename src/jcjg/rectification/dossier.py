"""The rectification part of an institution's dossier (``registry.dossier``)."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal, restrict
from jcjg.core.db import utcnow
from jcjg.core.dossier import Figure, Row, Section
from jcjg.core.workdays import beijing_date
from jcjg.rectification.choices import OrderStatus
from jcjg.rectification.models import RectificationOrder
from jcjg.tenancy.models import Institution


def sections(db: Session, principal: Principal, inst: Institution) -> Iterator[Section]:
    if not principal.can("alert:read"):  # the orders' permission (rectification.domain)
        return
    mine = restrict(select(RectificationOrder), principal, "read").where(
        RectificationOrder.institution_id == inst.id
    )
    today = beijing_date(utcnow())
    orders = db.scalars(mine.order_by(RectificationOrder.issued_at.desc()).limit(5)).all()
    total = db.scalar(select(func.count()).select_from(mine.subquery())) or 0
    open_ = [
        o for o in db.scalars(mine.where(RectificationOrder.status != OrderStatus.CLOSED.value))
    ]
    late = sum(1 for o in open_ if o.deadline < today and o.status == OrderStatus.ISSUED.value)
    listed = f"/rectification-orders?institution_id={inst.id}"
    yield Section(
        "整改通知",
        50,
        figures=(
            Figure("未结案", len(open_), listed, tone="bad"),
            Figure("逾期未回复", late, tone="bad"),
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
