"""The child's side: forward this platform's log to its upstream, in order and resumably.

The cursor (:class:`~jcjg.networking.models.ForwardCursor`) is the next leaf index of this
platform's log to forward. The log is the one ordered record of everything accepted and
issued here: its committed leaves form a gap-free prefix (:mod:`jcjg.ledger.service`), so a
cursor over leaf indices skips nothing, whatever order transactions committed in, and it is
safe with several processes (one holds the cursor's lease at a time). Each pass:

1. sequences what was promised (exchange messages accepted since: their leaves get indices);
2. reads the leaves from the cursor on; a leaf of a lab's message goes with the message (raw
   body, signature and what else it signed, the lab's key, the outcome here) once it has been
   applied or rejected here, so that the parent gets the supervision code this platform issued:
   a message still waiting stops the batch there;
3. uploads the files those messages refer to (``PUT``/tus, as the lab client does);
4. posts the forward, signed with this platform's key (:class:`jcjg.client.api.Client`: the
   lab client's signing, with its retry classification), and moves the cursor to the parent's
   ``next_index`` once it answered. A forward sent again after a crash is answered as
   duplicates; a parent that lost leaves (restored from a backup) answers 409 with the index it
   expects and the cursor goes back there.

Failures back off exponentially with full jitter (:func:`jcjg.client.outbox.backoff_delay`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from jcjg.client.api import Client as ExchangeClient
from jcjg.client.api import error_for, tls_context
from jcjg.client.errors import ClientError, FilesMissing, PermanentError, TransientError
from jcjg.client.outbox import backoff_delay
from jcjg.config import Settings
from jcjg.core import facts
from jcjg.core.blobs import blob_store
from jcjg.core.db import insert_ignoring_conflicts, utcnow
from jcjg.exchange.apply import holder_id
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.clients import PUBLIC_KEY_ALGORITHMS
from jcjg.exchange.models import Client as ExchangeClientRow
from jcjg.exchange.models import ClientKey, Message
from jcjg.exchange.service import ENTRY_PREFIX
from jcjg.exchange.types import message_types
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf, LedgerQueued
from jcjg.networking import logs, problems
from jcjg.networking.choices import ChildStatus, Outcome
from jcjg.networking.models import Child, ForwardCursor, Forwarded, LabKey
from jcjg.networking.wire import (
    FORWARDS_PATH,
    RELAYED,
    VERSION,
    b64,
    evidence_files,
    first_notarised,
    kept_results,
)
from jcjg.tenancy.models import Institution

log = logging.getLogger("jcjg.networking.forward")

# a forwarder that died (killed, its machine gone) holds the cursor this long at most; one that
# stops gives it back at once
LEASE = dt.timedelta(seconds=10)
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
CURSOR_ID = 1


def configured(settings: Settings) -> bool:
    return bool(settings.upstream_url and settings.upstream_key_id and settings.upstream_key)


def upstream_client(settings: Settings, **options: Any) -> ExchangeClient:
    """The signing client for the upstream, from the settings."""
    assert settings.upstream_key is not None
    return ExchangeClient(
        settings.upstream_url,
        settings.upstream_key_id,
        settings.upstream_key.get_secret_value(),
        alg=settings.upstream_key_alg or None,
        log_key=settings.upstream_log_key or None,
        **options,
    )


def cursor(db: Session) -> ForwardCursor:
    """The cursor's row (made on first use)."""
    row = db.get(ForwardCursor, CURSOR_ID)
    if row is None:
        db.execute(insert_ignoring_conflicts(db, ForwardCursor).values(id=CURSOR_ID, position=0))
        db.flush()
        row = db.get_one(ForwardCursor, CURSOR_ID)
    return row


def claim(db: Session, holder: str, now: dt.datetime, lease: dt.timedelta = LEASE) -> bool:
    """Take (or keep) the cursor's lease and commit; False when another forwarder holds it."""
    cursor(db)
    taken = db.execute(
        update(ForwardCursor)
        .where(
            ForwardCursor.id == CURSOR_ID,
            (ForwardCursor.holder.is_(None))
            | (ForwardCursor.holder == holder)
            | (ForwardCursor.lease_until < now),
        )
        .values(holder=holder, lease_until=now + lease)
    )
    db.commit()
    return bool(getattr(taken, "rowcount", 0) == 1)


