"""A consumer's own access to shared data (000 7.1.5 2: 查询与订阅 … 直接查看、下载、交换和调用):
query services and bulk packages over the published data sets (docs/sharing.md).

The consumer signs each request with its Ed25519 key (RFC 9421, as labs sign theirs; verified
by the exchange's code: :func:`jcjg.exchange.signatures.verify_request` and its policy), its
``keyid`` the one its page shows. Its **grant** to a data set is its subscription: active for
a public set at once, for a conditional one only after another officer approved it; a
restricted set is never served. What it reads is masked by that subscription's policy
through :func:`sharing.record`, the code that makes its deliveries. Each answered request is
kept (:class:`Access`: who, which set, filters, rows), a package also in the log."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core import shared
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    AppError,
    FieldError,
    NotFound,
    ValidationFailed,
    problem_type,
)
from jcjg.core.workdays import beijing_date
from jcjg.exchange import problems as exchange_problems
from jcjg.exchange.auth import (
    REQUIRED,
    REQUIRED_WITH_BODY,
    check_digest,
    record_nonce,
    refusal,
    signed_request,
)
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Message
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.signatures import (
    ALG_ED25519,
    SignatureError,
    VerifyingKey,
    check_policy,
    verify_request,
    verifying_key,
)
from jcjg.governance import sharing
from jcjg.governance.choices import AccessKind, DataGrade, SubscriptionStatus
from jcjg.governance.models import Access, Consumer, DataSet, Subscription
from jcjg.ledger import service as ledger
from jcjg.tenancy.models import Institution

PREFIX = "/exchange/v1/sharing"
DEFAULT_LIMIT = 20
MAX_LIMIT = 100  # items in one page of a query
PACKAGE_DAYS = 366  # the longest period of a package
PACKAGE_ROWS = 50_000  # the most rows in one package
PACKAGE_FORMAT = "jcjg-sharing-package/1"
PACKAGE_ENTRY = "share_package:issue"
BEIJING = dt.timezone(dt.timedelta(hours=8))  # statutory days are Beijing ones, UTC+8 all year
_INSTITUTION = re.compile(r"[A-Za-z0-9-]{1,40}")
_REGION = re.compile(r"[0-9]{2}([0-9]{2}){0,2}")
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

NOT_GRANTED = problem_type(
    "sharing-not-granted",
    403,
    "未获准使用该数据集",
    "共享对象没有该数据集的订阅：请向平台申请，经登记（有条件共享的还须审核同意）后方可查询和下载。",
)
PENDING = problem_type(
    "sharing-pending",
    403,
    "申请尚待审核",
    "有条件共享的数据集须经平台另一名工作人员审核同意后方可使用；申请未获批准或订阅停止时也不能使用。",
)
RESTRICTED = problem_type(
    "sharing-restricted", 403, "数据集不予共享", "该数据集的共享级别为不予共享，不能查询或下载。"
)
WITHDRAWN = problem_type(
    "sharing-withdrawn",
    410,
    "数据集已撤销",
    "该数据集已从数据目录撤销，不再提供查询、订阅和数据包。",
)
CONSUMER_SUSPENDED = problem_type(
    "sharing-consumer-suspended", 403, "共享对象已暂停", "该共享对象已被暂停，暂不能查询或下载。"
)


# --- who is asking --------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    consumer: Consumer
    key_id: str


def authenticate(db: Session, settings: Settings, request: Request, body: bytes = b"") -> Caller:
    """The consumer whose registered key signed ``request`` (RFC 9421: ``@method`` and
    ``@target-uri`` covered, with a body also ``content-digest`` and ``content-type``;
    ``created`` within the exchange's window, ``keyid``, a fresh ``nonce``), or the
    exchange's 401 problem for each refusal."""
    found: dict[str, Consumer] = {}

    def resolve(key_id: str) -> VerifyingKey | None:
        if not key_id.startswith(sharing.KEY_ID_PREFIX):
            return None
        consumer = db.scalar(select(Consumer).where(Consumer.key_id == key_id))
        if consumer is None or not consumer.public_key:
            return None
        found["consumer"] = consumer
        return verifying_key(ALG_ED25519, base64.b64decode(consumer.public_key))

    sreq = signed_request(request)
    now = utcnow()
    try:
        verified = verify_request(sreq, resolve_key=resolve)
        check_policy(
            verified,
            required=REQUIRED_WITH_BODY if body else REQUIRED,
            now=int(now.timestamp()),
            max_skew=settings.exchange_max_skew_seconds,
        )
    except SignatureError as exc:
        raise refusal(exc) from exc
    check_digest(sreq, body, bool(body))  # a Content-Digest sent must fit the body
    consumer = found["consumer"]
    if consumer.status != "active":
        raise AppError(kind=CONSUMER_SUSPENDED)
    nonce = verified.nonce or ""
    if len(nonce) > 128:
        raise ExchangeError(exchange_problems.SIGNATURE_MALFORMED, "nonce 不得超过 128 个字符")
    record_nonce(db, str(verified.keyid), nonce, now)  # the same signed request twice: 401
    return Caller(consumer, str(verified.keyid))


def _shared(db: Session, code: str) -> DataSet:
    """The published data set ``code``: 404 for a set not in the published catalogue, 410 for
    a withdrawn one, 403 for a restricted one (never shared)."""
    data_set = db.scalar(
        select(DataSet).where(DataSet.code == code[:40], DataSet.status != "draft")
    )
    if data_set is None:
        raise NotFound(f"没有已发布的数据集“{code[:40]}”")
    if data_set.status == "withdrawn":
        when = (
            f"于 {data_set.updated_at.astimezone(BEIJING):%Y-%m-%d} " if data_set.updated_at else ""
        )
        raise AppError(
            f"数据集“{data_set.name}”已{when}从数据目录撤销，不再提供查询、订阅和数据包。",
            kind=WITHDRAWN,
        )
    if data_set.grade == DataGrade.RESTRICTED:
        raise AppError(kind=RESTRICTED)
    return data_set


def grant(db: Session, consumer: Consumer, code: str) -> tuple[DataSet, Subscription]:
    """The published data set ``code`` and ``consumer``'s active subscription to it; 404 for
    a set that is not in the published catalogue, 403 otherwise (restricted, no grant of its
    own, not approved yet)."""
    data_set = _shared(db, code)
    subscription = db.scalar(
        select(Subscription).where(
            Subscription.consumer_id == consumer.id, Subscription.data_set_id == data_set.id
        )
    )
    if subscription is None:
        raise AppError(kind=NOT_GRANTED)
    if subscription.status != SubscriptionStatus.ACTIVE:
        detail = {
            SubscriptionStatus.PENDING.value: "申请尚待审核，审核同意后方可使用。",
            SubscriptionStatus.REJECTED.value: "使用该数据集的申请未获批准。",
            SubscriptionStatus.SUSPENDED.value: "数据集调整共享级别后订阅已中止，请重新申请。",
        }.get(subscription.status, "该订阅已停止。")
        raise AppError(detail, kind=PENDING)
    return data_set, subscription


# --- filters --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    institution_code: str = ""
    message_type: str = ""  # one of a set's types (a set of several)
    region_code: str = ""
    received_from: dt.date | None = None
    received_to: dt.date | None = None
    limit: int = DEFAULT_LIMIT
    after: int = 0

    def audited(self) -> dict[str, Any]:
        """What the access record keeps (the filters given)."""
        out: dict[str, Any] = {
            k: v
            for k, v in (
                ("message_type", self.message_type),
                ("institution_code", self.institution_code),
                ("region_code", self.region_code),
            )
            if v
        }
        for key in ("received_from", "received_to"):
            if (day := getattr(self, key)) is not None:
                out[key] = day.isoformat()
        return out

    def query(self, after: int) -> str:
        """The query string of the page after ``after``."""
        return urlencode({**self.audited(), "limit": self.limit, "after": after})


QUERY_KEYS = (
    "message_type",
    "institution_code",
    "region_code",
    "received_from",
    "received_to",
    "limit",
    "after",
)
PACKAGE_KEYS = ("message_type", "institution_code", "region_code", "received_from", "received_to")


def _day(raw: str, key: str, errors: list[FieldError]) -> dt.date | None:
    if not raw:
        return None
    try:
        if not _DAY.match(raw):
            raise ValueError(raw)
        return dt.date.fromisoformat(raw)
    except ValueError:
        errors.append(FieldError(key, "须为日期，如 2026-11-01", "date"))
        return None


def _whole(raw: str, key: str, low: int, high: int, why: str, errors: list[FieldError]) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:  # "²".isdigit(), int("²") fails
        errors.append(FieldError(key, "须为正整数", "int_parsing"))
        return low
    value = int(raw)
    if not low <= value <= high:
        errors.append(FieldError(key, why, "range"))
    return value


def filters(
    params: Mapping[str, str], allowed: tuple[str, ...], types: Sequence[str] = ()
) -> Filters:
    """The query string's filters, every problem refused at once (422 in Chinese): an
    unknown parameter, a message type the data set (of ``types``) does not hold, an
    institution code or region code of the wrong form, a date that is not one, a period
    backwards, a page of more than :data:`MAX_LIMIT` items."""
    errors: list[FieldError] = []
    for key in params:
        if key not in allowed:
            errors.append(FieldError(key[:40], "没有这个查询条件", "unknown"))
    message_type = params.get("message_type", "").strip()
    if message_type and message_type not in types:
        errors.append(FieldError("message_type", f"数据集只含：{'、'.join(types)}", "message_type"))
    institution = params.get("institution_code", "").strip()
    if institution and not _INSTITUTION.fullmatch(institution):
        errors.append(FieldError("institution_code", "检测机构编号格式不正确", "pattern"))
    region = params.get("region_code", "").strip()
    if region and not _REGION.fullmatch(region):
        errors.append(FieldError("region_code", "行政区划代码须为 2、4 或 6 位数字", "pattern"))
    start = _day(params.get("received_from", "").strip(), "received_from", errors)
    end = _day(params.get("received_to", "").strip(), "received_to", errors)
    if start and end and start > end:
        errors.append(FieldError("received_to", "截止日期不得早于起始日期", "range"))
    limit = DEFAULT_LIMIT
    if "limit" in params:
        limit = _whole(params["limit"], "limit", 1, MAX_LIMIT, f"每页 1–{MAX_LIMIT} 条", errors)
    after = 0
    if "after" in params:
        after = _whole(params["after"], "after", 0, 2**31 - 1, "翻页位置不正确", errors)
    if errors:
        raise ValidationFailed("查询条件不正确", errors=errors)
    while len(region) > 2 and region.endswith("00"):  # 360400: the city's whole region
        region = region[:-2]
    return Filters(institution, message_type, region, start, end, limit, after)


def _selected(data_set: DataSet, chosen: Filters) -> Select[Message, str]:
    stmt = (
        select(Message, Institution.code)
        .outerjoin(Institution, Institution.id == Message.institution_id)
        .where(
            Message.message_type.in_(
                [chosen.message_type] if chosen.message_type else data_set.message_types
            ),
            Message.status == MessageStatus.APPLIED.value,
        )
    )
    if chosen.institution_code:
        stmt = stmt.where(Institution.code == chosen.institution_code)
    if chosen.region_code:
        stmt = stmt.where(Message.region_code.startswith(chosen.region_code, autoescape=True))
    if chosen.received_from:
        start = dt.datetime.combine(chosen.received_from, dt.time(), BEIJING)
        stmt = stmt.where(Message.received_at >= start.astimezone(dt.UTC))
    if chosen.received_to:
        end = dt.datetime.combine(chosen.received_to + dt.timedelta(days=1), dt.time(), BEIJING)
        stmt = stmt.where(Message.received_at < end.astimezone(dt.UTC))
    return stmt


def _audit(
    db: Session,
    caller: Caller,
    data_set: DataSet,
    kind: AccessKind,
    audited: dict[str, Any],
    rows: int,
    **more: Any,
) -> Access:
    row = Access(
        consumer_id=caller.consumer.id,
        data_set_id=data_set.id,
        kind=kind.value,
        key_id=caller.key_id,
        filters=audited,
        rows=rows,
        at=utcnow(),
        **more,
    )
    db.add(row)
    db.flush()
    return row


# --- query ----------------------------------------------------------------------------------


def query(
    db: Session, settings: Settings, caller: Caller, code: str, params: Mapping[str, str]
) -> dict[str, Any]:
    """A page of the data set's records for ``caller``, masked by its subscription, oldest
    first: ``items``, ``count`` and ``next`` (the address of the following page, or null)."""
    data_set, subscription = grant(db, caller.consumer, code)
    chosen = filters(params, QUERY_KEYS, data_set.message_types)
    if (source := sharing.derived_source(data_set)) is not None:
        return _derived_query(db, settings, caller, data_set, subscription, source, chosen)
    found = db.execute(
        _selected(data_set, chosen)
        .where(Message.id > chosen.after)
        .order_by(Message.id)
        .limit(chosen.limit + 1)
    ).all()
    page = found[: chosen.limit]
    items = [
        sharing.record(settings, subscription, data_set, row, institution_code)
        for row, institution_code in page
    ]
    more = len(found) > chosen.limit
    return _answered(db, caller, data_set, chosen, items, page[-1][0].id if more else None)


def _answered(
    db: Session,
    caller: Caller,
    data_set: DataSet,
    chosen: Filters,
    items: list[dict[str, Any]],
    last: int | None,
) -> dict[str, Any]:
    """A page of ``items`` as the query service answers it, the access audited; ``last``: the
    key of the page's last record when more follow (the next page's link), else None."""
    following = None
    if last is not None:
        following = f"{PREFIX}/data-sets/{data_set.code}/records?{chosen.query(last)}"
    audited = {**chosen.audited(), "limit": chosen.limit}
    if chosen.after:
        audited["after"] = chosen.after
    _audit(db, caller, data_set, AccessKind.QUERY, audited, len(items))
    return {"data_set": data_set.code, "count": len(items), "items": items, "next": following}


def _source_filters(chosen: Filters) -> shared.SourceFilters:
    return shared.SourceFilters(
        institution_code=chosen.institution_code,
        region_code=chosen.region_code,
        day_from=chosen.received_from,
        day_to=chosen.received_to,
    )


def _derived_query(
    db: Session,
    settings: Settings,
    caller: Caller,
    data_set: DataSet,
    subscription: Subscription,
    source: shared.SharedSource,
    chosen: Filters,
) -> dict[str, Any]:
    """A page of a derived source's records (published today: a decision within its
    publicity period), masked by the subscription; ``received_from`` and ``received_to``
    select by the record's day."""
    found = source.rows(
        db, _source_filters(chosen), beijing_date(utcnow()), chosen.after, chosen.limit + 1
    )
    page = found[: chosen.limit]
    items = [sharing.derived_record(settings, subscription, data_set, row) for row in page]
    more = len(found) > chosen.limit
    return _answered(db, caller, data_set, chosen, items, page[-1].key if more else None)


def catalogue(db: Session, caller: Caller) -> dict[str, Any]:
    """The published catalogue as ``caller`` may use it: each set's grade and its access
    (``granted``, ``pending``, ``refused``, ``none``; a restricted set ``restricted``)."""
    mine = dict(
        db.execute(
            select(Subscription.data_set_id, Subscription.status).where(
                Subscription.consumer_id == caller.consumer.id
            )
        ).all()
    )
    access = {
        SubscriptionStatus.ACTIVE.value: "granted",
        SubscriptionStatus.PENDING.value: "pending",
    }
    items = []
    for row in db.scalars(
        select(DataSet).where(DataSet.status == "published").order_by(DataSet.code)
    ):
        status = mine.get(row.id)
        if row.grade == DataGrade.RESTRICTED:
            state = "restricted"
        elif status is None:
            state = "none"
        else:
            state = access.get(status, "refused")
        items.append(
            {
                "code": row.code,
                "name": row.name,
                "category": row.category,
                "description": row.description,
                "grade": row.grade,
                "message_type": row.message_type,
                "message_types": row.message_types,
                "access": state,
            }
        )
    return {"consumer": caller.consumer.name, "items": items}


# --- applying online -----------------------------------------------------------------------

PURPOSE_LIMIT = 500


def _purpose(body: bytes) -> str:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed("请求体不是合法的 JSON") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("请求体须为 JSON 对象")
    errors = [FieldError(k[:40], "没有这一项", "unknown") for k in data if k != "purpose"]
    purpose = data.get("purpose")
    if not isinstance(purpose, str) or not purpose.strip():
        errors.append(FieldError("purpose", "请写明使用数据的用途", "missing"))
    elif len(purpose) > PURPOSE_LIMIT or any(ord(c) < 32 and c not in "\n\t" for c in purpose):
        errors.append(
            FieldError("purpose", f"用途须为不超过 {PURPOSE_LIMIT} 个字符的文字", "string")
        )
    if errors:
        raise ValidationFailed(errors=errors)
    return str(purpose).strip()


def apply(db: Session, caller: Caller, code: str, body: bytes) -> dict[str, Any]:
    """The consumer asks for a data set itself (``{"purpose": …}``): a subscription whose
    policy masks every personal field, active at once for a public set, waiting for an
    officer's approval for a conditional one; a restricted set is never shared (403), a set
    pending or in force is 409, one refused or stopped before waits for an officer again.
    The purpose is kept with the access record the reviewer reads."""
    purpose = _purpose(body)
    data_set = _shared(db, code)
    before = db.scalar(
        select(Subscription.status).where(
            Subscription.consumer_id == caller.consumer.id,
            Subscription.data_set_id == data_set.id,
        )
    )
    row = sharing.place(
        db,
        caller.consumer,
        data_set,
        masking=sharing.personal_policy(db, data_set),
        words=None,
        # asked for again after a refusal or a stop: an officer decides, whatever the grade
        pending=data_set.grade == DataGrade.CONDITIONAL or before is not None,
        requested_by_id=None,  # the consumer itself: any approver may decide
    )
    _audit(db, caller, data_set, AccessKind.APPLY, {"purpose": purpose}, 0)
    return {"data_set": data_set.code, "status": row.status, "masking": row.masking}


def purposes(db: Session, consumer_id: int) -> dict[int, str]:
    """The purpose of each data set ``consumer_id`` applied for online (the latest)."""
    rows = db.execute(
        select(Access.data_set_id, Access.filters)
        .where(Access.consumer_id == consumer_id, Access.kind == AccessKind.APPLY.value)
        .order_by(Access.id)
    ).all()
    return {data_set_id: str(filters.get("purpose", "")) for data_set_id, filters in rows}


# --- bulk packages --------------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    name: str
    content: bytes
    manifest_sha256: str
    ledger_index: int
    rows: int


def _lines(
    db: Session,
    settings: Settings,
    stmt: Select[Message, str],
    subscription: Subscription,
    ds: DataSet,
) -> Iterator[bytes]:
    for row, institution_code in db.execute(
        stmt.order_by(Message.id).execution_options(yield_per=500)
    ):
        item = sharing.record(settings, subscription, ds, row, institution_code)
        yield json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _period(chosen: Filters) -> tuple[dt.date, dt.date]:
    """A package's period: both days given, at most :data:`PACKAGE_DAYS` long."""
    start, end = chosen.received_from, chosen.received_to
    if start is None or end is None:
        missing = [k for k in ("received_from", "received_to") if getattr(chosen, k) is None]
        raise ValidationFailed(
            "请给出数据包期间的起止日期",
            errors=[FieldError(k, "请给出期间的起止日期", "missing") for k in missing],
        )
    if (end - start).days >= PACKAGE_DAYS:
        raise ValidationFailed(
            errors=[FieldError("received_to", f"期间不得超过 {PACKAGE_DAYS} 天", "range")]
        )
    return start, end


def package(
    db: Session, settings: Settings, caller: Caller, code: str, params: Mapping[str, str]
) -> Package:
    """The data set's records of a period (``received_from`` to ``received_to``, Beijing days,
    at most :data:`PACKAGE_DAYS`) as ``caller`` may have them, in a zip: ``records.jsonl``
    (one masked record a line), ``manifest.json`` (what the package holds, each file's SHA-256),
    ``manifest.sig`` (the platform's sharing key's Ed25519 signature of the manifest, base64)
    and ``ledger.json`` (the log's receipt for the manifest's SHA-256, notarised now)."""
    data_set, subscription = grant(db, caller.consumer, code)
    chosen = filters(params, PACKAGE_KEYS, data_set.message_types)
    start, end = _period(chosen)
    source = sharing.derived_source(data_set)
    if source is not None:
        derived = source.rows(
            db, _source_filters(chosen), beijing_date(utcnow()), 0, PACKAGE_ROWS + 1
        )
        total = len(derived)
    else:
        stmt = _selected(data_set, chosen)
        total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    if total > PACKAGE_ROWS:
        raise ValidationFailed(
            "数据过多",
            errors=[
                FieldError(
                    "received_to",
                    f"该期间有 {total} 条，超过 {PACKAGE_ROWS} 条：请缩短期间",
                    "range",
                )
            ],
        )
    if source is not None:
        records = b"".join(
            json.dumps(
                sharing.derived_record(settings, subscription, data_set, row),
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            + b"\n"
            for row in derived
        )
    else:
        records = b"".join(_lines(db, settings, stmt, subscription, data_set))
    key_id, key = sharing.signing_key(settings)
    manifest = {
        "format": PACKAGE_FORMAT,
        "data_set": {
            "code": data_set.code,
            "name": data_set.name,
            "grade": data_set.grade,
            "message_types": data_set.message_types,
        },
        "consumer": {"name": caller.consumer.name, "key_id": caller.key_id},
        "filters": chosen.audited(),
        "created_at": utcnow().isoformat(),
        "rows": total,
        "files": [
            {
                "name": "records.jsonl",
                "bytes": len(records),
                "sha256": hashlib.sha256(records).hexdigest(),
            }
        ],
        "key_id": key_id,
    }
    manifest_bytes = json.dumps(manifest, ensure_ascii=False, indent=1).encode()
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    signature = base64.b64encode(key.sign(manifest_bytes)).decode()
    receipt = ledger.notarise(
        db,
        PACKAGE_ENTRY,
        {"data_set": data_set.code, "consumer_id": caller.consumer.id, "manifest_sha256": digest},
    )
    made = utcnow().astimezone(BEIJING)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in (
            ("records.jsonl", records),
            ("manifest.json", manifest_bytes),
            ("manifest.sig", signature.encode()),
            ("ledger.json", json.dumps(receipt.as_dict(), ensure_ascii=False, indent=1).encode()),
        ):
            member = zipfile.ZipInfo(name, date_time=made.timetuple()[:6])
            archive.writestr(member, content, compress_type=zipfile.ZIP_DEFLATED)
    _audit(
        db,
        caller,
        data_set,
        AccessKind.PACKAGE,
        chosen.audited(),
        total,
        manifest_sha256=digest,
        ledger_index=receipt.index,
    )
    name = f"{data_set.code}-{start:%Y%m%d}-{end:%Y%m%d}.zip"
    return Package(name, buffer.getvalue(), digest, receipt.index, total)
