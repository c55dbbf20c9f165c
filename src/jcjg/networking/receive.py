"""The parent's side of a forward: check each leaf a child sends and keep it once.

For every item, in order: the entry's leaf hash is recomputed (the child cannot send one entry
and claim another leaf); a lab's message must be the one its entry notarised (type, key, the
SHA-256 of its canonical JSON), and when the lab signs with Ed25519 its signature and
Content-Digest are verified here with the lab's own key, its ``created`` judged against the
acceptance time the child notarised, not this platform's clock. So a compromised child cannot
forge an Ed25519 lab's data; an HMAC lab's message carries only the child's word
(``attestation`` ``platform``), refused altogether under ``JCJG_NETWORK_REQUIRE_LAB_SIGNATURE``.

A message that passes becomes a row of this platform's ``exchange_message`` (``accepted``, in
its institution's lane, with its ``origin``) and is applied here like any other; a message this
platform already has from the same institution (sent to it directly, or through another
child) is kept as ``duplicate``. A fact of the child's is recorded. Nothing is written for a
forward that fails as a whole (409 gap, 403 not a child ...).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core import facts
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    AppError,
    FieldError,
    NotFound,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.facts import HOLD, ForwardedFact, NotYet
from jcjg.core.regioncodes import scope_prefix
from jcjg.exchange import cache
from jcjg.exchange import problems as exchange_problems
from jcjg.exchange.auth import REQUIRED_WITH_BODY, Caller
from jcjg.exchange.clients import PUBLIC_KEY_ALGORITHMS
from jcjg.exchange.digest import verify_content_digest
from jcjg.exchange.models import Message
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.service import (
    ENTRY_PREFIX,
    lane_of,
    ledger_entry,
    missing_files,
    parse_json,
    promised,
)
from jcjg.exchange.signatures import (
    BadSignature,
    CreatedOutOfWindow,
    Expired,
    MissingComponent,
    MissingParameter,
    NotYetValid,
    SignatureError,
    UnknownKey,
    check_policy,
    verify_request,
    verifying_key,
)
from jcjg.exchange.signatures import Request as SignedRequest
from jcjg.exchange.types import MessageBase, MessageType, message_types, value_domain_check
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.keys import hasher_for
from jcjg.ledger.models import LedgerQueued
from jcjg.ledger.note import NoteError, Verifier, open_checkpoint, open_note
from jcjg.ledger.sm import SMUnavailable
from jcjg.networking import problems
from jcjg.networking.choices import Attestation, ChildStatus, Outcome
from jcjg.networking.forward import configured
from jcjg.networking.models import Child, Forwarded, LabKey, LogKey
from jcjg.networking.wire import (
    RELAYED,
    Forward,
    ForwardedMessage,
    Item,
    Relayed,
    RelayProof,
    evidence_files,
    first_notarised,
    parse_time,
    unb64,
)


class Refused(Exception):
    """One item refused: its problem (the forward goes on with the next)."""

    def __init__(self, error: AppError) -> None:
        super().__init__(error.detail)
        self.error = error


@dataclass
class Answer:
    next_index: int
    counts: dict[str, int] = field(default_factory=dict)
    refused: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"next_index": self.next_index, "outcomes": self.counts, "refused": self.refused}


def child_of(db: Session, caller: Caller) -> Child:
    """The registered child platform that signed the request (403 otherwise)."""
    child = db.scalar(select(Child).where(Child.client_id == caller.client.id))
    if child is None:
        raise ExchangeError(problems.NOT_A_CHILD)
    return child


def parse(body: bytes) -> Forward:
    try:
        return Forward.model_validate_json(body, strict=True)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


def receive(db: Session, settings: Settings, caller: Caller, body: bytes) -> Answer:
    """Check and keep one forward in ``db``'s transaction (the caller commits)."""
    child = db.scalar(
        select(Child).where(Child.client_id == caller.client.id).with_for_update()
    )  # one forward of a child at a time: they must follow one another
    if child is None:
        raise ExchangeError(problems.NOT_A_CHILD)
    if child.status == ChildStatus.HALTED:
        raise ExchangeError(problems.CHILD_HALTED, child.halted_reason or None)
    forward = parse(body)
    if forward.origin != child.log_origin:
        raise ExchangeError(problems.ORIGIN_MISMATCH, f"登记的日志标识是“{child.log_origin}”")
    expected = child.next_index
    if forward.first > expected:
        raise ExchangeError(
            problems.FORWARD_GAP, f"本平台期待从序号 {expected} 起转发", expected=expected
        )
    items = forward.items
    for offset, item in enumerate(items):
        if item.index != forward.first + offset:
            raise ValidationFailed(
                f"items[{offset}].index 应为 {forward.first + offset}：须逐条连续"
            )
    fresh = [item for item in items if item.index >= expected]
    now = utcnow()
    retry_held(db, settings, child, now)  # facts held before go first, in their order
    answer = Answer(next_index=expected)
    answer.counts[Outcome.DUPLICATE] = len(items) - len(fresh)
    typed: Typed = {item.index: _typed(item) for item in fresh if item.message is not None}
    _need_files(db, child, fresh, typed)
    receiver = _Receiver(db, settings, child, now, typed)
    receiver.holding = held_facts(db, child)
    receiver.deferred = receiver.defer_relays and relays_waiting(db, child)
    taken = 0
    for item in fresh:
        if receiver.deferred and item.message is not None:
            # a fact of the child's waits to be relayed up: the child's messages after it
            # wait at the child (they must not reach the parent above before it)
            break
        outcome = receiver.take(item)
        answer.counts[outcome.outcome] = answer.counts.get(outcome.outcome, 0) + 1
        if outcome.problem is not None:
            answer.refused.append({"index": item.index, **outcome.problem})
        taken += 1
    if fresh and not taken:
        raise ExchangeError(
            problems.CHILD_WAITING, headers={"Retry-After": str(WAITING_RETRY)}, expected=expected
        )
    receiver.flush()
    if receiver.rebuilt and held_facts(db, child):
        # what the held facts wait for may have come in this forward (a relay they are
        # built on): tried again after it, in their order
        retry_held(db, settings, child, now)
    fresh = fresh[:taken]
    if fresh:
        answer.next_index = fresh[-1].index + 1
    db.execute(
        update(Child)
        .where(Child.id == child.id)
        .values(
            next_index=answer.next_index,
            forwarded=Child.forwarded + len(fresh),
            refused=Child.refused + answer.counts.get(Outcome.REFUSED, 0),
            last_forward_at=now,
            backlog=forward.backlog,
            oldest_waiting_at=parse_time(forward.oldest_waiting_at),
        )
    )
    return answer


