"""The log's operations: notarise, integrate, checkpoints, proofs and verification.

Appending (:func:`notarise`) happens inside the transaction of the fact it records: the leaf
takes the next index from ``ledger_counter`` with an ``UPDATE … RETURNING`` whose row lock is held
until that transaction ends, so concurrent writers queue for an index, a rolled-back fact gives
its index back, and committed leaves always form a gap-free prefix. Integration
(:func:`integrate`) is batched: it reads the leaves past the integrated size, extends the stored
frontier, stores each completed perfect subtree, moves the head with a compare-and-set, and signs
a checkpoint. Proofs read O(log n) stored nodes in two queries.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, delete, func, insert, select, text, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.config import Settings, get_settings
from jcjg.core.db import utcnow
from jcjg.core.later import reading, write_later
from jcjg.ledger import merkle
from jcjg.ledger.canonical import canonical_json
from jcjg.ledger.keys import LogIdentity, identity
from jcjg.ledger.models import (
    LedgerCheckpoint,
    LedgerCounter,
    LedgerHead,
    LedgerLeaf,
    LedgerNode,
    LedgerQueued,
)
from jcjg.ledger.note import (
    NoteError,
    Verifier,
    add_signatures,
    format_checkpoint,
    open_note,
    parse_checkpoint,
    sign_note,
)

RECEIPT_HEADER = "jcjg-ledger-receipt/v1"
PROMISE_HEADER = "jcjg-ledger-promise/v1"
_identity: LogIdentity | None = None


class LedgerError(ValueError):
    """A request the log cannot answer (bad index, size beyond the tree, unknown hash)."""


def configure(settings: Settings) -> LogIdentity:
    """Load the log's identity (origin, signing key, cosigners) from ``settings``."""
    global _identity
    _identity = identity(settings)
    return _identity


def log_identity() -> LogIdentity:
    return _identity if _identity is not None else configure(get_settings())


# --- appending ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    """What the appender gets back: the leaf's index and hash, the time, and a note signed by
    the log promising integration within ``max_delay_seconds`` (like a CT SCT)."""

    index: int
    leaf_hash: bytes
    entry_type: str
    notarised_at: dt.datetime
    max_delay_seconds: int
    note: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "leaf_hash": self.leaf_hash.hex(),
            "entry_type": self.entry_type,
            "notarised_at": self.notarised_at.isoformat().replace("+00:00", "Z"),
            "max_delay_seconds": self.max_delay_seconds,
            "note": self.note,
        }


def timestamp(moment: dt.datetime) -> str:
    """The log's time format (UTC, microseconds): how ``notarised_at`` is written in leaves."""
    text = moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
    return text + "Z"


def envelope(entry_type: str, entry: Any, notarised_at: dt.datetime) -> bytes:
    """The canonical bytes a leaf hashes: the entry with its type and time (docs/ledger.md)."""
    return canonical_json(
        {"entry_type": entry_type, "notarised_at": timestamp(notarised_at), "data": entry}
    )


def receipt_text(origin: str, index: int, leaf: bytes, moment: dt.datetime, delay: int) -> str:
    return (
        f"{RECEIPT_HEADER}\n{origin}\n{index}\n{base64.b64encode(leaf).decode()}\n"
        f"{timestamp(moment)}\n{delay}\n"
    )


def _leaf(entry_type: str, entry: Any, moment: dt.datetime) -> tuple[bytes, bytes]:
    """The envelope's canonical bytes and its leaf hash."""
    if not entry_type or len(entry_type) > 64 or ":" not in entry_type:
        raise ValueError("entry_type must look like '<entity>:<action>'")
    data = envelope(entry_type, entry, moment)
    return data, merkle.leaf_hash(data, hasher=log_identity().hasher)


def notarise(db: Session, entry_type: str, entry: Any) -> Receipt:
    """Append ``entry`` (JSON data) under ``entry_type`` (``"<entity>:<action>"``) in ``db``'s
    transaction and return the signed receipt. Call it late in the transaction: the index
    counter stays locked until the transaction ends."""
    log = log_identity()
    moment = utcnow()
    data, leaf = _leaf(entry_type, entry, moment)
    index = (
        db.execute(
            update(LedgerCounter)
            .where(LedgerCounter.id == 1)
            .values(next_index=LedgerCounter.next_index + 1)
            .returning(LedgerCounter.next_index)
        ).scalar_one()
        - 1
    )
    db.add(
        LedgerLeaf(
            leaf_index=index, leaf_hash=leaf, entry_type=entry_type, entry=data, created_at=moment
        )
    )
    db.flush()
    text = receipt_text(log.origin, index, leaf, moment, log.max_delay_seconds)
    note = sign_note(text, log.signer).decode()
    return Receipt(index, leaf, entry_type, moment, log.max_delay_seconds, note)