def release(db: Session, holder: str) -> None:
    """Give the cursor's lease back (a forwarder stopping)."""
    db.execute(
        update(ForwardCursor)
        .where(ForwardCursor.id == CURSOR_ID, ForwardCursor.holder == holder)
        .values(holder=None, lease_until=None)
    )
    db.commit()


@dataclass
class Batch:
    """The next leaves to forward: the forward's body, and the files its messages need."""

    first: int
    items: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    backlog: int = 0
    oldest_waiting_at: dt.datetime | None = None

    def body(self, origin: str) -> dict[str, Any]:
        return {
            "forward_version": VERSION,
            "origin": origin,
            "first": self.first,
            "items": self.items,
            "backlog": self.backlog,
            "oldest_waiting_at": ledger.timestamp(self.oldest_waiting_at)
            if self.oldest_waiting_at
            else None,
        }


# how the forwarder reaches its children for a relay's proof (tests put a transport here)
child_transport: httpx.BaseTransport | None = None


class _Proofs:
    """The proofs a batch's relays carry, each child's read once (``logs.relay_proof``)."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.http: httpx.Client | None = None
        self.transport = child_transport

    def __call__(self, child_id: int, index: int) -> dict[str, Any] | None:
        child = self.db.get(Child, child_id)
        if child is None:
            return None
        if self.http is None:
            self.http = httpx.Client(
                timeout=logs.TIMEOUT, transport=self.transport, verify=tls_context()
            )
        return logs.relay_proof(self.db, child, index, self.http)

    def close(self) -> None:
        if self.http is not None:
            self.http.close()


def next_batch(db: Session, settings: Settings, position: int) -> Batch:
    """The leaves from ``position`` on, up to the batch's limits, stopping before a message
    that has not been applied yet, and before a relay of a child's fact whose proof in the
    child's log cannot be had yet."""
    proofs = _Proofs(db)
    try:
        return _next_batch(db, settings, position, proofs)
    finally:
        proofs.close()


def _next_batch(db: Session, settings: Settings, position: int, proofs: _Proofs) -> Batch:
    batch = Batch(first=position)
    leaves = db.scalars(
        select(LedgerLeaf)
        .where(LedgerLeaf.leaf_index >= position)
        .order_by(LedgerLeaf.leaf_index)
        .limit(settings.upstream_batch)
    ).all()
    hashes = [leaf.leaf_hash for leaf in leaves if leaf.entry_type.startswith(ENTRY_PREFIX)]
    messages = (
        {m.leaf_hash: m for m in db.scalars(select(Message).where(Message.leaf_hash.in_(hashes)))}
        if hashes
        else {}
    )
    keys = _keys(db, {m.key_id for m in messages.values()})
    contents = facts.contents()  # the domains' readers of what an entry holds as digests
    relays = _relays(
        db, [leaf.leaf_hash for leaf in leaves if not leaf.entry_type.startswith(ENTRY_PREFIX)]
    )
    relays_after = _relays_after(db, position, leaves, relays)
    size = 0
    expected = position
    for leaf in leaves:
        if leaf.leaf_index != expected:  # not yet committed below it: wait for the gap
            break
        item: dict[str, Any] = {
            "index": leaf.leaf_index,
            "leaf_hash": leaf.leaf_hash.hex(),
            "entry": b64(leaf.entry),
            "message": None,
        }
        if leaf.entry_type.startswith(ENTRY_PREFIX):
            message = messages.get(leaf.leaf_hash)
            if message is None or message.status == MessageStatus.ACCEPTED:
                break  # not applied here yet: its outcome (a code) goes with it
            item["message"] = _message(message, keys.get(message.key_id))
            if message.status == MessageStatus.APPLIED:
                batch.files.extend(_files(message))
        elif leaf.leaf_hash in relays:  # a child's fact rebuilt here
            added = _relay(item, relays[leaf.leaf_hash], proofs, batch)
            if added is None:
                break  # its proof is still to come: the relay waits
            size += added
        else:
            if leaf.entry_type in contents:
                size += _content(db, item, leaf, contents[leaf.entry_type], batch)
            if relays_after is not None and relays_after > leaf.leaf_index:
                item["after_relays"] = True
        size += len(item["entry"]) + len((item["message"] or {}).get("body", ""))
        if batch.items and size > settings.upstream_batch_bytes:
            break
        batch.items.append(item)
        expected += 1
    end = db.scalar(select(func.max(LedgerLeaf.leaf_index)))
    batch.backlog = max(0, (end if end is not None else -1) + 1 - expected)
    if batch.backlog:
        batch.oldest_waiting_at = db.scalar(
            select(LedgerLeaf.created_at).where(LedgerLeaf.leaf_index == expected)
        )
    return batch


