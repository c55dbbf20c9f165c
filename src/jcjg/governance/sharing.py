"""Sharing published data sets with their consumers (000 7.1.5; docs/sharing.md).

A province compiles the catalogue's data sets (the applied data of one or several message
types, graded public, conditional or restricted) and registers consumers (another department,
a bank …) with the address their deliveries go to. A subscription names a consumer, a data set
and a masking policy (``{path: mask | hash | generalise | drop}``, a path of one of the set's
types written ``type:path``); one to a conditional data set waits for another person's
approval, a restricted one is never shared.

Every applied message of a subscribed data set becomes a **delivery**, masked when it is made
(in the apply step's batch; a derived set's published or corrected records are queued by
:mod:`jcjg.governance.sharing_derived`): a JSON document POSTed to the consumer, signed by the
platform (RFC 9421, Ed25519: ``@method``, ``@target-uri``, ``content-digest``, ``content-type``; the
key at ``GET /governance/sharing/key``), at least once: a failed post is tried again
after 10 s, 20 s, 40 s … (at most an hour apart), and after :data:`MAX_ATTEMPTS` the delivery
is dead, listed on the consumer's page until replayed. The consumer deduplicates by
``delivery_id``. An unmasked delivery names the message's leaf in the log (``ledger``); a masked
one is notarised before its first post, in one leaf per subscription and send pass holding the
Merkle root of its deliveries' body hashes, and carries its path to that root in the
``JCJG-Ledger-Proof`` header (:func:`notarise_batches`): what was sent is provable, what was
masked is not exposed."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.client.signing import load_key, signed_headers
from jcjg.config import Settings
from jcjg.core import shared
from jcjg.core.db import utcnow
from jcjg.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from jcjg.core.masking import mask_value
from jcjg.exchange.clients import parse_public_key
from jcjg.exchange.models import Message
from jcjg.exchange.types import message_types
from jcjg.governance import rulebook
from jcjg.governance.choices import (
    ConsumerKind,
    DataGrade,
    DeliveryStatus,
    Masking,
    SubscriptionStatus,
)
from jcjg.governance.forms import PERSONAL, text
from jcjg.governance.models import Consumer, DataSet, DataSetType, Delivery, Subscription
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.tenancy.models import Institution

MAX_ATTEMPTS = 12  # 10 s, 20 s … then hourly: about 3.5 hours in all
PER_CONSUMER = 10  # deliveries to one consumer in one run
FIRST_WAIT = dt.timedelta(seconds=10)
LONGEST_WAIT = dt.timedelta(hours=1)
TIMEOUT_SECONDS = 5.0
BATCH = 50
KEY_FILE = "sharing-ed25519.pem"
log = logging.getLogger("jcjg.governance.sharing")
_URL = re.compile(r"^https?://[^\s/@?#]+(:[0-9]{1,5})?(/[^\s#]*)?$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
KEY_ID_PREFIX = "share-"
MAX_WORDS = 200  # sensitive or safe words in one policy
WORD_LIMIT = 20  # characters in one word
_SEPARATORS = re.compile(r"[\s,，、;；]+")
MAX_TYPES = 10  # message types in one data set
BATCH_ENTRY_TYPE = "share_delivery:batch"  # a send pass's masked deliveries to one subscription
PROOF_HEADER = "JCJG-Ledger-Proof"


# --- the platform's signing key -------------------------------------------------------------


def signing_key(settings: Settings) -> tuple[str, Ed25519PrivateKey]:
    """The platform's Ed25519 key for its deliveries (made once, under the data folder), and
    its key id (``jcjg-share-`` and the first 12 hex digits of the public key's SHA-256)."""
    folder = Path(settings.data_dir) / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / KEY_FILE
    if not path.exists():
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:  # several processes may start at once: the first file wins
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
        except FileExistsError:
            pass
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    raw = key.public_key().public_bytes_raw()
    return f"jcjg-share-{hashlib.sha256(raw).hexdigest()[:12]}", key


def public_key(settings: Settings) -> dict[str, str]:
    key_id, key = signing_key(settings)
    raw = key.public_key().public_bytes_raw()
    return {"key_id": key_id, "alg": "ed25519", "public_key": base64.b64encode(raw).decode()}


# --- masking --------------------------------------------------------------------------------


def _generalised(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return round(float(value), -1) if abs(value) >= 10 else round(float(value))
    text = str(value)
    if re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        return text[:7]  # a date or time: its month
    return text[:1] + "…" if text else text


def masked_value(method: str, key: str, value: Any, secret: bytes) -> Any:
    if value is None:
        return None
    if method == Masking.MASK:
        return mask_value(key, str(value))
    if method == Masking.HASH:
        return hmac.new(secret, str(value).encode(), hashlib.sha256).hexdigest()
    return _generalised(value)


def _apply(data: Any, parts: list[str], method: str, secret: bytes) -> None:
    if not isinstance(data, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    key = head.removesuffix("[]")
    if key not in data:
        return
    if not rest:
        if method == Masking.DROP:
            del data[key]
        elif head.endswith("[]") and isinstance(data[key], list):
            data[key] = [masked_value(method, key, v, secret) for v in data[key]]
        else:
            data[key] = masked_value(method, key, data[key], secret)
        return
    inner = data[key]
    for item in inner if head.endswith("[]") and isinstance(inner, list) else [inner]:
        _apply(item, rest, method, secret)


def scrub(value: str, sensitive: Sequence[str], safe: Sequence[str] = ()) -> str:
    """``value`` with each sensitive word replaced by as many ``*``, except where it lies
    within a safe word (安全词: ``安全`` sensitive, ``安全帽`` safe, keeps ``安全帽``)."""
    if not sensitive:
        return value
    kept = [False] * len(value)
    for word in safe:
        for found in re.finditer(re.escape(word), value):
            kept[found.start() : found.end()] = [True] * (found.end() - found.start())
    out = list(value)
    for word in sorted(sensitive, key=len, reverse=True):
        for found in re.finditer(re.escape(word), value):
            if not any(kept[found.start() : found.end()]):
                out[found.start() : found.end()] = ["*"] * (found.end() - found.start())
    return "".join(out)


def _scrub_all(data: Any, sensitive: Sequence[str], safe: Sequence[str]) -> Any:
    if isinstance(data, str):
        return scrub(data, sensitive, safe)
    if isinstance(data, list):
        return [_scrub_all(v, sensitive, safe) for v in data]
    if isinstance(data, dict):
        return {k: _scrub_all(v, sensitive, safe) for k, v in data.items()}
    return data


def mask(
    data: Any,
    policy: Mapping[str, str],
    secret: bytes,
    words: Mapping[str, Sequence[str]] | None = None,
) -> Any:
    """A copy of ``data`` with the sensitive ``words`` replaced in its text (but within safe
    words), then each path of ``policy`` masked by its method."""
    out = json.loads(json.dumps(data))
    if words and words.get("sensitive"):
        out = _scrub_all(out, words["sensitive"], words.get("safe") or ())
    for path, method in sorted(policy.items()):
        _apply(out, path.split("."), method, secret)
    return out


def policy_for(masking: Mapping[str, str], message_type: str) -> Mapping[str, str]:
    """The part of a subscription's policy that masks a record of ``message_type``: each
    ``type:path`` of this type, and each plain path (a set of one type's policy is all plain:
    :func:`policy` keeps a set of several types' plain paths as typed entries), a typed one
    winning."""
    if not any(":" in key for key in masking):
        return masking  # a set of one type (or a policy of plain paths): as it is
    prefix = message_type + ":"
    plain = {k: v for k, v in masking.items() if ":" not in k}
    return plain | {k.removeprefix(prefix): v for k, v in masking.items() if k.startswith(prefix)}


def record(
    settings: Settings,
    subscription: Subscription,
    data_set: DataSet,
    row: Message,
    institution_code: str | None,
    data: Any = None,
) -> dict[str, Any]:
    """One applied message as a consumer gets it, masked by its subscription's policy: the
    same for a delivery, a query's item and a package's line (docs/sharing.md)."""
    body = data if data is not None else json.loads(row.body)
    masking = policy_for(subscription.masking, row.message_type)
    out: dict[str, Any] = {
        "data_set": data_set.code,
        "message_type": row.message_type,
        "message_id": row.message_id,
        "institution_code": institution_code,
        "region_code": row.region_code,
        "received_at": row.received_at.isoformat(),
        "data": mask(
            body,
            masking,
            hash_secret(settings, subscription.consumer_id),
            subscription.words,
        ),
    }
    if not masking and not (subscription.words or {}).get("sensitive"):
        # the message's leaf in the public log: its entry holds the hash of the whole
        # message, so a masked record goes without it (the hash would let a consumer test
        # guesses of what was masked)
        out["ledger"] = {
            "entry_type": f"message:{row.message_type}",
            "leaf_hash": row.leaf_hash.hex(),
        }
    return out


def derived_record(
    settings: Settings, subscription: Subscription, data_set: DataSet, row: shared.SharedRow
) -> dict[str, Any]:
    """One record of a derived source as a consumer gets it, masked by its subscription's
    policy as a message is (docs/sharing.md, "Derived sources"); no ``message_id`` and no
    ``ledger`` (the record is the platform's, not a lab's message)."""
    return {
        "data_set": data_set.code,
        "message_type": data_set.message_type,
        "record_id": row.record_id,
        "institution_code": row.institution_code,
        "region_code": row.region_code,
        "day": row.day.isoformat(),
        "data": mask(
            row.data,
            policy_for(subscription.masking, data_set.message_type),
            hash_secret(settings, subscription.consumer_id),
            subscription.words,
        ),
    }


def hash_secret(settings: Settings, consumer_id: int) -> bytes:
    """The keyed hash's key for one consumer: the same value hashes alike for it, never
    across consumers."""
    return hmac.new(
        settings.secret_key.encode(), f"share:{consumer_id}".encode(), hashlib.sha256
    ).digest()


# --- the catalogue and consumers ------------------------------------------------------------


def save_data_set(db: Session, principal: Principal, values: Mapping[str, Any]) -> DataSet:
    """Compile a data set (a draft): ``code``, ``name``, ``category``, ``description``,
    ``message_type`` (its main type), ``more_types`` (the others it holds: a list), ``grade``."""
    errors: list[FieldError] = []
    code = text(values, "code", 40, errors)
    if code and not _CODE.match(code):
        errors.append(
            FieldError("code", "由小写字母、数字和下划线组成，以字母开头（2–40 个字符）", "pattern")
        )
    name = text(values, "name", 100, errors)
    category = text(values, "category", 40, errors, required=False)
    description = text(values, "description", 2000, errors, required=False)
    message_type = str(values.get("message_type") or "")
    derived = shared.sources()
    if message_type not in message_types() and message_type not in derived:
        errors.append(FieldError("message_type", "没有这种消息类型", "message_type"))
    more = values.get("more_types") or []
    if isinstance(more, str):
        more = [more]
    types = list(dict.fromkeys([message_type, *(str(t) for t in more if t)]))
    if message_type in derived and len(types) > 1:
        errors.append(
            FieldError("more_types", "平台产生的数据（如行政处罚决定）单独成为数据集", "derived")
        )
    elif any(t not in message_types() for t in types[1:]):
        errors.append(FieldError("more_types", "没有这种消息类型", "message_type"))
    elif len(types) > MAX_TYPES:
        errors.append(
            FieldError("more_types", f"一个数据集至多 {MAX_TYPES} 种消息类型", "too_many")
        )
    grade = str(values.get("grade") or "")
    if grade not in {g.value for g in DataGrade}:
        errors.append(FieldError("grade", "请选择共享级别", "grade"))
    if code and db.scalar(select(DataSet.id).where(DataSet.code == code)) is not None:
        errors.append(FieldError("code", "已有这个编号的数据集", "duplicate"))
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)
    row = DataSet(
        code=code,
        name=name,
        category=category,
        description=description,
        message_type=message_type,
        grade=grade,
        status="draft",
        created_by_id=principal.user_id,
        types=[DataSetType(message_type=t, position=i) for i, t in enumerate(types)],
    )
    db.add(row)
    db.flush()
    return row


def publish_data_set(db: Session, principal: Principal, data_set: DataSet) -> None:
    """Publish a compiled data set: reviewed by someone other than who compiled it."""
    if data_set.status != "draft":
        raise Conflict("数据集已撤销" if data_set.status == "withdrawn" else "数据集已发布")
    if principal.user_id == data_set.created_by_id:
        raise PermissionDenied("数据集须由编制人以外的人审核发布")
    data_set.status = "published"
    data_set.published_by_id = principal.user_id
    data_set.published_at = utcnow()
    db.flush()


def endpoint_problem(endpoint: str, settings: Settings) -> str | None:
    """Why deliveries may not go to ``endpoint`` (Chinese), or None: an http(s) address
    without user or password that httpx can send to; not a loopback, private, link-local or
    reserved address unless ``JCJG_SHARING_PRIVATE_ENDPOINTS`` allows it (a literal address;
    a name is resolved by the deployment's resolver, so its firewall decides)."""
    if not _URL.match(endpoint):
        return "须为 http(s) 地址，不含用户名和密码"
    try:
        url = httpx.URL(endpoint)
    except (httpx.InvalidURL, ValueError):
        return "地址格式不正确"
    host = url.host
    if not host:
        return "地址格式不正确"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    internal = host.lower() in ("localhost", "localhost.localdomain") or (
        address is not None
        and (
            address.is_loopback
            or address.is_private
            or address.is_link_local
            or address.is_reserved
            or address.is_multicast
            or address.is_unspecified
        )
    )
    if internal and not settings.sharing_private_endpoints:
        return "不能推送到本机、内网或保留地址"
    return None


def save_consumer(
    db: Session, principal: Principal, values: Mapping[str, Any], settings: Settings
) -> Consumer:
    errors: list[FieldError] = []
    name = text(values, "name", 100, errors)
    contact = text(values, "contact", 100, errors, required=False)
    endpoint = text(values, "endpoint", 500, errors, required=False)
    why = endpoint_problem(endpoint, settings) if endpoint else None
    if why:
        errors.append(FieldError("endpoint", why, "url"))
    kind = str(values.get("kind") or "")
    if kind not in {k.value for k in ConsumerKind}:
        errors.append(FieldError("kind", "请选择共享对象类别", "kind"))
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)
    row = Consumer(
        name=name, contact=contact, endpoint=endpoint, kind=kind, created_by_id=principal.user_id
    )
    db.add(row)
    db.flush()
    return row


def source_titles() -> dict[str, str]:
    """What a data set may hold, name -> Chinese title: the message types, then the derived
    sources (``core.shared``: 行政处罚决定)."""
    titles = {k: v.title for k, v in sorted(message_types().items())}
    return titles | {k: f"{v.title}（平台数据）" for k, v in sorted(shared.sources().items())}


def derived_source(data_set: DataSet) -> shared.SharedSource | None:
    """The derived source ``data_set`` holds (its one type), None for a set of messages."""
    return shared.sources().get(data_set.message_type)


def field_names(db: Session, message_type: str) -> dict[str, str]:
    """The fields of a message type (the standard in force) or of a derived source, path ->
    Chinese name."""
    source = shared.sources().get(message_type)
    if source is not None:
        return dict(source.fields)
    return rulebook.field_names(db, message_type)


def personal_fields(db: Session, message_type: str) -> list[str]:
    """The paths of ``message_type``'s personal fields (each needs a masking method)."""
    source = shared.sources().get(message_type)
    if source is not None:
        return sorted(source.personal)
    fields = rulebook.fields_of(db, message_type)
    return sorted(p for p in fields if p.removesuffix("[]").rsplit(".", 1)[-1] in PERSONAL)


def personal_policy(db: Session, data_set: DataSet) -> dict[str, str]:
    """The policy a consumer's own application gets: every personal field of the set's types
    masked (``type:path`` in a set of several types)."""
    types = data_set.message_types
    if len(types) == 1:
        return dict.fromkeys(personal_fields(db, types[0]), Masking.MASK.value)
    return {f"{t}:{p}": Masking.MASK.value for t in types for p in personal_fields(db, t)}


def word_list(raw: Any, field: str, errors: list[FieldError]) -> list[str]:
    """Words typed one a line (or between commas, 、 or spaces): each at most
    :data:`WORD_LIMIT` characters, at most :data:`MAX_WORDS`, kept once, in order."""
    if isinstance(raw, list | tuple):
        raw = "\n".join(str(w) for w in raw)
    words = list(dict.fromkeys(w for w in _SEPARATORS.split(str(raw or "")) if w))
    if len(words) > MAX_WORDS:
        errors.append(FieldError(field, f"至多 {MAX_WORDS} 个词", "too_many"))
    elif any(len(w) > WORD_LIMIT for w in words):
        errors.append(FieldError(field, f"每个词不得超过 {WORD_LIMIT} 个字符", "string_too_long"))
    return words


def key_id_of(raw: bytes) -> str:
    """A consumer's key id: ``share-`` and the first 24 hex digits of its key's SHA-256."""
    return KEY_ID_PREFIX + hashlib.sha256(raw).hexdigest()[:24]


CONSUMER_STATUSES = {"active": "正常", "suspended": "已暂停"}


def set_consumer_status(consumer: Consumer, status: Any) -> None:
    """Suspend (``suspended``: no query, no package, no delivery sent) or reinstate
    (``active``) a consumer; the change log records who did it."""
    if status not in CONSUMER_STATUSES:
        raise ValidationFailed(
            "请改正标出的项目", errors=[FieldError("status", "须为正常或已暂停", "enum")]
        )
    consumer.status = str(status)


def register_key(db: Session, consumer: Consumer, public_key: str) -> str:
    """Register the Ed25519 public key ``consumer`` signs its queries with (PEM, or the base64
    of its 32 raw bytes), replacing the one it had; returns its key id."""
    if not public_key.strip():
        raise ValidationFailed(errors=[FieldError("public_key", "必填", "missing")])
    if len(public_key) > 1000:
        raise ValidationFailed(
            errors=[FieldError("public_key", "不得超过 1000 个字符", "string_too_long")]
        )
    raw = parse_public_key(public_key.encode())
    key_id = key_id_of(raw)
    holder = db.scalar(select(Consumer.id).where(Consumer.key_id == key_id))
    if holder is not None and holder != consumer.id:
        raise ValidationFailed(
            errors=[FieldError("public_key", "这把公钥已登记给其他共享对象", "duplicate")]
        )
    consumer.key_id = key_id
    consumer.public_key = base64.b64encode(raw).decode()
    consumer.key_registered_at = utcnow()
    db.flush()
    return key_id


def subscribe(
    db: Session, principal: Principal, consumer: Consumer, values: Mapping[str, Any]
) -> Subscription:
    """Subscribe ``consumer`` to a published data set with a masking policy (``masking``:
    ``{path: method}``, each path a field of the data set's message type): active at once for
    a public set, pending approval for a conditional one; a restricted set is never shared."""
    errors: list[FieldError] = []
    chosen = values.get("data_set_id")
    data_set = db.get(DataSet, chosen) if isinstance(chosen, int) else None
    if data_set is not None and data_set.status == "withdrawn":
        raise ValidationFailed(
            errors=[FieldError("data_set_id", "该数据集已撤销，不能订阅", "withdrawn")]
        )
    if data_set is None or data_set.status != "published":
        raise ValidationFailed(
            errors=[FieldError("data_set_id", "请选择已发布的数据集", "data_set")]
        )
    if data_set.grade == DataGrade.RESTRICTED:
        raise ValidationFailed(errors=[FieldError("data_set_id", "该数据集不予共享", "restricted")])
    chosen_policy = policy(db, data_set, values.get("masking") or {}, errors)
    words = {
        kind: word_list(values.get(f"{kind}_words"), f"{kind}_words", errors)
        for kind in ("sensitive", "safe")
    }
    if errors:
        raise ValidationFailed("请改正标出的项目", errors=errors)
    return place(
        db,
        consumer,
        data_set,
        masking=chosen_policy,
        words={k: v for k, v in words.items() if v},
        pending=data_set.grade == DataGrade.CONDITIONAL,
        requested_by_id=principal.user_id,
    )


def policy(
    db: Session, data_set: DataSet, masking: Mapping[str, Any], errors: list[FieldError]
) -> dict[str, str]:
    """A masking policy for ``data_set`` (``{path: method}``): each path a field of one of its
    message types (``type:path``: of that type only; a plain path: of each type that has it),
    each method one of :class:`Masking`, every personal field of every type masked (personal
    data never leaves unmasked); what is wrong is added to ``errors``."""
    types = data_set.message_types
    fields = {t: field_names(db, t) for t in types}
    chosen: dict[str, str] = {}
    # plain paths first, so that a typed entry wins; in a set of several types a plain path
    # is kept as one typed entry for each type that has the field
    for key, method in sorted(dict(masking).items(), key=lambda item: ":" in str(item[0])):
        kind, colon, path = str(key).rpartition(":")
        where = f"masking.{key}"[:80]
        having = [t for t in ([kind] if colon else types) if path in fields.get(t, {})]
        if colon and kind not in fields:
            errors.append(FieldError(where, "数据集不含这种消息类型", "message_type"))
        elif not having:
            errors.append(FieldError(where, "数据集没有这个字段", "path"))
        elif method not in {m.value for m in Masking}:
            errors.append(FieldError(where, "脱敏方法不正确", "method"))
        elif len(types) == 1:
            chosen[path] = method
        else:
            chosen.update((f"{t}:{path}", method) for t in having)
    for kind in types:
        for path in personal_fields(db, kind):
            if path not in chosen and f"{kind}:{path}" not in chosen:
                key = path if len(types) == 1 else f"{kind}:{path}"
                errors.append(
                    FieldError(f"masking.{key}"[:80], "个人信息字段须选择脱敏方法", "personal")
                )
    return chosen


def place(
    db: Session,
    consumer: Consumer,
    data_set: DataSet,
    *,
    masking: dict[str, str],
    words: dict[str, list[str]] | None,
    pending: bool,
    requested_by_id: int | None,
) -> Subscription:
    """``consumer``'s subscription to ``data_set``, new or asked for again: one that was refused
    or stopped is opened anew on this request (its earlier decision forgotten, the set's
    deliveries resumed from now on); one pending or in force is 409. ``words`` None keeps the
    words an officer set before."""
    row = db.scalar(
        select(Subscription).where(
            Subscription.consumer_id == consumer.id, Subscription.data_set_id == data_set.id
        )
    )
    if row is not None and row.status in (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE):
        raise Conflict(f"已有该数据集的订阅或申请（{SubscriptionStatus(row.status).label}）")
    if row is None:
        row = Subscription(consumer_id=consumer.id, data_set_id=data_set.id, words={})
        db.add(row)
    row.masking = masking
    if words is not None:
        row.words = words
    row.status = (SubscriptionStatus.PENDING if pending else SubscriptionStatus.ACTIVE).value
    row.requested_by_id = requested_by_id
    row.decided_by_id, row.decided_at, row.decision_note = None, None, ""
    db.flush()
    return row


def decide(
    db: Session,
    principal: Principal,
    subscription: Subscription,
    *,
    approve: bool,
    note: str,
    masking: Mapping[str, Any] | None = None,
) -> None:
    """Approve or refuse a pending subscription (a conditional data set): never by who asked.
    Approving with ``masking`` puts that policy in force instead of the one asked for (a
    consumer's own application masks every personal field and nothing else)."""
    if subscription.status != SubscriptionStatus.PENDING:
        raise Conflict("该订阅不在待审核状态")
    if principal.user_id == subscription.requested_by_id:
        raise PermissionDenied("有条件共享的订阅须由申请人以外的人审核")
    if not approve and not note.strip():
        raise ValidationFailed(errors=[FieldError("note", "不批准时请写明理由", "missing")])
    if len(note) > 2000:
        raise ValidationFailed(
            errors=[FieldError("note", "不得超过 2000 个字符", "string_too_long")]
        )
    if approve and masking is not None:
        errors: list[FieldError] = []
        chosen = policy(db, db.get_one(DataSet, subscription.data_set_id), masking, errors)
        if errors:
            raise ValidationFailed("请改正标出的项目", errors=errors)
        subscription.masking = chosen
    subscription.status = (
        SubscriptionStatus.ACTIVE if approve else SubscriptionStatus.REJECTED
    ).value
    subscription.decided_by_id, subscription.decided_at = principal.user_id, utcnow()
    subscription.decision_note = note.strip()
    db.flush()


def stop(db: Session, subscription: Subscription, *, note: str) -> None:
    """Stop a subscription in force or pending (its purpose served, the consumer's conduct):
    nothing more is delivered, queried or packaged for it (deliveries waiting stay until it is
    in force again); the consumer may ask again, and an officer decides."""
    if subscription.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING):
        raise Conflict("该订阅已不在生效或待审核状态")
    if not note.strip():
        raise ValidationFailed(errors=[FieldError("note", "请写明停止的理由", "missing")])
    if len(note) > 2000:
        raise ValidationFailed(
            errors=[FieldError("note", "不得超过 2000 个字符", "string_too_long")]
        )
    subscription.status = SubscriptionStatus.STOPPED.value
    subscription.decision_note = note.strip()
    db.flush()


