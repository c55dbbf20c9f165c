"""Receiving messages: parse, check, store verbatim, handle, run rules, notarise, answer.

Everything happens in the request's one transaction, in this order:

1. the body is JSON (an object), canonicalised by RFC 8785 and hashed (``content_sha256``);
2. the message validates against its type's schema (422 lists every failing field);
3. the institution is the client's own, or in a platform peer's region (403);
4. a message with this ``message_id`` from this client already exists: the same content gives
   the stored receipt again (``duplicate``), different content 409; concurrent duplicates meet
   at a unique index, and the loser answers from the winner's row;
5. referenced files must have arrived (422 with ``missing``);
6. the raw message row is claimed, the handler writes domain rows, the rules triggered by those
   writes run, and the ledger notarises ``{message_type, message_id, key_id, institution,
   sha256}``: the lab recomputes the leaf hash from what it sent (docs/exchange-api).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.alerts import engine as alerts_engine
from jcjg.alerts.models import Alert
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.errors import FieldError, ValidationFailed, field_errors_from_pydantic
from jcjg.core.regioncodes import scope_prefix
from jcjg.exchange import problems
from jcjg.exchange.auth import Caller
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.models import ExchangeFile, Message
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.types import HandlerContext, MessageBase, MessageType
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import CanonicalJSONError, canonical_json
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution

ENTRY_PREFIX = "message:"


MAX_DEPTH = 32  # messages are records in lists; deeper JSON is an attack on the parser


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    if not isinstance(value, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        deepest = max(deepest, level)
        children = item.values() if isinstance(item, dict) else item
        # only containers go on the stack: a curve's 10,000 numbers are not visited one by one
        stack.extend((v, level + 1) for v in children if isinstance(v, dict | list))
    return deepest


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(body: bytes) -> tuple[dict[str, Any], bytes]:
    """The body as a JSON object and its canonical bytes; ExchangeError/422 otherwise."""
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ExchangeError(problems.INVALID_JSON, f"请求体不是合法的 JSON：{exc}"[:300]) from exc
    if not isinstance(data, dict):
        raise ExchangeError(problems.INVALID_JSON, "请求体须是 JSON 对象")
    if _depth(data) > MAX_DEPTH:
        raise ValidationFailed(
            f"数据嵌套超过 {MAX_DEPTH} 层",
            errors=[FieldError("body", f"JSON 嵌套不得超过 {MAX_DEPTH} 层")],
        )
    try:
        canonical = canonical_json(data)
    except CanonicalJSONError as exc:
        raise ValidationFailed(
            "数据无法规范化（RFC 8785）：数值须在 ±(2^53-1) 以内，精确数值请用字符串",
            errors=[FieldError("body", str(exc)[:200])],
        ) from exc
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


def _institution(db: Session, caller: Caller, code: str) -> Institution:
    client = caller.client
    institution = db.scalar(select(Institution).where(Institution.code == code))
    if client.kind == ClientKind.LIMS:
        if institution is None or institution.id != client.institution_id:
            raise ExchangeError(
                problems.WRONG_INSTITUTION, f"本系统只能报送本机构的数据，不能报送“{code}”"
            )
        return institution
    if institution is None:
        raise ValidationFailed(errors=[FieldError("institution_code", f"机构编号“{code}”不存在")])
    if not institution.region_code.startswith(scope_prefix(client.region_code)):
        raise ExchangeError(
            problems.WRONG_INSTITUTION, f"机构“{code}”不在本平台所辖区域内，不能报送其数据"
        )
    return institution


def _region(db: Session, caller: Caller, code: str) -> Region:
    """The region a region message is about: it must exist and lie in the sender's region."""
    region = db.get(Region, code)
    if region is None:
        raise ValidationFailed(errors=[FieldError("region_code", f"行政区划“{code}”不存在")])
    if not code.startswith(scope_prefix(caller.client.region_code)):
        raise ExchangeError(
            problems.WRONG_SENDER, f"行政区划“{code}”不在本平台所辖区域内，不能报送其数据"
        )
    return region


def _existing(db: Session, caller: Caller, message_id: str, sha256: str) -> dict[str, Any] | None:
    row = db.scalar(
        select(Message).where(
            Message.client_id == caller.client.id, Message.message_id == message_id
        )
    )
    if row is None:
        return None
    if row.content_sha256 != sha256:
        raise ExchangeError(
            problems.MESSAGE_CONFLICT,
            f"消息编号 {message_id} 已于 {ledger.timestamp(row.received_at)} 收到过内容不同的消息",
        )
    return {**row.receipt, "status": "duplicate"}


