"""The governance domain's periodic work: the offline data quality run (its log on the
quality page)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.governance import quality

SCAN_DAYS = 35  # the month and the days before it that a late message still counts in


@job(
    "governance.quality_scan",
    title="数据质量离线检验（按现行规则重新检验近期数据）",
    every=dt.timedelta(hours=24),
)
def quality_scan(db: Session, log: logging.Logger) -> None:
    """Check again the messages of the last weeks with today's rules, and log the run."""
    run = quality.scan(db, since=utcnow() - dt.timedelta(days=SCAN_DAYS), trigger="schedule")
    db.commit()
    log.info("%d messages checked, %d of %d checks failed", run.messages, run.failures, run.checks)
