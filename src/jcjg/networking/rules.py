"""Rules on the levels below (000 6.0.4 running monitoring; 004 二 the province watches how each
city's system runs): a child platform that stopped forwarding, one that falls behind, one whose
log contradicts itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.core.workdays import BEIJING
from jcjg.exchange.rules import working_hours_between
from jcjg.networking.choices import ChildStatus
from jcjg.networking.models import Child
from jcjg.networking.service import lag_seconds

SUBJECT = "network_child"
_CLAUSE = "000 3.0.4、6.0.4（运行监控与异常预警）；004 二（三级联网，掌握各地市系统运行情况）"


def _finding(child: Child, **facts: object) -> Finding:
    return Finding(
        key=f"child:{child.id}",
        subject_type=SUBJECT,
        subject_id=str(child.id),
        subject_repr=child.name,
        institution_id=None,
        region_code=child.region_code,
        facts={"下级平台": child.name, **facts},
    )


def _when(moment: object) -> str:
    if isinstance(moment, dt.datetime):
        return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    return "从未"


@rule(
    "child_platform_silent",
    title="下级平台长时间未转发数据",
    clause=_CLAUSE,
    severity=Severity.WARNING,
    subject_type=SUBJECT,
    defaults={"working_hours": 2},
    labels={"working_hours": "未转发的工作小时数"},
    description="登记的下级平台在工作时间内连续若干小时（默认 2 个工作小时，按法定节假日和调休"
    "计算）没有向本平台转发任何数据。从未转发过的，从登记时起算。",
)
def child_platform_silent(ctx: RuleContext) -> Iterator[Finding]:
    for child in ctx.db.scalars(select(Child).where(Child.status == ChildStatus.ACTIVE.value)):
        since = child.last_forward_at or child.created_at
        limit = int(ctx.thresholds(child.region_code)["working_hours"])
        silent = working_hours_between(since, ctx.now, cap=limit + 1)
        if silent >= limit:
            yield _finding(
                child,
                最后一次转发=_when(child.last_forward_at),
                未转发的工作小时数=f"≥ {silent}",
            )


@rule(
    "child_forward_lag",
    title="下级平台转发滞后",
    clause=_CLAUSE,
    severity=Severity.WARNING,
    subject_type=SUBJECT,
    defaults={"lag_minutes": 10, "backlog": 10_000},
    labels={"lag_minutes": "滞后分钟数上限", "backlog": "积压条数上限"},
    description="下级平台最近一次转发时报告的积压中，最早一条已等待超过上限（默认 10 分钟），"
    "或积压条数超过上限（默认 10000 条）：其数据到达本平台的时间晚于规定。",
)
def child_forward_lag(ctx: RuleContext) -> Iterator[Finding]:
    for child in ctx.db.scalars(select(Child).where(Child.status == ChildStatus.ACTIVE.value)):
        limits = ctx.thresholds(child.region_code)
        lag = lag_seconds(child, ctx.now)
        if lag > limits["lag_minutes"] * 60 or child.backlog > limits["backlog"]:
            yield _finding(
                child,
                积压条数=child.backlog,
                最早一条已等待=f"{lag / 60:.0f} 分钟",
                最后一次转发=_when(child.last_forward_at),
            )


@rule(
    "child_log_inconsistent",
    title="下级平台存证日志前后不一致",
    clause="000 7.2.3（数据溯源，不可篡改）；" + _CLAUSE,
    severity=Severity.CRITICAL,
    subject_type=SUBJECT,
    description="本平台核验下级平台的签名检查点时，发现其日志回退、同一大小的根哈希改变、"
    "新检查点不以先前核验的为前缀，或其转发的条目不在其日志中：其存证被改写过。"
    "本平台已暂停接收其转发，待运维人员核查后恢复。",
)
def child_log_inconsistent(ctx: RuleContext) -> Iterator[Finding]:
    for child in ctx.db.scalars(select(Child).where(Child.status == ChildStatus.HALTED.value)):
        yield _finding(
            child,
            发现的问题=child.halted_reason or "",
            最后一次核验一致的大小=child.checked_size,
            核验时间=_when(child.checked_at),
        )
