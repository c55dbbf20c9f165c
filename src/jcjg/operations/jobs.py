"""The minute's watch of the operator figures, and the daily backup (when ``JCJG_BACKUP_DIR``
is set)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session, sessionmaker

from jcjg.config import get_settings
from jcjg.core.jobs import job


@job("operations.backup", title="备份数据库与文件", every=dt.timedelta(days=1))
def daily_backup(db: Session, log: logging.Logger) -> None:
    from jcjg.operations.backup import make

    settings = get_settings()
    if settings.backup_dir is None:
        log.info("未设置 JCJG_BACKUP_DIR：不做定时备份")
        return
    db.commit()  # the backup opens its own sessions; this one holds nothing
    factory = sessionmaker(bind=db.get_bind(), expire_on_commit=False)
    made = make(factory, settings, settings.backup_dir, keep=settings.backup_keep)
    log.info("已备份到 %s（%d 字节）", made.path, made.size)


@job(
    "operations.watch",
    title="运行监控（磁盘、处理滞后、备份与任务）",
    every=dt.timedelta(minutes=1),
)
def watch(db: Session, log: logging.Logger) -> None:
    from jcjg.operations.watch import run

    raised = run(db, get_settings())
    if raised:
        log.info("运维预警 %d 条，已通知平台管理员", len(raised))
