"""Applying accepted messages behind the request, in order per lane, in batches.

A message's *lane* is its institution (``i<id>``) or, for a region message, its region
(``r<code>``). An apply worker (a thread of every app process and of ``jcjg worker``: any
number, on any machine sharing the database) finds the lanes with accepted messages, takes a
lease on each it can (:class:`~jcjg.exchange.models.Lane`: a row claimed with a
compare-and-set, the same on SQLite and PostgreSQL), and applies those lanes' messages
together (the oldest lane first, lane after lane, each lane's in its order), a batch per
transaction: a worker applying behind many institutions that each sent a few messages pays a
batch's work once, not once a lane:

1. the leases are renewed in the batch's transaction (a lane whose lease another worker took
   is left to it; on PostgreSQL the renewed rows stay locked until the batch commits);
2. each message is applied in a savepoint: its body is parsed and converted by its type's
   conversion rules (``CONVERSIONS``: the raw message stays as signed), its type's handler
   writes the domain rows, flushed (its audit rows and the rules its writes trigger are its
   own); a refusal
   (an ``AppError``: a commission that does not exist, a record that may not be overwritten)
   rolls back the savepoint, so nothing of it is written, and the message ends ``rejected``
   with the problem; any other error in a handler ends it ``rejected`` with an internal
   problem (logged), while a lost database connection aborts the whole batch, to be applied
   again. The savepoint is a *group's* (:data:`GROUP` messages, their audit rows written as
   one statement at its end): when a message of a group is refused, the group's savepoint is
   rolled back and the messages before it are applied again, each in a savepoint of its own
   (so a handler may run twice for one message, and does nothing outside the database);
3. what other domains do with each batch's applied messages runs (``BATCH_APPLIED``: the
   conversions made recorded, the data quality checks), then the alert rules the batch's
   writes triggered run once for it;
4. each message ends ``applied`` with its results and warnings (the open alerts of the rules
   its writes triggered, and its handler's own remarks), or ``rejected`` (one UPDATE for
   the batch), and the batch commits.

A crash anywhere before the commit leaves the batch accepted, to be applied by whoever holds
the lane next: every message is applied exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

import orjson
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, lazyload, load_only, sessionmaker

from jcjg.alerts import engine as alerts_engine
from jcjg.alerts.models import Alert
from jcjg.audit.service import HeldChanges, holding_changes
from jcjg.config import Settings, settings_in_use
from jcjg.core import domains, metrics
from jcjg.core.admission import lower_priority
from jcjg.core.db import insert_ignoring_conflicts, memo, remembering, utcnow
from jcjg.core.errors import INTERNAL, AppError, ValidationFailed, field_errors_from_pydantic
from jcjg.core.later import reading_session
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Client, Lane, Message
from jcjg.exchange.service import STATUS_PATH
from jcjg.exchange.types import (
    BATCH_APPLIED,
    BatchReads,
    Convert,
    HandlerContext,
    MessageType,
    conversions,
    message_types,
)
from jcjg.tenancy.models import Institution

log = logging.getLogger("jcjg.exchange.apply")

LEASE = dt.timedelta(seconds=30)
# a lane another worker holds is asked for again after this long (it may have stopped: its
# lease then lapses within LEASE)
RETRY_OTHERS = 5.0
BATCH = 200
# On SQLite a batch stops taking messages once it has worked this long: its transaction holds
# the database's one write lock, which every page that writes and every other writer waits for
# (issue 47); the lane's next messages are the next batch's
SQLITE_BATCH_SECONDS = 0.05
# messages applied in one savepoint (a group with a refusal is applied again one by one)
GROUP = 20
# messages read ahead again after a rolled-back group (the next groups'; see _apply_groups)
READ_AGAIN = 2 * GROUP
PREPARED = 20  # messages of a lane prepared ahead of each batch (MessageType.prepare)
# Bodies prepare() parsed ahead of their batch, kept for apply_one by type and body (the same
# bytes parse to the same message; a message prepared once is not parsed or prepared again by
# the next batches' prepare); taken when applied, the oldest dropped past this many or past
# this many bytes of bodies (a parsed body takes about twelve times its bytes: a test record
# with curves, 170 kB, about 2 MB), beyond which prepare looks no further ahead
PARSED_KEPT = 2 * PREPARED
PARSED_BYTES = 2 * 1024 * 1024


def _loads(body: bytes) -> Any:
    """An accepted body parsed (it was checked as JSON at its acceptance, duplicate keys and
    all): by orjson, half the time of ``json.loads`` for a curve record's 160 kB; by
    ``json.loads``, which answers for it, should orjson refuse what was accepted."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def holder_id() -> str:
    """Who a worker is, for its leases: host, process and thread."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{threading.get_ident() % 100000}"


def waiting_lanes(db: Session, limit: int = 100) -> list[str]:
    """Lanes with accepted messages, the one waiting longest first."""
    rows = db.execute(
        select(Message.lane)
        .where(Message.status == MessageStatus.ACCEPTED)
        .group_by(Message.lane)
        .order_by(func.min(Message.id))
        .limit(limit)
    )
    return [lane for (lane,) in rows]


def claim(
    db: Session, lane: str, holder: str, now: dt.datetime, lease: dt.timedelta = LEASE
) -> bool:
    """Take the lease on ``lane`` (free, lapsed or already ours) for ``lease`` and commit;
    False when another worker holds it.

    On PostgreSQL a lane whose row another transaction is writing is not waited for: that is
    another worker's batch (which renewed its lease as it began), claim or release, and the
    lane is asked for again later (the batch's worker holds it; a released lane waits
    :data:`RETRY_OTHERS` seconds more).
    Waiting, as an INSERT ... ON CONFLICT or an UPDATE of the row would, held this worker's
    apply thread until the other's batch committed (72-195 ms a claim on average under load, a
    claim of each lane the other holds every :data:`RETRY_OTHERS` seconds: a tenth to a quarter
    of the thread's time with two processes), to be refused then all the same."""
    if db.get_bind().dialect.name != "postgresql":
        db.execute(insert_ignoring_conflicts(db, Lane).values(lane=lane, applied=0))
        taken = _take(db, lane, holder, now, lease)
    else:
        taken = _take(db, lane, holder, now, lease, skip_locked=True)
        if not taken and db.scalar(select(Lane.lane).where(Lane.lane == lane)) is None:
            # a lane no worker had yet: its row made, then taken (the insert waits only for a
            # worker that made the same row meanwhile, until that worker's transaction ends)
            db.execute(insert_ignoring_conflicts(db, Lane).values(lane=lane, applied=0))
            taken = _take(db, lane, holder, now, lease, skip_locked=True)
    db.commit()
    return taken