@dataclass(frozen=True)
class Promise:
    """An entry the log promises to sequence and integrate within ``max_delay_seconds`` (an RFC
    6962 signed certificate timestamp in C2SP signed-note form): no index yet, so making one
    takes no lock. :func:`queued_row` is what the caller inserts, in its own transaction."""

    leaf_hash: bytes
    entry_type: str
    envelope: bytes
    notarised_at: dt.datetime
    max_delay_seconds: int
    note: str

    def queued_row(self) -> dict[str, Any]:
        return {
            "leaf_hash": self.leaf_hash,
            "entry_type": self.entry_type,
            "entry": self.envelope,
            "created_at": self.notarised_at,
        }


def promise_text(origin: str, leaf: bytes, moment: dt.datetime, delay: int) -> str:
    return (
        f"{PROMISE_HEADER}\n{origin}\n{base64.b64encode(leaf).decode()}\n"
        f"{timestamp(moment)}\n{delay}\n"
    )


def promise(entry_type: str, entry: Any, moment: dt.datetime | None = None) -> Promise:
    """Hash ``entry`` into its leaf and sign the log's promise to include it; touches no
    database. The caller stores :meth:`Promise.queued_row` in ``ledger_queued`` in the same
    transaction as the fact, and :func:`sequence` appends it later."""
    log = log_identity()
    moment = moment or utcnow()
    data, leaf = _leaf(entry_type, entry, moment)
    note = sign_note(promise_text(log.origin, leaf, moment, log.max_delay_seconds), log.signer)
    return Promise(leaf, entry_type, data, moment, log.max_delay_seconds, note.decode())


def sequence(db: Session, *, batch: int = 10_000) -> int:
    """Give the queued entries (``ledger_queued``, oldest first) the next indices and move them
    into the log, in ``db``'s transaction (the caller commits). The counter row is locked first,
    so two sequencers take turns and never append one entry twice. Returns how many moved."""
    end = db.execute(
        update(LedgerCounter)
        .where(LedgerCounter.id == 1)
        .values(next_index=LedgerCounter.next_index)
        .returning(LedgerCounter.next_index)
    ).scalar_one()
    rows = db.execute(
        select(
            LedgerQueued.id,
            LedgerQueued.leaf_hash,
            LedgerQueued.entry_type,
            LedgerQueued.entry,
            LedgerQueued.created_at,
        )
        .order_by(LedgerQueued.id)
        .limit(batch)
    ).all()
    if not rows:
        return 0
    db.execute(
        insert(LedgerLeaf),
        [
            {
                "leaf_index": end + n,
                "leaf_hash": bytes(leaf),
                "entry_type": entry_type,
                "entry": bytes(data),
                "created_at": moment,
            }
            for n, (_, leaf, entry_type, data, moment) in enumerate(rows)
        ],
    )
    db.execute(
        update(LedgerCounter)
        .where(LedgerCounter.id == 1)
        .values(next_index=LedgerCounter.next_index + len(rows))
    )
    db.execute(delete(LedgerQueued).where(LedgerQueued.id.in_([r[0] for r in rows])))
    return len(rows)


def append_many(db: Session, entry_type: str, entries: Sequence[Any]) -> range:
    """Append many entries at once (bulk imports, benchmarks): one counter update and one
    multi-row insert. No receipts are signed; each entry's proof comes from the log later."""
    if not entries:
        return range(0)
    moment = utcnow()
    end = db.execute(
        update(LedgerCounter)
        .where(LedgerCounter.id == 1)
        .values(next_index=LedgerCounter.next_index + len(entries))
        .returning(LedgerCounter.next_index)
    ).scalar_one()
    start = end - len(entries)
    hasher = log_identity().hasher
    rows = []
    for offset, entry in enumerate(entries):
        data = envelope(entry_type, entry, moment)
        rows.append(
            {
                "leaf_index": start + offset,
                "leaf_hash": merkle.leaf_hash(data, hasher=hasher),
                "entry_type": entry_type,
                "entry": data,
                "created_at": moment,
            }
        )
    db.execute(insert(LedgerLeaf), rows)
    return range(start, end)


