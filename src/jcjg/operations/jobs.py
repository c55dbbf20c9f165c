"""The minute's watch of the operator figures, and the daily backup (when ``JCJG_BACKUP_DIR``
is set)."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import sys

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import job

# a backup still marked running after this long died without saying so
RUNNING_AT_MOST = dt.timedelta(hours=12)
# the backup processes this process started, kept until they end (and reaped then)
_STARTED: list[subprocess.Popen[bytes]] = []


@job("operations.backup", title="备份数据库与文件", every=dt.timedelta(days=1))
def daily_backup(db: Session, log: logging.Logger) -> None:
    """Start ``jcjg backup`` as a process of its own: a backup of a large data folder takes
    long, and the other jobs (the watch, the notifications) go on meanwhile. It records how it
    ends (``ops_backup``), and a failure raises ``ops_backup_stale`` once it lasts."""
    from jcjg.operations.models import Backup

    _STARTED[:] = [p for p in _STARTED if p.poll() is None]
    settings = get_settings()
    if settings.backup_dir is None:
        log.info("未设置 JCJG_BACKUP_DIR：不做定时备份")
        return
    running = db.scalar(
        select(Backup.id).where(
            Backup.status == "running", Backup.started_at > utcnow() - RUNNING_AT_MOST
        )
    )
    if running is not None:
        log.info("上一次备份仍在进行，本次不再开始")
        return
    settings.backup_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with (settings.backup_dir / "backup.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "from jcjg.cli import main; main()", "backup"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _STARTED.append(process)
    log.info("已开始备份（进程 %d），结果见 %s/backup.log", process.pid, settings.backup_dir)


@job(
    "operations.watch",
    title="运行监控（磁盘、处理滞后、备份、任务）",
    every=dt.timedelta(minutes=1),
)
def watch(db: Session, log: logging.Logger) -> None:
    from jcjg.operations.watch import run

    raised = run(db, get_settings())
    if raised:
        log.info("运维预警 %d 条，已通知平台管理员", len(raised))
