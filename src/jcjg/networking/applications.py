"""A platform applies online to become this one's child (000 6.0.7: 检测监管平台应向上级检测监管平台
申请接入服务，包括接口服务地址、认证方式、密钥等信息), and the province's operators decide.

The applicant sends its address, its log's verifier key, the Ed25519 public key it will forward
with and a contact (``POST /exchange/v1/platform-applications``), signed (RFC 9421) with that
very key: ``keyid`` ``apply-`` and the first 32 hex digits of the key's SHA-256, so whoever
applies holds the private key; and a note signed with its log's own key over this parent's log
and that key id (``log_proof``), so whoever applies holds the log (a log key and an address are
public: anyone could name another platform's). It asks how its application stands with the same
key (``GET /exchange/v1/platform-applications/{reference}``). Approving checks that the address
serves the log key the application names (the log is reached there), then registers the child
(:func:`service.register_child`) with the applicant's key: the answer then carries the key id
to forward with and this platform's own log key. docs/networking.md, 申请接入.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Request
from pydantic import ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core import patterns
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    AppError,
    Conflict,
    FieldError,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.ratelimit import TOO_MANY
from jcjg.core.text import MultiLine, TextModel
from jcjg.exchange import problems as exchange_problems
from jcjg.exchange.auth import REQUIRED, REQUIRED_WITH_BODY, check_digest, refusal, signed_request
from jcjg.exchange.clients import public_key_alg
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.signatures import (
    SignatureError,
    UnknownKey,
    check_policy,
    verify_request,
    verifying_key,
)
from jcjg.ledger import service as ledger
from jcjg.ledger.note import NoteError, Verifier, open_note
from jcjg.networking import problems, service
from jcjg.networking.choices import ApplicationStatus
from jcjg.networking.models import Application, Child
from jcjg.regions.models import Region

APPLICATIONS_PATH = "/exchange/v1/platform-applications"
MAX_BODY = 32 * 1024
KEY_ID_PREFIX = "apply-"
ADDRESS_TIMEOUT = 5.0  # seconds to fetch the applicant's /ledger/key when approving

_Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class ApplicationIn(TextModel):
    """The body of an application (every field checked strictly, unknown fields refused)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: _Text = Field(min_length=1, max_length=100, description="平台名称")
    region_code: str = Field(pattern=r"^[0-9]{6}$", description="所辖行政区划代码")
    base_url: str = Field(min_length=1, max_length=200, description="平台访问地址")
    log_key: str = Field(min_length=1, max_length=300, description="存证日志公钥（/ledger/key）")
    public_key: MultiLine = Field(
        min_length=1,
        max_length=4096,
        description="转发签名的公钥（Ed25519，或国密 SM2）：PEM，或原始公钥的 base64",
    )
    log_proof: MultiLine = Field(
        min_length=1,
        max_length=2000,
        description="以存证日志的签名密钥对“jcjg-platform-application、本平台日志名称、keyid”签名的"
        "签名便笺（C2SP signed note）：证明申请者掌握该日志",
    )
    contact_name: _Text = Field(min_length=1, max_length=50, description="联系人")
    contact_phone: str = Field(pattern=rf"^({patterns.MOBILE}|{patterns.PHONE})$")
    contact_email: str | None = Field(
        default=None, max_length=100, pattern=rf"^{patterns.EMAIL}$", description="电子邮箱"
    )
    note: MultiLine | None = Field(default=None, max_length=500, description="说明")


MAX_PENDING = 100  # applications waiting at once: beyond, new ones wait for decisions


def proof_text(parent_origin: str, key_id: str) -> str:
    """What the applicant's log key signs: this application, to this parent, with this key."""
    return f"jcjg-platform-application\n{parent_origin}\n{key_id}\n"


def _check_proof(proof: str, log_key: str, key_id: str) -> FieldError | None:
    """The applicant holds its log's private key: ``proof`` is a note signed by ``log_key``
    over :func:`proof_text` for this platform's log and the applying key."""
    try:
        note = open_note(proof.encode(), [Verifier(log_key.strip())])
    except NoteError:
        return FieldError("log_proof", "日志签名证明无法用申请中的存证日志公钥核验")
    if note.text != proof_text(ledger.log_identity().origin, key_id):
        return FieldError("log_proof", "日志签名证明不是对本平台、本次申请密钥的签名")
    return None


def key_id_for(public_key: bytes) -> str:
    """The ``keyid`` an applicant signs with: ``apply-`` and 32 hex digits of its key's hash."""
    return KEY_ID_PREFIX + hashlib.sha256(public_key).hexdigest()[:32]


