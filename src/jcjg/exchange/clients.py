"""Clients and their keys: apply, approve, issue, rotate with overlap, revoke (000 6.0.8).

Services never commit: the caller's transaction (a request, or a CLI command) does.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.errors import AppError, Conflict, FieldError, ValidationFailed
from jcjg.exchange import keystore
from jcjg.exchange.choices import ClientKind, ClientStatus
from jcjg.exchange.models import Client, ClientKey
from jcjg.exchange.signatures import (
    ALG_ED25519,
    ALG_HMAC_SHA256,
    ALG_SM2_SM3,
    Ed25519VerifyingKey,
    HmacSha256Key,
    SM2VerifyingKey,
    VerifyingKey,
)
from jcjg.ledger.sm import SMUnavailable
from jcjg.tenancy.models import Institution

ALGORITHMS = (ALG_ED25519, ALG_HMAC_SHA256, ALG_SM2_SM3)
PUBLIC_KEY_ALGORITHMS = (ALG_ED25519, ALG_SM2_SM3)
"""The lab makes the key pair and uploads only its public key."""


@dataclass(frozen=True)
class IssuedKey:
    """A key just issued. ``secret`` (HMAC only) is shown once and never stored in clear."""

    key: ClientKey
    secret: bytes | None

    def as_dict(self) -> dict[str, str | None]:
        key = self.key
        return {
            "client_id": str(key.client_id),
            "key_id": key.key_id,
            "alg": key.alg,
            "valid_from": _iso(key.valid_from),
            "valid_until": _iso(key.valid_until),
            "secret": base64.b64encode(self.secret).decode() if self.secret else None,
            "public_key": (
                base64.b64encode(key.key_material).decode()
                if key.alg in PUBLIC_KEY_ALGORITHMS
                else None
            ),
        }


def _iso(moment: dt.datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def parse_sm2_public_key(data: bytes) -> bytes:
    """An SM2 public key as its 65-byte uncompressed point, from PEM, raw bytes or base64."""
    try:
        text = data if len(data) == 65 else data.strip()
        if not text.startswith(b"-----BEGIN") and len(text) != 65:
            text = base64.b64decode(text, validate=True)
        return SM2VerifyingKey(text).public_bytes
    except SMUnavailable as exc:
        raise AppError(str(exc)) from exc
    except ValueError as exc:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "public_key",
                    "公钥格式不正确：请提供 SM2 公钥（PEM 格式，或 65 字节未压缩点的 Base64）",
                )
            ]
        ) from exc


def parse_public_key(data: bytes) -> bytes:
    """An Ed25519 public key as raw 32 bytes, from PEM (SubjectPublicKeyInfo), raw bytes, or
    base64 of the raw bytes. Raises ValidationFailed in Chinese.

    Exactly 32 bytes are the raw key, whatever they hold (they may begin or end with bytes that
    look like white space); PEM and base64 are text and are trimmed."""
    try:
        if len(data) == 32:
            raw = data
        else:
            text = data.strip()
            if text.startswith(b"-----BEGIN"):
                key = load_pem_public_key(text)
                if not isinstance(key, Ed25519PublicKey):
                    raise ValueError("not ed25519")
                return key.public_bytes_raw()
            raw = base64.b64decode(text, validate=True)
        Ed25519PublicKey.from_public_bytes(raw)
        return raw
    except (ValueError, UnsupportedAlgorithm) as exc:  # e.g. a PEM of another curve (SM2)
        raise ValidationFailed(
            errors=[
                FieldError(
                    "public_key",
                    "公钥格式不正确：请提供 Ed25519 公钥（PEM 格式，或 32 字节原始公钥的 Base64）",
                )
            ]
        ) from exc


def public_key_alg(raw: bytes) -> str:
    """The algorithm of a raw public key: 32 bytes are Ed25519, a 65-byte point is SM2."""
    return ALG_SM2_SM3 if len(raw) == 65 else ALG_ED25519


def parse_any_public_key(data: bytes) -> bytes:
    """An Ed25519 or SM2 public key (PEM, raw, or base64 of raw) as raw bytes; which one
    `public_key_alg` tells. Raises ValidationFailed in Chinese."""
    try:
        return parse_public_key(data)
    except ValidationFailed:
        pass
    try:
        return parse_sm2_public_key(data)
    except (ValidationFailed, AppError) as exc:  # AppError: no SM2 here (the sm extra)
        raise ValidationFailed(
            errors=[
                FieldError(
                    "public_key",
                    "公钥格式不正确：请提供 Ed25519 或 SM2 公钥（PEM 格式，或原始公钥的 Base64）",
                )
            ]
        ) from exc


def new_key_id(client: Client) -> str:
    """A fresh key id: the client's number and 12 random hex digits (``c7-3f09a1b2c4d5``)."""
    return f"c{client.id}-{secrets.token_hex(6)}"


