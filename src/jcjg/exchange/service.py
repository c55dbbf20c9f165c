"""Accepting messages: the checks that need no domain state, then the message stored verbatim
with the promise of its ledger leaf. Applying them happens behind (:mod:`jcjg.exchange.apply`).

:func:`accept` runs in the request, in this order, and writes nothing:

1. the body is JSON (an object), canonicalised by RFC 8785 and hashed (``content_sha256``);
2. the message validates against its type's schema, strictly typed as JSON (no ``"8"`` for an
   integer, ``"yes"`` for a boolean, number for a date; 422 lists every failing field);
3. the sender may send this type, and the institution is the client's own, or in a platform
   peer's region (403);
4. a message with this ``message_id`` from this client already exists: the same content gives
   the stored receipt again (``duplicate``), different content 409;
5. referenced files must have arrived (422 with ``missing``);
6. the ledger entry ``{message_type, message_id, key_id, institution, sha256}`` is hashed into
   its leaf and the log signs its promise (no index yet, so no lock): the receipt v2.

:func:`store` then writes what :func:`accept` prepared, for many requests in one transaction
(:mod:`jcjg.exchange.commit` gathers them): the nonce, the message row and its queued leaf.
Concurrent duplicates meet at the unique index; the loser answers from the winner's row.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import logging
import re
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import orjson
from pydantic import ValidationError
from sqlalchemy import (
    Connection,
    LargeBinary,
    Table,
    delete,
    insert,
    select,
    tuple_,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from jcjg.core import plausible, text
from jcjg.core.db import insert_ignoring_conflicts, utcnow
from jcjg.core.errors import FieldError, ValidationFailed, field_errors_from_pydantic
from jcjg.core.regioncodes import scope_prefix
from jcjg.exchange import cache, problems
from jcjg.exchange.auth import Caller
from jcjg.exchange.cache import NeedDatabase
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.models import ExchangeFile, Message, SeenNonce
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.types import (
    BaseMessage,
    MessageBase,
    MessageType,
    RegionMessageBase,
    value_domain_check,
)
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import (
    FOUR_BYTE_LEADS,
    MAX_SAFE_INTEGER,
    CanonicalJSONError,
    canonical_json,
)
from jcjg.ledger.models import LedgerQueued

ENTRY_PREFIX = "message:"
RECEIPT_VERSION = 2
STATUS_PATH = "/exchange/v1/messages/{message_type}/{message_id}"

log = logging.getLogger(__name__)


MAX_DEPTH = 32  # messages are records in lists; deeper JSON is an attack on the parser


# a JSON string (the body parsed as JSON already, so this reads it exactly), and every byte
# that is not a bracket
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPENING = np.zeros(256, dtype=np.int8) - 1
_OPENING[[ord("["), ord("{")]] = 1


# outside strings, a float has a digit before its point or exponent (JSON allows no "1." nor
# ".5"; true, false and null hold no digit), and an integer beyond ±(2^53−1) has 16 digits
_NOT_PLAIN_NUMBER = re.compile(rb"[0-9](?:[.eE]|[0-9]{15})")
# a body larger than this is read for its numbers from its bytes; a smaller one (few numbers)
# by json.loads's callbacks
_LARGE_BODY = 16 * 1024


def _outside_strings(body: bytes) -> bytes:
    """A body that parsed as JSON without its strings: its brackets, numbers and literals."""
    return _JSON_STRING.sub(b"", body)


def numbers_plain_in(body: bytes) -> bool:
    """Whether ``body`` (one that parsed as JSON) is large and none of its numbers is written
    small enough to be implausible (:func:`jcjg.core.plausible.plain_numbers`): then, validated
    in pydantic's strict JSON mode (the acceptance's), its fields of numbers only need not be
    read again as arrays for the check (:func:`jcjg.core.plausible.numbers_plain`). Only in
    that mode: the apply validates the parsed body in Python mode, which reads a number out of
    a string (``"1e-310"``), and such strings are not among the numbers this counts."""
    return len(body) > _LARGE_BODY and plausible.plain_numbers(_outside_strings(body))


def _depth(bare: bytes) -> int:
    """Nesting depth of a body that parsed as JSON, given without its strings: the most
    brackets open at once, counted over the bytes in C (a curve's 10,000 numbers are not
    visited one by one as parsed objects)."""
    brackets = bare.translate(None, _NOT_BRACKETS)
    if not brackets:
        return 0
    steps = _OPENING[np.frombuffer(brackets, dtype=np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max())


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class _Numbers:
    """Watches the numbers ``json.loads`` parses: whether any is a float or an integer beyond
    ±(2^53−1), either of which needs the careful canonical writer."""

    def __init__(self) -> None:
        self.plain = True

    def float(self, text: str) -> float:
        self.plain = False
        return float(text)

    def int(self, text: str) -> int:
        value = int(text)
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            self.plain = False
        return value


class _KeyTwice(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _once(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose every key appears once (``json.loads`` would keep the last: the
    stored body would then say what was not applied)."""
    made = dict(pairs)
    if len(made) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _KeyTwice(key)
            seen.add(key)
    return made


