"""The log keys pinned for the platforms below a child (a city's, on the nation, relayed by the
province that is its child), as the child's page shows them, and an operator's change of one.

A relay naming a key other than the one pinned for its log is refused (422
``network-log-key-changed``, :mod:`jcjg.networking.receive`): a province cannot re-sign its
city's log under a key of its own choosing. A city that really changes its log key is a new
log, which the parent's operator accepts after checking with the province: **re-pinned** to the
key a refused relay named (the next relays are checked against it, proof and all, and the
relays refused for naming it are judged again, as they would be if they came now: their facts
rebuilt once), or **unpinned** (the next relay whose proof verifies pins its key; the relays
refused meanwhile for naming that key are judged again by the operator's action). Each needs a
reason, and is audited (``network_log_key`` in the change log, ``network_forwarded`` for each
relay judged again, the reason as its detail); nothing is written when it is refused. The
networking domain notarises no operator decision about its children (registering, approving,
resuming), and this one neither: the facts rebuilt are notarised as any relay's are.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace

from pydantic import ValidationError
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.config import Settings
from jcjg.core.context import context_of
from jcjg.core.db import utcnow
from jcjg.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from jcjg.core.regioncodes import scope_prefix
from jcjg.ledger.note import NoteError, Verifier
from jcjg.networking import problems
from jcjg.networking.choices import ChildStatus, Outcome
from jcjg.networking.models import Child, Forwarded, LogKey
from jcjg.networking.receive import judge_again
from jcjg.networking.wire import RELAYED, Relayed

MAX_REASON = 500
SHOWN = 20  # refused relays listed on a child's page, the latest first


@dataclass(frozen=True)
class Key:
    """A log verifier key as a page shows it: its key id and the SHA-256 of its public key
    (the first 16 bytes, in groups), or None for either when it cannot be read."""

    log_key: str
    key_id: str | None
    fingerprint: str | None

    @classmethod
    def of(cls, log_key: str) -> Key:
        try:
            verifier = Verifier(log_key)
        except (NoteError, ValueError):
            return cls(log_key, None, None)
        digest = hashlib.sha256(verifier.public_key).hexdigest()[:32]
        grouped = " ".join(digest[i : i + 4] for i in range(0, 32, 4))
        return cls(log_key, f"{verifier.key_id:08x}", grouped)


@dataclass(frozen=True)
class Pinned:
    id: int
    origin: str
    key: Key
    pinned_at: dt.datetime


@dataclass(frozen=True)
class Offered:
    """A relay refused for naming another key than the one pinned: which log, under what name,
    and the key it named."""

    id: int  # the refused leaf's row (network_forwarded)
    index: int  # its index in the child's log
    origin: str
    name: str
    region_code: str
    key: Key
    received_at: dt.datetime


def pinned(db: Session, child: Child) -> list[Pinned]:
    """The log keys pinned from relays of ``child``'s (the first relay naming each log)."""
    rows = db.scalars(select(LogKey).where(LogKey.child_id == child.id).order_by(LogKey.origin))
    return [Pinned(r.id, r.origin, Key.of(r.log_key), r.first_seen_at) for r in rows]


def _refusals(child: Child) -> Select[Forwarded]:
    return select(Forwarded).where(
        Forwarded.child_id == child.id,
        Forwarded.outcome == Outcome.REFUSED.value,
        Forwarded.problem["type"].as_string() == problems.LOG_KEY_CHANGED.uri,
    )


def _offered(row: Forwarded) -> Offered | None:
    """What a refused relay named (None: its entry does not say)."""
    try:
        relayed = Relayed.model_validate(json.loads(row.entry)["data"][RELAYED])
    except (ValueError, KeyError, TypeError, ValidationError):
        return None
    return Offered(
        id=row.id, index=row.origin_index, origin=relayed.platform, name=relayed.name,
        region_code=relayed.region_code, key=Key.of(relayed.log_key), received_at=row.received_at,
    )  # fmt: skip


def offered(db: Session, child: Child, limit: int = SHOWN) -> list[Offered]:
    """The latest relays of ``child``'s refused for naming another log key than the pinned one."""
    rows = db.scalars(_refusals(child).order_by(Forwarded.id.desc()).limit(limit))
    return [o for o in map(_offered, rows) if o is not None]


