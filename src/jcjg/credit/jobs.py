"""Credit's periodic work: the current quarter's scores of every institution, recomputed while
the quarter is not published (published periods change only by a corrected appeal)."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.core.workdays import beijing_date
from jcjg.credit import scoring, service


@job("credit.compute", title="计算本季度信用评价得分", every=dt.timedelta(hours=6))
def compute(db: Session, log: logging.Logger) -> None:
    period = scoring.period_of(beijing_date(utcnow()))
    n = service.compute_region(db, "", period, reason="定时计算")
    db.commit()
    if n:
        log.info("%d institutions scored for %s", n, period)