# --- reading stored nodes ----------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _nodes_query(leaves: int, inner: int) -> TextClause:
    """One round trip for ``leaves`` leaf hashes and ``inner`` stored nodes, by primary key.

    Plain SQL, cached by shape: building the expression with the ORM cost more than running it,
    and a row-value ``IN`` list would make SQLite scan the table instead of using the index.
    """
    parts = []
    if leaves:
        marks = ", ".join(f":a{k}" for k in range(leaves))
        # Only bind-parameter names are formatted into these statements: no injection.
        parts.append(
            "SELECT 0 AS level, leaf_index AS idx, leaf_hash AS hash FROM ledger_leaf "  # noqa: S608
            f"WHERE leaf_index IN ({marks})"
        )
    if inner:
        terms = " OR ".join(f"(level = :l{k} AND node_index = :n{k})" for k in range(inner))
        parts.append(f"SELECT level, node_index, hash FROM ledger_node WHERE {terms}")  # noqa: S608
    return text(" UNION ALL ".join(parts))


def fetch_nodes(db: Session, nodes: Iterable[merkle.Node]) -> dict[tuple[int, int], bytes]:
    """The hashes of ``nodes``: level 0 from the leaves, higher levels from stored nodes."""
    wanted = {(n.level, n.index) for n in nodes}
    leaves = sorted(i for level, i in wanted if level == 0)
    inner = sorted(k for k in wanted if k[0] > 0)
    if not wanted:
        return {}
    params: dict[str, int] = {f"a{k}": i for k, i in enumerate(leaves)}
    for k, (level, index) in enumerate(inner):
        params[f"l{k}"] = level
        params[f"n{k}"] = index
    rows = db.execute(_nodes_query(len(leaves), len(inner)), params)
    found = {(int(level), int(index)): bytes(h) for level, index, h in rows}
    missing = wanted - found.keys()
    if missing:
        raise LedgerError(f"stored tree is missing nodes {sorted(missing)[:5]}")
    return found


def _getter(found: dict[tuple[int, int], bytes]) -> merkle.GetNode:
    return lambda level, index: found[(level, index)]


def _flatten(plan: Sequence[tuple[merkle.Node, ...]]) -> list[merkle.Node]:
    return [n for group in plan for n in group]


def root_at(db: Session, size: int, hasher: merkle.Hasher | None = None) -> bytes:
    """The root of the stored tree of ``size`` (in this log's hash, or ``hasher``'s)."""
    hasher = hasher or log_identity().hasher
    if size == 0:
        return merkle.empty_root(hasher)
    return merkle.root_from(_getter(fetch_nodes(db, merkle.root_nodes(size))), size, hasher=hasher)


# --- integration -------------------------------------------------------------------------------


def head(db: Session) -> LedgerHead:
    return db.get_one(LedgerHead, 1)


def integrate(db: Session, *, batch: int = 50_000) -> int:
    """Integrate up to ``batch`` sequenced leaves into the tree, store the new nodes, move the
    head and sign a checkpoint. Returns how many leaves were integrated (0 when none waited or
    another sequencer got there first). Promised entries still queued are sequenced first."""
    if sequence(db, batch=batch):
        db.flush()
    current = head(db)
    size = current.size
    _check_profile(db, size)
    rows = db.execute(
        select(LedgerLeaf.leaf_index, LedgerLeaf.leaf_hash)
        .where(LedgerLeaf.leaf_index >= size)
        .order_by(LedgerLeaf.leaf_index)
        .limit(batch)
    ).all()
    if not rows:
        ensure_checkpoint(db)
        return 0
    if rows[0][0] != size or rows[-1][0] != size + len(rows) - 1:
        raise LedgerError(f"leaf indices are not contiguous after {size}")
    frontier = fetch_nodes(db, merkle.root_nodes(size))
    compact = merkle.CompactRange.from_nodes(_getter(frontier), size, hasher=log_identity().hasher)
    new_nodes = compact.extend((h for _, h in rows), include_leaves=False)
    new_size = compact.size
    root = compact.root()
    moved = db.execute(
        update(LedgerHead)
        .where(LedgerHead.id == 1, LedgerHead.size == size)
        .values(size=new_size, root_hash=root, updated_at=utcnow())
    )
    if getattr(moved, "rowcount", 0) != 1:
        db.rollback()
        return 0
    for start in range(0, len(new_nodes), 10_000):
        chunk = new_nodes[start : start + 10_000]
        db.execute(
            insert(LedgerNode),
            [{"level": n.level, "node_index": n.index, "hash": n.hash} for n in chunk],
        )
    _sign_checkpoint(db, new_size, root)
    db.expire(current)
    return len(rows)


