"""The sequencer: integrate appended leaves into the tree and sign a checkpoint."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy.orm import Session

from jcjg.core.jobs import job
from jcjg.ledger import service


@job("ledger.integrate", title="存证日志整合与签发检查点", every=dt.timedelta(seconds=5))
def integrate(db: Session, log: logging.Logger) -> None:
    """Integrate every waiting leaf (in batches) and sign the new checkpoint."""
    total = 0
    while True:
        done = service.integrate(db)
        db.commit()
        total += done
        if done == 0:
            break
    if total:
        log.info("integrated %d leaves; tree size %d", total, service.head(db).size)