# --- deliveries -----------------------------------------------------------------------------


def enqueue(db: Session, settings: Settings, applied: Sequence[tuple[Message, Any]]) -> int:
    """The deliveries of a batch's applied messages to the active subscriptions of the
    published data sets holding their types, masked now. Returns how many."""
    types = {row.message_type for row, _ in applied}
    if not types:
        return 0
    wanted = db.execute(
        select(Subscription, DataSet, DataSetType.message_type)
        .join(DataSet, DataSet.id == Subscription.data_set_id)
        .join(DataSetType, DataSetType.data_set_id == DataSet.id)
        .join(Consumer, Consumer.id == Subscription.consumer_id)
        .where(
            Subscription.status == SubscriptionStatus.ACTIVE.value,
            DataSet.status == "published",
            DataSetType.message_type.in_(sorted(types)),
            Consumer.status == "active",
            Consumer.endpoint != "",  # a consumer without an address only queries
        )
    ).all()
    if not wanted:
        return 0
    codes = dict(
        db.execute(
            select(Institution.id, Institution.code).where(
                Institution.id.in_({r.institution_id for r, _ in applied if r.institution_id})
            )
        ).all()
    )
    now = utcnow()
    made = 0
    for row, data in applied:
        for subscription, data_set, message_type in wanted:
            if message_type != row.message_type:
                continue
            shared = record(
                settings, subscription, data_set, row, codes.get(row.institution_id or 0), data
            )
            queue(db, subscription, shared, now, message_row_id=row.id)
            made += 1
    db.flush()
    return made


