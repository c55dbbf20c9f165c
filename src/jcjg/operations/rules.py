"""Operator alerts (000 8.2.4: the platform monitors its running, storage, exchange and backups
and tells the operators when a figure passes its threshold). The thresholds are data, like any
rule's (预警规则 → 阈值); the job ``operations.watch`` runs these rules every minute and tells
the platform's administrators of each new alert by the notification channels (inbox, e-mail,
SMS as each one chose)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import func, select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.core.jobs import JobRun, registered
from jcjg.core.workdays import BEIJING
from jcjg.operations.models import Backup, Reading, Threshold

SUBJECT = "ops_component"
_CLAUSE = "000 8.2.4（平台运行监控：运行、存储、数据交换与备份，超过阈值时通知运维人员）"
APPLY_LAG = "exchange:apply_lag"
BACKLOG = "exchange:backlog"
DISK = "disk:"
STALE = dt.timedelta(hours=24)


# The operator rules' thresholds and their defaults: platform-wide, set on the operations page
# (ops_threshold), not per region on 预警规则 (the platform's disks are nobody's region).
DEFAULTS: dict[str, dict[str, float]] = {
    "ops_apply_lag": {"minutes": 5},
    "ops_job_failing": {"failures": 3, "hours": 24},
    "ops_disk_low": {"free_percent": 10},
    "ops_backup_stale": {"hours": 26},
}


def limits(ctx: RuleContext) -> dict[str, float]:
    """The rule's thresholds: its defaults, over which the platform's own (ops_threshold)."""
    values: dict[str, float] = dict(DEFAULTS[ctx.rule.id])
    rows = ctx.db.execute(
        select(Threshold.key, Threshold.value).where(Threshold.rule_id == ctx.rule.id)
    )
    for key, value in rows:
        if key in values:
            values[key] = value
    return values


def _finding(key: str, what: str, **facts: object) -> Finding:
    return Finding(
        key=key,
        subject_type=SUBJECT,
        subject_id=key[:64],
        subject_repr=what,
        institution_id=None,
        region_code=None,
        facts={"组成部分": what, **facts},
    )


def _when(moment: dt.datetime | None) -> str:
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if moment else "从未"


def _size(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


@rule(
    "ops_apply_lag",
    title="报送数据处理滞后",
    clause=_CLAUSE,
    severity=Severity.WARNING,
    subject_type=SUBJECT,
    labels={"minutes": "最早一条待处理消息已等待的分钟数上限"},
    description="检测机构报送、平台已受理的消息，最早一条等待处理（入库、预警判断、存证）的时间"
    "超过上限（默认 5 分钟，在运行监控页面设置）：处理进程停止或跟不上，受理回执已发出而数据"
    "迟迟未入库。",
)
def ops_apply_lag(ctx: RuleContext) -> Iterator[Finding]:
    limit = limits(ctx)["minutes"] * 60
    lag = ctx.db.scalar(select(Reading).where(Reading.host == "", Reading.name == APPLY_LAG))
    if lag is None or lag.value <= limit:
        return
    backlog = ctx.db.scalar(
        select(Reading.value).where(Reading.host == "", Reading.name == BACKLOG)
    )
    yield _finding(
        APPLY_LAG,
        "数据交换（报送消息处理）",
        最早一条已等待=f"{lag.value / 60:.0f} 分钟",
        待处理条数=int(backlog or 0),
        读数时间=_when(lag.read_at),
    )


@rule(
    "ops_job_failing",
    title="定时任务反复失败",
    clause=_CLAUSE,
    severity=Severity.WARNING,
    subject_type=SUBJECT,
    labels={"failures": "失败次数下限", "hours": "统计的小时数"},
    description="同一定时任务在最近若干小时（默认 24 小时）内运行失败达到若干次（默认 3 次）："
    "通知、预警巡检、存证、备份等后台工作没有完成。",
)
def ops_job_failing(ctx: RuleContext) -> Iterator[Finding]:
    found = limits(ctx)
    since = ctx.now - dt.timedelta(hours=found["hours"])
    titles = {name: job.title for name, job in registered().items()}
    failing = ctx.db.execute(
        select(JobRun.name, func.count(), func.max(JobRun.started_at))
        .where(JobRun.status == "failed", JobRun.started_at >= since)
        .group_by(JobRun.name)
    ).all()
    for name, count, last in failing:
        if count < found["failures"]:
            continue
        log = ctx.db.scalar(
            select(JobRun.log)
            .where(JobRun.name == name, JobRun.status == "failed")
            .order_by(JobRun.id.desc())
            .limit(1)
        )
        lines = [line for line in (log or "").splitlines() if line.strip()]
        yield _finding(
            f"job:{name}",
            f"定时任务：{titles.get(name, name)}",
            失败次数=f"{count} 次（{found['hours']:g} 小时内）",
            最近一次失败=_when(last),
            最近的错误=(lines[-1] if lines else "（无记录）")[:200],
        )


@rule(
    "ops_disk_low",
    title="磁盘空间不足",
    clause=_CLAUSE,
    severity=Severity.CRITICAL,
    subject_type=SUBJECT,
    labels={"free_percent": "可用空间百分比下限"},
    description="存放平台数据、视频录像或备份的磁盘，可用空间低于总容量的若干百分比（默认 10%）："
    "写满后报送、录像和备份都会失败。",
)
def ops_disk_low(ctx: RuleContext) -> Iterator[Finding]:
    floor = limits(ctx)["free_percent"]
    fresh = ctx.now - STALE  # a host that stopped reporting is not judged on an old reading
    disks = select(Reading).where(Reading.name.startswith(DISK), Reading.read_at >= fresh)
    for reading in ctx.db.scalars(disks):
        if not reading.total:
            continue
        free = reading.value / reading.total * 100
        if free < floor:
            where = reading.name.removeprefix(DISK)
            host = f"{reading.host}：" if reading.host else ""
            yield _finding(
                f"disk:{reading.host}:{where}"[:200],
                f"{reading.label}（{host}{where}）",
                可用空间=f"{_size(reading.value)}，占 {free:.1f}%",
                总容量=_size(reading.total),
                读数时间=_when(reading.read_at),
            )


@rule(
    "ops_backup_stale",
    title="备份过期",
    clause="000 7.1.6、8.2.3（定期备份与灾难恢复）；" + _CLAUSE,
    severity=Severity.CRITICAL,
    subject_type=SUBJECT,
    labels={"hours": "距最近一次成功备份的小时数上限"},
    description="最近一次成功的备份早于若干小时前（默认 26 小时，每日备份留有余量），或从未成功"
    "备份：一旦数据库或磁盘损坏，将无法恢复到近期状态。",
)
def ops_backup_stale(ctx: RuleContext) -> Iterator[Finding]:
    limit = dt.timedelta(hours=limits(ctx)["hours"])
    last = ctx.db.scalars(
        select(Backup).where(Backup.status == "succeeded").order_by(Backup.id.desc()).limit(1)
    ).first()
    moment = (last.finished_at or last.started_at) if last else None
    if moment is not None and ctx.now - moment <= limit:
        return
    failed = ctx.db.scalars(
        select(Backup).where(Backup.status == "failed").order_by(Backup.id.desc()).limit(1)
    ).first()
    facts: dict[str, object] = {"最近一次成功备份": _when(moment)}
    if failed is not None and (moment is None or failed.started_at > moment):
        facts["最近一次失败"] = f"{_when(failed.started_at)}：{failed.error or ''}"[:200]
    yield _finding("backup", "数据库与文件备份", **facts)