def _take(
    db: Session,
    lane: str,
    holder: str,
    now: dt.datetime,
    lease: dt.timedelta,
    *,
    skip_locked: bool = False,
) -> bool:
    """Set this worker's lease on ``lane`` if it is free, lapsed or already ours; whether it
    did. With ``skip_locked`` a row another transaction is writing is left as it is."""
    free = (Lane.holder.is_(None)) | (Lane.holder == holder) | (Lane.lease_until < now)
    found = Lane.lane == lane
    if skip_locked:
        found = Lane.lane.in_(
            select(Lane.lane).where(Lane.lane == lane, free).with_for_update(skip_locked=True)
        )
    taken = db.execute(
        update(Lane).where(found, free).values(holder=holder, lease_until=now + lease)
    )
    return bool(getattr(taken, "rowcount", 0) == 1)


def release(db: Session, lane: str | Sequence[str], holder: str) -> None:
    """Give up this worker's lease on ``lane`` (or lanes) and commit."""
    lanes = [lane] if isinstance(lane, str) else list(lane)
    db.execute(
        update(Lane)
        .where(Lane.lane.in_(lanes), Lane.holder == holder)
        .values(holder=None, lease_until=None)
    )
    db.commit()


@dataclass
class Applied:
    """One message's outcome within a batch."""

    row: Message
    results: dict[str, Any] | None = None
    warnings: list[dict[str, Any]] = field(default_factory=list)
    # the rules its writes triggered, each with the institutions (or projects, rows, groups) to
    # run it for
    pending: alerts_engine.Pending = field(default_factory=dict)
    problem: dict[str, Any] | None = None
    data: Any = None  # the body as parsed once for the handler (the batch's hooks read it)


def _problem(row: Message, error: AppError) -> dict[str, Any]:
    instance = STATUS_PATH.format(message_type=row.message_type, message_id=row.message_id)
    return error.body(instance)


