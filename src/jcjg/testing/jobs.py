"""The testing domain's periodic work: the statistics' tally."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.core.jobs import job
from jcjg.testing import stats

TALLY_EVERY = dt.timedelta(minutes=10)


@job("testing.tally", title="检测数据统计汇总", every=TALLY_EVERY)
def tally(db: Session, log: logging.Logger) -> None:
    """Count the test records again for the statistics page (by month, region, institution,
    project, item and kind; late, flagged and nonconforming included)."""
    rows = stats.refresh_tally(db)
    db.commit()
    log.info("%d tally rows", rows)
