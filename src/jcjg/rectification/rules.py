"""``rectification_order_overdue``: a rectification order still not answered past its
deadline (002 art. 17): the institution has neither rectified nor said how."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.core.workdays import beijing_date
from jcjg.rectification.choices import OrderStatus
from jcjg.rectification.models import RectificationOrder


@rule(
    "rectification_order_overdue",
    title="整改通知逾期未答复",
    clause="jz57 第三十三条；002 第十七条",
    severity=Severity.CRITICAL,
    subject_type="rectification_order",
    defaults={"grace_days": 0},
    labels={
        "grace_days": "整改期限后宽限天数",
        "number": "整改通知编号",
        "deadline": "整改期限",
        "days_over": "已逾期天数",
        "returned": "曾被退回",
    },
    triggers=(RectificationOrder,),
    description="主管部门责令整改后，检测机构超过整改期限加宽限天数仍未答复（含退回后重新给出的期限）。",
)
def rectification_order_overdue(ctx: RuleContext) -> Iterator[Finding]:
    today = beijing_date(ctx.now)
    stmt = select(RectificationOrder).where(
        RectificationOrder.status == OrderStatus.ISSUED.value,
        RectificationOrder.origin.is_(None),  # a child platform's order: its own rule watches
    )
    for order in ctx.db.scalars(ctx.narrow(stmt, RectificationOrder.institution_id)):
        grace = int(ctx.thresholds(order.region_code)["grace_days"])
        if today > order.deadline + dt.timedelta(days=grace):
            yield Finding(
                key=f"rectification_order:{order.id}",
                subject_type="rectification_order",
                subject_id=str(order.id),
                subject_repr=f"整改通知 {order.number}",
                subject_number=order.number,
                institution_id=order.institution_id,
                region_code=order.region_code,
                facts={
                    "number": order.number,
                    "deadline": order.deadline.isoformat(),
                    "days_over": (today - order.deadline).days,
                    "returned": "是" if order.answered_at is not None else "否",
                },
            )