def create_client(
    db: Session,
    *,
    name: str,
    institution: Institution | None,
    region_code: str | None = None,
    kind: ClientKind = ClientKind.LIMS,
    status: ClientStatus = ClientStatus.PENDING,
    applied_by_id: int | None = None,
    vendor: str | None = None,
    contact_name: str | None = None,
    contact_phone: str | None = None,
    purpose: str | None = None,
) -> Client:
    """A new client: a LIMS of ``institution``, or a platform peer covering ``region_code``."""
    if kind == ClientKind.LIMS:
        if institution is None:
            raise ValidationFailed(errors=[FieldError("institution", "业务系统须属于一家检测机构")])
        region_code = institution.region_code
    elif not region_code:
        raise ValidationFailed(errors=[FieldError("region_code", "其他平台须指定所覆盖的行政区划")])
    client = Client(
        name=name,
        kind=kind.value,
        institution_id=institution.id if institution is not None else None,
        region_code=region_code,
        status=status.value,
        applied_by_id=applied_by_id,
        vendor=vendor,
        contact_name=contact_name,
        contact_phone=contact_phone,
        purpose=purpose,
    )
    db.add(client)
    db.flush()
    return client


def decide(
    db: Session, client: Client, *, approve: bool, user_id: int | None, note: str | None = None
) -> None:
    """Approve or reject a pending application (approving an approved one is a conflict)."""
    if client.status != ClientStatus.PENDING:
        raise Conflict("该接入申请已处理，不能重复审批")
    client.status = (ClientStatus.ACTIVE if approve else ClientStatus.REJECTED).value
    client.decided_by_id = user_id
    client.decided_at = utcnow()
    client.decision_note = note
    db.flush()


MAX_RATE_LIMIT = 600_000  # ten thousand a second: beyond what one platform process answers


def configured_rate(settings: Settings, client_id: int, institution_code: str | None) -> int | None:
    """A client's limit a minute in JCJG_EXCHANGE_CLIENT_RATE_LIMITS, by its number as in its
    key ids (``c12``), else by its institution's code; None when neither is there."""
    overrides = settings.exchange_client_rate_limits
    if overrides:
        for name in (f"c{client_id}", institution_code):
            if name and name in overrides:
                return overrides[name]
    return None


def set_rate_limit(db: Session, client: Client, text: str) -> None:
    """The client's own limit of requests a minute from a form's text: a whole number of 1 to
    :data:`MAX_RATE_LIMIT`; blank: the platform's default again (422 naming the field)."""
    text = text.strip()
    if not text:
        client.rate_limit_per_minute = None
    elif (
        len(text) > len(str(MAX_RATE_LIMIT))
        or not text.isascii()
        or not text.isdecimal()
        or not 1 <= int(text) <= MAX_RATE_LIMIT
    ):
        says = f"请填写 1 到 {MAX_RATE_LIMIT} 之间的整数，或留空使用平台默认值"
        raise ValidationFailed(errors=[FieldError("rate_limit_per_minute", says)])
    else:
        client.rate_limit_per_minute = int(text)
    db.flush()


def set_suspended(db: Session, client: Client, suspended: bool) -> None:
    """Suspend an active client (all its requests refused) or resume it."""
    wanted, current = (
        (ClientStatus.SUSPENDED, ClientStatus.ACTIVE)
        if suspended
        else (ClientStatus.ACTIVE, ClientStatus.SUSPENDED)
    )
    if client.status != current:
        raise Conflict(f"只有“{current.label}”的接入才能改为“{wanted.label}”")
    client.status = wanted.value
    db.flush()