def _connection_lost(exc: BaseException) -> bool:
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def apply_one(
    db: Session,
    settings: Settings,
    row: Message,
    client: Client | None = None,
    owner: Institution | None = None,
    convert: Convert | None = None,
    *,
    savepoint: bool = True,
) -> Applied:
    """Apply one message in a savepoint: its handler's writes, or nothing and a problem.
    ``client`` and ``owner`` are the message's sender and institution when the caller has them
    (a batch reads them once); ``convert``: its type's conversion rules (``CONVERSIONS``), which
    rewrite the parsed body its handler applies, never the raw message. Without ``savepoint``
    the caller's savepoint holds its writes, and the caller rolls it back when the message
    ends with a problem (its writes so far are still there)."""
    outcome = Applied(row)
    kind: MessageType[Any] | None = message_types().get(row.message_type)
    try:
        if kind is None:
            raise AppError(f"平台已不再处理消息类型 {row.message_type}")
        parsed = _parsed.take(row.message_type, row.body)
        try:
            if parsed is not None and convert is None:  # prepare() parsed it as it is
                outcome.data, message = parsed
            else:
                outcome.data = _loads(row.body)
                if convert is not None:
                    outcome.data = convert(row, outcome.data)
                message = kind.schema.model_validate(outcome.data)
        except ValidationError as exc:  # the type's schema changed since it was accepted
            raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
        if owner is None and row.institution_id:
            owner = db.get(Institution, row.institution_id)
        ctx = HandlerContext(
            db=db,
            settings=settings,
            client=client if client is not None else db.get_one(Client, row.client_id),
            owner=owner,
            region_code=row.region_code,
            received_at=row.received_at,
            message_id=row.message_id,
            origin=row.origin,
        )
        with db.begin_nested() if savepoint else nullcontext():
            outcome.results = kind.handler(ctx, message)
            db.flush()  # its change rows and the rules its writes trigger are its own
            outcome.pending = alerts_engine.take_pending(db)
        outcome.warnings = ctx.warnings
    except AppError as error:
        alerts_engine.take_pending(db)  # what the refused writes triggered is moot
        outcome.problem = _problem(row, error)
    except Exception as exc:
        if _connection_lost(exc):
            raise
        log.exception("handler of %s failed on message %s", row.message_type, row.message_id)
        alerts_engine.take_pending(db)
        outcome.problem = _problem(row, AppError(kind=INTERNAL))
    return outcome


def _rule_warnings(db: Session, done: list[Applied]) -> dict[int, list[dict[str, Any]]]:
    """Each message's warnings from the rules its writes triggered: the open alerts of those
    rules on its institution (at most 50 a message). One query for the whole batch."""
    wanted = {
        outcome.row.id: set(outcome.pending)
        for outcome in done
        if outcome.pending and outcome.row.institution_id is not None
    }
    if not wanted:
        return {}
    institutions = {o.row.institution_id for o in done if o.row.id in wanted}
    rules = set().union(*wanted.values())
    alerts = db.execute(
        select(Alert.institution_id, Alert.rule_id, Alert.severity, Alert.subject_repr, Alert.id)
        .where(
            Alert.status == "open",
            Alert.institution_id.in_(sorted(i for i in institutions if i is not None)),
            Alert.rule_id.in_(sorted(rules)),
        )
        .order_by(Alert.rule_id, Alert.id)
    ).all()
    out: dict[int, list[dict[str, Any]]] = {}
    for outcome in done:
        triggered = wanted.get(outcome.row.id)
        if not triggered:
            continue
        mine = out[outcome.row.id] = []
        for institution_id, rule_id, severity, subject, alert_id in alerts:
            if institution_id != outcome.row.institution_id or rule_id not in triggered:
                continue
            rule = alerts_engine.rule_of(rule_id)
            mine.append({
                "code": rule_id,
                "message": rule.title if rule else rule_id,
                "severity": severity,
                "subject": subject,
                "alert_id": alert_id,
            })  # fmt: skip
            if len(mine) == 50:
                break
    return out


def apply_batch(
    db: Session, settings: Settings, lane: str, holder: str, *, limit: int = BATCH
) -> int:
    """Apply up to ``limit`` accepted messages of ``lane`` in one transaction and commit.
    Returns how many were applied or rejected (0 when none waited or the lease was lost)."""
    applied = _apply_batch(db, settings, [lane], holder, limit)
    return applied[0]


_LANE = cast(Table, Lane.__table__)  # the table, for one Core UPDATE of a batch's lanes


