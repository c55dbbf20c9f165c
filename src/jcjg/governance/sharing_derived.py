"""Deliveries of derived data (docs/sharing.md, "Deliveries of derived data"): the records a
domain offers under ``core.shared.SHARED_SOURCES`` (the published penalty decisions) reach the
subscriptions in force as message deliveries do, signed, retried and proven alike.

No domain calls governance: each send pass of ``governance.deliver`` first asks every derived
source that a published data set holds for its records public today with their version tokens
(``SharedSource.versions``, one cheap query), and compares them with what it saw last
(:class:`SharedRecord`). A record it has not seen entered its publicity (``published``: a
decision recorded with its publicity begun, or whose publicity began today, or corrected into
it); a record seen whose shared content changed was corrected while public (``corrected``); a
record no longer public is forgotten (its publicity over, or corrected out of it), so that it
is ``published`` again if it comes back. Each such record becomes one delivery per
subscription in force to a published set of its source, masked by that subscription's policy
now and kept as made; the send pass posts it like any other."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core import shared
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.governance import sharing
from jcjg.governance.choices import DeliveryEvent, SubscriptionStatus
from jcjg.governance.models import Consumer, DataSet, SharedRecord, Subscription

CHUNK = 500  # records fetched at once
log = logging.getLogger("jcjg.governance.sharing")


def digest(row: shared.SharedRow) -> str:
    """The SHA-256 of what a record shares (unmasked, never stored or sent): a new version
    token with the same digest (a change the set does not show) is no correction."""
    shown = {
        "record_id": row.record_id,
        "institution_code": row.institution_code,
        "region_code": row.region_code,
        "day": row.day.isoformat(),
        "data": row.data,
    }
    text = json.dumps(shown, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _watched(db: Session) -> list[shared.SharedSource]:
    """The derived sources some published data set holds."""
    known = shared.sources()
    codes = db.scalars(
        select(DataSet.message_type)
        .where(DataSet.status == "published", DataSet.message_type.in_(sorted(known)))
        .distinct()
    )
    return [known[code] for code in sorted(codes)]


def _subscribers(db: Session, code: str) -> list[tuple[Subscription, DataSet]]:
    """The subscriptions in force, of active consumers with an address, to the published sets
    of the source ``code``."""
    return [
        (subscription, data_set)
        for subscription, data_set in db.execute(
            select(Subscription, DataSet)
            .join(DataSet, DataSet.id == Subscription.data_set_id)
            .join(Consumer, Consumer.id == Subscription.consumer_id)
            .where(
                Subscription.status == SubscriptionStatus.ACTIVE.value,
                DataSet.status == "published",
                DataSet.message_type == code,
                Consumer.status == "active",
                Consumer.endpoint != "",
            )
            .order_by(Subscription.id)
        ).all()
    ]


def _rows(
    db: Session, source: shared.SharedSource, keys: Sequence[int], today: dt.date
) -> list[shared.SharedRow]:
    out: list[shared.SharedRow] = []
    for start in range(0, len(keys), CHUNK):
        chunk = tuple(keys[start : start + CHUNK])
        out += source.rows(db, shared.SourceFilters(keys=chunk), today, 0, len(chunk))
    return out


def _changes(
    db: Session, source: shared.SharedSource, today: dt.date, now: dt.datetime
) -> list[tuple[shared.SharedRow, DeliveryEvent]]:
    """The source's records published or corrected since the last pass, its memory of them
    brought up to date (in ``db``'s transaction)."""
    current: Mapping[int, str] = source.versions(db, today)
    seen: dict[int, tuple[str, str]] = {
        key: (version, made)
        for key, version, made in db.execute(
            select(SharedRecord.record_key, SharedRecord.version, SharedRecord.digest).where(
                SharedRecord.source == source.code
            )
        )
    }
    gone = [key for key in seen if key not in current]
    for start in range(0, len(gone), CHUNK):
        db.execute(
            delete(SharedRecord).where(
                SharedRecord.source == source.code,
                SharedRecord.record_key.in_(gone[start : start + CHUNK]),
            )
        )
    changed = sorted(k for k, v in current.items() if k not in seen or seen[k][0] != v)
    out: list[tuple[shared.SharedRow, DeliveryEvent]] = []
    for row in _rows(db, source, changed, today):
        made = digest(row)
        version = current[row.key]
        if row.key not in seen:
            db.add(
                SharedRecord(
                    source=source.code,
                    record_key=row.key,
                    version=version,
                    digest=made,
                    seen_at=now,
                )
            )
            out.append((row, DeliveryEvent.PUBLISHED))
            continue
        taken = db.execute(
            update(SharedRecord)
            .where(
                SharedRecord.source == source.code,
                SharedRecord.record_key == row.key,
                SharedRecord.version == seen[row.key][0],  # not brought up to date meanwhile
            )
            .values(version=version, digest=made, seen_at=now)
        )
        if getattr(taken, "rowcount", 0) == 1 and seen[row.key][1] != made:
            out.append((row, DeliveryEvent.CORRECTED))
    return out


def _enqueue(
    db: Session,
    settings: Settings,
    changes: Sequence[tuple[shared.SharedRow, DeliveryEvent]],
    subscribers: Sequence[tuple[Subscription, DataSet]],
    now: dt.datetime,
) -> int:
    made = 0
    for row, event in changes:
        for subscription, data_set in subscribers:
            shared = sharing.derived_record(settings, subscription, data_set, row)
            sharing.queue(
                db, subscription, shared, now, record_key=row.key, head={"event": event.value}
            )
            made += 1
    return made


def enqueue_changes(db: Session, settings: Settings, now: dt.datetime | None = None) -> int:
    """Queue the deliveries of the derived records published or corrected since the last pass
    (``now``'s Beijing day decides what is public), one per subscription in force, and
    commit. Two passes at once (the job's claim prevents it): a new record's memory collides
    with the other pass's (a unique key) and the second pass is rolled back; a corrected one
    is brought up to date only from the version read, so the second pass finds it done and
    queues nothing for it. A source that fails (its rows cannot be read) is rolled back and
    logged, and the others go on: one bad source does not hold up every delivery. Returns how
    many deliveries."""
    now = now or utcnow()
    today = beijing_date(now)
    made = 0
    for source in _watched(db):
        try:
            changes = _changes(db, source, today, now)
            made += _enqueue(db, settings, changes, _subscribers(db, source.code), now)
            db.commit()
        except IntegrityError as exc:
            db.rollback()  # the other pass's notes stand; a lasting conflict is said each pass
            log.warning(
                "the deliveries of %s were not queued (another send pass took note first, "
                "or a conflict to look into): %s", source.code, str(exc.orig).splitlines()[0]
            )  # fmt: skip
        except Exception:
            db.rollback()
            log.exception("the deliveries of %s could not be queued", source.code)
    return made