WAITING_RETRY = 1  # seconds a child waits before forwarding again while its relays wait
# kept on a held fact's problem: it came marked ``after_relays`` (held while not found)
AFTER_RELAYS = "after_relays"


def relays_waiting(db: Session, child: Child) -> bool:
    """Whether a fact of the child's rebuilt here waits for the child's checkpoint to be
    relayed up (``forward.release_relays``)."""
    waiting = select(Forwarded.id).where(
        Forwarded.child_id == child.id,
        Forwarded.outcome == Outcome.REBUILT,
        Forwarded.relay_leaf_hash.is_(None),
    )
    return db.scalar(waiting.limit(1)) is not None


def held_facts(db: Session, child: Child) -> bool:
    """Whether a fact of the child's is held here."""
    waiting = select(Forwarded.id).where(
        Forwarded.child_id == child.id, Forwarded.outcome == Outcome.HELD
    )
    return db.scalar(waiting.limit(1)) is not None


def retry_held(db: Session, settings: Settings, child: Child, now: dt.datetime) -> int:
    """Try the child's held facts again, in the order it sent them (the caller holds the
    child's row locked and commits): each is rebuilt once what it waited for is here, held
    further, or refused when it has waited longer than ``core.facts.HOLD``. How many moved."""
    rows = db.scalars(
        select(Forwarded)
        .where(Forwarded.child_id == child.id, Forwarded.outcome == Outcome.HELD)
        .order_by(Forwarded.origin_index)
    ).all()
    if not rows:
        return 0
    receiver = _Receiver(db, settings, child, now, {})
    moved = refused = 0
    for row in rows:
        try:
            envelope = _envelope(row.entry, row.leaf_hash.hex(), receiver.hasher)
            # held after its relay's proof was checked (``_source`` comes first)
            after = bool((row.problem or {}).get(AFTER_RELAYS))
            row.outcome = receiver._fact(row, envelope, row.content, True, after_relays=after)
        except Refused as exc:
            row.outcome, row.problem = Outcome.REFUSED, exc.error.body()
            refused += 1
        moved += row.outcome != Outcome.HELD
    receiver.flush()
    if refused:
        db.execute(
            update(Child).where(Child.id == child.id).values(refused=Child.refused + refused)
        )
    return moved