def _renew(db: Session, settings: Settings, lanes: Sequence[str], holder: str) -> list[str]:
    """Renew this worker's lease on ``lanes`` in the batch's transaction (on PostgreSQL the
    rows stay locked until it commits); the lanes it still holds, in their order."""
    lease_until = utcnow() + dt.timedelta(seconds=settings.exchange_apply_lease_seconds)
    renewed = db.execute(
        update(Lane)
        .where(Lane.lane.in_(lanes), Lane.holder == holder)
        .values(lease_until=lease_until)
    )
    if getattr(renewed, "rowcount", 0) == len(lanes):
        return list(lanes)
    ours = set(db.scalars(select(Lane.lane).where(Lane.lane.in_(lanes), Lane.holder == holder)))
    return [lane for lane in lanes if lane in ours]


def _batch_reads(db: Session, rows: Sequence[Message], owners: Mapping[int, Institution]) -> None:
    """Each message type's :attr:`~jcjg.exchange.types.MessageType.batch_reads`, once for the
    institutions that sent messages of that type in the batch and those messages (a function
    several types share, once for all of theirs)."""
    kinds = message_types()
    wanted: dict[BatchReads, tuple[dict[int, Institution], list[Message]]] = {}
    for row in rows:
        kind = kinds.get(row.message_type)
        owner = owners.get(row.institution_id) if row.institution_id else None
        if kind is not None and kind.batch_reads is not None and owner is not None:
            institutions, messages = wanted.setdefault(kind.batch_reads, ({}, []))
            institutions[owner.id] = owner
            messages.append(row)
    for read, (institutions, messages) in wanted.items():
        read(db, list(institutions.values()), messages)


# what applying a message reads of its row: its handler, its conversion rules and the batch's
# hooks (the data quality's and the conversions' time of signing, a shared record's ledger
# leaf) and its end. Its receipt, its signature and what the signature covers are not loaded
# (JSON read back into Python objects: two thirds of the batch's read of its messages); what
# reads them anyway loads them then, with a statement of its own
_APPLY_READS = load_only(
    Message.id,
    Message.client_id,
    Message.institution_id,
    Message.region_code,
    Message.lane,
    Message.message_type,
    Message.message_id,
    Message.body,
    Message.signature_input,
    Message.origin,
    Message.received_at,
    Message.leaf_hash,
    Message.status,
)


def _apply_batch(
    db: Session, settings: Settings, lanes: Sequence[str], holder: str, limit: int
) -> tuple[int, bool, list[str]]:
    """Apply up to ``limit`` accepted messages of ``lanes`` (oldest first, so each lane's in
    its order) in one transaction and commit: how many, whether the lanes are drained (none
    left waiting), and the lanes of ``lanes`` this worker still holds (a lane whose lease
    another worker took over is left to it, none of its messages applied). Several lanes share
    a batch's work (its reads of senders and institutions, the hooks, one run of the rules for
    all their institutions, one end of the messages, one COMMIT): a worker applying behind
    many institutions, each with a few new messages, pays it once a pass, not once a lane. On
    SQLite the batch stops taking messages after :data:`SQLITE_BATCH_SECONDS` of work; those
    left wait for the next batch."""
    lanes = _renew(db, settings, lanes, holder)
    if not lanes:
        db.rollback()
        return 0, True, []
    lane_is = Message.lane == lanes[0] if len(lanes) == 1 else Message.lane.in_(lanes)
    rows = db.scalars(
        select(Message)
        .options(_APPLY_READS)
        .where(lane_is, Message.status == MessageStatus.ACCEPTED)
        .order_by(Message.id)
        .limit(limit)
    ).all()
    if not rows:
        db.commit()
        return 0, True, lanes
    # lane after lane (the one waiting longest first), each in its order: a lane's messages
    # name the same rows, which the batch's memo then answers, and the writes a handler defers
    # (core.db.update_in_place) go out together instead of before another lane's reads
    first: dict[str, int] = {}
    for row in rows:
        first.setdefault(row.lane, len(first))
    rows = sorted(rows, key=lambda row: first[row.lane])
    # a lane is one institution's (or one region's): the institutions and senders read once
    wanted = {r.institution_id for r in rows if r.institution_id}
    if len(wanted) == 1:  # the session may hold it: no query
        found = [i for i in (db.get(Institution, n) for n in wanted) if i is not None]
    else:
        found = list(db.scalars(select(Institution).where(Institution.id.in_(wanted))))
    owners = {i.id: i for i in found}
    # a sender's keys (loaded with it elsewhere: its page, its authentication) are not applied
    senders = {
        c.id: c
        for c in db.scalars(
            select(Client)
            .options(lazyload(Client.keys))
            .where(Client.id.in_({r.client_id for r in rows}))
        )
    }
    budget = SQLITE_BATCH_SECONDS if db.get_bind().dialect.name == "sqlite" else None
    converts = conversions(db, {r.message_type for r in rows})  # asked once for the batch

    def one(row: Message, savepoint: bool) -> Applied:
        owner = owners.get(row.institution_id) if row.institution_id else None
        convert = converts.get(row.message_type)
        return apply_one(
            db, settings, row, senders[row.client_id], owner, convert, savepoint=savepoint
        )

    # reference data (the catalogue) read once for the batch; the change rows of its messages'
    # flushes written together, a group's at its end
    with remembering(db), holding_changes(db) as held:
        done = _apply_groups(
            db, held, rows, one, budget, lambda rest: _batch_reads(db, rest, owners)
        )
    drained = len(done) == len(rows) and len(rows) < limit
    rows = [outcome.row for outcome in done]
    applied = [(outcome.row, outcome.data) for outcome in done if outcome.problem is None]
    triggered = _triggered_ids(done)
    # the hooks and rules run with this app's settings (a hook hashes with its secret key, a
    # rule may read what the blob store keeps), not the environment's
    with settings_in_use(settings):
        for hook in domains.hooks(BATCH_APPLIED):
            hook(db, applied)
        for rule_id, ids in alerts_engine.take_pending(db).items():  # what the hooks wrote
            triggered.setdefault(rule_id, set()).update(ids)
        if triggered:
            alerts_engine.run_triggered(db, triggered, now=max(r.received_at for r in rows))
    finished = utcnow()
    warnings = _rule_warnings(db, done)
    _end_messages(db, done, finished, warnings)
    counts = Counter(row.lane for row in rows)
    db.connection().execute(
        update(_LANE)
        .where(_LANE.c.lane == bindparam("lane_key"))
        .values(applied=_LANE.c.applied + bindparam("count")),
        [{"lane_key": lane, "count": n} for lane, n in sorted(counts.items())],
    )
    db.commit()
    rejected = sum(outcome.problem is not None for outcome in done)
    metrics.EXCHANGE_APPLIED.labels("rejected").inc(rejected)
    metrics.EXCHANGE_APPLIED.labels("applied").inc(len(done) - rejected)
    return len(rows), drained, lanes


