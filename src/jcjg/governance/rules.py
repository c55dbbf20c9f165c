"""The data quality rule of the alerts engine (000 7.1.4; docs/governance.md)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import cast

from sqlalchemy import func, select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.governance.models import QualityCheck
from jcjg.governance.quality import score
from jcjg.tenancy.models import Institution


def _within(ctx: RuleContext, institution_id: int, since: dt.datetime) -> tuple[int, int, int]:
    total, failed, messages = ctx.db.execute(
        select(
            func.coalesce(func.sum(QualityCheck.total), 0),
            func.coalesce(func.sum(QualityCheck.failed), 0),
            func.count(),
        ).where(QualityCheck.institution_id == institution_id, QualityCheck.received_at >= since)
    ).one()
    return int(total), int(failed), int(messages)


@rule(
    "data_quality_low",
    title="检测机构报送数据质量偏低",
    clause="000 7.1.4（数据治理：治理任务与数据检验）；001 5.4.8（检测数据实时上传）",
    severity=Severity.WARNING,
    subject_type="institution",
    defaults={"min_score": 90, "min_checks": 20, "days": 30},
    triggers=(QualityCheck,),
    labels={
        "min_score": "质量得分下限（%）",
        "min_checks": "至少检验的规则次数",
        "days": "统计最近天数",
    },
    description="最近若干天（默认 30 天）内，检测机构报送并入库的数据按数据质量规则（完整性、格式、"
    "值域、一致性、及时性）检验，通过的比例低于下限（默认 90%）；检验次数不足的不判断。",
)
def data_quality_low(ctx: RuleContext) -> Iterator[Finding]:
    regions = ctx.db.scalars(
        ctx.narrow(select(Institution.region_code).distinct(), Institution.id)
    ).all()
    longest = max([int(ctx.thresholds(r)["days"]) for r in regions] or [1])
    since = ctx.now - dt.timedelta(days=max(longest, 1))
    rows = ctx.db.execute(
        ctx.narrow(
            select(
                QualityCheck.institution_id,
                Institution.name,
                Institution.region_code,
                func.sum(QualityCheck.total),
                func.sum(QualityCheck.failed),
                func.count(),
                func.min(QualityCheck.received_at),
            )
            .join(Institution, Institution.id == QualityCheck.institution_id)
            .where(QualityCheck.received_at >= since)
            .group_by(QualityCheck.institution_id, Institution.name, Institution.region_code),
            QualityCheck.institution_id,
        )
    )
    for inst_id, name, region, summed, failures, count, _first in rows:
        limits = ctx.thresholds(region)
        window = ctx.now - dt.timedelta(days=max(int(limits["days"]), 1))
        if window > since:  # this region looks back less far: its own window only
            total, failed, messages = _within(ctx, cast(int, inst_id), window)
        else:
            total, failed, messages = int(summed or 0), int(failures or 0), int(count)
        if total < int(limits["min_checks"]):
            continue
        if (total - failed) * 100 >= float(limits["min_score"]) * total:  # unrounded
            continue
        found = score(total, failed)
        yield Finding(
            key=f"quality:{inst_id}",
            subject_type="institution",
            subject_id=str(inst_id),
            subject_repr=name,
            institution_id=inst_id,
            region_code=region,
            facts={
                "质量得分（%）": found,
                "检验的规则次数": total,
                "未通过": failed,
                "检验的消息数": messages,
                "统计天数": int(limits["days"]),
            },
        )