def _verify(settings: Settings, request: Request, body: bytes, public_key: bytes) -> None:
    """The request is signed with ``public_key``'s private half, over its body."""
    wanted = key_id_for(public_key)
    sreq = signed_request(request)
    try:
        verified = verify_request(
            sreq,
            resolve_key=lambda kid: (
                verifying_key(public_key_alg(public_key), public_key) if kid == wanted else None
            ),
        )
        check_policy(
            verified,
            required=REQUIRED_WITH_BODY if body else REQUIRED,
            now=int(utcnow().timestamp()),
            max_skew=settings.exchange_max_skew_seconds,
        )
    except UnknownKey as exc:
        raise ExchangeError(problems.APPLICATION_KEY_MISMATCH) from exc
    except SignatureError as exc:
        raise refusal(exc) from exc
    check_digest(sreq, body, bool(body))


def require_signature(request: Request) -> None:
    """401 for a request with no signature at all, before its body or its address is read."""
    if "signature" not in request.headers or "signature-input" not in request.headers:
        raise ExchangeError(exchange_problems.SIGNATURE_MISSING)


def parse(body: bytes) -> ApplicationIn:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValidationFailed("请求体不是合法的 JSON") from exc
    if not isinstance(data, dict):
        raise ValidationFailed("请求体须为 JSON 对象")
    try:
        return ApplicationIn.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


@dataclass(frozen=True)
class Submitted:
    application: Application
    created: bool  # False: the same key's application was sent again


def _checked_fields(db: Session, data: ApplicationIn, raw: bytes) -> tuple[str, str]:
    """The address and the log's origin, every field's problem refused at once: the region
    exists, the address and the log key are well formed, the log key signed the proof."""
    errors: list[FieldError] = []
    found = {"base_url": "", "log_key": ""}
    if db.get(Region, data.region_code) is None:
        errors.append(FieldError("region_code", f"行政区划“{data.region_code}”不存在"))
    for name, check in (("base_url", service.check_base_url), ("log_key", service.log_origin)):
        try:
            found[name] = check(getattr(data, name))
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    if found["log_key"] and (
        problem := _check_proof(data.log_proof, data.log_key, key_id_for(raw))
    ):
        errors.append(problem)
    if errors:
        raise ValidationFailed(errors=errors)
    return found["base_url"], found["log_key"]


def _refuse_another(db: Session, origin: str) -> None:
    """A log already a child, or already waiting under another key; or too many waiting."""
    if db.scalar(select(Child.id).where(Child.log_origin == origin)) is not None:
        raise ExchangeError(problems.APPLICATION_EXISTS, f"日志“{origin}”已登记为下级平台")
    pending = select(Application.id).where(
        Application.log_origin == origin, Application.status == ApplicationStatus.PENDING
    )
    if db.scalar(pending) is not None:
        raise ExchangeError(problems.APPLICATION_EXISTS, f"日志“{origin}”已有待审批的接入申请")
    waiting = select(func.count()).where(Application.status == ApplicationStatus.PENDING)
    if (db.scalar(waiting) or 0) >= MAX_PENDING:
        raise AppError(
            f"待审批的接入申请已有 {MAX_PENDING} 份，请稍后再申请或联系上级平台运维人员",
            kind=TOO_MANY,
            headers={"Retry-After": "3600"},
        )


def submit(db: Session, settings: Settings, request: Request, body: bytes) -> Submitted:
    """Check, verify and keep an application; the same key sending again gets its own back."""
    require_signature(request)
    data = parse(body)
    try:
        raw = service.check_public_key(data.public_key.encode())
    except AppError as exc:
        raise ValidationFailed(errors=[FieldError("public_key", str(exc.detail))]) from exc
    assert raw is not None
    _verify(settings, request, body, raw)
    base_url, origin = _checked_fields(db, data, raw)
    same_key = db.scalar(select(Application).where(Application.public_key == raw))
    if same_key is not None:
        if same_key.log_origin != origin:
            raise Conflict("该公钥已用于另一份接入申请：每把密钥只能用于一处")
        return Submitted(same_key, created=False)
    _refuse_another(db, origin)
    row = Application(
        reference=secrets.token_urlsafe(18),
        name=data.name,
        region_code=data.region_code,
        base_url=base_url,
        log_key=data.log_key.strip(),
        log_origin=origin,
        public_key=raw,
        contact_name=data.contact_name,
        contact_phone=data.contact_phone,
        contact_email=data.contact_email,
        note=data.note,
    )
    db.add(row)
    db.flush()
    return Submitted(row, created=True)