def missing_files(db: Session, caller: Caller, hashes: list[str]) -> list[str]:
    """The referenced SHA-256 this client has not uploaded yet, in the order given."""
    wanted = list(dict.fromkeys(h.lower() for h in hashes))
    if not wanted:
        return []
    have = set(
        db.scalars(
            select(ExchangeFile.sha256).where(
                ExchangeFile.client_id == caller.client.id, ExchangeFile.sha256.in_(wanted)
            )
        )
    )
    return [h for h in wanted if h not in have]


def _warnings(
    db: Session, institution: Institution | None, rule_ids: list[str]
) -> list[dict[str, Any]]:
    """Open alerts on the message's institution of the rules its writes triggered."""
    if not rule_ids or institution is None:
        return []
    alerts = db.scalars(
        select(Alert)
        .where(
            Alert.status == "open",
            Alert.institution_id == institution.id,
            Alert.rule_id.in_(rule_ids),
        )
        .order_by(Alert.rule_id, Alert.id)
        .limit(50)
    ).all()
    out = []
    for alert in alerts:
        rule = alerts_engine.rule_of(alert.rule_id)
        out.append(
            {
                "code": alert.rule_id,
                "message": rule.title if rule else alert.rule_id,
                "severity": alert.severity,
                "subject": alert.subject_repr,
                "alert_id": alert.id,
            }
        )
    return out


def receive(
    db: Session,
    settings: Settings,
    caller: Caller,
    kind: MessageType[Any],
    *,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Handle one signed message; return its receipt. Raises AppError subclasses."""
    now = now or utcnow()
    data, canonical = parse_json(caller.body)
    try:
        message = kind.schema.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    message_id = str(message.message_id)
    sha256 = hashlib.sha256(canonical).hexdigest()
    if caller.client.kind not in kind.senders:
        raise ExchangeError(
            problems.WRONG_SENDER,
            f"消息类型 {kind.name} 只接受"
            + "、".join(ClientKind(k).label for k in sorted(kind.senders))
            + "报送",
        )
    institution: Institution | None
    # One message at a time per institution (or region): handlers read what exists, then
    # insert what is missing, and the registry's natural keys (ID number, asset number, lab
    # name) have no unique index across an institution's history. (SQLite serialises writers.)
    if isinstance(message, MessageBase):
        institution = _institution(db, caller, message.institution_code)
        region_code = institution.region_code
        db.execute(select(Institution.id).where(Institution.id == institution.id).with_for_update())
    else:
        institution = None
        region_code = _region(db, caller, message.region_code).code
        db.execute(select(Region.code).where(Region.code == region_code).with_for_update())
    previous = _existing(db, caller, message_id, sha256)
    if previous is not None:
        return previous
    missing = missing_files(db, caller, list(kind.files(message)))
    if missing:
        raise ExchangeError(
            problems.FILES_MISSING,
            f"有 {len(missing)} 个文件尚未上传",
            missing=missing,
        )
    row = Message(
        client_id=caller.client.id,
        key_id=caller.key.key_id,
        institution_id=institution.id if institution else None,
        region_code=region_code,
        message_type=kind.name,
        message_id=message_id,
        body=caller.body,
        content_sha256=sha256,
        signature_input=caller.signature_input,
        signature=caller.signature,
        received_at=now,
        receipt={},
        ledger_index=-1,
    )
    try:
        with db.begin_nested():
            db.add(row)
            db.flush()
    except IntegrityError:
        # A concurrent copy of this message won the unique index; answer from its row.
        previous = _existing(db, caller, message_id, sha256)
        if previous is None:
            raise
        return previous
    ctx = HandlerContext(
        db=db,
        settings=settings,
        client=caller.client,
        owner=institution,
        region_code=region_code,
        received_at=now,
        message_id=message_id,
    )
    results = kind.handler(ctx, message)
    db.flush()
    # Run the rules this message's writes trigger now, so their findings go in the receipt.
    pending = alerts_engine.take_pending(db)
    if pending:
        alerts_engine.run_triggered(db, pending, now=now)
    warnings = ctx.warnings + _warnings(db, institution, sorted(pending))
    entry = ledger_entry(
        kind.name,
        message_id,
        caller.key.key_id,
        institution.code if institution else None,
        sha256,
        region_code=region_code,
    )
    receipt = ledger.notarise(db, ENTRY_PREFIX + kind.name, entry)
    answer = {
        "message_id": message_id,
        "message_type": kind.name,
        "status": "accepted",
        "received_at": ledger.timestamp(now),
        "index": receipt.index,
        "leaf_hash": receipt.leaf_hash.hex(),
        "entry_type": receipt.entry_type,
        "notarised_at": ledger.timestamp(receipt.notarised_at),
        "entry": entry,
        "ledger_note": receipt.note,
        "results": results,
        "warnings": warnings,
    }
    row.receipt = answer
    row.ledger_index = receipt.index
    db.flush()
    return answer