def queue(
    db: Session,
    subscription: Subscription,
    shared: Mapping[str, Any],
    now: dt.datetime,
    *,
    message_row_id: int | None = None,
    record_key: int | None = None,
    head: Mapping[str, Any] | None = None,
) -> Delivery:
    """A delivery of ``shared`` (a record as :func:`record` or :func:`derived_record` made it)
    to ``subscription``, due now: its body the record under a new ``delivery_id`` (and
    ``head``'s keys, a derived record's ``event``), kept as it will be sent."""
    delivery_id = str(uuid.uuid4())
    delivery = Delivery(
        subscription_id=subscription.id,
        message_row_id=message_row_id,
        record_key=record_key,
        delivery_id=delivery_id,
        payload={"delivery_id": delivery_id, **(head or {}), **shared},
        status="pending",
        next_at=now,
        created_at=now,
    )
    db.add(delivery)
    return delivery


def backoff(attempts: int) -> dt.timedelta:
    wait: dt.timedelta = FIRST_WAIT * (2 ** max(attempts - 1, 0))
    return min(wait, LONGEST_WAIT)


def body_of(payload: Mapping[str, Any]) -> bytes:
    """The bytes a delivery is POSTed as: the same for every attempt (keys sorted, so a
    database that reorders a JSON document's keys changes nothing)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


def is_masked(payload: Mapping[str, Any]) -> bool:
    """A delivery goes without the message's ``ledger`` reference exactly when it is masked
    (:func:`record`)."""
    return "ledger" not in payload


def notarise_batches(db: Session, chosen: Sequence[tuple[int, int, Mapping[str, Any]]]) -> int:
    """Notarise the masked deliveries among ``chosen`` (``(id, subscription id, payload)``)
    that have no proof yet: one leaf per subscription (:data:`BATCH_ENTRY_TYPE`) whose entry
    holds the RFC 9162 Merkle root (SHA-256) of their bodies' SHA-256, in the order of their
    ids, and each delivery its place in that tree. The entry names the data set, the consumer
    and how many; never the messages (a message's leaf holds its unmasked body's hash) nor a
    body's content. In ``db``'s transaction, committed by the caller. Returns how many
    leaves."""
    groups: dict[int, list[tuple[int, bytes]]] = {}
    for delivery_id, subscription_id, payload in sorted(chosen, key=lambda c: c[0]):
        if is_masked(payload):
            groups.setdefault(subscription_id, []).append(
                (delivery_id, hashlib.sha256(body_of(payload)).digest())
            )
    if not groups:
        return 0
    waiting = set(
        db.scalars(
            select(Delivery.id).where(
                Delivery.id.in_([d for group in groups.values() for d, _ in group]),
                Delivery.proof.is_(None),
            )
        )
    )
    made = 0
    for subscription_id, group in sorted(groups.items()):
        group = [(d, digest) for d, digest in group if d in waiting]
        if not group:
            continue
        leaves = [merkle.leaf_hash(digest) for _, digest in group]
        subscription = db.get_one(Subscription, subscription_id)
        data_set = db.get_one(DataSet, subscription.data_set_id)
        receipt = ledger.notarise(
            db,
            BATCH_ENTRY_TYPE,
            {
                "data_set": data_set.code,
                "consumer_id": subscription.consumer_id,
                "deliveries": len(group),
                "root": merkle.root_hash(leaves).hex(),
            },
        )
        for position, (delivery_id, digest) in enumerate(group):
            proof = {
                "index": receipt.index,
                "size": len(group),
                "position": position,
                "path": [h.hex() for h in merkle.inclusion_proof(leaves, position, len(group))],
                "sha256": digest.hex(),
            }
            db.execute(
                update(Delivery)
                .where(Delivery.id == delivery_id, Delivery.proof.is_(None))
                .values(proof=proof)
            )
        made += 1
    return made


def proof_header(proof: Mapping[str, Any]) -> str:
    """The ``JCJG-Ledger-Proof`` header of a masked delivery: its batch's leaf in the log
    (``entry_type``, ``index``) and its path to the batch's root (``size``, ``position``,
    ``path``). The body's own hash is left for the consumer to compute."""
    return json.dumps(
        {
            "entry_type": BATCH_ENTRY_TYPE,
            "index": proof["index"],
            "size": proof["size"],
            "position": proof["position"],
            "path": proof["path"],
        },
        separators=(",", ":"),
    )


