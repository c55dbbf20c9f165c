"""The daily sweep: every rule for the whole platform."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.alerts import engine
from jcjg.core import jobs
from jcjg.core.jobs import job


@job("alerts.sweep", title="预警规则全量核查", every=dt.timedelta(days=1), as_of=True)
def sweep(db: Session, log: logging.Logger) -> None:
    """Run every rule, committing after each (on SQLite the sweep would otherwise hold the
    database's one write lock from the first rule to the last); what succeeded is kept even
    when a rule fails (the run is then failed)."""
    result = engine.sweep(db, jobs.now(), each=lambda _: db.commit())
    for rule_id, run in sorted(result.results.items()):
        log.info(
            "%s: %d new, %d still present, %d closed",
            rule_id,
            run.raised,
            run.refreshed,
            run.closed,
        )
    db.commit()
    if result.failed:
        details = "; ".join(f"{k}: {v}" for k, v in sorted(result.failed.items()))
        raise RuntimeError(f"{len(result.failed)} rule(s) failed: {details}")


@job("alerts.escalate", title="整改逾期升级督办", every=dt.timedelta(hours=1), as_of=True)
def escalate(db: Session, log: logging.Logger) -> None:
    """Cases whose rectification deadline has passed go one level up (once a day each)."""
    from jcjg.alerts import cases

    for case in cases.escalate_overdue(db, jobs.now()):
        log.info("case %d escalated to %s (level %d)", case.id, case.escalated_to,
                 case.escalation_level)  # fmt: skip
    db.commit()
