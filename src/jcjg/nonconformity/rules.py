"""``nonconformity_unhandled``: a nonconforming result still not closed past its deadline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.core.workdays import beijing_date
from jcjg.nonconformity.choices import NcStatus
from jcjg.nonconformity.models import Nonconformity


@rule(
    "nonconformity_unhandled",
    title="不合格结果逾期未处理闭环",
    clause="000 4.3.4 第 6 项；001 5.3.5",
    severity=Severity.CRITICAL,
    subject_type="nonconformity",
    defaults={"grace_days": 0},
    labels={
        "grace_days": "处理期限后宽限天数",
        "deadline": "处理期限",
        "days_over": "已逾期天数",
        "status": "状态",
        "material": "材料",
        "structure_part": "部位",
    },
    triggers=(Nonconformity,),
    description="不合格检测结果登记后，超过处理期限（登记后 15 个工作日）加宽限天数"
    "仍未记录处理并闭环。",
)
def nonconformity_unhandled(ctx: RuleContext) -> Iterator[Finding]:
    today = beijing_date(ctx.now)
    stmt = select(Nonconformity).where(Nonconformity.status != NcStatus.CLOSED.value)
    for item in ctx.db.scalars(ctx.narrow(stmt, Nonconformity.institution_id)):
        grace = int(ctx.thresholds(item.region_code)["grace_days"])
        over = (today - item.deadline).days
        if today > item.deadline + dt.timedelta(days=grace):
            yield Finding(
                key=f"nonconformity:{item.id}",
                subject_type="nonconformity",
                subject_id=str(item.id),
                subject_repr=f"不合格结果 #{item.id} {item.material} {item.grade}".strip(),
                institution_id=item.institution_id,
                region_code=item.region_code,
                project_id=item.project_id,
                facts={
                    "deadline": item.deadline.isoformat(),
                    "days_over": over,
                    "status": NcStatus(item.status).label,
                    "material": item.material,
                    "structure_part": item.structure_part or "—",
                },
            )
