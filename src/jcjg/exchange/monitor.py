"""Monitoring of the exchange (000 6.0.4): counters per client, hour, message type, outcome.

Each request adds to an in-memory tally (no extra write, no lock shared by every request);
the tally is flushed into ``exchange_client_stat`` by adding to the stored counters, every few
seconds by a thread of the web process and at shutdown. Several processes each flush their own
tallies; the additions commute, so the totals are right whatever the order.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from jcjg.core import metrics
from jcjg.core.db import utcnow
from jcjg.exchange.models import Client, ClientStat

log = logging.getLogger("jcjg.exchange")

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
SUCCESS = frozenset({ACCEPTED, DUPLICATE, "stored"})
# The normal second step of sending a message that refers to files: the platform answers 422
# exchange-files-missing, the sender uploads the files and sends the message again. Counted on
# its own (待补传文件), never as a rejection.
AWAITING_FILES = "exchange-files-missing"
# Outcomes that are no rejection; every other outcome is the slug of the problem that refused
# the request. The monitor page and rule client_error_spike both split by this.
NOT_REJECTED = SUCCESS | {"chunk", "upload_created", AWAITING_FILES}


def is_rejection(outcome: str) -> bool:
    """Whether a request with ``outcome`` was really refused (files still to upload is not)."""
    return outcome not in NOT_REJECTED


def _kind(outcome: str) -> str:
    """The few kinds of outcome a metric's label takes (the problem slugs are many)."""
    if outcome in SUCCESS:
        return "duplicate" if outcome == DUPLICATE else "accepted"
    if outcome == AWAITING_FILES:
        return "awaiting_files"
    if outcome in NOT_REJECTED:
        return "upload"
    return "rejected"


@dataclass
class _Tally:
    count: int = 0
    bytes: int = 0
    latency_ms_sum: float = 0.0
    latency_ms_max: float = 0.0


_Key = tuple[int, dt.datetime, str, str]


def hour_of(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class Recorder:
    """Tallies requests in memory until :meth:`flush` adds them to the database."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tallies: dict[_Key, _Tally] = defaultdict(_Tally)
        self._last_seen: dict[int, dt.datetime] = {}

    def record(
        self,
        client_id: int,
        message_type: str,
        outcome: str,
        size: int,
        latency_ms: float,
        now: dt.datetime | None = None,
    ) -> None:
        now = now or utcnow()
        metrics.EXCHANGE_REQUESTS.labels(_kind(outcome)).inc()
        key = (client_id, hour_of(now), message_type[:64], outcome[:64])
        with self._lock:
            tally = self._tallies[key]
            tally.count += 1
            tally.bytes += size
            tally.latency_ms_sum += latency_ms
            tally.latency_ms_max = max(tally.latency_ms_max, latency_ms)
            if outcome in SUCCESS:
                self._last_seen[client_id] = max(now, self._last_seen.get(client_id, now))

    def pending(self) -> int:
        with self._lock:
            return len(self._tallies)

    def flush(self, factory: sessionmaker[Session]) -> int:
        """Add the tallies to the stored counters in one transaction; return rows touched.
        On failure the tallies are put back, so nothing is lost or counted twice."""
        with self._lock:
            tallies, self._tallies = self._tallies, defaultdict(_Tally)
            seen, self._last_seen = self._last_seen, {}
        if not tallies and not seen:
            return 0
        try:
            with factory() as db, db.begin():
                _add(db, tallies, seen)
        except Exception:
            log.exception("could not flush exchange counters; keeping them for the next try")
            with self._lock:
                for key, tally in tallies.items():
                    mine = self._tallies[key]
                    mine.count += tally.count
                    mine.bytes += tally.bytes
                    mine.latency_ms_sum += tally.latency_ms_sum
                    mine.latency_ms_max = max(mine.latency_ms_max, tally.latency_ms_max)
                for client_id, moment in seen.items():
                    self._last_seen[client_id] = max(moment, self._last_seen.get(client_id, moment))
            return 0
        return len(tallies)


def _add(db: Session, tallies: dict[_Key, _Tally], seen: dict[int, dt.datetime]) -> None:
    for key, tally in sorted(tallies.items()):
        row = _stat_row(db, key)
        if row is None:
            client_id, hour, message_type, outcome = key
            try:
                with db.begin_nested():
                    db.add(
                        ClientStat(
                            client_id=client_id,
                            hour=hour,
                            message_type=message_type,
                            outcome=outcome,
                            count=tally.count,
                            bytes=tally.bytes,
                            latency_ms_sum=tally.latency_ms_sum,
                            latency_ms_max=tally.latency_ms_max,
                        )
                    )
                continue
            except IntegrityError:  # another process inserted it first: add to theirs
                row = _stat_row(db, key)
                assert row is not None
        row.count += tally.count
        row.bytes += tally.bytes
        row.latency_ms_sum += tally.latency_ms_sum
        row.latency_ms_max = max(row.latency_ms_max, tally.latency_ms_max)
    for client_id, moment in sorted(seen.items()):
        db.execute(
            update(Client)
            .where(Client.id == client_id)
            .where((Client.last_seen_at.is_(None)) | (Client.last_seen_at < moment))
            .values(last_seen_at=moment)
        )


def _stat_row(db: Session, key: _Key) -> ClientStat | None:
    client_id, hour, message_type, outcome = key
    return db.scalar(
        select(ClientStat)
        .where(
            ClientStat.client_id == client_id,
            ClientStat.hour == hour,
            ClientStat.message_type == message_type,
            ClientStat.outcome == outcome,
        )
        .with_for_update()
    )


def flush_loop(
    recorder: Recorder, factory: sessionmaker[Session], stop: threading.Event, every: float
) -> None:
    """Flush every ``every`` seconds until ``stop`` is set, then once more."""
    while not stop.wait(every):
        recorder.flush(factory)
    recorder.flush(factory)