def _sign_checkpoint(db: Session, size: int, root: bytes) -> LedgerCheckpoint:
    row = _signed(size, root)
    db.add(row)
    db.flush()
    return row


def _signed(size: int, root: bytes) -> LedgerCheckpoint:
    """The log's checkpoint of ``size`` and ``root``, signed (not stored)."""
    log = log_identity()
    text = format_checkpoint(log.origin, size, root)
    return LedgerCheckpoint(size=size, root_hash=root, note=sign_note(text, log.signer).decode())


def _check_profile(db: Session, size: int) -> None:
    """The log in the database was built with this process's hash: its last integrated leaf
    hashes to its stored hash. Refuses (LedgerError) to extend or sign a log of the other
    profile: switching ``JCJG_CRYPTO`` needs a new log (docs/operations/cryptography.md)."""
    if size == 0:
        return
    last = db.get(LedgerLeaf, size - 1)
    if last is not None and merkle.leaf_hash(last.entry, hasher=log_identity().hasher) != bytes(
        last.leaf_hash
    ):
        raise LedgerError(
            "数据库中的存证日志是用另一种密码算法建立的（JCJG_CRYPTO 与建立时不同）："
            "不能在同一个日志中延续，见 docs/operations/cryptography.md"
        )


def ensure_checkpoint(db: Session) -> LedgerCheckpoint:
    """The checkpoint of the integrated head, signing it if it has none yet. A request that
    only reads signs it for its answer and has it stored after (:func:`write_later`: the note
    stored then is signed again, an equal one for Ed25519, another valid one for SM2)."""
    current = head(db)
    # the empty tree's root is the profile's hash of nothing (the migration seeds SHA-256's)
    root = current.root_hash if current.size else merkle.empty_root(log_identity().hasher)
    row = db.get(LedgerCheckpoint, current.size)
    if row is None:
        _check_profile(db, current.size)
    if row is None and reading(db):
        write_later(db, ensure_checkpoint, required=False)
        return _signed(current.size, root)
    if row is None:
        try:
            with db.begin_nested():  # a concurrent first reader may sign the same size
                row = _sign_checkpoint(db, current.size, root)
        except IntegrityError:
            row = db.get_one(LedgerCheckpoint, current.size)
    return row


def latest_checkpoint(db: Session) -> LedgerCheckpoint:
    row = db.scalars(select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc())).first()
    return row if row is not None else ensure_checkpoint(db)


def add_cosignatures(db: Session, size: int, lines: str) -> LedgerCheckpoint:
    """Add signature lines from the configured cosigners (an upstream platform, a witness) to
    the checkpoint of ``size``; each line must verify under a known cosigner key."""
    log = log_identity()
    # Locked: two cosigners at once must not overwrite each other's line.
    row = db.get(LedgerCheckpoint, size, with_for_update=True)
    if row is None:
        raise LedgerError(f"没有树大小为 {size} 的检查点")
    if not log.witnesses:
        raise LedgerError("本平台未配置可接受的联署方公钥（JCJG_LEDGER_WITNESS_KEYS）")
    new_lines = [line for line in lines.splitlines() if line.strip()]
    if not new_lines:
        raise LedgerError("没有签名行")
    try:
        updated = add_signatures(
            row.note.encode(), [line + "\n" for line in new_lines], verifiers=log.witnesses
        )
        note = open_note(updated, [log.verifier, *log.witnesses])
    except NoteError as exc:
        raise LedgerError(f"联署签名无效：{exc}") from exc
    known = {(v.name, v.key_id) for v in log.witnesses}
    if any((s.name, s.key_id) not in known for s in note.unverified_sigs):
        raise LedgerError("签名行来自未登记的密钥")
    row.note = updated.decode()
    db.flush()
    return row


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint's size, signed note and time, detached from any session (kept in memory)."""

    size: int
    note: str
    created_at: dt.datetime


@dataclass(frozen=True)
class Cosigned:
    """The newest checkpoint a configured cosigner (the upstream platform, a witness) signed."""

    checkpoint: SignedCheckpoint
    cosigners: tuple[str, ...]  # their key names (a log's origin)


