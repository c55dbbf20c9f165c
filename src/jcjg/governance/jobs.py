"""The governance domain's periodic work: the offline data quality run (its log on the
quality page)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.governance import quality, sharing, sharing_derived

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


@job(
    "governance.deliver",
    title="推送共享数据（平台数据的公示与更正，到期的推送与重试）",
    every=dt.timedelta(seconds=10),
)
def deliver(db: Session, log: logging.Logger) -> None:
    """Queue the derived records published or corrected since the last run (a penalty
    decision), then post the deliveries that are due to their consumers (whatever the
    queueing met: the messages' deliveries and the retries do not wait for it)."""
    settings = get_settings()
    try:
        queued = sharing_derived.enqueue_changes(db, settings)
    except Exception:
        db.rollback()
        log.exception("the derived records' deliveries could not be queued this pass")
        queued = 0
    if queued:
        log.info("%d deliveries of derived records queued", queued)
    delivered, failed = sharing.deliver_due(db, settings)
    if delivered or failed:
        log.info("%d delivered, %d failed (to be tried again)", delivered, failed)