def known(db: Session, origins: set[str]) -> dict[str, Key]:
    """The key each log of ``origins`` is checked against now: a child's own registered one,
    else the one pinned (a log with neither is missing)."""
    if not origins:
        return {}
    found = {
        origin: Key.of(key)
        for origin, key in db.execute(
            select(LogKey.origin, LogKey.log_key).where(LogKey.origin.in_(sorted(origins)))
        )
    }
    for origin, key in db.execute(
        select(Child.log_origin, Child.log_key).where(Child.log_origin.in_(sorted(origins)))
    ):
        found[origin] = Key.of(key)
    return found


def check_reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(errors=[FieldError("reason", "请写明理由：与下级平台核实的情况")])
    if len(reason) > MAX_REASON:
        why = f"理由不能超过 {MAX_REASON} 个字（现有 {len(reason)} 个）"
        raise ValidationFailed(errors=[FieldError("reason", why)])
    return reason


def _audit(
    db: Session, child: Child, action: AuditAction, pin_id: int, origin: str, reason: str,
    before: str | None, after: str | None,
) -> None:  # fmt: skip
    record_event(
        db, action, object_type=LogKey.__tablename__, object_id=str(pin_id),
        object_repr=f"经“{child.name}”转报的日志 {origin} 的公钥"[:200], detail=reason,
        context=replace(context_of(db), region_code=child.region_code),
        before=None if before is None else {"origin": origin, "log_key": before},
        after=None if after is None else {"origin": origin, "log_key": after},
    )  # fmt: skip


@dataclass
class Waiting:
    """The child's relays of one log refused for naming the key now pinned for it: those that
    kept the proof they came with (judged again on a re-pin, or by the operator's action), and
    those refused before proofs were kept, which cannot be judged again here."""

    rows: list[Forwarded] = field(default_factory=list)
    unproven: int = 0


def _waiting(
    db: Session, child: Child, wanted: set[tuple[str, str]]
) -> dict[tuple[str, str], Waiting]:
    """``child``'s relays refused for naming another key than the one pinned then, by the log
    and key they name, for each of ``wanted`` (in the order of its log; one pass)."""
    found: dict[tuple[str, str], Waiting] = {w: Waiting() for w in wanted}
    for row in db.scalars(_refusals(child).order_by(Forwarded.origin_index)):
        offered = _offered(row)
        named = None if offered is None else found.get((offered.origin, offered.key.log_key))
        if named is None:
            continue
        if row.relay_proof is None:
            named.unproven += 1
        else:
            named.rows.append(row)
    return found


def waiting(db: Session, child: Child, origin: str, log_key: str) -> Waiting:
    """``child``'s relays of ``origin`` refused for naming another key than the one pinned
    then, that name ``log_key``."""
    return _waiting(db, child, {(origin, log_key)})[(origin, log_key)]


def waiting_counts(db: Session, child: Child) -> dict[int, Waiting]:
    """For each log key pinned from ``child``'s relays (by the pin's id), its refused relays
    naming it (``waiting``)."""
    pins = pinned(db, child)
    found = _waiting(db, child, {(p.origin, p.key.log_key) for p in pins})
    return {p.id: found[(p.origin, p.key.log_key)] for p in pins}


def rejudged(db: Session, child: Child) -> dict[Outcome, int]:
    """How the child's relays judged again after a change of a log key fared, by outcome (in
    the outcomes' order)."""
    found: dict[str, int] = {
        outcome: n
        for outcome, n in db.execute(
            select(Forwarded.outcome, func.count())
            .where(Forwarded.child_id == child.id, Forwarded.rejudged_at.is_not(None))
            .group_by(Forwarded.outcome)
        )
    }
    return {o: found[o.value] for o in Outcome if found.get(o.value)}


def _lock(db: Session, child: Child) -> bool:
    """Hold ``child``'s row as a forward of it does (first, before a pin is written: the two
    take their locks in the same order); whether its forwards are taken (not halted)."""
    status = db.scalar(select(Child.status).where(Child.id == child.id).with_for_update())
    return status != ChildStatus.HALTED


def _rejudge(
    db: Session, settings: Settings, child: Child, pin: LogKey, reason: str
) -> dict[str, int]:
    """Judge again, in the order of ``child``'s log, its relays refused for naming the key now
    pinned (``pin``) as a fresh relay is judged (``receive.judge_again``): the facts they
    carried are rebuilt once, a proof that does not verify under the key stays refused with
    its reason. Each is audited (``network_forwarded``, the reason as its detail). The caller
    holds the child's row (``_lock``). How many took each outcome (none: nothing waited)."""
    rows = waiting(db, child, pin.origin, pin.log_key).rows
    if not rows:
        return {}
    before = {row.id: (row.problem or {}).get("type") for row in rows}
    counts = judge_again(db, settings, child, rows)
    context = replace(context_of(db), region_code=child.region_code)
    for row in rows:
        record_event(
            db, AuditAction.UPDATE, object_type=Forwarded.__tablename__, object_id=str(row.id),
            object_repr=f"“{child.name}”转报的第 {row.origin_index} 条（{pin.origin}）"[:200],
            detail=reason, context=context,
            before={"outcome": Outcome.REFUSED.value, "problem": before[row.id]},
            after={"outcome": str(row.outcome), "problem": (row.problem or {}).get("type")},
        )  # fmt: skip
    return counts


