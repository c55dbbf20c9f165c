"""A durable outbox: messages are written to a local SQLite file first and sent from there.

Why: a lab system must not lose a report because the network, the platform or the lab's own
process was down at the moment it was written. :meth:`Outbox.enqueue` commits the message
(its canonical JSON, with its ``message_id`` fixed) before returning; :class:`Sender` sends
what is due, in the order it was enqueued, and keeps at it across restarts, since all its
state is in the file. Resending is always safe: the platform answers the same id and body
with ``duplicate`` and the original receipt.

What happens to a message (``status``):

- ``pending``: waiting to be sent, or to be sent again after a transient failure (network,
  5xx, 408, 429), at ``next_attempt_at``: exponential backoff with full jitter, never sooner
  than the server's Retry-After;
- sent: the verified receipt (v2) moves to the ``receipts`` table and the message leaves;
- ``failed``: the platform refused it for good, or its receipt did not verify; it stays, with
  the problem document, until a person fixes the cause and calls :meth:`Outbox.retry`.

A sent message is then *followed* (:meth:`Sender.follow_once`, part of every pass): the
platform applies it behind the receipt, and its status (``outcome`` of the receipt row) goes
from ``accepted`` to ``applied`` (results, warnings) or ``rejected`` (the problem, kept for a
person: :meth:`Outbox.rejected`; a corrected message needs a new ``message_id``). Once the
ledger has integrated the leaf, the inclusion proof is checked against the signed checkpoint
and the index recorded. :meth:`Outbox.lag` says how long the oldest message has waited.

A 422 ``exchange-files-missing`` is neither: the sender uploads the missing files (from the
paths given at enqueue time) and sends the message again at once.

Order: a message waits while an earlier one is waiting (head-of-line), because later
messages often depend on earlier ones (equipment names a lab sent before). Failed messages
do not block the queue. Two senders on the same file may send a message twice; the second
gets ``duplicate`` and nothing is lost, but one sender per outbox is the intended setup.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jcjg.client.api import (
    Client,
    check_message_type,
    file_sha256,
    local_problem,
    with_message_id,
)
from jcjg.client.errors import (
    ClientError,
    FilesMissing,
    PermanentError,
    ReceiptMismatch,
    TransientError,
)
from jcjg.client.receipt import Receipt, Status, normal_message_id
from jcjg.ledger.canonical import canonical_json

SCHEMA_VERSION = 2
# a message id already used: waiting, sent, or (a v1 file's) sent before the upgrade
_TAKEN = (
    "SELECT message_type, body FROM messages WHERE message_id = ? "
    "UNION ALL SELECT message_type, body FROM receipts WHERE message_id = ?"
)
_TAKEN_V1 = (
    "SELECT message_type, body FROM messages WHERE message_id = ? "
    "UNION ALL SELECT message_type, body FROM receipts WHERE message_id = ? "
    "UNION ALL SELECT message_type, body FROM receipts_v1 WHERE message_id = ?"
)
PENDING = "pending"
FAILED = "failed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    message_type TEXT NOT NULL,
    body BLOB NOT NULL,
    files TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL CHECK (status IN ('pending', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    last_attempt_at REAL,
    last_error TEXT,
    problem TEXT
);
CREATE INDEX IF NOT EXISTS ix_messages_due ON messages (status, seq);
CREATE TABLE IF NOT EXISTS receipts (
    message_id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    message_type TEXT NOT NULL,
    body BLOB NOT NULL,
    receipt TEXT NOT NULL,
    status TEXT NOT NULL,
    ledger_index INTEGER,
    leaf_hash TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL,
    sent_at REAL NOT NULL,
    outcome TEXT NOT NULL DEFAULT 'accepted',
    outcome_doc TEXT,
    final_at REAL,
    resent_as TEXT,
    files TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS ix_receipts_following ON receipts (outcome, ledger_index);
CREATE TABLE IF NOT EXISTS uploads (
    sha256 TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxMessage:
    """A message still in the outbox (``pending`` or ``failed``)."""

    seq: int
    message_id: str
    message_type: str
    body: bytes
    """The canonical JSON that is sent, byte for byte, on every attempt."""
    files: dict[str, str]
    """SHA-256 → absolute local path of each file the message refers to."""
    status: str
    attempts: int
    created_at: float
    next_attempt_at: float
    last_attempt_at: float | None
    last_error: str | None
    problem: dict[str, Any] | None

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass(frozen=True)
class SentMessage:
    """A message that left the outbox, with its verified receipt and, once followed, its
    status on the platform (``outcome``: accepted, applied or rejected)."""

    message_id: str
    message_type: str
    body: bytes
    receipt: Receipt
    attempts: int
    created_at: float
    sent_at: float
    outcome: str = "accepted"
    status: Status | None = None
    ledger_index: int | None = None
    final_at: float | None = None

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


class SQLiteUploadUrls:
    """tus upload URLs kept in the outbox file, so that an upload interrupted by a restart
    resumes from the server's offset instead of sending the whole file again."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox

    def get(self, sha256: str) -> str | None:
        row = self._outbox._db.execute(
            "SELECT url FROM uploads WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return None if row is None else str(row[0])

    def set(self, sha256: str, url: str) -> None:
        self._outbox._db.execute(
            "INSERT INTO uploads (sha256, url, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (sha256) DO UPDATE SET url = excluded.url, "
            "updated_at = excluded.updated_at",
            (sha256, url, self._outbox._clock()),
        )

    def delete(self, sha256: str) -> None:
        self._outbox._db.execute("DELETE FROM uploads WHERE sha256 = ?", (sha256,))


class Outbox:
    """The outbox in a SQLite file (created if absent; WAL, synchronous=FULL so that a message
    acknowledged by :meth:`enqueue` survives a power cut). One object per thread."""

    def __init__(
        self, path: str | os.PathLike[str], *, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        # isolation_level=None: statements autocommit; multi-statement changes use _tx().
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            self._db.close()
            raise RuntimeError(f"{self.path} was written by a newer client (v{version})")
        with self._tx():
            if version == 1:
                self._upgrade_from_v1()
            for statement in filter(str.strip, _SCHEMA.split(";")):
                self._db.execute(statement)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        self.upload_urls = SQLiteUploadUrls(self)

    def _upgrade_from_v1(self) -> None:
        """A v1 file kept receipts of version 1, which this client does not read: they stay,
        as they were, in ``receipts_v1`` (still a lab's proof of what it sent); the messages
        waiting to be sent go on as they are."""
        self._db.execute("ALTER TABLE receipts RENAME TO receipts_v1")

    def _has_v1_archive(self) -> bool:
        """Whether a v1 file's receipts were kept in ``receipts_v1`` (an id there is taken)."""
        return (
            self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'receipts_v1'"
            ).fetchone()
            is not None
        )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- writing -----------------------------------------------------------------------------

    def enqueue(
        self,
        message_type: str,
        payload: Mapping[str, Any],
        files: Iterable[str | os.PathLike[str]] = (),
    ) -> str:
        """Store a message to be sent; return its ``message_id`` (given or generated).

        ``files`` are local paths of the files the payload refers to by SHA-256; they are
        hashed now (a file that does not exist, or whose hash the payload does not mention,
        raises here, where the mistake is made) and uploaded when the platform asks for them.
        Enqueueing the same id with the same body again is a no-op; with another body it
        raises ValueError, as the platform would answer 409.
        """
        check_message_type(message_type)
        message = with_message_id(payload)
        canonical_json(message)  # refuses what cannot be sent, here and now
        mentioned = {s.lower() for s in _strings(message)}
        refs: dict[str, str] = {}
        for name in files:
            path = Path(name).resolve()
            sha256, _size = file_sha256(path)
            if sha256 not in mentioned:
                raise ValueError(f"{path}: the message does not refer to its SHA-256 {sha256}")
            refs[sha256] = str(path)
        return self._enqueue(message_type, message, refs)

    def _enqueue(self, message_type: str, message: dict[str, Any], refs: dict[str, str]) -> str:
        body = canonical_json(message)
        message_id = normal_message_id(message["message_id"])
        now = self._clock()
        with self._tx():
            if self._has_v1_archive():
                existing = self._db.execute(_TAKEN_V1, (message_id,) * 3).fetchone()
            else:
                existing = self._db.execute(_TAKEN, (message_id,) * 2).fetchone()
            if existing is not None:
                if existing[0] != message_type or bytes(existing[1]) != body:
                    raise ValueError(f"message {message_id} is already in the outbox, different")
                return message_id
            self._db.execute(
                "INSERT INTO messages (message_id, message_type, body, files, status, "
                "created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (message_id, message_type, body, json.dumps(refs), PENDING, now, now),
            )
        return message_id

    def retry(self, ids: Iterable[str] | None = None) -> int:
        """Queue failed messages again (those in ``ids``, or all when None); return how many.

        Attempts restart from zero, so the first resend goes out at once and backoff starts
        small: whatever made it fail has presumably been fixed by the person retrying.
        """
        now = self._clock()
        sql = "UPDATE messages SET status = ?, attempts = 0, next_attempt_at = ? WHERE status = ?"
        with self._tx():
            if ids is None:
                return self._db.execute(sql, (PENDING, now, FAILED)).rowcount
            count = 0
            for message_id in ids:
                count += self._db.execute(
                    sql + " AND message_id = ?",
                    (PENDING, now, FAILED, normal_message_id(message_id)),
                ).rowcount
            return count

    def delete(self, message_id: str) -> bool:
        """Drop a message from the outbox without sending it (a person's decision)."""
        cursor = self._db.execute(
            "DELETE FROM messages WHERE message_id = ?", (normal_message_id(message_id),)
        )
        return cursor.rowcount > 0

    def _deferred(
        self, message: OutboxMessage, *, delay: float, error: ClientError, now: float
    ) -> None:
        self._db.execute(
            "UPDATE messages SET attempts = attempts + 1, last_attempt_at = ?, "
            "next_attempt_at = ?, last_error = ?, problem = ? WHERE message_id = ?",
            (
                now,
                now + delay,
                str(error)[:2000],
                json.dumps(error.problem, ensure_ascii=False) if error.problem else None,
                message.message_id,
            ),
        )

    def _failed(self, message: OutboxMessage, *, error: ClientError, now: float) -> None:
        self._db.execute(
            "UPDATE messages SET status = ?, attempts = attempts + 1, last_attempt_at = ?, "
            "last_error = ?, problem = ? WHERE message_id = ?",
            (
                FAILED,
                now,
                str(error)[:2000],
                json.dumps(error.problem or {"detail": str(error)}, ensure_ascii=False),
                message.message_id,
            ),
        )

    def _sent(self, message: OutboxMessage, receipt: Receipt, *, now: float) -> None:
        with self._tx():
            self._db.execute(
                "INSERT OR IGNORE INTO receipts (message_id, seq, message_type, body, receipt, "
                "status, ledger_index, leaf_hash, attempts, created_at, sent_at, files) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    message.message_id,
                    message.seq,
                    message.message_type,
                    message.body,
                    json.dumps(receipt.raw, ensure_ascii=False),
                    receipt.status,
                    None,
                    receipt.leaf_hash,
                    message.attempts + 1,
                    message.created_at,
                    now,
                    json.dumps(message.files),
                ),
            )
            self._db.execute("DELETE FROM messages WHERE message_id = ?", (message.message_id,))

    # --- reading -----------------------------------------------------------------------------

    _SELECT = (
        "SELECT seq, message_id, message_type, body, files, status, attempts, created_at, "
        "next_attempt_at, last_attempt_at, last_error, problem FROM messages"
    )

    @staticmethod
    def _message(row: tuple[Any, ...]) -> OutboxMessage:
        return OutboxMessage(
            seq=row[0],
            message_id=row[1],
            message_type=row[2],
            body=bytes(row[3]),
            files=json.loads(row[4]),
            status=row[5],
            attempts=row[6],
            created_at=row[7],
            next_attempt_at=row[8],
            last_attempt_at=row[9],
            last_error=row[10],
            problem=json.loads(row[11]) if row[11] else None,
        )

    def messages(self, status: str | None = None) -> list[OutboxMessage]:
        """The messages in the outbox in sending order (only ``status`` ones if given)."""
        if status is None:
            rows = self._db.execute(self._SELECT + " ORDER BY seq")
        else:
            rows = self._db.execute(self._SELECT + " WHERE status = ? ORDER BY seq", (status,))
        return [self._message(row) for row in rows]

    def pending(self) -> list[OutboxMessage]:
        return self.messages(PENDING)

    def failed(self) -> list[OutboxMessage]:
        return self.messages(FAILED)

    def get(self, message_id: str) -> OutboxMessage | None:
        row = self._db.execute(
            self._SELECT + " WHERE message_id = ?",
            (normal_message_id(message_id),),
        ).fetchone()
        return None if row is None else self._message(row)

    _SENT = (
        "SELECT message_id, message_type, body, receipt, attempts, created_at, sent_at, "
        "outcome, outcome_doc, ledger_index, final_at FROM receipts"
    )

    @staticmethod
    def _sent_message(row: tuple[Any, ...]) -> SentMessage:
        return SentMessage(
            message_id=row[0],
            message_type=row[1],
            body=bytes(row[2]),
            receipt=Receipt.from_json(json.loads(row[3])),
            attempts=row[4],
            created_at=row[5],
            sent_at=row[6],
            outcome=row[7],
            status=Status.from_json(json.loads(row[8])) if row[8] else None,
            ledger_index=row[9],
            final_at=row[10],
        )

    def sent(self, message_id: str | None = None) -> list[SentMessage]:
        """Sent messages with their receipts in the order they were enqueued (or the one with
        this id)."""
        if message_id is None:
            rows = self._db.execute(self._SENT + " ORDER BY seq")
        else:
            rows = self._db.execute(
                self._SENT + " WHERE message_id = ?", (normal_message_id(message_id),)
            )
        return [self._sent_message(row) for row in rows]

    def following(self, limit: int = 100) -> list[SentMessage]:
        """Sent messages not yet final (first), or final but not yet shown included in the log."""
        rows = self._db.execute(
            self._SENT + " WHERE outcome = 'accepted' OR ledger_index IS NULL "
            "ORDER BY outcome != 'accepted', seq LIMIT ?",  # those not yet applied first
            (limit,),
        )
        return [self._sent_message(row) for row in rows]

    def rejected(self) -> list[SentMessage]:
        """Messages the platform accepted and then refused when applying them: a person looks
        at each one's problem (``status.problem``)."""
        rows = self._db.execute(
            self._SENT + " WHERE outcome = 'rejected' AND resent_as IS NULL ORDER BY seq"
        )
        return [self._sent_message(row) for row in rows]

    def resend(self, ids: Iterable[str] | None = None) -> dict[str, str]:
        """Queue rejected messages (those in ``ids``, or all when None) again as new messages:
        the same content under a fresh ``message_id`` (the rejected one stays on the
        platform's record, and resending it under its own id would only get its rejection
        back). Returns {rejected id: new id}."""
        wanted = None if ids is None else {normal_message_id(i) for i in ids}
        done: dict[str, str] = {}
        for sent in self.rejected():
            if wanted is not None and sent.message_id not in wanted:
                continue
            files = self._db.execute(
                "SELECT files FROM receipts WHERE message_id = ?", (sent.message_id,)
            ).fetchone()
            payload = {**sent.payload, "message_id": str(uuid.uuid4())}
            new_id = self._enqueue(sent.message_type, payload, json.loads(files[0]))
            self._db.execute(
                "UPDATE receipts SET resent_as = ? WHERE message_id = ?", (new_id, sent.message_id)
            )
            done[sent.message_id] = new_id
        return done

    def awaiting(self) -> int:
        """How many sent messages are not yet applied or rejected."""
        row = self._db.execute("SELECT COUNT(*) FROM receipts WHERE outcome = 'accepted'")
        return int(row.fetchone()[0])

    def lag(self) -> float:
        """Seconds the oldest sent message not yet applied or rejected has waited (0: none)."""
        row = self._db.execute(
            "SELECT MIN(sent_at) FROM receipts WHERE outcome = 'accepted'"
        ).fetchone()
        return 0.0 if row[0] is None else max(0.0, self._clock() - float(row[0]))

    def _followed(self, status: Status, *, included: bool, now: float) -> None:
        self._db.execute(
            "UPDATE receipts SET outcome = ?, outcome_doc = ?, ledger_index = ?, "
            "final_at = COALESCE(final_at, ?) WHERE message_id = ?",
            (
                status.status,
                json.dumps(status.raw, ensure_ascii=False),
                status.ledger.index if included and status.ledger else None,
                now if status.final else None,
                status.message_id,
            ),
        )

    def receipt(self, message_id: str) -> Receipt | None:
        """The verified receipt of a sent message, or None if it has not been sent."""
        found = self.sent(message_id)
        return found[0].receipt if found else None