def _relays_after(
    db: Session, position: int, leaves: Sequence[LedgerLeaf], relays: dict[bytes, Relay]
) -> int | None:
    """Up to which index of this platform's log a fact of its own may be built on a child's
    fact whose relay comes after it (None: none): a relay still waiting for its child's
    checkpoint (its leaf will come after every leaf there is), else the last relay leaf from
    ``position`` on. Such a fact goes up marked (``after_relays``) so that the parent holds
    it, instead of refusing it, until the relay it may be built on has come."""
    own = [
        leaf
        for leaf in leaves
        if not leaf.entry_type.startswith(ENTRY_PREFIX) and leaf.leaf_hash not in relays
    ]
    if not own:
        return None
    if db.scalar(waiting_relays().limit(1)) is not None:
        return 2**63 - 1
    return db.scalar(
        select(func.max(LedgerLeaf.leaf_index))
        .join(Forwarded, Forwarded.relay_leaf_hash == LedgerLeaf.leaf_hash)
        .where(LedgerLeaf.leaf_index >= own[0].leaf_index)
    )


def _content(
    db: Session, item: dict[str, Any], leaf: LedgerLeaf, read: facts.FactContent, batch: Batch
) -> int:
    """A fact's item gets what its entry holds as digests, while this platform still holds it
    as the entry says; the bytes that adds."""
    exported = read(db, leaf.leaf_index, json.loads(leaf.entry)["data"])
    if exported is None:
        return 0
    item["content"] = exported.content
    batch.files.extend(exported.files)
    return len(json.dumps(exported.content, ensure_ascii=False))


Relay = tuple[dict[str, Any] | None, int, int | None, dict[str, Any] | None]


def _relay(item: dict[str, Any], relay: Relay, proofs: _Proofs, batch: Batch) -> int | None:
    """A relay's item gets the content the child sent beside its fact and the proof of the
    child's leaf in the child's log (the one kept when the relay was notarised; read from the
    child for a relay notarised before proofs were kept); the bytes that adds, or None while
    no proof can be had."""
    content, child_id, first, kept = relay
    added = 0
    if first is not None:  # the child's own leaf: its proof, from the child's log
        proof = kept or proofs(child_id, first)
        if proof is None:
            return None
        item["proof"] = proof
        added += len(proof["checkpoint"]) + 66 * len(proof["hashes"])
    if content is not None:
        item["content"] = content
        batch.files.extend(evidence_files(content))
        added += len(json.dumps(content, ensure_ascii=False))
    return added


def _relays(db: Session, hashes: list[bytes]) -> dict[bytes, Relay]:
    """The leaves among ``hashes`` that relay a child's fact rebuilt here: the content the
    child sent beside it (None when it sent none), the child, the index of the fact's leaf
    in the child's log when it was first notarised there (None: a fact the child relays from
    its own child), and the proof of that leaf kept when the relay was notarised."""
    if not hashes:
        return {}
    found = db.execute(
        select(
            Forwarded.relay_leaf_hash, Forwarded.content, Forwarded.child_id,
            Forwarded.source_origin, Forwarded.source_index, Child.log_origin,
            Forwarded.relay_proof,
        )
        .join(Child, Child.id == Forwarded.child_id)
        .where(Forwarded.relay_leaf_hash.in_(hashes))
    )  # fmt: skip
    return {
        bytes(leaf): (content, child_id, index if source == own else None, proof)
        for leaf, content, child_id, source, index, own, proof in found
        if leaf is not None
    }


def waiting_relays() -> Select[Any]:
    """The children's own facts rebuilt here whose relay waits for the child's checkpoint
    (their ids)."""
    return select(Forwarded.id).where(
        Forwarded.outcome == Outcome.REBUILT, Forwarded.relay_leaf_hash.is_(None)
    )


# a child whose relays could not be released is asked again after this many seconds, doubled
# on each failure in a row up to the cap (this process's memory: a forwarding pass does not
# wait out a child's timeout on every poll)
RELEASE_RETRY, RELEASE_RETRY_CAP = 5.0, 120.0
release_waits: dict[int, tuple[float, int]] = {}  # child id -> (monotonic time, failures)


