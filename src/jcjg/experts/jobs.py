"""The experts domain's periodic work: completing the draws whose randomness has come (the
first checkpoint of the log that includes their request)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.core.jobs import job
from jcjg.experts import service


@job(
    "experts.complete_draws",
    title="完成专家抽取（取随机数、存证结果）",
    every=dt.timedelta(minutes=1),
)
def complete_draws(db: Session, log: logging.Logger) -> None:
    """Complete every requested draw whose checkpoint exists, and invite the drawn."""
    done = service.complete_waiting(db)
    db.commit()
    if done:
        log.info("%d draws completed", done)