def _apply_groups(
    db: Session,
    held: HeldChanges,
    rows: Sequence[Message],
    one: Callable[[Message, bool], Applied],
    budget: float | None,
    read_ahead: Callable[[Sequence[Message]], None] | None = None,
) -> list[Applied]:
    """Apply ``rows`` in order, :data:`GROUP` messages to a savepoint: a group whose messages
    all apply is written at once (its change rows as one statement). When one ends with a
    problem, its group's savepoint is rolled back, the group's messages before it are applied
    again one by one, each in a savepoint of its own (as every message was before), and the
    next group starts after it. On SQLite the batch stops after the message that ends its time
    (``budget`` seconds from the end of the first read ahead: a read ahead is not what a batch
    spends its time on). ``read_ahead(rows)`` reads what the handlers of ``rows`` will ask for
    into the batch's memo (:func:`_batch_reads`): first for them all, and again, for the next
    :data:`READ_AGAIN` of those left, when a rolled-back group has cleared the memo (so that
    many refusals in a batch do not read all that is left each time; the groups beyond read
    what they ask for, as without a read ahead)."""
    if read_ahead is not None:
        read_ahead(rows)
    cut = time.monotonic() + budget if budget is not None else None
    done: list[Applied] = []
    at = 0
    while at < len(rows) and not (cut is not None and done and time.monotonic() > cut):
        group: list[Applied] = []
        savepoint = db.begin_nested()
        try:
            for row in rows[at : at + GROUP]:
                group.append(one(row, False))
                if group[-1].problem is not None:
                    break
                if cut is not None and time.monotonic() > cut:
                    break
            if group[-1].problem is None:
                held.write()
                savepoint.commit()
                done += group
                at += len(group)
                continue
        except Exception:
            if savepoint.is_active:
                savepoint.rollback()
            raise
        savepoint.rollback()  # its change rows are dropped with it
        # what the batch kept may be rows its savepoint wrote (one found by a query after the
        # object that inserted it was let go stays persistent, its row gone): read them again
        kept = memo(db)
        if kept is not None:
            kept.clear()
            if read_ahead is not None:
                read_ahead(rows[at : at + READ_AGAIN])
        alerts_engine.take_pending(db)
        # those before it again, each in its own savepoint; its own outcome (a problem, its
        # writes rolled back) stands: it met the same writes of theirs
        for row in rows[at : at + len(group) - 1]:
            done.append(one(row, True))
        done.append(group[-1])
        at += len(group)
    return done