# an escaped surrogate (half of a character beyond U+FFFF, or a lone one)
_ESCAPED_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def _astral(body: bytes) -> bool:
    """Whether the body may hold a character beyond U+FFFF, raw (4 UTF-8 bytes, led by 0xF0
    or above) or escaped: the one case where RFC 8785's order of keys (UTF-16 code units)
    differs from Python's (code points)."""
    if not body.isascii() and any(lead in body for lead in FOUR_BYTE_LEADS):
        return True
    return b"\\u" in body and _ESCAPED_SURROGATE.search(body) is not None


def parse_json(body: bytes) -> tuple[dict[str, Any], bytes]:
    """The body as a JSON object and its canonical bytes; ExchangeError/422 otherwise.

    A message of strings, integers within ±(2^53−1), booleans and nulls, with no character
    beyond U+FFFF, is canonical as ``json.dumps`` writes it with sorted keys and no spaces
    (RFC 8785 writes such values exactly so); any other goes through
    :func:`~jcjg.ledger.canonical.canonical_json`. A large body is read by orjson when it can
    be (:func:`_parsed_quickly`)."""
    large = len(body) > _LARGE_BODY
    if large:
        quickly = _parsed_quickly(body)
        if quickly is not None:
            return quickly
    numbers = _Numbers()
    try:
        data = json.loads(
            body.decode("utf-8"),
            parse_constant=_reject_constant,
            parse_float=None if large else numbers.float,
            parse_int=None if large else numbers.int,
            object_pairs_hook=_once,
        )
    except _KeyTwice as twice:
        shown = text.printable(twice.key)[:64]
        raise ValidationFailed(
            f"JSON 对象中的键“{shown}”出现了不止一次",
            errors=[
                FieldError(
                    "body",
                    f"键“{shown}”在同一个对象中出现多次：每个键只能出现一次",
                    "duplicate_key",
                )
            ],
        ) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExchangeError(problems.INVALID_JSON, f"请求体不是合法的 JSON：{exc}"[:300]) from exc
    if not isinstance(data, dict):
        raise ExchangeError(problems.INVALID_JSON, "请求体须是 JSON 对象")
    # the body without its strings, made only for a body whose bytes could hold deep nesting
    # or a float (most messages hold neither, strings included)
    bare: bytes | None = None
    # nesting deeper than MAX_DEPTH needs that many brackets: most bodies cannot have it
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        bare = _outside_strings(body)
        if _depth(bare) > MAX_DEPTH:
            raise ValidationFailed(
                f"数据嵌套超过 {MAX_DEPTH} 层",
                errors=[FieldError("body", f"JSON 嵌套不得超过 {MAX_DEPTH} 层")],
            )
    # a float or a large integer needs the careful writer: in a large body (a curve has 20,000
    # numbers) read from its bytes in C rather than by a Python callback per number
    plain = numbers.plain
    if large:
        bare = bare if bare is not None else _outside_strings(body)
        plain = _NOT_PLAIN_NUMBER.search(bare) is None
    return data, _canonical(body, data, plain)