def rejudge_pinned(
    db: Session, settings: Settings, child: Child, pin_id: int, reason: str
) -> dict[str, int]:
    """The operator's action: judge again the refused relays naming the key pinned as
    ``pin_id`` (a log unpinned, then pinned again by a relay: those refused meanwhile; a
    re-pin made while the child was halted)."""
    reason = check_reason(reason)
    taken = _lock(db, child)
    pin = db.scalar(select(LogKey).where(LogKey.id == pin_id, LogKey.child_id == child.id))
    if pin is None:
        raise NotFound("该下级平台转报的日志中没有这一记下的公钥")
    if not taken:
        raise Conflict("该平台的日志被发现前后不一致，已暂停接收其转发：恢复接收后再重新判定")
    counts = _rejudge(db, settings, child, pin, reason)
    if not counts:
        raise Conflict("没有因日志公钥不同被拒收、可按此公钥重新判定的转报")
    return counts


def repin(
    db: Session, settings: Settings, child: Child, refusal_id: int, reason: str
) -> dict[str, int]:
    """Pin the key the refused relay ``refusal_id`` of ``child``'s named for its log (in place
    of the key pinned before, or as the first pin of a log unpinned meanwhile), and judge again
    the relays refused for naming it (``_rejudge``; not while the child is halted: then by
    the operator's action once it is resumed): how they fared."""
    reason = check_reason(reason)
    taken = _lock(db, child)
    row = db.scalar(_refusals(child).where(Forwarded.id == refusal_id))
    found = _offered(row) if row is not None else None
    if found is None:
        raise NotFound("该下级平台没有这条因日志公钥不同被拒收的转报")
    try:
        verifier = Verifier(found.key.log_key)
    except (NoteError, ValueError):
        verifier = None
    if verifier is None or not verifier.is_log_key or verifier.name != found.origin:
        raise ValidationFailed("该转报所附的不是其所称日志的日志公钥，不能记下")
    if not found.region_code.startswith(scope_prefix(child.region_code)):
        raise ValidationFailed("该转报的来源平台不在该下级平台辖区内，不能记下其公钥")
    if db.scalar(select(Child.id).where(Child.log_origin == found.origin)) is not None:
        raise Conflict("该日志属于本平台直接登记的下级平台：其公钥以该平台的登记为准，不在此更换")
    pin = db.scalar(select(LogKey).where(LogKey.origin == found.origin))
    if pin is not None and pin.child_id != child.id:
        other = db.get(Child, pin.child_id)
        named = other.name if other is not None else "另一下级平台"
        raise Conflict(f"该日志的公钥是经“{named}”转报时记下的，请在该平台的页面上处理")
    if pin is not None and pin.log_key == found.key.log_key:
        raise Conflict("该日志记下的已是这一公钥")
    before = pin.log_key if pin is not None else None
    if pin is None:
        pin = LogKey(origin=found.origin, log_key=found.key.log_key, child_id=child.id)
        db.add(pin)
    pin.log_key, pin.first_seen_at = found.key.log_key, utcnow()
    db.flush()
    action = AuditAction.CREATE if before is None else AuditAction.UPDATE
    _audit(db, child, action, pin.id, found.origin, reason, before, pin.log_key)
    return _rejudge(db, settings, child, pin, reason) if taken else {}


def unpin(db: Session, child: Child, pin_id: int, reason: str) -> str:
    """Forget the key pinned for a log relayed by ``child`` (the next relay whose proof verifies
    pins its own); the log's origin."""
    reason = check_reason(reason)
    _lock(db, child)
    pin = db.scalar(select(LogKey).where(LogKey.id == pin_id, LogKey.child_id == child.id))
    if pin is None:
        raise NotFound("该下级平台转报的日志中没有这一记下的公钥")
    origin, before = pin.origin, pin.log_key
    db.delete(pin)
    db.flush()
    _audit(db, child, AuditAction.DELETE, pin_id, origin, reason, before, None)
    return origin