def release_relays(
    db: Session, *, transport: httpx.BaseTransport | None = None, spaced: bool = False
) -> int:
    """Notarise the relay of each child's fact rebuilt here that its checked checkpoint now
    covers (fetched and checked now when the last one checked does not), in the order the
    child notarised them, keeping the leaf's proof for the forward (``logs.relay_proof``).
    A child whose log cannot be read or does not cover its next fact yet (no worker
    publishing its checkpoints, unreachable, halted) keeps its own relays waiting, and
    nothing else: what other children and this platform notarised goes up meanwhile.
    With ``spaced``, a child that failed is asked again only after ``release_waits`` says.
    Commits after each child; how many relays were notarised."""
    waiting = db.execute(
        waiting_relays()
        .add_columns(Forwarded.child_id)
        .order_by(Forwarded.child_id, Forwarded.origin_index)
    ).all()
    db.rollback()
    by_child: dict[int, list[int]] = {}
    for row_id, child_id in waiting:
        by_child.setdefault(child_id, []).append(row_id)
    released = 0
    proofs = _Proofs(db)
    if transport is not None:
        proofs.transport = transport
    try:
        for child_id, ids in by_child.items():
            if spaced and release_waits.get(child_id, (0.0, 0))[0] > time.monotonic():
                continue
            done = _release(db, child_id, ids, proofs)
            db.commit()
            released += done
            if done == len(ids):
                release_waits.pop(child_id, None)
            else:  # its next fact still waits: ask it again later
                failures = release_waits.get(child_id, (0.0, 0))[1] + 1
                wait = min(RELEASE_RETRY_CAP, RELEASE_RETRY * 2 ** (failures - 1))
                release_waits[child_id] = (time.monotonic() + wait, failures)
    finally:
        proofs.close()
    return released


def _release(db: Session, child_id: int, ids: list[int], proofs: _Proofs) -> int:
    child = db.get(Child, child_id)
    if child is None or child.status != ChildStatus.ACTIVE:
        return 0
    released = 0
    for row_id in ids:
        row = db.get_one(Forwarded, row_id)
        proof = proofs(child_id, row.origin_index)
        if proof is None:
            break  # the child's later facts wait behind it, in its order
        relayed = first_notarised(
            origin=child.log_origin, name=child.name, region_code=child.region_code,
            log_key=child.log_key, index=row.origin_index, leaf_hash=row.leaf_hash,
            entry=row.entry,
        )  # fmt: skip
        data = json.loads(row.entry)["data"]
        relay = ledger.promise(row.entry_type, {**data, RELAYED: relayed}, utcnow())
        taken = db.execute(  # another process may have released it meanwhile
            update(Forwarded)
            .where(Forwarded.id == row_id, Forwarded.relay_leaf_hash.is_(None))
            .values(relay_leaf_hash=relay.leaf_hash, relay_proof=proof)
        )
        if getattr(taken, "rowcount", 0) == 1:
            db.execute(insert(LedgerQueued), [relay.queued_row()])
            released += 1
    return released


