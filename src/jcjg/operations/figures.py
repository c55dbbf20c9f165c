"""The figures of the platform that live in its database and on its disk, read when
``/metrics`` is scraped (at most once every ``JCJG_METRICS_CACHE_SECONDS`` per process): the
exchange's backlog and apply lag, forwarding to the upstream, the ledger's size and how far
behind its integration is, each job's last run, the database pool, the data folder's disk and
the cameras being recorded, the last backup. What happens in a process is counted there
(``core.metrics``)."""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from jcjg.core.db import utcnow
from jcjg.core.jobs import JobRun
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Message
from jcjg.ledger.models import LedgerCounter, LedgerHead, LedgerLeaf, LedgerQueued
from jcjg.networking import forward
from jcjg.networking.models import ForwardCursor
from jcjg.operations.models import Backup
from jcjg.video.models import Camera


@dataclass(frozen=True)
class JobState:
    last_status: str
    last_finished_at: dt.datetime | None
    last_success_at: dt.datetime | None


@dataclass
class Figures:
    """One reading of the database's and the disk's figures."""

    exchange_backlog: int = 0
    exchange_apply_lag: float = 0.0  # seconds the oldest accepted message has waited
    ledger_size: int = 0  # leaves sequenced
    ledger_queued: int = 0  # promised, not yet sequenced
    ledger_integrated: int = 0  # the tree's size
    ledger_integration_delay: float = 0.0  # seconds the oldest leaf outside the tree has waited
    forward_configured: bool = False
    forward_backlog: int = 0
    forward_last_at: dt.datetime | None = None
    forward_failures: int = 0
    jobs: dict[str, JobState] = field(default_factory=dict)
    cameras: dict[str, int] = field(default_factory=dict)  # by status
    disk_total: int = 0
    disk_free: int = 0
    pool_size: int = 0
    pool_checked_out: int = 0
    backup_last_success: dt.datetime | None = None


def _age(now: dt.datetime, moment: dt.datetime | None) -> float:
    return max(0.0, (now - moment).total_seconds()) if moment else 0.0


def read(db: Session, data_dir: Path, *, upstream: bool) -> Figures:
    """Read the figures (a few indexed queries) in ``db``."""
    now = utcnow()
    found = Figures()
    accepted = Message.status == MessageStatus.ACCEPTED
    found.exchange_backlog = db.scalar(select(func.count()).where(accepted)) or 0
    oldest = db.scalar(select(func.min(Message.received_at)).where(accepted))
    found.exchange_apply_lag = _age(now, oldest)

    found.ledger_size = db.scalar(select(LedgerCounter.next_index)) or 0
    found.ledger_queued = db.scalar(select(func.count()).select_from(LedgerQueued)) or 0
    found.ledger_integrated = db.scalar(select(LedgerHead.size)) or 0
    waiting = db.scalar(
        select(LedgerLeaf.created_at).where(LedgerLeaf.leaf_index == found.ledger_integrated)
    )
    queued_since = db.scalar(select(func.min(LedgerQueued.created_at)))
    found.ledger_integration_delay = max(_age(now, waiting), _age(now, queued_since))

    found.forward_configured = upstream
    if upstream:
        state = forward.status(db)
        found.forward_backlog = int(state["backlog"])
        found.forward_last_at = state["last_forward_at"]
        cursor = db.get(ForwardCursor, forward.CURSOR_ID)
        found.forward_failures = cursor.failures if cursor else 0

    latest = (
        select(JobRun.name, func.max(JobRun.id).label("id"))
        .where(JobRun.finished_at.is_not(None))
        .group_by(JobRun.name)
        .subquery()
    )
    succeeded = dict(
        db.execute(
            select(JobRun.name, func.max(JobRun.finished_at))
            .where(JobRun.status == "succeeded")
            .group_by(JobRun.name)
        ).all()
    )
    for name, status, finished in db.execute(
        select(JobRun.name, JobRun.status, JobRun.finished_at).join(
            latest, JobRun.id == latest.c.id
        )
    ):
        found.jobs[name] = JobState(status, finished, succeeded.get(name))

    found.cameras = {
        status: int(count)
        for status, count in db.execute(
            select(Camera.status, func.count()).group_by(Camera.status)
        ).all()
    }
    found.backup_last_success = db.scalar(
        select(func.max(Backup.finished_at)).where(Backup.status == "succeeded")
    )
    bind = db.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind  # one connection: its engine
    pool = engine.pool
    found.pool_size = int(getattr(pool, "size", lambda: 0)())
    found.pool_checked_out = int(getattr(pool, "checkedout", lambda: 0)())
    usage = shutil.disk_usage(data_dir if data_dir.exists() else Path("."))
    found.disk_total, found.disk_free = usage.total, usage.free
    return found
