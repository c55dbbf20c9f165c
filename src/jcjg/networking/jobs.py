"""Periodic work of the levels: check and cosign the children's logs and judge how they run."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import null, select, update
from sqlalchemy.orm import Session

from jcjg.alerts import engine
from jcjg.config import get_settings
from jcjg.core import jobs
from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.ledger.models import LedgerLeaf
from jcjg.networking import logs, receive
from jcjg.networking.choices import ChildStatus, Outcome
from jcjg.networking.forward import CURSOR_ID
from jcjg.networking.models import Child, ForwardCursor, Forwarded

RULES = ("child_log_inconsistent", "child_platform_silent", "child_forward_lag")


@job(
    "networking.children",
    title="平台互联：核验并联署下级平台的存证日志，监测其转发",
    every=dt.timedelta(minutes=1),
    as_of=True,
)
def children(db: Session, log: logging.Logger) -> None:
    held(db, log)
    for checked in logs.check_all(db):
        if checked.error:
            log.warning("%s: %s", checked.child, checked.error)
        else:
            log.info("%s: size %d, cosigned %s", checked.child, checked.size, checked.cosigned)
    for rule_id in RULES:
        result = engine.run_rule(db, rule_id, now=jobs.now())
        log.info("%s: %d new, %d still present, %d closed", rule_id, *_counts(result))
    db.commit()


def held(db: Session, log: logging.Logger) -> None:
    """The children's held facts tried again (what they wait for came with a message this
    platform has applied since), one child at a time under its row's lock, as a forward is."""
    settings = get_settings()
    waiting = select(Forwarded.child_id).where(Forwarded.outcome == Outcome.HELD).distinct()
    for child_id in db.scalars(waiting).all():
        child = db.scalar(select(Child).where(Child.id == child_id).with_for_update())
        if child is None or child.status != ChildStatus.ACTIVE:
            continue
        moved = receive.retry_held(db, settings, child, utcnow())
        db.commit()
        if moved:
            log.info("%s: %d held facts taken", child.name, moved)


@job(
    "networking.purge_content",
    title="平台互联：删除已报送上级平台的下级平台事实内容",
    every=dt.timedelta(hours=1),
)
def purge_content(db: Session, log: logging.Logger) -> None:
    settings = get_settings()
    purged = purge(
        db, days=settings.network_content_days, upstream=bool(settings.upstream_url), now=utcnow()
    )
    db.commit()
    if purged:
        log.info("content of %d forwarded facts purged", purged)


def purge(db: Session, *, days: int, upstream: bool, now: dt.datetime) -> int:
    """Drop the content a child sent beside each fact rebuilt here (``network_forwarded
    .content``: names, particulars, kept to relay the fact on up) ``days`` after it came, once
    the parent acknowledged the leaf relaying it (the forward cursor is past it; with no
    ``upstream``, at once), and of a fact refused after it was held. Facts still held keep
    theirs. How many were purged (the caller commits)."""
    old = now - dt.timedelta(days=days)
    taken = Forwarded.outcome == Outcome.REBUILT
    if upstream:  # relayed up: only what the parent acknowledged
        position = db.scalar(select(ForwardCursor.position).where(ForwardCursor.id == CURSOR_ID))
        acknowledged = select(LedgerLeaf.leaf_hash).where(LedgerLeaf.leaf_index < (position or 0))
        taken = taken & Forwarded.relay_leaf_hash.in_(acknowledged)
    done = (
        select(Forwarded.id)
        .where(
            Forwarded.content.is_not(None),
            Forwarded.received_at <= old,
            taken | (Forwarded.outcome == Outcome.REFUSED),
        )
        .limit(PURGE_BATCH)
    )
    purged = 0
    while ids := db.scalars(done).all():
        db.execute(update(Forwarded).where(Forwarded.id.in_(ids)).values(content=null()))
        purged += len(ids)
    return purged


PURGE_BATCH = 1000


def _counts(result: engine.RunResult) -> tuple[int, int, int]:
    return result.raised, result.refreshed, result.closed