def _keys(db: Session, key_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The labs' keys by key id: algorithm, public key (Ed25519, SM2), institution code."""
    if not key_ids:
        return {}
    rows = db.execute(
        select(ClientKey.key_id, ClientKey.alg, ClientKey.key_material, Institution.code)
        .join(ExchangeClientRow, ExchangeClientRow.id == ClientKey.client_id)
        .outerjoin(Institution, Institution.id == ExchangeClientRow.institution_id)
        .where(ClientKey.key_id.in_(sorted(key_ids)))
    ).all()
    found = {
        key_id: {
            "key_id": key_id,
            "alg": alg,
            "public_key": b64(material) if alg in PUBLIC_KEY_ALGORITHMS else None,
            "institution_code": code,
        }
        for key_id, alg, material, code in rows
    }
    # keys of labs below a child of ours, pinned when their messages came up
    for pinned in db.scalars(select(LabKey).where(LabKey.key_id.in_(sorted(key_ids - set(found))))):
        found[pinned.key_id] = {
            "key_id": pinned.key_id,
            "alg": pinned.alg,
            "public_key": b64(pinned.public_key),
            "institution_code": pinned.institution_code,
        }
    return found


def _message(message: Message, key: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "body": b64(message.body),
        "request": message.request,
        "signature_input": message.signature_input,
        "signature": message.signature,
        # a message forwarded to us by a child names its lab's key, which we do not hold:
        # what the child told us goes on
        "key": key or _forwarded_key(message),
        "status": "applied" if message.status == MessageStatus.APPLIED else "rejected",
        "results": kept_results(message.results)
        if message.status == MessageStatus.APPLIED
        else None,
    }


def _forwarded_key(message: Message) -> dict[str, Any]:
    return {
        "key_id": message.key_id,
        "alg": "hmac-sha256",
        "public_key": None,
        "institution_code": None,
    }


def _files(message: Message) -> list[str]:
    """The files an applied message refers to (its type's ``files`` of the message read
    again: only for a type that may refer to some)."""
    kind = message_types().get(message.message_type)
    if kind is None or not kind.has_files:
        return []
    try:
        return list(kind.files(kind.schema.model_validate(json.loads(message.body))))
    except ValueError:
        return []


@dataclass
class Pass:
    """What one forwarding pass did."""

    forwarded: int = 0
    refused: int = 0
    uploaded: int = 0
    released: int = 0  # relays of the children's facts notarised (``release_relays``)
    error: str | None = None
    # the parent waits for a checkpoint of this platform's (``network-child-waiting``): the
    # rest goes at ``retry_at``
    waiting: bool = False
    retry_at: dt.datetime | None = None
    idle: bool = True


def forward_once(
    factory: sessionmaker[Session],
    settings: Settings,
    client: ExchangeClient,
    *,
    holder: str | None = None,
    origin: str | None = None,
) -> Pass:
    """One batch: read, upload its files, post it, move the cursor. Nothing to do (or another
    forwarder holds the cursor, or a backoff is running) gives an idle pass."""
    holder = holder or holder_id()
    origin = origin or ledger.log_identity().origin
    done = Pass()
    with factory() as db:
        if db.scalar(waiting_relays().limit(1)) is not None:
            done.released = release_relays(db, spaced=True)
        # an idle pass writes nothing (on SQLite a write takes the database's one lock):
        # promised leaves are sequenced, and the cursor's lease taken, only when there are some
        if db.scalar(select(LedgerQueued.id).limit(1)) is not None:
            ledger.sequence(db)
            db.commit()
        position = db.scalar(select(ForwardCursor.position).where(ForwardCursor.id == CURSOR_ID))
        waiting = select(LedgerLeaf.leaf_index).where(LedgerLeaf.leaf_index == (position or 0))
        if db.scalar(waiting) is None:
            db.rollback()
            return done
        now = utcnow()
        if not claim(db, holder, now, dt.timedelta(seconds=settings.upstream_lease_seconds)):
            return done
        row = cursor(db)
        if row.next_attempt_at is not None and row.next_attempt_at > now:
            db.rollback()
            return done
        batch = next_batch(db, settings, row.position)
        db.rollback()
    if not batch.items:
        return done
    done.idle = False
    if any(item["message"] is None for item in batch.items):
        # the parent relays this platform's facts up once its checkpoint covers them: sign
        # one that does now, whether or not a worker integrates the log
        _integrated(factory, batch.first + len(batch.items))
    body = json.dumps(batch.body(origin), separators=(",", ":"), ensure_ascii=False).encode()
    try:
        answer = _post(client, settings, body, batch, done)
    except ClientError as exc:
        done.error = str(exc)[:500]
        done.waiting = str((exc.problem or {}).get("type", "")).endswith(
            problems.CHILD_WAITING.slug
        )
        done.retry_at = _failed(factory, exc)
        return done
    with factory() as db:
        db.execute(
            update(ForwardCursor)
            .where(ForwardCursor.id == CURSOR_ID)
            .values(
                position=answer["next_index"],
                # a parent may take the first items only (it waits for a checkpoint)
                forwarded=ForwardCursor.forwarded
                + max(0, min(len(batch.items), answer["next_index"] - batch.first)),
                refused=ForwardCursor.refused + len(answer.get("refused") or ()),
                last_forward_at=utcnow(),
                failures=0,
                next_attempt_at=None,
                last_error=None,
                upstream=settings.upstream_url[:200],
            )
        )
        db.commit()
    done.forwarded = len(batch.items)
    done.refused = len(answer.get("refused") or ())
    for refused in answer.get("refused") or ():
        log.warning("upstream refused leaf %s: %s", refused.get("index"), refused.get("detail"))
    return done


def _integrated(factory: sessionmaker[Session], end: int) -> None:
    """Integrate this platform's log up to ``end`` leaves and sign its checkpoint (what the
    ``ledger.integrate`` job does every 5 s)."""
    with factory() as db:
        while ledger.head(db).size < end and ledger.integrate(db):
            db.commit()
        db.commit()


def _post(
    client: ExchangeClient, settings: Settings, body: bytes, batch: Batch, done: Pass
) -> dict[str, Any]:
    """Post the forward; upload what it is missing and post again (twice at most)."""
    for attempt in range(3):
        if attempt == 0:
            _upload(client, settings, batch.files, done, check=True)
        response = client.request("POST", FORWARDS_PATH, body=body, content_type="application/json")
        if response.is_success:
            answer: dict[str, Any] = response.json()
            if not isinstance(answer.get("next_index"), int):
                raise PermanentError("the upstream's answer has no next_index")
            return answer
        error = error_for(response)
        if isinstance(error, FilesMissing):
            _upload(client, settings, error.missing, done, check=False)
            continue
        problem = error.problem or {}
        if response.status_code == 409 and problem.get("type", "").endswith(
            problems.FORWARD_GAP.slug
        ):
            expected = problem.get("expected")
            if isinstance(expected, int) and expected >= 0:
                return {"next_index": expected, "refused": []}
        raise error
    raise TransientError("the upstream kept asking for files")


def _upload(
    client: ExchangeClient, settings: Settings, hashes: list[str], done: Pass, *, check: bool
) -> None:
    store = blob_store(settings)
    for sha256 in dict.fromkeys(hashes):
        if check and client.has_file(sha256):
            continue
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / sha256
            path.write_bytes(store.get(sha256))
            client.put_file(path, expected_sha256=sha256)
        done.uploaded += 1


def _failed(factory: sessionmaker[Session], error: ClientError) -> dt.datetime:
    """The failure counted and the next attempt put off (backoff); when it is."""
    with factory() as db:
        row = cursor(db)
        row.failures += 1
        wait = backoff_delay(row.failures, base=BACKOFF_BASE, cap=BACKOFF_CAP)
        if isinstance(error, TransientError) and error.retry_after:
            wait = max(wait, error.retry_after)
        row.next_attempt_at = utcnow() + dt.timedelta(seconds=wait)
        row.last_error = str(error)[:500]
        retry_at = row.next_attempt_at
        db.commit()
    log.warning("forwarding to the upstream failed: %s", error)
    return retry_at


def forward_loop(
    factory: sessionmaker[Session], settings: Settings
) -> Callable[[threading.Event], None]:
    """A thread's body: forward batch after batch, waiting ``upstream_poll_seconds`` when idle."""

    def run(stop: threading.Event) -> None:
        holder = holder_id()
        with upstream_client(settings) as client:
            while not stop.is_set():
                try:
                    done = forward_once(factory, settings, client, holder=holder)
                except Exception:
                    log.exception("forwarding failed; trying again")
                    stop.wait(5.0)
                    continue
                if done.idle or done.error:
                    stop.wait(settings.upstream_poll_seconds)
        try:
            with factory() as db:
                release(db, holder)
        except Exception:  # the lease lapses by itself
            log.warning("could not give the forward cursor's lease back")

    return run


def status(db: Session) -> dict[str, Any]:
    """Where forwarding stands, for the page: position, backlog, last forward, last error."""
    row = db.get(ForwardCursor, CURSOR_ID)
    end = db.scalar(select(func.max(LedgerLeaf.leaf_index)))
    size = (end if end is not None else -1) + 1
    position = row.position if row else 0
    return {
        "position": position,
        "size": size,
        "backlog": max(0, size - position),
        "forwarded": row.forwarded if row else 0,
        "refused": row.refused if row else 0,
        "last_forward_at": row.last_forward_at if row else None,
        "last_error": row.last_error if row else None,
        "next_attempt_at": row.next_attempt_at if row else None,
        "cosigned": ledger.latest_cosigned(db),
        "relays_waiting": relays_waiting(db),
    }


def relays_waiting(db: Session) -> dict[int, int]:
    """How many of each child's facts rebuilt here wait for its checkpoint to be relayed."""
    rows = db.execute(
        select(Forwarded.child_id, func.count())
        .where(Forwarded.id.in_(waiting_relays()))
        .group_by(Forwarded.child_id)
    ).all()
    return {child_id: int(count) for child_id, count in rows}