def judge_again(
    db: Session, settings: Settings, child: Child, rows: Sequence[Forwarded]
) -> dict[str, int]:
    """Judge the child's refused relays ``rows`` again, in the order of its log, as a fresh
    relay of theirs is judged (``_Receiver._fact``, with the content and proof kept when they
    were refused): rebuilt once (a fact rebuilt since by another path: ``duplicate``), held,
    or refused again with the reason found now. The caller holds the child's row locked and
    commits. How many took each outcome."""
    now = utcnow()
    receiver = _Receiver(db, settings, child, now, {})
    counts: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: r.origin_index):
        row.rejudged_at = now
        try:  # kept as it came, checked then; unreadable now: judged as a relay without one
            proof = None if row.relay_proof is None else RelayProof.model_validate(row.relay_proof)
        except ValidationError:
            proof = None
        try:
            envelope = _envelope(row.entry, row.leaf_hash.hex(), receiver.hasher)
            row.problem = None
            row.outcome = receiver._fact(row, envelope, row.content, proof)
        except Refused as exc:
            row.outcome, row.problem = Outcome.REFUSED, exc.error.body()
        if row.outcome in (Outcome.DUPLICATE, Outcome.RECORDED):
            row.content = None  # kept only to rebuild the fact, which is here already
        counts[row.outcome] = counts.get(row.outcome, 0) + 1
    receiver.flush()
    taken = len(rows) - counts.get(Outcome.REFUSED, 0)
    if taken:
        db.execute(update(Child).where(Child.id == child.id).values(refused=Child.refused - taken))
    if receiver.rebuilt and held_facts(db, child):
        retry_held(db, settings, child, now)  # what they waited for may be here now
    return counts


Typed = dict[int, tuple["MessageType[Any] | None", Any]]
"""The forward's messages by leaf index: their type and the message read strictly (None for
either when it cannot be read: the leaf is then refused with the reason)."""


def _need_files(db: Session, child: Child, items: list[Item], typed: Typed) -> None:
    """422 with ``missing`` when a forwarded message, or a fact's content (its ``evidence``,
    each file by ``sha256``), refers to files the child has not sent yet (it uploads them
    first, as a lab does): a fact cannot name a file this child never uploaded."""
    wanted: list[str] = []
    for item in items:
        if item.content is not None:
            wanted.extend(evidence_files(item.content))
        if item.message is None or item.message.status != "applied":
            continue
        kind, message = typed[item.index]
        if kind is not None and message is not None:
            wanted.extend(kind.files(message))
    missing = missing_files(db, child.client_id, wanted)
    if missing:
        raise ExchangeError(
            exchange_problems.FILES_MISSING, f"有 {len(missing)} 个文件尚未上传", missing=missing
        )


def _typed(item: Item) -> tuple[MessageType[Any] | None, Any]:
    """The message type and parsed message of a forwarded message, when they can be read."""
    assert item.message is not None
    try:
        envelope = json.loads(unb64(item.entry))
        name = str(envelope["entry_type"]).removeprefix(ENTRY_PREFIX)
        kind = message_types().get(name)
        if kind is None:
            return None, None
        return kind, kind.schema.model_validate_json(unb64(item.message.body), strict=True)
    except (ValueError, KeyError, TypeError, ValidationError):
        return None, None


@dataclass(frozen=True)
class _Source:
    """Where a fact was first notarised, and what it says there (see ``_Receiver._source``)."""

    platform: str  # the first log's origin
    name: str
    region_code: str
    index: int
    data: dict[str, Any]
    notarised_at: dt.datetime
    relayed: dict[str, Any]  # what a relay of it names (wire.Relayed)


@dataclass
class _Taken:
    outcome: str
    problem: dict[str, Any] | None = None


# (institution id, region code, client id, row id) of a message; a row id below 0 is one stored
# earlier in the same forward: -(its position) - 1
Known = tuple[int | None, str, int, int]