def find(db: Session, settings: Settings, request: Request, reference: str) -> Application:
    """The application ``reference`` names, for a request signed with its key."""
    require_signature(request)
    row = db.scalar(select(Application).where(Application.reference == reference))
    if row is None:
        raise ExchangeError(problems.APPLICATION_NOT_FOUND)
    try:
        _verify(settings, request, b"", row.public_key)
    except ExchangeError as exc:
        if exc.kind is problems.APPLICATION_KEY_MISMATCH:
            raise ExchangeError(problems.APPLICATION_NOT_FOUND) from exc
        raise
    return row


def answer(db: Session, row: Application, request_base: str) -> dict[str, Any]:
    """What the applicant reads of its application: where it stands and, once approved, how to
    forward (the key id, the address, this platform's log key)."""
    found: dict[str, Any] = {
        "reference": row.reference,
        "status": row.status,
        "name": row.name,
        "region_code": row.region_code,
        "log_origin": row.log_origin,
        "submitted_at": row.created_at.isoformat(),
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
        "reason": row.reason,
        "key_id": None,
        "upstream_url": None,
        "upstream_log_key": None,
    }
    if row.status == ApplicationStatus.APPROVED:
        found["key_id"] = row.key_id
        found["upstream_url"] = request_base.rstrip("/")
        found["upstream_log_key"] = ledger.log_identity().vkey
    return found


MAX_KEY_BYTES = 1024  # a verifier key is about 100 bytes: more is not one


def check_address(base_url: str, log_key: str, timeout: float = ADDRESS_TIMEOUT) -> str | None:
    """None when ``base_url``/ledger/key serves ``log_key``; else why not, in words. At most
    ``MAX_KEY_BYTES`` are read, within ``timeout`` seconds in all, no redirect followed."""
    url = f"{base_url}/ledger/key"
    deadline = time.monotonic() + timeout
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=False) as got:
            if got.status_code != 200:
                return f"{url} 回答 HTTP {got.status_code}"
            data = b""
            for chunk in got.iter_bytes():
                data += chunk
                if len(data) > MAX_KEY_BYTES:
                    return f"{url} 的回答过长，不是日志公钥"
                if time.monotonic() > deadline:
                    return f"访问 {url} 超时（{timeout:g} 秒）"
    except httpx.TimeoutException:
        return f"访问 {url} 超时（{timeout:g} 秒）"
    except httpx.HTTPError:
        return f"无法连接 {url}（地址不存在、拒绝连接或证书不受信任）"
    if data.decode("utf-8", "replace").strip() != log_key.strip():
        return f"{url} 提供的日志公钥与申请中的不同"
    return None


def approve(
    db: Session,
    settings: Settings,
    row: Application,
    principal: Principal,
    *,
    skip_address_check: bool = False,
) -> Child:
    """Register the applicant as a child with its own key. The address must serve the log key
    applied with, unless the operator says it was checked another way (kept on the row)."""
    if row.status != ApplicationStatus.PENDING:
        raise Conflict("该申请已处理")
    if not principal.covers_region(row.region_code) or row.region_code == principal.region_code:
        raise Conflict("只能批准本账号辖区之下的平台接入：申请平台的辖区不在其下")
    if skip_address_check:
        row.address_check = "审批人确认已另行核实地址（未在线核验）"
    else:
        why = check_address(row.base_url, row.log_key)
        if why:
            raise ValidationFailed(
                errors=[FieldError("skip_address_check", f"地址核验未通过：{why}")]
            )
        row.address_check = f"已核验：{row.base_url}/ledger/key 与申请一致"
    made = service.register_child(
        db,
        settings,
        name=row.name,
        region_code=row.region_code,
        base_url=row.base_url,
        log_key=row.log_key,
        public_key=row.public_key,
        user_id=principal.user_id,
    )
    row.status = ApplicationStatus.APPROVED.value
    row.child_id = made.child.id
    row.key_id = made.key.key.key_id
    _decided(row, principal, utcnow())
    db.flush()
    return made.child


def reject(db: Session, row: Application, principal: Principal, reason: str) -> None:
    if row.status != ApplicationStatus.PENDING:
        raise Conflict("该申请已处理")
    reason = reason.strip()
    if not 1 <= len(reason) <= 500:
        raise ValidationFailed(errors=[FieldError("reason", "请写明不批准的理由（500 字以内）")])
    row.status = ApplicationStatus.REJECTED.value
    row.reason = reason
    _decided(row, principal, utcnow())
    db.flush()


def _decided(row: Application, principal: Principal, now: dt.datetime) -> None:
    row.decided_by_id = principal.user_id
    row.decided_at = now
