"""Rules on the exchange itself (000 6.0.4: monitoring with anomaly warnings)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator

from sqlalchemy import func, select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.core.workdays import BEIJING, is_workday
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Client, ClientStat
from jcjg.exchange.monitor import hour_of, is_rejection

WORK_START_HOUR = 8  # a working hour is 08:00-18:00 local time on a statutory working day
WORK_END_HOUR = 18


def is_working_hour(moment: dt.datetime) -> bool:
    """Whether the hour starting at ``moment`` is a working hour in China (statutory calendar,
    with adjusted working weekends; outside the package's years, Monday to Friday)."""
    local = moment.astimezone(BEIJING)
    if not WORK_START_HOUR <= local.hour < WORK_END_HOUR:
        return False
    return is_workday(local.date())


MAX_LOOK_BACK = dt.timedelta(days=45)  # longer than any run of holidays (Spring Festival)


def working_hours_between(start: dt.datetime, end: dt.datetime, cap: int = 24 * 60) -> int:
    """Whole working hours from ``start`` to ``end``, counted hour by hour, stopping at ``cap``
    (the caller only needs to know it reached its threshold). Silence longer than
    MAX_LOOK_BACK counts from MAX_LOOK_BACK ago."""
    count = 0
    hour = hour_of(max(start, end - MAX_LOOK_BACK)) + dt.timedelta(hours=1)
    while hour + dt.timedelta(hours=1) <= end and count < cap:
        if is_working_hour(hour):
            count += 1
        hour += dt.timedelta(hours=1)
    return count


@rule(
    "client_silent",
    title="业务系统长时间未上传数据",
    clause="000 6.0.4（运行监控与异常预警）；001 5.4.8（数据实时上传）",
    severity=Severity.WARNING,
    subject_type="exchange_client",
    defaults={"working_hours": 8},
    labels={"working_hours": "无数据的工作小时数"},
    description="已开通的业务系统在工作时间内连续若干小时（默认 8 个工作小时，按法定节假日和调休"
    "计算）没有成功报送任何数据。从未报送过的，从开通时起算。",
)
def client_silent(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(Client).where(Client.status == ClientStatus.ACTIVE.value)
    for client in ctx.db.scalars(ctx.narrow(stmt, Client.institution_id)):
        since = client.last_seen_at or client.decided_at or client.created_at
        limit = int(ctx.thresholds(client.region_code)["working_hours"])
        silent = working_hours_between(since, ctx.now, cap=limit + 1)
        if silent < limit:
            continue
        yield Finding(
            key=f"client:{client.id}",
            subject_type="exchange_client",
            subject_id=str(client.id),
            subject_repr=client.name,
            institution_id=client.institution_id,
            region_code=client.region_code,
            facts={
                "业务系统": client.name,
                "最后一次成功报送": since.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
                if client.last_seen_at
                else "从未报送",
                "无数据的工作小时数": f"≥ {silent}",
            },
        )


@rule(
    "client_error_spike",
    title="业务系统报送被拒比例异常",
    clause="000 6.0.4（运行监控与异常预警）, 6.0.7（签名校验）",
    severity=Severity.WARNING,
    subject_type="exchange_client",
    defaults={"window_hours": 1, "max_rejected_ratio": 0.2, "min_requests": 20},
    labels={
        "window_hours": "统计时长（小时）",
        "max_rejected_ratio": "被拒比例上限",
        "min_requests": "最少请求数",
    },
    description="最近若干小时内（默认 1 小时，含当前小时），业务系统的请求被拒"
    "（签名、校验、冲突等）的比例超过上限（默认 20%），且请求数不少于下限（默认 20）。"
    "先上传所引文件再重发消息的正常步骤（待补传文件）不算被拒。"
    "可能是密钥泄露、时钟漂移或接口改错。",
)
def client_error_spike(ctx: RuleContext) -> Iterator[Finding]:
    clients = {
        c.id: c
        for c in ctx.db.scalars(
            ctx.narrow(
                select(Client).where(Client.status != ClientStatus.PENDING.value),
                Client.institution_id,
            )
        )
    }
    if not clients:
        return
    longest = 1
    for client in clients.values():
        longest = max(longest, int(ctx.thresholds(client.region_code)["window_hours"]))
    earliest = hour_of(ctx.now) - dt.timedelta(hours=longest - 1)
    rows = ctx.db.execute(
        select(
            ClientStat.client_id, ClientStat.hour, ClientStat.outcome, func.sum(ClientStat.count)
        )
        .where(ClientStat.hour >= earliest, ClientStat.client_id.in_(sorted(clients)))
        .group_by(ClientStat.client_id, ClientStat.hour, ClientStat.outcome)
    ).all()
    totals: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    reasons: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for client_id, hour, outcome, count in rows:
        client = clients[client_id]
        window = int(ctx.thresholds(client.region_code)["window_hours"])
        if hour < hour_of(ctx.now) - dt.timedelta(hours=window - 1):
            continue
        totals[client_id][0] += int(count)
        if is_rejection(outcome):
            totals[client_id][1] += int(count)
            reasons[client_id][outcome] += int(count)
    for client_id, (total, rejected) in sorted(totals.items()):
        client = clients[client_id]
        limits = ctx.thresholds(client.region_code)
        if total < limits["min_requests"] or rejected / total <= limits["max_rejected_ratio"]:
            continue
        top = sorted(reasons[client_id].items(), key=lambda kv: -kv[1])[:3]
        yield Finding(
            key=f"client:{client.id}",
            subject_type="exchange_client",
            subject_id=str(client.id),
            subject_repr=client.name,
            institution_id=client.institution_id,
            region_code=client.region_code,
            facts={
                "业务系统": client.name,
                "请求数": total,
                "被拒数": rejected,
                "被拒比例": f"{rejected / total:.0%}",
                "主要原因": [f"{k}: {v}" for k, v in top],
            },
        )