class _Receiver:
    """Takes the items of one forward. What the whole forward needs is read once (the rows of
    its messages' ids by any path, its labs' pinned keys) and what it writes is written once at
    its end (the messages, their leaves, the forwarded rows)."""

    def __init__(
        self, db: Session, settings: Settings, child: Child, now: dt.datetime, typed: Typed
    ) -> None:
        self.db = db
        self.settings = settings
        self.child = child
        self.now = now
        self.typed = typed
        self.hasher = hasher_for(Verifier(child.log_key))
        self.rows: list[Forwarded] = []
        self.messages: list[dict[str, Any]] = []
        self.queued: list[dict[str, Any]] = []
        self.waiting: list[tuple[Forwarded, int]] = []  # rows naming a message yet to insert
        ids = sorted({str(m.message_id) for _kind, m in typed.values() if m is not None})
        self.known: dict[str, list[Known]] = {}
        found = select(
            Message.id, Message.message_id, Message.institution_id, Message.region_code,
            Message.client_id,
        ).where(Message.message_id.in_(ids))  # fmt: skip
        for row_id, message_id, inst, region, client_id in db.execute(found) if ids else ():
            self.known.setdefault(message_id, []).append((inst, region, client_id, row_id))
        self.appliers = facts.appliers()  # the domains' rebuilders of a child's facts
        self.sources: set[tuple[str, int]] = set()  # facts rebuilt in this forward, by origin
        self.rebuilt = False  # a fact was rebuilt in this forward
        # a fact of the child's is held (a later one not found may wait on it: held behind it)
        self.holding = False
        # with an upstream, a relay of the child's own fact waits for the child's checkpoint
        self.defer_relays = configured(settings)
        self.deferred = False  # a relay of the child's waits: its messages after it wait too
        self.log_keys: dict[str, str] = {}  # the log keys of the child's children, pinned
        self.pinned: dict[str, bytes] = {}
        for key_id, public in db.execute(
            select(LabKey.key_id, LabKey.public_key).where(LabKey.child_id == child.id)
        ):
            self.pinned[key_id] = public

    def flush(self) -> None:
        """Write the forward: its messages (their ids back in order), their leaves, its rows."""
        if self.messages:
            table = cast(Table, Message.__table__)
            ids = (
                self.db.execute(
                    insert(table).returning(table.c.id, sort_by_parameter_order=True),
                    self.messages,
                )
                .scalars()
                .all()
            )
            for row, position in self.waiting:
                row.message_id = ids[position]
        if self.queued:  # the messages' leaves and the relayed facts', in the forward's order
            self.db.execute(insert(cast(Table, LedgerQueued.__table__)), self.queued)
        self.db.add_all(self.rows)
        self.db.flush()

    def take(self, item: Item) -> _Taken:
        entry = unb64(item.entry)
        row = Forwarded(
            child_id=self.child.id,
            region_code=self.child.region_code,
            origin_index=item.index,
            leaf_hash=bytes.fromhex(item.leaf_hash),
            entry_type="",
            entry=entry,
            notarised_at=self.now,
            outcome=Outcome.REFUSED,
            received_at=self.now,
        )
        self.rows.append(row)
        try:
            envelope = _envelope(entry, item.leaf_hash, self.hasher)
            row.entry_type = envelope["entry_type"]
            row.notarised_at = envelope["notarised_at"]
            if item.message is None:
                if row.entry_type.startswith(ENTRY_PREFIX):
                    raise Refused(
                        ExchangeError(problems.CONTENT_MISMATCH, "消息的存证叶没有附带消息本身")
                    )
                row.outcome = self._fact(
                    row, envelope, item.content, item.proof, after_relays=item.after_relays
                )
                return _Taken(row.outcome)
            return self._message(row, envelope, item.message)
        except Refused as refused:
            row.problem = refused.error.body()
            if row.problem.get("type") == problems.LOG_KEY_CHANGED.uri:
                # kept to be judged again once an operator accepts the log's new key
                # (``judge_again``); the content goes as a refused fact's does (jobs.purge)
                row.content = item.content
                row.relay_proof = None if item.proof is None else item.proof.model_dump()
            return _Taken(Outcome.REFUSED, row.problem)

    def _fact(
        self,
        row: Forwarded,
        envelope: dict[str, Any],
        content: dict[str, Any] | None,
        proof: RelayProof | bool | None,
        *,
        after_relays: bool = False,
    ) -> str:
        """A fact of the child's (or one the child rebuilt from its own child and relays): rebuilt
        into this platform's rows when a domain declares how (``core.facts``; with the content
        behind its digests, when the child sent it), else recorded as the child's notarised
        entry. A fact rebuilt here once (by whatever path) is a duplicate after; one rebuilt is
        notarised in this platform's log in turn, naming its first origin, so it goes on up."""
        applier = self.appliers.get(row.entry_type)
        if applier is None:
            return Outcome.RECORDED
        data = envelope["data"]
        if not isinstance(data, dict):
            raise Refused(ValidationFailed("平台事实的内容应为 JSON 对象"))
        source = self._source(row, data, proof)
        key = (source.platform, source.index)
        if key in self.sources or self.db.scalar(
            select(Forwarded.id).where(
                Forwarded.source_origin == source.platform, Forwarded.source_index == source.index
            )
        ):
            return Outcome.DUPLICATE
        fact = ForwardedFact(
            platform=source.name,
            region_code=source.region_code,
            index=source.index,
            data=source.data,
            notarised_at=source.notarised_at,
            content=content,
        )
        try:
            with self.db.begin_nested():  # a refused fact leaves nothing behind
                rebuilt = applier(self.db, fact)
        except NotFound as exc:
            # what it needs comes with a message applied behind (NotYet), or may be a fact of
            # the child's held before it (held behind it, in order), or a fact of the child's
            # child whose relay comes after this fact in the child's log (``after_relays``)
            waits = isinstance(exc, NotYet) or self.holding or after_relays
            if not waits or row.received_at < self.now - HOLD:
                raise Refused(exc) from None
            row.content, row.problem = content, exc.body()
            if after_relays:
                row.problem[AFTER_RELAYS] = True  # still so when it is tried again
            self.holding = True
            return Outcome.HELD
        except AppError as exc:
            raise Refused(exc) from None
        row.problem = None
        if rebuilt is False:
            return Outcome.RECORDED
        self.sources.add(key)
        self.rebuilt = True
        row.source_origin, row.source_index, row.content = source.platform, source.index, content
        if self.defer_relays and source.platform == self.child.log_origin:
            # the child's own fact: relayed once its checkpoint covers its leaf
            # (``forward.release_relays``), so that a child whose log is not published yet
            # holds up only its own entries
            self.deferred = True
            return Outcome.REBUILT
        relay = ledger.promise(row.entry_type, {**source.data, RELAYED: source.relayed}, self.now)
        self.queued.append(relay.queued_row())
        row.relay_leaf_hash = relay.leaf_hash
        return Outcome.REBUILT

    def _source(
        self, row: Forwarded, data: dict[str, Any], proof: RelayProof | bool | None
    ) -> _Source:
        """Where the fact was first notarised: the child's leaf, or the one its relay names
        (checked: the first leaf recomputed from its entry in its own log's profile, its type and
        data the relay's, its platform within the child's region, and the leaf in that log's
        checkpoint the child cosigned: ``proof``, True when checked before, a held fact)."""
        child = self.child
        given = data.get(RELAYED)
        if given is None:
            return _Source(
                platform=child.log_origin, name=child.name, region_code=child.region_code,
                index=row.origin_index, data=data, notarised_at=row.notarised_at,
                relayed=first_notarised(
                    origin=child.log_origin, name=child.name, region_code=child.region_code,
                    log_key=child.log_key, index=row.origin_index, leaf_hash=row.leaf_hash,
                    entry=row.entry,
                ),
            )  # fmt: skip
        try:
            relayed = Relayed.model_validate(given)
        except ValidationError as exc:
            errors = field_errors_from_pydantic(exc.errors())
            raise Refused(
                ValidationFailed(
                    errors=[FieldError(f"{RELAYED}.{e.field}", e.message, e.code) for e in errors]
                )
            ) from exc
        known = self._log_key(relayed.platform)
        if known is not None and known != relayed.log_key:
            raise Refused(
                ExchangeError(
                    problems.LOG_KEY_CHANGED,
                    f"本平台记下的“{relayed.name}”日志公钥与此次转报所附的不同",
                )
            )
        try:
            verifier = Verifier(relayed.log_key)
            entry = unb64(relayed.entry)
        except (NoteError, ValueError) as exc:
            raise Refused(
                ExchangeError(problems.ENTRY_MISMATCH, "转报事实所称的来源日志公钥或条目不可读")
            ) from exc
        if verifier.name != relayed.platform:
            raise Refused(
                ExchangeError(problems.ENTRY_MISMATCH, "转报事实的来源日志公钥不是其所称的日志")
            )
        first = _envelope(entry, relayed.leaf_hash, hasher_for(verifier))
        own = {k: v for k, v in data.items() if k != RELAYED}
        if first["entry_type"] != row.entry_type or first["data"] != own:
            raise Refused(
                ExchangeError(problems.CONTENT_MISMATCH, "转报的事实与其来源叶的存证内容不符")
            )
        if not relayed.region_code.startswith(scope_prefix(child.region_code)):
            raise Refused(
                ExchangeError(
                    problems.OUT_OF_REGION,
                    f"转报事实的来源平台辖区“{relayed.region_code}”不在该下级平台辖区内",
                )
            )
        clash = self.db.scalar(
            select(Child.log_origin).where(
                Child.name == relayed.name, Child.log_origin != relayed.platform
            )
        )
        if clash is not None or relayed.platform == child.log_origin:
            raise Refused(
                ExchangeError(
                    problems.ORIGIN_MISMATCH,
                    f"转报事实的来源平台“{relayed.name}”与本平台登记的下级平台冲突",
                )
            )
        if proof is not True:
            _proven(relayed, verifier, proof, Verifier(child.log_key))
            if known is None:  # first sight: the key the child registered it with, pinned
                self._pin(relayed.platform, relayed.log_key)
        return _Source(
            platform=relayed.platform, name=relayed.name, region_code=relayed.region_code,
            index=relayed.index, data=own, notarised_at=first["notarised_at"],
            relayed=relayed.model_dump(),
        )  # fmt: skip

    def _log_key(self, origin: str) -> str | None:
        """The log key this platform knows for ``origin``: a child's own registered one, else
        the one pinned when a relay first named it (None: never seen)."""
        if origin not in self.log_keys:
            known = self.db.scalar(select(Child.log_key).where(Child.log_origin == origin))
            if known is None:
                known = self.db.scalar(select(LogKey.log_key).where(LogKey.origin == origin))
            if known is None:
                return None
            self.log_keys[origin] = known
        return self.log_keys[origin]

    def _pin(self, origin: str, log_key: str) -> None:
        self.log_keys[origin] = log_key
        self.db.add(
            LogKey(origin=origin, log_key=log_key, child_id=self.child.id, first_seen_at=self.now)
        )

    def _validated(
        self, row: Forwarded, kind: MessageType[Any], body: bytes, accepted_at: dt.datetime
    ) -> Any:
        """The message checked against the parent's schema of its type and its data standard
        as in force when the child accepted it (docs/governance.md)."""
        message = self.typed[row.origin_index][1]
        if message is None or self.typed[row.origin_index][0] is not kind:
            try:
                message = kind.schema.model_validate_json(body, strict=True)
            except ValidationError as exc:
                errors = field_errors_from_pydantic(exc.errors())
                raise Refused(ValidationFailed(errors=errors)) from exc
        check = value_domain_check(self.db, kind.name, accepted_at)
        if check is not None:
            errors = check(json.loads(body))
            if errors:
                raise Refused(ValidationFailed(errors=errors))
        return message

    def _message(self, row: Forwarded, envelope: dict[str, Any], sent: ForwardedMessage) -> _Taken:
        data = envelope["data"]
        if not row.entry_type.startswith(ENTRY_PREFIX) or not isinstance(data, dict):
            raise Refused(ExchangeError(problems.CONTENT_MISMATCH, "该叶不是一条报送消息的存证"))
        name = row.entry_type.removeprefix(ENTRY_PREFIX)
        kind = message_types().get(name)
        if kind is None:
            raise Refused(ExchangeError(exchange_problems.UNKNOWN_TYPE, f"消息类型“{name}”不存在"))
        body = unb64(sent.body)
        try:
            _parsed, canonical = parse_json(body)
        except AppError as exc:
            raise Refused(exc) from exc
        if hashlib.sha256(canonical).hexdigest() != data.get("sha256"):
            raise Refused(ExchangeError(problems.CONTENT_MISMATCH, "消息正文的哈希与存证不符"))
        if sent.key.key_id != data.get("key_id"):
            raise Refused(ExchangeError(problems.CONTENT_MISMATCH, "签名密钥编号与存证不符"))
        # a leaf of a message forwarded to the child: judged against when it was first
        # accepted, which the child's entry names
        first = data.get("origin")
        given = first.get("notarised_at") if isinstance(first, dict) else None
        accepted_at = parse_time(given if isinstance(given, str) else None) or row.notarised_at
        row.attestation = self._attest(sent, body, accepted_at)
        if sent.status == "rejected":
            row.outcome = Outcome.ORIGIN_REJECTED
            return _Taken(row.outcome)
        message = self._validated(row, kind, body, accepted_at)
        institution_id, region_code = self._owner(message)
        message_id = str(message.message_id)
        existing = self._existing(institution_id, region_code, message_id)
        if existing is not None:
            if existing < 0:  # stored earlier in this forward
                self.waiting.append((row, -existing - 1))
            else:
                row.message_id = existing
            row.outcome = Outcome.DUPLICATE
            return _Taken(row.outcome)
        self._store(row, kind, message, sent, body, data, accepted_at, institution_id, region_code)
        row.outcome = Outcome.STORED
        return _Taken(row.outcome)

    def _store(
        self, row: Forwarded, kind: MessageType[Any], message: Any, sent: ForwardedMessage,
        body: bytes, data: dict[str, Any], accepted_at: dt.datetime,
        institution_id: int | None, region_code: str,
    ) -> None:  # fmt: skip
        """The message kept as this platform's own accepted message, with its origin and its
        leaf promised in this platform's log (written at the forward's end)."""
        message_id = str(message.message_id)
        origin = {
            "platform": self.child.log_origin,
            "child_id": self.child.id,
            "index": row.origin_index,
            "leaf_hash": row.leaf_hash.hex(),
            "notarised_at": ledger.timestamp(accepted_at),
            "attestation": row.attestation,
            "results": sent.results,
        }
        entry = {
            **ledger_entry(
                kind.name,
                message_id,
                sent.key.key_id,
                getattr(message, "institution_code", None),
                data["sha256"],
                region_code=region_code,
            ),
            "origin": {
                **{k: origin[k] for k in ("platform", "index", "leaf_hash", "attestation")},
                "notarised_at": ledger.timestamp(accepted_at),
            },
        }
        promise, receipt = promised(kind.name, message_id, entry, self.now)
        position = len(self.messages)
        self.messages.append(
            {
                "client_id": self.child.client_id,
                "key_id": sent.key.key_id,
                "institution_id": institution_id,
                "region_code": region_code,
                "lane": lane_of(institution_id, region_code),
                "message_type": kind.name,
                "message_id": message_id,
                "body": body,
                "content_sha256": data["sha256"],
                "signature_input": sent.signature_input,
                "signature": sent.signature,
                "request": sent.request.model_dump() if sent.request is not None else None,
                "origin": origin,
                "received_at": self.now,
                "leaf_hash": promise.leaf_hash,
                "receipt": receipt,
                "status": "accepted",
            }
        )
        self.queued.append(promise.queued_row())
        self.waiting.append((row, position))
        self.known.setdefault(message_id, []).append(
            (institution_id, region_code, self.child.client_id, -position - 1)
        )

    def _attest(self, sent: ForwardedMessage, body: bytes, notarised_at: dt.datetime) -> str:
        """``lab_signature`` when the lab's own signature (Ed25519 or SM2) verifies here,
        ``platform`` for an HMAC lab (only the child vouches for it); Refused otherwise."""
        if sent.key.alg not in PUBLIC_KEY_ALGORITHMS:
            if self.settings.network_require_lab_signature:
                raise Refused(ExchangeError(problems.LAB_SIGNATURE_REQUIRED))
            return Attestation.PLATFORM
        public = self._pinned(sent)
        if sent.request is None:
            raise Refused(
                ExchangeError(problems.LAB_SIGNATURE_INVALID, "没有附带签名所覆盖的请求组成部分")
            )
        headers = [(name, value) for name, value in sent.request.headers]
        headers += [("signature-input", sent.signature_input), ("signature", sent.signature)]
        key = verifying_key(sent.key.alg, public)
        try:
            request = SignedRequest(
                method=sent.request.method, url=sent.request.url, headers=headers
            )
            verified = verify_request(
                request, resolve_key=lambda kid: key if kid == sent.key.key_id else None
            )
            check_policy(
                verified,
                required=REQUIRED_WITH_BODY,
                now=int(notarised_at.timestamp()),
                max_skew=self.settings.exchange_max_skew_seconds,
            )
            digest = request.component_value("content-digest")
        except SignatureError as exc:
            raise Refused(ExchangeError(problems.LAB_SIGNATURE_INVALID, _why(exc))) from exc
        if not verify_content_digest(digest, body):
            raise Refused(
                ExchangeError(
                    problems.LAB_SIGNATURE_INVALID, "消息正文与检测机构签名所覆盖的正文摘要不符"
                )
            )
        return Attestation.LAB_SIGNATURE

    def _pinned(self, sent: ForwardedMessage) -> bytes:
        """The lab's public key: the one pinned for its key id, or this one, pinned now."""
        try:
            public = unb64(sent.key.public_key or "")
            verifying_key(sent.key.alg, public)
        except (ValueError, SMUnavailable) as exc:  # SMUnavailable: an SM2 key, no tongsuopy
            raise Refused(
                ExchangeError(problems.LAB_SIGNATURE_INVALID, "没有附带检测机构的签名公钥")
            ) from exc
        pinned = self.pinned.get(sent.key.key_id)
        if pinned is None:
            self.pinned[sent.key.key_id] = public
            self.db.add(
                LabKey(
                    child_id=self.child.id,
                    key_id=sent.key.key_id,
                    alg=sent.key.alg,
                    public_key=public,
                    institution_code=sent.key.institution_code,
                    first_seen_at=self.now,
                )
            )
        elif pinned != public:
            raise Refused(ExchangeError(problems.LAB_KEY_CHANGED))
        return public

    def _owner(self, message: Any) -> tuple[int | None, str]:
        """The message's institution (id, region) or region here, within the child's region."""
        within = scope_prefix(self.child.region_code)
        if isinstance(message, MessageBase):
            found = cache.institution(self.db, message.institution_code)
            if found is None or not found[1].startswith(within):
                raise Refused(
                    ExchangeError(
                        problems.OUT_OF_REGION,
                        f"机构“{message.institution_code}”在本平台不存在或不在该下级平台辖区内",
                    )
                )
            return found
        region = str(getattr(message, "region_code", ""))
        if not cache.region_exists(self.db, region) or not region.startswith(within):
            raise Refused(ExchangeError(problems.OUT_OF_REGION, f"行政区划“{region}”不在辖区内"))
        return None, region

    def _existing(
        self, institution_id: int | None, region_code: str, message_id: str
    ) -> int | None:
        """This platform's row of the same message (the same institution's, or region's, same
        id) by whatever path it came (below 0: stored earlier in this forward, see Known);
        409 when the child forwarded the id for another."""
        for inst, region, client_id, row_id in self.known.get(message_id, ()):
            if inst == institution_id and (inst is not None or region == region_code):
                return row_id
            if client_id == self.child.client_id:
                raise Refused(ExchangeError(problems.MESSAGE_TAKEN))
        return None


