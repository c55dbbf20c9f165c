"""Supervision's periodic work: completing the spot-check draws whose randomness has come."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.core.jobs import job
from jcjg.supervision import service


@job(
    "supervision.complete_draws",
    title="完成双随机抽查抽取（取随机数、存证结果）",
    every=dt.timedelta(minutes=1),
)
def complete_draws(db: Session, log: logging.Logger) -> None:
    done = service.complete_waiting(db)
    db.commit()
    if done:
        log.info("%d spot-check draws completed", done)
