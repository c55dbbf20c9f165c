"""What a lab reads back about its messages: status, receipt, outcome, and ledger proof.

A message is ``accepted`` from the moment its receipt is answered, then ``applied`` (with the
results and warnings that receipt v1 carried) or ``rejected`` (with the problem the request
would have answered before). Once the ledger has integrated its leaf, the status carries the
leaf's index, an inclusion proof and the signed checkpoint it leads to, so the lab can check
that the promise in its receipt was kept (docs/exchange-api/README.md, "Receipts").
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.exchange.models import Message
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerCheckpoint, LedgerLeaf

MAX_IDS = 100


def status_request(body: bytes) -> list[str]:
    """The message ids of a batch status request ``{"message_ids": [...]}``, normalised."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValidationFailed(
            "请求体不是合法的 JSON", errors=[FieldError("body", "须是 JSON 对象")]
        ) from exc
    ids = data.get("message_ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not ids or len(ids) > MAX_IDS:
        raise ValidationFailed(
            errors=[FieldError("message_ids", f"须是 1 到 {MAX_IDS} 个消息编号的数组")]
        )
    out: list[str] = []
    for n, value in enumerate(ids):
        try:
            out.append(str(uuid.UUID(str(value))) if isinstance(value, str) else "")
        except ValueError:
            out.append("")
        if not out[-1]:
            raise ValidationFailed(errors=[FieldError(f"message_ids.{n}", "不是 UUID")])
    return list(dict.fromkeys(out))


def _normal(message_id: str) -> str | None:
    try:
        return str(uuid.UUID(message_id))
    except ValueError:
        return None


def inclusion_of(
    db: Session, leaf_hash: bytes, checkpoint: LedgerCheckpoint
) -> dict[str, Any] | None:
    """Where the leaf stands in ``checkpoint`` (the latest signed one): index, proof and
    checkpoint; None while it is not sequenced and integrated yet."""
    index = db.scalar(
        select(LedgerLeaf.leaf_index)
        .where(LedgerLeaf.leaf_hash == leaf_hash, LedgerLeaf.leaf_index < checkpoint.size)
        .order_by(LedgerLeaf.leaf_index)
        .limit(1)
    )
    if index is None:
        return None
    proof = ledger.inclusion(db, int(index), checkpoint.size)
    return {
        "index": proof["index"],
        "size": proof["size"],
        "hashes": proof["hashes"],
        "checkpoint": checkpoint.note,
    }


def document(db: Session, row: Message, checkpoint: LedgerCheckpoint) -> dict[str, Any]:
    """The status document of one message (docs/exchange-api/README.md, "Status")."""
    doc: dict[str, Any] = {
        "message_id": row.message_id,
        "message_type": row.message_type,
        "status": row.status,
        "received_at": ledger.timestamp(row.received_at),
        "applied_at": ledger.timestamp(row.applied_at) if row.applied_at else None,
        "receipt": row.receipt,
    }
    if row.status == "applied":
        doc["results"] = row.results
        doc["warnings"] = row.warnings or []
    elif row.status == "rejected":
        doc["problem"] = row.problem
    doc["ledger"] = inclusion_of(db, bytes(row.leaf_hash), checkpoint)
    return doc


def statuses(
    db: Session, client_id: int, message_ids: list[str], *, message_type: str | None = None
) -> list[dict[str, Any]]:
    """The status documents of this client's messages among ``message_ids`` (others, and ids
    that are no UUID, are left out), in the order asked."""
    wanted = [m for m in (_normal(i) for i in message_ids) if m is not None]
    if not wanted:
        return []
    stmt = select(Message).where(Message.client_id == client_id, Message.message_id.in_(wanted))
    if message_type is not None:
        stmt = stmt.where(Message.message_type == message_type)
    rows = {row.message_id: row for row in db.scalars(stmt)}
    checkpoint = ledger.latest_checkpoint(db)  # one for the whole answer
    docs = [document(db, rows[m], checkpoint) for m in wanted if m in rows]
    db.commit()  # the first read may have signed the head's checkpoint
    return docs


def ledger_index(db: Session, *conditions: Any) -> int | None:
    """The ledger index of the message matching ``conditions`` (on :class:`Message`), once its
    leaf is sequenced; None before, or when there is no such message."""
    index = db.scalar(
        select(LedgerLeaf.leaf_index)
        .join(Message, Message.leaf_hash == LedgerLeaf.leaf_hash)
        .where(*conditions)
        .order_by(LedgerLeaf.leaf_index)
        .limit(1)
    )
    return int(index) if index is not None else None