def _proven(
    relayed: Relayed, verifier: Verifier, proof: RelayProof | bool | None, child_key: Verifier
) -> None:
    """The relayed leaf is in the first log's checkpoint the relaying child carries: signed by
    that log's key, cosigned by the child (it checked that log's consistency: "Cosigned logs"),
    and the leaf's inclusion proof verifies against it; else the relay is refused."""

    def refused(why: str) -> Refused:
        return Refused(ExchangeError(problems.ENTRY_MISMATCH, f"转报事实的来源叶{why}"))

    if not isinstance(proof, RelayProof):
        raise refused("未附来源日志的检查点及包含证明")
    try:
        checkpoint, _note = open_checkpoint(proof.checkpoint, [verifier], origin=relayed.platform)
    except NoteError as exc:
        raise refused("所附检查点不是来源日志签发的") from exc
    cosigner = child_key.cosignature_verifier()
    try:
        if cosigner is None:
            raise NoteError("no cosigner form")
        open_note(proof.checkpoint, [cosigner])
    except NoteError as exc:
        raise refused("所附检查点未经转报的下级平台联署") from exc
    hashes = [bytes.fromhex(h) for h in proof.hashes]
    if relayed.index >= checkpoint.size or not merkle.verify_inclusion(
        bytes.fromhex(relayed.leaf_hash), relayed.index, checkpoint.size, hashes,
        checkpoint.root, hasher=hasher_for(verifier),
    ):  # fmt: skip
        raise refused("不在来源日志经联署的检查点中")