def latest_cosigned(db: Session, *, look_back: int = 2000) -> Cosigned | None:
    """The newest of the last ``look_back`` checkpoints that carries a configured cosigner's
    signature line (cosigners sign every minute or so, checkpoints come every few seconds);
    None when there is none or no cosigner is configured."""
    witnesses = {v.name for v in log_identity().witnesses}
    if not witnesses:
        return None
    rows = db.scalars(
        select(LedgerCheckpoint).order_by(LedgerCheckpoint.size.desc()).limit(look_back)
    )
    for row in rows:
        signers = [
            line[2:].split(" ", 1)[0] for line in row.note.splitlines() if line.startswith("— ")
        ]
        found = tuple(dict.fromkeys(n for n in signers if n in witnesses))
        if found:
            return Cosigned(SignedCheckpoint(row.size, row.note, row.created_at), found)
    return None


# --- reading entries and proofs ----------------------------------------------------------------


def _check_size(db: Session, size: int | None) -> int:
    integrated = head(db).size
    if size is None:
        return integrated
    if size < 1:
        raise LedgerError("树大小必须是正整数")
    if size > integrated:
        raise LedgerError(f"树大小 {size} 超出已整合的大小 {integrated}")
    return size


def get_leaf(db: Session, index: int) -> LedgerLeaf:
    if index < 0:
        raise LedgerError("序号不能为负数")
    leaf = db.get(LedgerLeaf, index)
    if leaf is None or index >= head(db).size:
        raise LedgerError(f"序号 {index} 的条目不存在或尚未整合")
    return leaf


def entry_json(leaf: LedgerLeaf) -> dict[str, Any]:
    return {
        "index": leaf.leaf_index,
        "entry_type": leaf.entry_type,
        "entry": json.loads(leaf.entry),
        "leaf_hash": leaf.leaf_hash.hex(),
        "canonical": leaf.entry.decode(),
    }


def inclusion(db: Session, index: int, size: int | None = None) -> dict[str, Any]:
    """The inclusion proof of leaf ``index`` in the tree of ``size`` (default: the head)."""
    size = _check_size(db, size)
    if not 0 <= index < size:
        raise LedgerError(f"序号 {index} 不在大小为 {size} 的树中")
    plan = merkle.inclusion_nodes(index, size)
    found = fetch_nodes(db, [*_flatten(plan), merkle.Node(0, index)])
    hasher = log_identity().hasher
    hashes = [
        merkle.fold([found[(n.level, n.index)] for n in group], hasher=hasher) for group in plan
    ]
    return {
        "index": index,
        "size": size,
        "leaf_hash": found[(0, index)].hex(),
        "hashes": [h.hex() for h in hashes],
    }


def find_by_hash(db: Session, leaf_hash: bytes, size: int | None = None) -> dict[str, Any]:
    size = _check_size(db, size)
    index = db.scalar(
        select(func.min(LedgerLeaf.leaf_index)).where(
            LedgerLeaf.leaf_hash == leaf_hash, LedgerLeaf.leaf_index < size
        )
    )
    if index is None:
        raise LedgerError("大小为该值的树中没有这个叶哈希")
    return inclusion(db, int(index), size)


def consistency(db: Session, first: int, second: int | None = None) -> dict[str, Any]:
    second = _check_size(db, second)
    if first < 1:
        raise LedgerError("first 必须是正整数：从空树出发的一致性证明没有意义")
    if first > second:
        raise LedgerError("first 不能大于 second")
    plan = merkle.consistency_nodes(first, second) if first < second else []
    found = fetch_nodes(
        db, [*_flatten(plan), *merkle.root_nodes(first), *merkle.root_nodes(second)]
    )
    get = _getter(found)
    hasher = log_identity().hasher
    hashes = [
        merkle.fold([found[(n.level, n.index)] for n in group], hasher=hasher) for group in plan
    ]
    return {
        "first": first,
        "second": second,
        "hashes": [h.hex() for h in hashes],
        "first_root": merkle.root_from(get, first, hasher=hasher).hex(),
        "second_root": merkle.root_from(get, second, hasher=hasher).hex(),
    }