def _canonical(body: bytes, data: dict[str, Any], plain: bool) -> bytes:
    """The canonical bytes of ``body`` parsed as ``data``; ``plain``: it holds no float and no
    integer beyond ±(2^53−1). ValidationFailed if it cannot be made canonical."""
    try:
        if plain and not _astral(body):
            # RFC 8785's bytes for text of the BMP, integers within ±(2^53−1), booleans and
            # null: keys in code points' order (UTF-16's, for the BMP), compact, UTF-8, the
            # same escapes (json.dumps's, byte for byte, at a fifth of its CPU: issue 44)
            try:
                return orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
            except orjson.JSONEncodeError as exc:  # a lone surrogate, escaped in the body
                raise CanonicalJSONError(f"string is not valid Unicode: {exc}") from exc
        return canonical_json(data)
    except CanonicalJSONError as exc:
        raise ValidationFailed(
            "数据无法规范化（RFC 8785）：数值须在 ±(2^53-1) 以内，精确数值请用字符串",
            errors=[FieldError("body", str(exc)[:200])],
        ) from exc


def _parsed_quickly(body: bytes) -> tuple[dict[str, Any], bytes] | None:
    """:func:`parse_json` of a large body by orjson (a curve record of 18,000 numbers: ~2 ms,
    where ``json.loads`` with its key check takes ~5), or None for the careful path to answer:
    a body orjson refuses (the careful path says why, or reads what orjson does not and then
    refuses it: a lone surrogate, 1e400), one that is no object, one nested too deep or that
    cannot be made canonical (an integer below -2^63 or above 2^64, which orjson reads as a
    float, is beyond ±(2^53−1) either way), and one with a key twice in an object. orjson
    keeps one of such keys: an object's members outside strings (each has one colon there,
    an escaped one being in a string) are then fewer in the canonical form than in the body.
    A body the careful path answers is read twice (a refusal: at most twice its cost)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    bare = _outside_strings(body)
    if body.count(b"[") + body.count(b"{") > MAX_DEPTH and _depth(bare) > MAX_DEPTH:
        return None
    try:
        canonical = _canonical(body, data, _NOT_PLAIN_NUMBER.search(bare) is None)
    except ValidationFailed:
        return None
    if _outside_strings(canonical).count(b":") != bare.count(b":"):
        return None
    return data, canonical


def ledger_entry(
    message_type: str,
    message_id: str,
    key_id: str,
    institution_code: str | None,
    sha256: str,
    region_code: str | None = None,
) -> dict[str, str]:
    """What the ledger notarises for a message (no personal data: only the content's hash).
    A region message (no institution) names its region instead."""
    owner = (
        {"institution_code": institution_code}
        if institution_code is not None
        else {"region_code": region_code or ""}
    )
    return {
        "message_type": message_type,
        "message_id": message_id,
        "key_id": key_id,
        **owner,
        "sha256": sha256,
    }


def _institution(db: Session | None, caller: Caller, code: str) -> tuple[int, str]:
    """The message's institution (id, region code): the client's own for a LIMS, one in its
    region for a platform peer."""
    client = caller.client
    if client.kind == ClientKind.LIMS:
        if client.institution_id is None or code != client.institution_code:
            raise ExchangeError(
                problems.WRONG_INSTITUTION, f"本系统只能报送本机构的数据，不能报送“{code}”"
            )
        return client.institution_id, client.institution_region or client.region_code
    found = cache.institution(db, code)
    if found is None:
        raise ValidationFailed(errors=[FieldError("institution_code", f"机构编号“{code}”不存在")])
    if not found[1].startswith(scope_prefix(client.region_code)):
        raise ExchangeError(
            problems.WRONG_INSTITUTION, f"机构“{code}”不在本平台所辖区域内，不能报送其数据"
        )
    return found


def _region(db: Session | None, caller: Caller, code: str) -> str:
    """The region a region message is about: it must exist and lie in the sender's region."""
    if not cache.region_exists(db, code):
        raise ValidationFailed(errors=[FieldError("region_code", f"行政区划“{code}”不存在")])
    if not code.startswith(scope_prefix(caller.client.region_code)):
        raise ExchangeError(
            problems.WRONG_SENDER, f"行政区划“{code}”不在本平台所辖区域内，不能报送其数据"
        )
    return code


def _existing(db: Session, client_id: int, message_id: str, sha256: str) -> dict[str, Any] | None:
    """The stored receipt of this client's message ``message_id`` marked ``duplicate``; 409
    when the stored one has other content; None when there is none."""
    row = db.execute(
        select(Message.content_sha256, Message.received_at, Message.receipt).where(
            Message.client_id == client_id, Message.message_id == message_id
        )
    ).first()
    if row is None:
        return None
    stored_sha256, received_at, receipt = row
    if stored_sha256 != sha256:
        raise ExchangeError(
            problems.MESSAGE_CONFLICT,
            f"消息编号 {message_id} 已于 {ledger.timestamp(received_at)} 收到过内容不同的消息",
        )
    return {**receipt, "status": "duplicate"}


def _seen(db: Session, key_id: str, nonce: str) -> bool:
    """Whether this key's ``nonce`` is remembered (a request carrying it was stored)."""
    found = db.execute(
        select(SeenNonce.nonce).where(SeenNonce.key_id == key_id, SeenNonce.nonce == nonce)
    ).first()
    return found is not None


def missing_files(db: Session, client_id: int, hashes: list[str]) -> list[str]:
    """The referenced SHA-256 this client has not uploaded yet, in the order given."""
    wanted = list(dict.fromkeys(h.lower() for h in hashes))
    if not wanted:
        return []
    have = set(
        db.scalars(
            select(ExchangeFile.sha256).where(
                ExchangeFile.client_id == client_id, ExchangeFile.sha256.in_(wanted)
            )
        )
    )
    return [h for h in wanted if h not in have]


def lane_of(institution_id: int | None, region_code: str) -> str:
    """The lane a message is applied in: its institution's, or its region's."""
    return f"i{institution_id}" if institution_id is not None else f"r{region_code}"


@dataclass
class Accepted:
    """A message that passed every check of the request, ready to be stored: its row, its
    nonce and its queued leaf. ``receipt`` is the answer once they are committed."""

    message: dict[str, Any]
    nonce: dict[str, Any]
    leaf: dict[str, Any]
    receipt: dict[str, Any]
    outcome: dict[str, Any] | ExchangeError | None = field(default=None)

    @property
    def key(self) -> tuple[int, str]:
        return self.message["client_id"], self.message["message_id"]


def validate(
    caller: Caller,
    kind: MessageType[Any],
    db: Session | None = None,
    parsed: list[tuple[BaseMessage, Any, str]] | None = None,
) -> tuple[BaseMessage, str]:
    """The message parsed and checked against its type's schema and the data standard in force
    when it was signed, and its content's SHA-256. ``parsed``: where a first call keeps what
    it parsed against the schema, for a second with the database (the data standard's check
    may need it: :class:`NeedDatabase`), which then does not parse the body again."""
    if parsed:
        message, data, sha256 = parsed[0]
    else:
        data, canonical = parse_json(caller.body)
        # a large body's numbers, when none is written small enough to be implausible, are not
        # read again as arrays for it (a curve record's three curves of points: ~1 ms, for
        # ~0.3 ms of counting its bytes; days are still checked)
        plain = numbers_plain_in(caller.body)
        try:
            # strict, from the JSON itself: "8" is no integer, "yes" no boolean, 0 no date. The
            # body is read twice (json.loads above for the canonical bytes, pydantic's parser
            # here), which costs what validating the parsed object did: the types of JSON
            # values are known only in JSON mode.
            with plausible.numbers_plain() if plain else nullcontext():
                message = kind.schema.model_validate_json(caller.body, strict=True)
        except ValidationError as exc:
            raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
        sha256 = hashlib.sha256(canonical).hexdigest()
        if parsed is not None:
            parsed.append((message, data, sha256))
    created = caller.verified.created
    signed_at = dt.datetime.fromtimestamp(created, dt.UTC) if created is not None else utcnow()
    check = value_domain_check(db, kind.name, signed_at)
    if check is not None:
        errors = check(data)
        if errors:
            raise ValidationFailed(errors=errors)
    if caller.client.kind not in kind.senders:
        raise ExchangeError(
            problems.WRONG_SENDER,
            f"消息类型 {kind.name} 只接受"
            + "、".join(ClientKind(k).label for k in sorted(kind.senders))
            + "报送",
        )
    return message, sha256


def accept(
    db: Session | None,
    caller: Caller,
    kind: MessageType[Any],
    *,
    now: dt.datetime | None = None,
    parsed: list[tuple[BaseMessage, Any, str]] | None = None,
) -> Accepted | dict[str, Any]:
    """Check one signed message as far as no domain state is needed and prepare what to store
    (or, for a message sent again, its stored receipt). Writes nothing; raises AppError.

    With ``db`` None it reads nothing either: what it needs comes from memory
    (:mod:`jcjg.exchange.cache`), else it raises :class:`NeedDatabase`; a message that refers
    to files always needs the database. Without the database the duplicate check is left to
    :func:`store` (a copy then meets the stored row at the unique index). ``parsed``: see
    :func:`validate` (a message naming files, or one from a sender or of a data standard not yet
    in memory, is checked again with the database, not parsed again)."""
    now = now or utcnow()
    message, sha256 = validate(caller, kind, db, parsed)
    message_id = str(message.message_id)
    institution: tuple[int, str] | None
    if isinstance(message, MessageBase):
        institution_code: str | None = message.institution_code
        institution = _institution(db, caller, message.institution_code)
        region_code = institution[1]
    else:
        assert isinstance(message, RegionMessageBase)
        institution_code = institution = None
        region_code = _region(db, caller, message.region_code)
    client_id = caller.client.id
    files = list(kind.files(message))
    if files and db is None:
        raise NeedDatabase
    if db is not None:
        previous = _existing(db, client_id, message_id, sha256)
        if previous is not None:
            # a copy answered from the stored row: the same request again (its nonce seen) is
            # a replay, as :func:`store` finds when the checks needed no database
            if _seen(db, caller.key.key_id, caller.verified.nonce or ""):
                raise ExchangeError(problems.NONCE_REPLAYED)
            return previous
    missing = missing_files(db, client_id, files) if db is not None else []
    if missing:
        raise ExchangeError(
            problems.FILES_MISSING,
            f"有 {len(missing)} 个文件尚未上传",
            missing=missing,
        )
    entry = ledger_entry(
        kind.name, message_id, caller.key.key_id, institution_code, sha256, region_code=region_code
    )
    promise, receipt = promised(kind.name, message_id, entry, now)
    institution_id = institution[0] if institution else None
    row = {
        "client_id": client_id,
        "key_id": caller.key.key_id,
        "institution_id": institution_id,
        "region_code": region_code,
        "lane": lane_of(institution_id, region_code),
        "message_type": kind.name,
        "message_id": message_id,
        "body": caller.body,
        "content_sha256": sha256,
        "signature_input": caller.signature_input,
        "signature": caller.signature,
        "request": caller.request_record(),
        "received_at": now,
        "leaf_hash": promise.leaf_hash,
        "receipt": receipt,
        "status": "accepted",
    }
    nonce = {"key_id": caller.key.key_id, "nonce": caller.verified.nonce or "", "seen_at": now}
    return Accepted(row, nonce, promise.queued_row(), receipt)


def promised(
    message_type: str, message_id: str, entry: dict[str, Any], now: dt.datetime
) -> tuple[ledger.Promise, dict[str, Any]]:
    """The log's promise of a message's leaf (``entry``), and the receipt (v2) answering it."""
    promise = ledger.promise(ENTRY_PREFIX + message_type, entry, now)
    receipt = {
        "receipt_version": RECEIPT_VERSION,
        "message_id": message_id,
        "message_type": message_type,
        "status": "accepted",
        "received_at": ledger.timestamp(now),
        "entry_type": promise.entry_type,
        "entry": entry,
        "notarised_at": ledger.timestamp(promise.notarised_at),
        "leaf_hash": promise.leaf_hash.hex(),
        "max_delay_seconds": promise.max_delay_seconds,
        "promise": promise.note,
        "status_url": STATUS_PATH.format(message_type=message_type, message_id=message_id),
    }
    return promise, receipt


def store(db: Session, batch: list[Accepted]) -> None:
    """Write the accepted messages of ``batch`` in ``db``'s transaction (the caller commits) and
    set each one's ``outcome``: its receipt, the stored receipt of a copy that won the race
    (``duplicate``), or the ExchangeError of a replayed nonce or a conflicting copy. Three
    statements, whatever the batch's size: the nonces, the messages, the leaves; on PostgreSQL
    a batch that :func:`fits_together` (the group committer's, but for the largest bodies)
    one statement (:func:`store_together`)."""
    for item in batch:
        item.outcome = None  # a batch written again after a failure starts afresh
    conn = db.connection()  # Core statements on the tables: no ORM bookkeeping per row
    if conn.dialect.name == "postgresql" and fits_together(batch):
        losers = store_together(conn, batch)
        if losers:
            _answer_losers(db, losers)
        return
    nonce_table = cast(Table, SeenNonce.__table__)
    message_table = cast(Table, Message.__table__)
    nonces = conn.execute(
        insert_ignoring_conflicts(db, nonce_table).returning(
            nonce_table.c.key_id, nonce_table.c.nonce
        ),
        [item.nonce for item in batch],
    ).all()
    fresh = {(k, n) for k, n in nonces}
    # a nonce twice in the same batch: the first keeps it
    taken: set[tuple[str, str]] = set()
    pending: list[Accepted] = []
    for item in batch:
        key = (item.nonce["key_id"], item.nonce["nonce"])
        if key not in fresh or key in taken:
            item.outcome = ExchangeError(problems.NONCE_REPLAYED)
            continue
        taken.add(key)
        pending.append(item)
    if not pending:
        return
    inserted = conn.execute(
        insert_ignoring_conflicts(db, message_table).returning(
            message_table.c.client_id, message_table.c.message_id
        ),
        [item.message for item in pending],
    ).all()
    stored = {(c, m) for c, m in inserted}
    winners: dict[tuple[int, str], Accepted] = {}
    for item in pending:  # copies in one batch: the first one's row was inserted
        if item.key in stored and item.key not in winners:
            winners[item.key] = item
            item.outcome = item.receipt
    if winners:
        queued = cast(Table, LedgerQueued.__table__)
        conn.execute(insert(queued), [item.leaf for item in winners.values()])
    losers = [item for item in pending if item.outcome is None]
    if losers:
        _answer_losers(db, losers)


# the most messages written by one statement (:func:`store_together`: the group committer's
# largest batch); a larger batch takes the three statements. Since the statement takes a batch's
# rows as JSON its cost a message falls with the batch's size: 40 messages 0.08-0.10 ms of the
# process's CPU each, against 0.22-0.35 by the three statements (docs/development/performance.md)
TOGETHER_MAX = 500
# and the most bytes of bodies (sent in hex, twice as many, with the rest of the rows in one
# parameter): eight of the largest bodies, as when the statement took eight messages; a batch of
# 500 bodies of 1 MiB took a minute and 6.7 GB there, where the three statements take 7 s
TOGETHER_MAX_BYTES = 8 * 1024 * 1024


def fits_together(batch: list[Accepted]) -> bool:
    """Whether :func:`store_together` writes ``batch`` (PostgreSQL): at most
    :data:`TOGETHER_MAX` messages of at most :data:`TOGETHER_MAX_BYTES` of bodies."""
    if len(batch) > TOGETHER_MAX:
        return False
    size = 0
    for item in batch:
        size += len(item.message["body"])
        if size > TOGETHER_MAX_BYTES:
            return False
    return True


@dataclass(frozen=True)
class _Together:
    """PostgreSQL: a batch's nonces, rows and queued leaves written by one statement, whatever
    the batch's size: each table's rows given as one JSON array (``json_to_recordset``), a
    message's row written only when its nonce was and its leaf only when its row was
    (data-modifying ``WITH``s), answering the nonces and the rows it wrote. One text and two
    parameters for any batch, so the driver converts it once and PostgreSQL plans it once (a
    prepared statement); written with a statement per message, its 8 messages' 180 parameters
    and 13 kB were converted one by one and planned at every call (issue 44). Made once a
    process per the rows' columns: the SQL and which columns hold bytes."""

    sql: str
    binary: frozenset[str]  # columns of bytes: written in JSON as PostgreSQL's hex form


@functools.cache
def _together(nonce: tuple[str, ...], message: tuple[str, ...], leaf: tuple[str, ...]) -> _Together:
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    nonce_table, message_table = cast(Table, SeenNonce.__table__), cast(Table, Message.__table__)
    queued_table = cast(Table, LedgerQueued.__table__)

    def typed(table: Table, names: tuple[str, ...], prefix: str = "") -> list[str]:
        return [f"{prefix}{c} {table.c[c].type.compile(dialect)}" for c in names]

    m_columns = [*typed(message_table, message), "_nonce VARCHAR", "_o INTEGER",
                 *typed(queued_table, leaf, "q_")]  # fmt: skip
    # the names are the models' columns, the values parameters: nothing of a request.
    # ``chosen``: of each message's copies whose nonce was written, the first (``_o``: its
    # place in the batch) is the one whose row is written; rows and leaves in the batch's order
    sql = f"""WITH fresh AS (
INSERT INTO exchange_nonce ({", ".join(nonce)})
SELECT {", ".join(nonce)} FROM json_to_recordset(%(n)s::json)
AS n({", ".join(typed(nonce_table, nonce))})
ON CONFLICT DO NOTHING RETURNING key_id, nonce),
m AS (SELECT * FROM json_to_recordset(%(m)s::json) AS m({", ".join(m_columns)})),
chosen AS (
SELECT DISTINCT ON (m.client_id, m.message_id) m.* FROM m
JOIN fresh ON fresh.key_id = m.key_id AND fresh.nonce = m._nonce
ORDER BY m.client_id, m.message_id, m._o),
stored AS (
INSERT INTO exchange_message ({", ".join(message)})
SELECT {", ".join(message)} FROM chosen ORDER BY _o
ON CONFLICT DO NOTHING RETURNING client_id, message_id),
queued AS (
INSERT INTO ledger_queued ({", ".join(leaf)})
SELECT {", ".join(f"chosen.q_{c}" for c in leaf)} FROM chosen
JOIN stored ON stored.client_id = chosen.client_id AND stored.message_id = chosen.message_id
ORDER BY chosen._o)
SELECT 0, key_id, nonce FROM fresh
UNION ALL SELECT 1, client_id::text, message_id FROM stored"""  # noqa: S608
    binary = {
        *(c for c in message if isinstance(message_table.c[c].type, LargeBinary)),
        *(f"q_{c}" for c in leaf if isinstance(queued_table.c[c].type, LargeBinary)),
    }
    return _Together(sql, frozenset(binary))


def _hex(value: Any) -> Any:
    return "\\x" + value.hex() if isinstance(value, bytes) else value


def _json(rows: list[dict[str, Any]]) -> str:
    """``rows`` as JSON text for ``json_to_recordset``; by the standard library what orjson
    refuses (an integer beyond 64 bits, as SQLAlchemy's JSON columns would write it)."""
    try:
        return orjson.dumps(rows).decode()
    except orjson.JSONEncodeError:
        return json.dumps(rows, ensure_ascii=False, default=lambda v: v.isoformat())


def store_together(conn: Connection, items: list[Accepted]) -> list[Accepted]:
    """Write accepted messages (a batch that :func:`fits_together`) on PostgreSQL with one
    statement (:func:`_together`) on ``conn`` and set each one's ``outcome``, as :func:`store`
    does: the receipt, or the ExchangeError of a replayed nonce (also one twice in ``items``:
    the first keeps it). Of a message's copies whose nonce was written, the first is stored;
    the others (and a copy of a message stored before) are returned: :func:`_answer_losers`
    answers them and takes their nonces back. Three round trips fewer than the batch's
    statements in a transaction (the group committer in autocommit: no BEGIN or COMMIT either,
    the one statement being its own transaction): a message alone 1.1 -> 0.4 ms of the
    process's CPU (docs/development/performance.md)."""
    first = items[0]
    together = _together(tuple(first.nonce), tuple(first.message), tuple(first.leaf))
    nonces: dict[tuple[str, str], Accepted] = {}
    for item in items:
        key = (item.nonce["key_id"], item.nonce["nonce"])
        if key in nonces:  # a nonce twice in the batch: the first keeps it
            item.outcome = ExchangeError(problems.NONCE_REPLAYED)
            continue
        nonces[key] = item
    binary = together.binary
    written = [
        {
            **{c: _hex(v) if c in binary else v for c, v in item.message.items()},
            "_nonce": item.nonce["nonce"],
            "_o": place,
            **{f"q_{c}": _hex(v) if f"q_{c}" in binary else v for c, v in item.leaf.items()},
        }
        for place, item in enumerate(nonces.values())
    ]
    params = {"n": _json([item.nonce for item in nonces.values()]), "m": _json(written)}
    fresh: set[tuple[str, str]] = set()
    stored: set[tuple[int, str]] = set()
    for kind, a, b in conn.exec_driver_sql(together.sql, params):
        if kind == 0:
            fresh.add((a, b))
        else:
            stored.add((int(a), b))
    losers = []
    chosen: set[tuple[int, str]] = set()  # the messages whose first fresh copy was seen
    for key, item in nonces.items():
        if key not in fresh:
            item.outcome = ExchangeError(problems.NONCE_REPLAYED)
            continue
        its_first = item.key not in chosen  # the copy the statement chose to store
        chosen.add(item.key)
        if its_first and item.key in stored:
            item.outcome = item.receipt
        else:  # a copy of a message stored before or by an earlier copy in the batch
            losers.append(item)
    return losers


def store_committed_together(
    conn: Connection, factory: sessionmaker[Session], items: list[Accepted]
) -> None:
    """:func:`store` of a batch that :func:`fits_together` on PostgreSQL, committed:
    :func:`store_together` on ``conn``, a connection in autocommit mode (the statement
    commits itself, durable before it answers, as a COMMIT is); copies that
    lost are answered in a transaction of ``factory`` (their nonces, committed with the
    statement, are taken back then: should the process die in between, the same signed
    request sent again is a replay). Should that transaction fail, the copies are answered
    503 and the stored messages with their receipts: the batch is committed and is not
    written again (each of its nonces would then be a replay)."""
    for item in items:
        item.outcome = None
    losers = store_together(conn, items)
    conn.commit()  # SQLAlchemy's transaction ends; the server's had ended with the statement
    if not losers:
        return
    try:
        with factory() as db:
            _answer_losers(db, losers)
            db.commit()
    except Exception:  # the others are stored: answered, never written again (a replay)
        log.exception("answering %d copies of stored messages failed", len(losers))
        for item in losers:
            item.outcome = ExchangeError(problems.STORE_UNAVAILABLE)


def _answer_losers(db: Session, losers: list[Accepted]) -> None:
    """Copies of a message stored by another request (or earlier in this batch): answered
    from the stored row, ``duplicate`` for the same content, 409 for other content. Their
    nonces go again: a copy leaves nothing behind, as when the request found the stored row."""
    db.execute(
        delete(SeenNonce).where(
            tuple_(SeenNonce.key_id, SeenNonce.nonce).in_(
                [(i.nonce["key_id"], i.nonce["nonce"]) for i in losers]
            )
        )
    )
    rows = db.execute(
        select(
            Message.client_id, Message.message_id, Message.content_sha256, Message.receipt
        ).where(tuple_(Message.client_id, Message.message_id).in_([i.key for i in losers]))
    ).all()
    found = {(c, m): (sha, receipt) for c, m, sha, receipt in rows}
    for item in losers:
        sha, receipt = found[item.key]
        if sha != item.message["content_sha256"]:
            item.outcome = ExchangeError(
                problems.MESSAGE_CONFLICT,
                f"消息编号 {item.key[1]} 已收到过内容不同的消息",
            )
        else:
            item.outcome = {**receipt, "status": "duplicate"}