def _why(exc: SignatureError) -> str:
    """Why a lab's signature did not verify here, in words (never the library's English)."""
    if isinstance(exc, BadSignature):
        return "按检测机构的公钥核验，签名不符：消息在检测机构签名之后被改动过"
    if isinstance(exc, UnknownKey):
        return "签名所称的密钥编号与所附的检测机构公钥不符"
    if isinstance(exc, CreatedOutOfWindow | NotYetValid):
        return "签名时间与下级平台受理的时间相差超过允许的秒数"
    if isinstance(exc, Expired):
        return "签名在下级平台受理时已过期"
    if isinstance(exc, MissingComponent | MissingParameter):
        return "签名覆盖不全：须覆盖方法、地址、正文摘要与内容类型，并带签名时间、密钥编号与随机数"
    return "签名或其所覆盖的请求组成部分格式不正确"


def _envelope(entry: bytes, leaf_hash: str, hasher: merkle.Hasher) -> dict[str, Any]:
    """The leaf's envelope, checked against its hash (in the child's log profile):
    entry_type, notarised_at, data."""
    if merkle.leaf_hash(entry, hasher=hasher).hex() != leaf_hash:
        raise Refused(ExchangeError(problems.ENTRY_MISMATCH))
    try:
        envelope = json.loads(entry)
        entry_type = envelope["entry_type"]
        notarised_at = parse_time(envelope["notarised_at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Refused(ExchangeError(problems.ENTRY_MISMATCH)) from exc
    if (
        not isinstance(entry_type, str)
        or not entry_type
        or len(entry_type) > 64
        or notarised_at is None
    ):
        raise Refused(ExchangeError(problems.ENTRY_MISMATCH))
    return {"entry_type": entry_type, "notarised_at": notarised_at, "data": envelope.get("data")}