# --- sending ---------------------------------------------------------------------------------


def backoff_delay(
    attempt: int, *, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Seconds to wait after the ``attempt``-th consecutive failure: "full jitter", a uniform
    draw from [0, min(cap, base * 2**(attempt-1))]. The bound doubles each time so a long
    outage costs few requests; the jitter spreads the labs that all lost the platform at the
    same moment, so they do not all come back at the same moment too."""
    bound = min(cap, base * 2 ** min(max(attempt - 1, 0), 62))
    return (rng or random).uniform(0, bound)


@dataclass
class SendReport:
    """What one pass of the sender did (message ids)."""

    sent: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    """SHA-256 of files uploaded because a message needed them."""
    applied: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    """Sent messages that the platform applied, or refused when applying, in this pass."""

    def add(self, other: SendReport) -> None:
        self.sent += other.sent
        self.deferred += other.deferred
        self.failed += other.failed
        self.uploaded += other.uploaded
        self.applied += other.applied
        self.rejected += other.rejected


class Sender:
    """Sends an outbox's due messages through a :class:`Client`.

    ``backoff_base``/``backoff_cap`` shape the delays between attempts (seconds); with
    ``max_attempts`` a message that keeps failing transiently is finally marked failed
    (default: keep trying, which is what a lab wants during a long outage). ``rng``, ``clock``
    and ``sleep`` are there for tests.
    """

    def __init__(
        self,
        client: Client,
        outbox: Outbox,
        *,
        backoff_base: float = 1.0,
        backoff_cap: float = 300.0,
        max_attempts: int | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if backoff_base <= 0 or backoff_cap < backoff_base:
            raise ValueError("need 0 < backoff_base <= backoff_cap")
        self.client = client
        self.outbox = outbox
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_attempts = max_attempts
        self.rng = rng or random.Random()  # noqa: S311  (jitter, not secrecy)
        self.clock = clock
        self.sleep = sleep

    def run_once(self) -> SendReport:
        """One pass: send the due messages in order, stopping at the first one that must wait
        (not due yet, or just failed transiently: the platform is likely unreachable for the
        rest too, and order is kept); then follow the sent ones (:meth:`follow_once`)."""
        report = SendReport()
        for message in self.outbox.pending():
            if message.next_attempt_at > self.clock():
                break
            if not self._attempt(message, report):
                break
        with contextlib.suppress(TransientError):  # followed again on the next pass
            self.follow_once(report)
        return report

    def follow_once(self, report: SendReport | None = None) -> SendReport:
        """Ask the platform where the sent messages stand (up to 100 in one request) and record
        it: applied or rejected, and once the leaf is in the log, its index after checking the
        inclusion proof against the signed checkpoint (ReceiptMismatch if it fails)."""
        report = report if report is not None else SendReport()
        following = {m.message_id: m for m in self.outbox.following()}
        if not following:
            return report
        for status in self.client.statuses(list(following)):
            sent = following.get(status.message_id)
            if sent is None:
                continue
            if status.receipt.leaf_hash != sent.receipt.leaf_hash:
                raise ReceiptMismatch(
                    "the platform's status carries another receipt than the one received",
                    receipt=status.raw,
                    message_id=status.message_id,
                )
            included = status.verify_inclusion(self.client.log_key)
            self.outbox._followed(status, included=included, now=self.clock())
            if status.final and sent.outcome == "accepted":
                (report.applied if status.status == "applied" else report.rejected).append(
                    status.message_id
                )
        return report

    def waiting(self) -> bool:
        """Whether a sent message is still waiting to be applied."""
        return self.outbox.awaiting() > 0

    def next_due(self) -> float | None:
        """When the head of the queue is due (a clock value), or None when nothing is pending."""
        pending = self.outbox.pending()
        return pending[0].next_attempt_at if pending else None

    def drain(
        self,
        *,
        until_empty: bool = True,
        timeout: float | None = None,
        poll_interval: float = 5.0,
    ) -> SendReport:
        """Send until nothing is pending (``until_empty``), or for ever, sleeping until the
        next message is due (looking for newly enqueued ones every ``poll_interval`` s).
        Sent messages are followed until applied or rejected (``until_empty`` waits for that
        too). Stops after ``timeout`` seconds if given; failed messages do not keep it
        running."""
        report = SendReport()
        deadline = None if timeout is None else self.clock() + timeout
        while True:
            report.add(self.run_once())
            due = self.next_due()
            if due is None and until_empty and not self.waiting():
                return report
            if due is None and self.waiting():
                due = self.clock() + min(poll_interval, 0.5)  # follow what is being applied
            now = self.clock()
            wake = now + poll_interval if due is None else min(due, now + poll_interval)
            if deadline is not None:
                if now >= deadline:
                    return report
                wake = min(wake, deadline)
            self.sleep(max(0.0, wake - now))

    def _attempt(self, message: OutboxMessage, report: SendReport) -> bool:
        """Send one message (uploading what it lacks); False when the pass should stop."""
        outbox = self.outbox
        payload = message.payload
        uploaded = False
        while True:
            try:
                receipt = self.client.send(message.message_type, payload)
            except FilesMissing as exc:
                if uploaded:
                    return self._fail(
                        message,
                        PermanentError(
                            f"still missing after upload: {', '.join(exc.missing)}",
                            problem=exc.problem,
                            status=exc.status,
                        ),
                        report,
                    )
                try:
                    report.uploaded += self._upload(message, exc)
                except TransientError as upload_error:
                    return self._defer(message, upload_error, report)
                except PermanentError as upload_error:
                    return self._fail(message, upload_error, report)
                uploaded = True
                continue
            except TransientError as exc:
                return self._defer(message, exc, report)
            except PermanentError as exc:  # ReceiptMismatch included
                return self._fail(message, exc, report)
            outbox._sent(message, receipt, now=self.clock())
            report.sent.append(message.message_id)
            return True

    def _upload(self, message: OutboxMessage, exc: FilesMissing) -> list[str]:
        unknown = [h for h in exc.missing if h not in message.files]
        if unknown:
            raise PermanentError(
                f"the platform lacks files this message was not given: {', '.join(unknown)}",
                problem={**exc.problem, "unknown_locally": unknown},
                status=422,
            )
        done = []
        for sha256 in exc.missing:
            path = message.files[sha256]
            try:
                self.client.put_file(
                    path, expected_sha256=sha256, upload_urls=self.outbox.upload_urls
                )
            except OSError as error:
                raise PermanentError(
                    f"{path}: {error}",
                    problem=local_problem(
                        "file-unreadable", "本地文件无法读取", f"{path}: {error}"
                    ),
                ) from error
            done.append(sha256)
        return done

    def _defer(self, message: OutboxMessage, error: TransientError, report: SendReport) -> bool:
        attempts = message.attempts + 1
        if self.max_attempts is not None and attempts >= self.max_attempts:
            self._fail(message, error, report)
            return False
        delay = backoff_delay(attempts, base=self.backoff_base, cap=self.backoff_cap, rng=self.rng)
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        self.outbox._deferred(message, delay=delay, error=error, now=self.clock())
        report.deferred.append(message.message_id)
        return False

    def _fail(self, message: OutboxMessage, error: ClientError, report: SendReport) -> bool:
        self.outbox._failed(message, error=error, now=self.clock())
        report.failed.append(message.message_id)
        return True