def issue_key(
    db: Session,
    client: Client,
    settings: Settings,
    *,
    alg: str,
    public_key: bytes | None = None,
    valid_from: dt.datetime | None = None,
    valid_until: dt.datetime | None = None,
) -> IssuedKey:
    """Issue a key. ``ed25519`` needs the client's public key (its private key never leaves
    the lab); ``hmac-sha256`` gets a fresh 32-byte secret, returned once."""
    if alg not in ALGORITHMS:
        raise ValidationFailed(
            errors=[FieldError("alg", "签名算法只能是 ed25519、sm2-sm3 或 hmac-sha256")]
        )
    if client.status != ClientStatus.ACTIVE:
        raise Conflict("接入申请尚未批准或已停用，不能签发密钥")
    now = utcnow()
    valid_from = valid_from or now
    valid_until = valid_until or valid_from + dt.timedelta(days=settings.exchange_key_days)
    if valid_until <= valid_from:
        raise ValidationFailed(errors=[FieldError("valid_until", "失效时间须晚于生效时间")])
    key_id = new_key_id(client)
    secret: bytes | None = None
    if alg in PUBLIC_KEY_ALGORITHMS:
        if public_key is None:
            name = "Ed25519" if alg == ALG_ED25519 else "SM2"
            raise ValidationFailed(errors=[FieldError("public_key", f"{name} 须上传机构的公钥")])
        material = (
            parse_public_key(public_key) if alg == ALG_ED25519 else parse_sm2_public_key(public_key)
        )
        taken = db.scalar(
            select(ClientKey.id).where(ClientKey.key_material == material, ClientKey.alg == alg)
        )
        if taken is not None:
            raise Conflict("该公钥已登记过：每把密钥只能用于一处")
    else:
        if public_key is not None:
            raise ValidationFailed(errors=[FieldError("public_key", "HMAC 密钥由平台生成，不上传")])
        secret = keystore.new_secret()
        material = keystore.seal(settings.secret_key, secret, key_id, sm4=settings.crypto == "sm")
    key = ClientKey(
        client_id=client.id,
        institution_id=client.institution_id,
        region_code=client.region_code,
        key_id=key_id,
        alg=alg,
        key_material=material,
        valid_from=valid_from,
        valid_until=valid_until,
    )
    db.add(key)
    db.flush()
    return IssuedKey(key, secret)


def rotate(
    db: Session,
    client: Client,
    settings: Settings,
    *,
    alg: str | None = None,
    public_key: bytes | None = None,
    overlap_days: int | None = None,
) -> IssuedKey:
    """Issue a successor key; keys valid now stay valid for the overlap, then expire."""
    now = utcnow()
    current = [k for k in client.keys if k.state(now) in {"valid", "not_yet_valid"}]
    if alg is None:
        alg = current[-1].alg if current else ALG_ED25519
    issued = issue_key(db, client, settings, alg=alg, public_key=public_key)
    days = settings.exchange_rotation_overlap_days if overlap_days is None else overlap_days
    end = now + dt.timedelta(days=days)
    for key in current:
        if key.valid_until is None or key.valid_until > end:
            key.valid_until = end
    db.flush()
    return issued


def revoke(db: Session, key: ClientKey, reason: str) -> None:
    """Revoke a key at once; requests signed with it are refused from now on."""
    if key.revoked_at is not None:
        raise Conflict("该密钥已吊销")
    if not reason.strip():
        raise ValidationFailed(errors=[FieldError("reason", "请填写吊销原因")])
    key.revoked_at = utcnow()
    key.revoke_reason = reason.strip()[:200]
    db.flush()


def verifier_of(settings: Settings, alg: str, key_id: str, material: bytes) -> VerifyingKey:
    """The verifier of a key stored as ``alg`` and ``material`` (an HMAC secret is unsealed)."""
    if alg == ALG_ED25519:
        return Ed25519VerifyingKey(material)
    if alg == ALG_SM2_SM3:
        return SM2VerifyingKey(material)
    try:
        return HmacSha256Key(keystore.unseal(settings.secret_key, material, key_id))
    except Exception as exc:  # InvalidTag: the platform secret changed under the sealed key
        raise AppError("该 HMAC 密钥无法解封（平台密钥已更换？），请轮换密钥") from exc


def find_client(db: Session, ident: str) -> Client | None:
    """A client by id, or by one of its key ids."""
    if ident.isdecimal():
        return db.get(Client, int(ident))
    key = db.scalar(select(ClientKey).where(ClientKey.key_id == ident))
    return key.client if key is not None else None
