"""The overview's periodic work: the supervision reports of the periods that have closed."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.config import get_settings
from jcjg.core.jobs import job

REPORTS_EVERY = dt.timedelta(hours=6)


@job("overview.reports", title="生成监管情况报告（月度、季度）", every=REPORTS_EVERY)
def reports(db: Session, log: logging.Logger) -> None:
    from jcjg.overview import service

    made = service.catch_up(db, get_settings())
    for m in made:
        log.info("report %s %s: leaf %s", m.report.region_code, m.report.period,
                 m.report.ledger_index)  # fmt: skip
    log.info("%d reports made", len(made))