def proof_bundle(db: Session, index: int, size: int | None = None) -> dict[str, Any]:
    """Everything an outsider needs to check one entry offline (``jcjg-verify``): the entry,
    its inclusion proof, a signed checkpoint of that size and the log's verifier key."""
    checkpoint = latest_checkpoint(db) if size is None else db.get(LedgerCheckpoint, size)
    if checkpoint is None:
        raise LedgerError(f"没有树大小为 {size} 的签名检查点")
    leaf = get_leaf(db, index)
    proof = inclusion(db, index, checkpoint.size)
    return {
        "entry_canonical": leaf.entry.decode(),
        "entry": json.loads(leaf.entry),
        "index": index,
        "size": checkpoint.size,
        "hashes": proof["hashes"],
        "checkpoint": checkpoint.note,
        "key": log_identity().vkey,
    }


def recent(db: Session, *, limit: int = 20, entry_type: str | None = None) -> list[LedgerLeaf]:
    stmt = select(LedgerLeaf).order_by(LedgerLeaf.leaf_index.desc()).limit(limit)
    if entry_type:
        stmt = stmt.where(LedgerLeaf.entry_type == entry_type)
    return list(db.scalars(stmt))


def counts_by_type(db: Session) -> list[tuple[str, int]]:
    rows = db.execute(
        select(LedgerLeaf.entry_type, func.count())
        .group_by(LedgerLeaf.entry_type)
        .order_by(func.count().desc())
    )
    return [(t, int(n)) for t, n in rows]


# --- full verification -------------------------------------------------------------------------


@dataclass
class VerifyReport:
    size: int
    leaves_checked: int
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_all(
    db: Session, verifier: Verifier | None = None, *, chunk: int = 50_000
) -> VerifyReport:
    """Recompute every leaf hash from its stored entry, the root from the leaves, every stored
    node, and check the latest checkpoint's signature and root. Names the index of any
    tampering."""
    log = log_identity()
    verifier = verifier or log.verifier
    problems: list[str] = []
    current = head(db)
    hasher = log.hasher
    compact = merkle.CompactRange(hasher=hasher)
    expected_nodes: dict[tuple[int, int], bytes] = {}
    last = -1
    while True:
        rows = db.execute(
            select(LedgerLeaf.leaf_index, LedgerLeaf.leaf_hash, LedgerLeaf.entry)
            .where(LedgerLeaf.leaf_index > last, LedgerLeaf.leaf_index < current.size)
            .order_by(LedgerLeaf.leaf_index)
            .limit(chunk)
        ).all()
        if not rows:
            break
        for index, stored_hash, entry in rows:
            if index != last + 1:
                problems.append(f"序号 {last + 1} 处缺少条目（跳到了 {index}）")
            last = index
            recomputed = merkle.leaf_hash(entry, hasher=hasher)
            if recomputed != stored_hash:
                problems.append(f"序号 {index} 的条目内容与其叶哈希不符（条目被篡改）")
            for node in compact.append(stored_hash, include_leaves=False):
                expected_nodes[(node.level, node.index)] = node.hash
        _compare_nodes(db, expected_nodes, problems)
        expected_nodes.clear()
    if last + 1 != current.size:
        problems.append(f"已整合大小为 {current.size}，但只找到 {last + 1} 个条目")
    if compact.size and compact.root() != current.root_hash:
        problems.append("由全部叶哈希重算的根哈希与记录的树头不符")
    checkpoint = latest_checkpoint(db)
    try:
        signed = parse_checkpoint(open_note(checkpoint.note.encode(), [verifier]).text)
        if signed.size != checkpoint.size or signed.root != root_at(db, checkpoint.size):
            problems.append(f"最新检查点（大小 {checkpoint.size}）的根哈希与树不符")
    except NoteError as exc:
        problems.append(f"最新检查点的签名无效：{exc}")
    return VerifyReport(current.size, last + 1, problems)


def _compare_nodes(
    db: Session, expected: dict[tuple[int, int], bytes], problems: list[str]
) -> None:
    if not expected:
        return
    keys = sorted(expected)
    for start in range(0, len(keys), 5000):
        part = keys[start : start + 5000]
        rows = db.execute(
            select(LedgerNode.level, LedgerNode.node_index, LedgerNode.hash).where(
                tuple_(LedgerNode.level, LedgerNode.node_index).in_(part)
            )
        )
        stored = {(lv, i): h for lv, i, h in rows}
        for key in part:
            if stored.get(key) != expected[key]:
                level, index = key
                first = index << level
                last = first + (1 << level) - 1
                problems.append(f"第 {level} 层节点 {index}（覆盖序号 {first}–{last}）与叶哈希不符")
