"""Periodic work of the exchange: forget old nonces, drop expired uploads, watch clients."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete
from sqlalchemy.orm import Session

from jcjg.alerts import engine
from jcjg.config import get_settings
from jcjg.core import jobs
from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.exchange.models import SeenNonce
from jcjg.exchange.uploads import remove_expired


@job("exchange.cleanup", title="数据交换：清理过期 nonce 与断点续传", every=dt.timedelta(hours=1))
def cleanup(db: Session, log: logging.Logger) -> None:
    settings = get_settings()
    # A nonce matters while a signature carrying it could still be fresh (created +- skew).
    horizon = utcnow() - dt.timedelta(seconds=2 * settings.exchange_max_skew_seconds + 60)
    result = db.execute(delete(SeenNonce).where(SeenNonce.seen_at < horizon))
    nonces = int(getattr(result, "rowcount", 0) or 0)
    uploads = remove_expired(db, settings)
    db.commit()
    log.info("forgot %d nonces, removed %d expired uploads", nonces, uploads)


@job("exchange.monitor", title="数据交换：接入监控预警", every=dt.timedelta(hours=1), as_of=True)
def monitor(db: Session, log: logging.Logger) -> None:
    for rule_id in ("client_silent", "client_error_spike"):
        result = engine.run_rule(db, rule_id, now=jobs.now())
        log.info("%s: %d new, %d still present, %d closed", rule_id, *result_tuple(result))
    db.commit()


def result_tuple(result: engine.RunResult) -> tuple[int, int, int]:
    return result.raised, result.refreshed, result.closed