_MESSAGE = cast(Table, Message.__table__)  # the table, for one Core UPDATE of a batch's rows


def _end_messages(
    db: Session,
    done: list[Applied],
    finished: dt.datetime,
    warnings: dict[int, list[dict[str, Any]]],
) -> None:
    """Each message of the batch ends ``applied`` with its results and warnings, or
    ``rejected`` with its problem: one Core UPDATE of each kind for the whole batch (an
    ``executemany``, without the ORM's unit of work)."""
    applied = [
        {
            "message": outcome.row.id,
            "applied_at": finished,
            "status": MessageStatus.APPLIED.value,
            "results": outcome.results,
            "warnings": outcome.warnings + warnings.get(outcome.row.id, []),
        }
        for outcome in done
        if outcome.problem is None
    ]
    rejected = [
        {
            "message": outcome.row.id,
            "applied_at": finished,
            "status": MessageStatus.REJECTED.value,
            "problem": outcome.problem,
        }
        for outcome in done
        if outcome.problem is not None
    ]
    for ended in (applied, rejected):
        if ended:
            db.connection().execute(
                update(_MESSAGE).where(_MESSAGE.c.id == bindparam("message")), ended
            )


class _Parsed:
    """The messages :func:`prepare` parsed (None: one it could not), by type and body, oldest
    first, within :data:`PARSED_KEPT` messages and :data:`PARSED_BYTES` bytes: a message's
    body and what its type's ``prepare`` kept on it (a test record's curves read ahead, which
    a record sending its curves as uploaded files holds in a few bytes of body)."""

    def __init__(self) -> None:
        self._kept: OrderedDict[tuple[str, bytes], tuple[tuple[Any, Any] | None, int]] = (
            OrderedDict()
        )
        self._bytes = 0
        self._lock = threading.Lock()

    def __contains__(self, key: tuple[str, bytes]) -> bool:
        with self._lock:
            return key in self._kept

    def room_for(self, body: bytes) -> bool:
        with self._lock:
            return self._bytes + len(body) <= PARSED_BYTES

    def keep(self, name: str, body: bytes, parsed: tuple[Any, Any] | None, held: int = 0) -> None:
        """Keep it, weighing its body and the ``held`` bytes its preparation kept on it,
        dropping the oldest kept to make room (messages applied elsewhere, or another lane's),
        never it."""
        weight = len(body) + max(held, 0)
        with self._lock:
            before = self._kept.get((name, body))
            if before is not None:
                self._bytes -= before[1]
            self._kept[name, body] = (parsed, weight)
            self._bytes += weight
            while len(self._kept) > 1 and (
                len(self._kept) > PARSED_KEPT or self._bytes > PARSED_BYTES
            ):
                _, (_, dropped) = self._kept.popitem(last=False)
                self._bytes -= dropped

    def take(self, name: str, body: bytes) -> tuple[Any, Any] | None:
        """The message parsed from ``body`` (forgotten once taken), or None."""
        if not self._kept:
            return None
        with self._lock:
            kept = self._kept.pop((name, body), None)
            if kept is None:
                return None
            self._bytes -= kept[1]
            return kept[0]

    @property
    def weight(self) -> int:
        """The bytes kept (bodies and what their preparation kept on them)."""
        with self._lock:
            return self._bytes


_parsed = _Parsed()


def prepare(factory: sessionmaker[Session], settings: Settings, lane: str | Sequence[str]) -> None:
    """Before a batch's transaction (on SQLite, whose one write lock it holds), the work its
    messages' handlers will do that needs no database (:attr:`MessageType.prepare`), read in a
    session that takes no write lock: the next :data:`PREPARED` messages of ``lane`` (or of
    lanes, together), each parsed and validated once, kept for :func:`apply_one` (which parses
    it again only when its type's conversion rules rewrite it), and prepared. A message that
    cannot be parsed or prepared is left to its handler (which refuses it)."""
    lanes = [lane] if isinstance(lane, str) else list(lane)
    kinds = {name: kind for name, kind in message_types().items() if kind.prepare is not None}
    if not kinds:
        return
    with reading_session(factory) as db:
        rows = db.execute(
            select(Message.message_type, Message.body)
            .where(
                Message.lane.in_(lanes),
                Message.status == MessageStatus.ACCEPTED,
                Message.message_type.in_(sorted(kinds)),
            )
            .order_by(Message.id)
            .limit(PREPARED)
        ).all()
    for at, (name, body) in enumerate(rows):
        if (name, body) in _parsed:  # prepared for an earlier batch
            continue
        if at and not _parsed.room_for(body):  # far enough ahead (the next one always goes)
            break
        kind = kinds[name]
        assert kind.prepare is not None
        parsed: tuple[Any, Any] | None = None
        held: int | None = 0
        try:
            with settings_in_use(settings):
                data = _loads(body)
                message = kind.schema.model_validate(data)
                parsed = (data, message)
                held = kind.prepare(message, settings)
        except Exception:  # the handler meets it again and answers for it
            log.debug("preparing a %s message failed", name, exc_info=True)
        _parsed.keep(name, body, parsed, held or 0)


