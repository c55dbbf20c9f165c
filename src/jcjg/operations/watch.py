"""The minute's watch (job ``operations.watch``): this host's readings written, the operator
rules run, and the platform's administrators told of each new alert."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from jcjg.alerts import engine
from jcjg.alerts.models import Alert
from jcjg.alerts.service import rule_title
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.core.db import insert_ignoring_conflicts, utcnow
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Message
from jcjg.notify.models import Notification
from jcjg.notify.service import notify
from jcjg.operations.models import Reading
from jcjg.operations.rules import APPLY_LAG, BACKLOG, DISK

RULES = ("ops_apply_lag", "ops_backup_stale", "ops_disk_low", "ops_job_failing")


def host_name() -> str:
    return socket.gethostname()[:100]


def record(db: Session, host: str, name: str, label: str, value: float,
           total: float | None, now: dt.datetime) -> None:  # fmt: skip
    """Keep the latest reading of ``name`` on ``host``."""
    row = db.scalar(select(Reading).where(Reading.host == host, Reading.name == name))
    if row is None:
        db.execute(insert_ignoring_conflicts(db, Reading).values(
            host=host, name=name, label=label, value=value, total=total, read_at=now))  # fmt: skip
        return
    row.label, row.value, row.total, row.read_at = label, value, total, now


def disks(settings: Settings) -> list[tuple[str, Path]]:
    """The folders whose disks are watched, one per disk (the first named keeps it)."""
    wanted = [("数据目录", settings.data_dir), ("视频录像", settings.media_dir)]
    if settings.backup_dir is not None:
        wanted.append(("备份目录", settings.backup_dir))
    seen: set[int] = set()
    found = []
    for label, path in wanted:
        if not path.exists():
            continue
        device = os.stat(path).st_dev
        if device not in seen:
            seen.add(device)
            found.append((label, path.resolve()))
    return found


def read_this_host(db: Session, settings: Settings, now: dt.datetime) -> None:
    """This host's disks (those no longer watched forgotten), and the platform's apply lag
    and backlog."""
    host = host_name()
    watched = []
    for label, path in disks(settings):
        usage = shutil.disk_usage(path)
        record(db, host, f"{DISK}{path}", label, float(usage.free), float(usage.total), now)
        watched.append(f"{DISK}{path}")
    db.execute(
        delete(Reading).where(
            Reading.host == host, Reading.name.startswith(DISK), Reading.name.not_in(watched)
        )
    )
    accepted = Message.status == MessageStatus.ACCEPTED
    backlog = db.scalar(select(func.count()).where(accepted)) or 0
    oldest = db.scalar(select(func.min(Message.received_at)).where(accepted))
    lag = max(0.0, (now - oldest).total_seconds()) if oldest else 0.0
    record(db, "", APPLY_LAG, "最早一条待处理消息已等待（秒）", lag, None, now)
    record(db, "", BACKLOG, "待处理的报送消息（条）", float(backlog), None, now)
    db.flush()


def operators(db: Session) -> list[User]:
    admins = select(User).where(User.role == Role.PLATFORM_ADMIN.value, User.is_active.is_(True))
    return list(db.scalars(admins.order_by(User.id)))


def run(db: Session, settings: Settings, now: dt.datetime | None = None) -> list[Alert]:
    """Read, judge, tell: the open operator alerts the administrators had not been told of
    (raised now, or by the daily sweep of every rule)."""
    now = now or utcnow()
    read_this_host(db, settings, now)
    for rule_id in RULES:
        engine.run_rule(db, rule_id, now=now)
    open_ = list(db.scalars(
        select(Alert).where(Alert.rule_id.in_(RULES), Alert.status == "open").order_by(Alert.id)
    ))  # fmt: skip
    links = {f"/alerts/{a.id}": a for a in open_}
    told = set(db.scalars(select(Notification.link).where(
        Notification.kind == "ops", Notification.link.in_(sorted(links)))))  # fmt: skip
    raised = [a for link, a in links.items() if link not in told]
    admins = operators(db)
    for alert in raised:
        facts = "；".join(f"{k}：{v}" for k, v in (alert.facts or {}).items())
        notify(db, admins, kind="ops", title=f"运维预警：{rule_title(alert.rule_id)}",
               body=facts, link=f"/alerts/{alert.id}", severity=alert.severity,
               rule_id=alert.rule_id, now=now)  # fmt: skip
    return raised