def _post(
    client: httpx.Client,
    settings: Settings,
    endpoint: str,
    payload: Mapping[str, Any],
    proof: Mapping[str, Any] | None = None,
) -> str | None:
    """POST one delivery, signed (with its batch proof when masked); None when the consumer
    took it (2xx), else why not (its answer's body is never read)."""
    why = endpoint_problem(endpoint, settings)
    if why:
        return why
    key_id, key = signing_key(settings)
    body = body_of(payload)
    extra: dict[str, str] = {}
    if is_masked(payload):
        if proof is None or proof.get("sha256") != hashlib.sha256(body).hexdigest():
            return "推送内容未存证，暂不发送"  # never post a masked body the log does not hold
        extra[PROOF_HEADER] = proof_header(proof)
    try:
        headers = (
            signed_headers(
                "POST",
                endpoint,
                key_id=key_id,
                key=load_key("ed25519", key),
                body=body,
                content_type="application/json",
            )
            | extra
        )
        with client.stream("POST", endpoint, content=body, headers=headers) as answer:
            status = answer.status_code
    except httpx.TimeoutException:
        return f"对方 {TIMEOUT_SECONDS:g} 秒内未答复"
    except httpx.ConnectError:
        return "无法连接接收地址"
    except Exception:
        log.warning("delivery to %s failed", endpoint, exc_info=True)
        return "网络错误，未能送达"
    if 200 <= status < 300:
        return None
    return f"对方答复 HTTP {status}"