def _triggered_ids(done: list[Applied]) -> alerts_engine.Pending:
    merged: alerts_engine.Pending = {}
    for outcome in done:
        for rule_id, ids in outcome.pending.items():
            merged.setdefault(rule_id, set()).update(ids)
    return merged


def apply_lane(
    factory: sessionmaker[Session],
    settings: Settings,
    lane: str,
    holder: str,
    stop: threading.Event | None = None,
    held: set[str] | None = None,
) -> int:
    """:func:`apply_lanes` for one lane: 0 when another worker holds it."""
    return apply_lanes(factory, settings, [lane], holder, stop, held)


def apply_lanes(
    factory: sessionmaker[Session],
    settings: Settings,
    lanes: Sequence[str],
    holder: str,
    stop: threading.Event | None = None,
    held: set[str] | None = None,
    refused: set[str] | None = None,
) -> int:
    """Hold ``lanes`` (those another worker holds are left to it, and added to ``refused``)
    and apply their messages batch after batch, the lanes together, until none wait; how
    many. Without ``held`` the lanes are released at the end (or their leases left to lapse on
    a crash). With it (the lanes a long-running worker keeps between passes) the leases are
    kept, renewed by every batch, and a lane is claimed only when not held yet: a lane's
    messages arriving one by one then cost no claim and release each. Such a worker claims one
    new lane a call (a pass of :func:`drain`), as it did when it applied lane after lane:
    workers starting together then share the lanes between them, instead of the first one
    taking every lane (and its process all the applying) for as long as it holds them."""
    total = 0
    with factory() as db:
        lease = dt.timedelta(seconds=settings.exchange_apply_lease_seconds)
        ours: list[str] = []
        taken = False  # a lane newly claimed in this call
        for lane in lanes:
            if held is not None and lane in held:
                ours.append(lane)
            elif held is None or not taken:
                if not claim(db, lane, holder, utcnow(), lease):
                    if refused is not None:
                        refused.add(lane)
                    continue
                ours.append(lane)
                taken = True
                if held is not None:
                    held.add(lane)
        claimed = list(ours)
        sqlite = db.get_bind().dialect.name == "sqlite"
        try:
            while ours and (stop is None or not stop.is_set()):
                if sqlite:  # PostgreSQL has no one write lock to keep short
                    prepare(factory, settings, ours)
                count, drained, still = _apply_batch(db, settings, ours, holder, BATCH)
                if held is not None:  # another worker took these over (our lease had lapsed)
                    held.difference_update(set(ours) - set(still))
                ours = still
                total += count
                if drained:  # what arrives later waits for the next pass
                    break
        except Exception:
            db.rollback()  # the leases stay ours until they lapse: this worker may retake them
            raise
        if held is None and claimed:
            release(db, claimed, holder)
    return total


def release_all(factory: sessionmaker[Session], lanes: set[str], holder: str) -> None:
    """Give up the leases of ``lanes`` (a worker stopping)."""
    if lanes:
        with factory() as db:
            release(db, sorted(lanes), holder)
    lanes.clear()


