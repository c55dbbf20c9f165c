"""The columns and exports (``core.listing``) of the delivery log (addresses masked, as on the
page) and of an account's inbox."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.masking import mask_email, mask_phone
from jcjg.core.pagination import Key, Order
from jcjg.notify.choices import Channel, DeliveryStatus
from jcjg.notify.models import Delivery, Notification
from jcjg.notify.service import KIND_LABELS

# the newest first
DELIVERY_ORDER = Order((Key(Delivery.id, lambda d: d.id),), (0,))


def masked(delivery: Delivery) -> str:
    """The address a delivery went to, masked."""
    if delivery.channel == "email":
        return mask_email(delivery.address)
    return mask_phone(delivery.address)


def user_names(db: Session, rows: Sequence[Delivery]) -> dict[int, str]:
    ids = {d.user_id for d in rows}
    found = db.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {i: n for i, n in found}


def _cells(db: Session, rows: Sequence[Delivery]) -> list[list[str]]:
    names = user_names(db, rows)
    return [
        [
            when(d.created_at),
            names.get(d.user_id, ""),
            label(Channel, d.channel),
            masked(d),
            d.subject,
            label(DeliveryStatus, d.status),
            str(d.attempts),
            when(d.sent_at),
            d.last_error or "",
        ]
        for d in rows
    ]


DELIVERIES = ListView(
    name="delivery",
    title="通知发送记录",
    columns=(
        Column("created_at", "时间", Delivery.created_at),
        Column("user", "收件人"),
        Column("channel", "方式", Delivery.channel),
        Column("address", "发往"),
        Column("subject", "标题", Delivery.subject),
        Column("status", "结果", Delivery.status),
        Column("attempts", "发送次数", Delivery.attempts),
        Column("sent_at", "发出时间", Delivery.sent_at),
        Column("last_error", "最近错误"),
    ),
    order=DELIVERY_ORDER,
    cells=_cells,
)


# an account's own notifications, the newest first
INBOX_ORDER = Order((Key(Notification.id, lambda n: n.id),), (0,))


def _inbox_cells(db: Session, rows: Sequence[Notification]) -> list[list[str]]:
    return [
        [
            when(n.created_at),
            KIND_LABELS.get(n.kind, n.kind),
            n.title,
            n.body or "",
            "已读" if n.read_at else "未读",
        ]
        for n in rows
    ]


INBOX = ListView(
    name="notification",
    title="站内通知",
    columns=(
        Column("created_at", "时间", Notification.created_at),
        Column("kind", "类别", Notification.kind),
        Column("title", "通知", Notification.title),
        Column("body", "说明"),
        Column("read", "状态", Notification.read_at),
    ),
    order=INBOX_ORDER,
    cells=_inbox_cells,
)