def deliver_due(
    db: Session, settings: Settings, now: dt.datetime | None = None, limit: int = BATCH
) -> tuple[int, int]:
    """Post the deliveries that are due, of active subscriptions of active consumers, at most
    :data:`PER_CONSUMER` each per run (a slow consumer does not hold the others up), outside
    any write transaction: read, commit, then each post and its outcome written at once.
    A masked delivery is notarised (:func:`notarise_batches`, one leaf per subscription)
    before its first post, in one short transaction. Returns ``(delivered, failed)``."""
    now = now or utcnow()
    due = db.execute(
        select(
            Delivery.id,
            Delivery.payload,
            Consumer.endpoint,
            Delivery.attempts,
            Consumer.id,
            Delivery.subscription_id,
            Delivery.proof,
        )
        .join(Subscription, Subscription.id == Delivery.subscription_id)
        .join(Consumer, Consumer.id == Subscription.consumer_id)
        .where(
            Delivery.status == DeliveryStatus.PENDING.value,
            Delivery.next_at <= now,
            Subscription.status == SubscriptionStatus.ACTIVE.value,
            Consumer.status == "active",
            Consumer.endpoint != "",
        )
        .order_by(Delivery.next_at, Delivery.id)
        .limit(limit * 4)
    ).all()
    db.commit()
    taken: dict[int, int] = {}
    chosen: list[Any] = []
    for row in due:
        if taken.get(row[4], 0) < PER_CONSUMER and len(chosen) < limit:
            taken[row[4]] = taken.get(row[4], 0) + 1
            chosen.append(row)
    proofs = {r[0]: r[6] for r in chosen}
    unproven = [(r[0], r[5], r[1]) for r in chosen if r[6] is None and is_masked(r[1])]
    if unproven and notarise_batches(db, unproven):
        db.commit()
        proofs |= dict(
            db.execute(
                select(Delivery.id, Delivery.proof).where(
                    Delivery.id.in_([d for d, _, _ in unproven])
                )
            ).all()
        )
        db.commit()
    delivered = failed = 0
    with httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False) as client:
        for delivery_id, payload, endpoint, attempts, *_rest in chosen:
            error = _post(client, settings, endpoint, payload, proofs.get(delivery_id))
            done = utcnow()
            if error is None:
                values: dict[str, Any] = {
                    "status": DeliveryStatus.DELIVERED.value,
                    "attempts": attempts + 1,
                    "delivered_at": done,
                    "last_error": "",
                }
                delivered += 1
            else:
                dead = attempts + 1 >= MAX_ATTEMPTS
                values = {
                    "status": (DeliveryStatus.DEAD if dead else DeliveryStatus.PENDING).value,
                    "attempts": attempts + 1,
                    "last_error": error,
                    "next_at": done + backoff(attempts + 1),
                }
                failed += 1
            db.execute(update(Delivery).where(Delivery.id == delivery_id).values(**values))
            db.commit()
    return delivered, failed


def replay(db: Session, deliveries: Iterable[Delivery]) -> int:
    """Put dead deliveries back in the queue, due now."""
    count = 0
    for delivery in deliveries:
        if delivery.status != DeliveryStatus.DEAD:
            continue
        delivery.status, delivery.attempts, delivery.next_at = (
            DeliveryStatus.PENDING.value,
            0,
            utcnow(),
        )
        count += 1
    db.flush()
    return count