def drain(
    factory: sessionmaker[Session],
    settings: Settings,
    *,
    holder: str | None = None,
    stop: threading.Event | None = None,
    held: set[str] | None = None,
    others: dict[str, float] | None = None,
    gather: Pace | None = None,
) -> int:
    """Apply every message that waits, lane by lane, until none waits that this worker can
    take (others may hold some lanes). Returns how many it applied or rejected. ``held``: see
    :func:`apply_lane` (without it every lane is released once drained). ``others``: lanes
    another worker was found holding, with when (monotonic) to try them again, so that a
    worker does not ask for them on every pass while their holder applies them. ``gather``:
    when its passes may begin (a worker's one :class:`Pace`, which paces a drain's first pass
    by the last drain's last; see :func:`apply_loop`); without it each pass at once."""
    holder = holder or holder_id()
    pace = gather or Pace(0.0)
    total = 0
    while stop is None or not stop.is_set():
        if not pace.next_pass(stop):
            break
        with factory() as db:
            lanes = waiting_lanes(db)
            db.rollback()
        now = time.monotonic()
        if others is not None:
            lanes = [lane for lane in lanes if others.get(lane, 0.0) <= now]
        if not lanes:
            break
        # the waiting lanes together: a batch's work shared by every lane with a few messages
        refused: set[str] = set()
        progress = apply_lanes(factory, settings, lanes, holder, stop, held, refused)
        if others is not None and held is not None:
            for lane in refused:  # not those left for a later pass: nobody may hold them
                others[lane] = time.monotonic() + RETRY_OTHERS
        total += progress
        if progress == 0:
            break
    return total


class Pace:
    """When a worker's passes over the waiting lanes may begin: at least ``seconds`` apart
    (``exchange_apply_gather_seconds``), the first at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.began = -float("inf")  # when the last pass began (monotonic)

    def next_pass(self, stop: threading.Event | None = None) -> bool:
        """Wait until the next pass may begin and note that it begins; False if ``stop`` was
        set meanwhile."""
        rest = self.began + self.seconds - time.monotonic()
        if rest > 0:
            if stop is None:
                time.sleep(rest)
            elif stop.wait(rest):
                return False
        self.began = time.monotonic()
        return True


class Wakeup:
    """Tells this process's apply workers that a batch of messages was just stored."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._closed = False

    def set(self) -> None:
        self._event.set()

    def close(self) -> None:
        """Wake every worker for good: the process is stopping (they wait on this, not on
        their stop event, so without it each stopped up to ``poll`` seconds late)."""
        self._closed = True
        self._event.set()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)
        if not self._closed:
            self._event.clear()


def apply_loop(
    factory: sessionmaker[Session],
    settings: Settings,
    poll: float,
    wakeup: Wakeup | None = None,
    gather: float = 0.0,
    nice: int = 0,
) -> Callable[[threading.Event], None]:
    """A worker thread's body: drain, then wait for a wakeup (messages stored by this process)
    or ``poll`` seconds (those stored by other processes), until stopped. A pass over the
    waiting lanes begins at most every ``gather`` seconds (``exchange_apply_gather_seconds``),
    within a drain as between drains: what is stored meanwhile joins the next pass. A worker
    behind a process accepting a hundred or more messages a second otherwise began a pass as
    soon as the one before ended, each batch a message or two a lane paying the batch's reads
    of the lane's rows, its rules and its commit alone: the CPU per message doubled
    (docs/development/performance.md, "Gathered passes"). A message after a quiet spell is
    applied at once.

    The thread's priority is first lowered by ``nice`` (``exchange_apply_nice`` in a serving
    process, 0 by default; :func:`jcjg.core.admission.lower_priority`): the process's answers
    then come first, and the applying waits while they keep the process busy."""
    wakeup = wakeup or Wakeup()

    def run(stop: threading.Event) -> None:
        lower_priority(nice)
        holder = holder_id()
        held: set[str] = set()  # the lanes this worker keeps leasing between passes
        others: dict[str, float] = {}  # lanes other workers hold, and when to ask again
        pace = Pace(gather)  # the last pass of a drain paces the next drain's first
        while not stop.is_set():
            try:
                drain(
                    factory,
                    settings,
                    holder=holder,
                    stop=stop,
                    held=held,
                    others=others,
                    gather=pace,
                )
            except Exception:
                log.exception("applying messages failed; trying again")
                stop.wait(min(poll * 10, 5.0))
                continue
            wakeup.wait(poll)
        try:
            release_all(factory, held, holder)
        except Exception:  # the leases lapse by themselves
            log.warning("could not release %d lanes on stopping", len(held))

    return run


def replay(db: Session, since: dt.datetime) -> int:
    """Set every message accepted since ``since`` (rejected ones too) back to ``accepted``, to
    be applied again in acceptance order (``jcjg exchange replay``): the raw messages are the
    source of truth, and applying them again into emptied projections rebuilds them. Returns
    how many; the caller commits."""
    result = db.execute(
        update(Message)
        .where(Message.received_at >= since)
        .values(
            status=MessageStatus.ACCEPTED,
            applied_at=None,
            results=None,
            warnings=None,
            problem=None,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
