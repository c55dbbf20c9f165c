"""Server side of request signing: a Starlette request checked against RFC 9421 and RFC 9530.

:func:`read_body` enforces the size limit while reading; :func:`authenticate` verifies the
signature, the key's state and the client's, the policy (required components, created within
the window, expires, nonce present), the body's Content-Digest, and records the nonce so the
same signature cannot be replayed. Each refusal raises an :class:`ExchangeError` with its own
stable problem type; nothing is written when it does (the request's transaction rolls back).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.errors import TOO_LARGE, AppError
from jcjg.core.openapi import answers
from jcjg.core.ratelimit import RATE_LIMIT_HEADERS, TOO_MANY
from jcjg.exchange import cache, problems
from jcjg.exchange.cache import ClientInfo, KeyInfo, NeedDatabase
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.clients import verifier_of
from jcjg.exchange.digest import (
    SUPPORTED_ALGORITHMS,
    DigestError,
    parse_content_digest,
    verify_content_digest,
)
from jcjg.exchange.models import SeenNonce
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.signatures import (
    BadSignature,
    CreatedOutOfWindow,
    Expired,
    MalformedRequest,
    MalformedSignature,
    MissingComponent,
    MissingParameter,
    MissingSignature,
    NotYetValid,
    SignatureError,
    UnknownKey,
    UnsupportedAlgorithm,
    UnsupportedComponent,
    Verified,
    VerifyingKey,
    check_policy,
    verify_request,
)
from jcjg.exchange.signatures import Request as SignedRequest

# The OpenAPI document's security schemes for the signed routes (hook
# ``openapi.security_schemes``): those routes verify the signature themselves, in their body,
# and say so with ``openapi_extra=SIGNED``
SIGNATURE = "httpSignature"
SIGNATURE_INPUT = "httpSignatureInput"
SIGNED: dict[str, Any] = {"security": [{SIGNATURE_INPUT: [], SIGNATURE: []}]}
# What every signed route may answer besides its own
SIGNED_ANSWERS = answers(
    {
        401: tuple(kind for kind in problems.ALL if kind.status == 401),
        429: (TOO_MANY,),
    }
)
SIGNED_ANSWERS[429]["headers"] = dict(RATE_LIMIT_HEADERS)


def security_schemes(settings: Settings) -> dict[str, dict[str, str]]:
    """RFC 9421 HTTP Message Signatures as the document can say them: two headers."""
    see = "见数据交换文档“请求签名”（docs/exchange-api/signing.md）。"
    return {
        SIGNATURE_INPUT: {
            "type": "apiKey",
            "in": "header",
            "name": "Signature-Input",
            "description": "RFC 9421 签名参数：覆盖的组件（@method、@target-uri，有请求体时还有 "
            "content-digest 与 content-type）和 created、keyid、nonce（可选 expires、alg）。"
            "有请求体时另带 RFC 9530 Content-Digest 头（sha-256 或 sha-512）。" + see,
        },
        SIGNATURE: {
            "type": "apiKey",
            "in": "header",
            "name": "Signature",
            "description": "RFC 9421 签名值（ed25519 或 hmac-sha256），与 Signature-Input 同标签，"
            "每个请求恰好一个签名。" + see,
        },
    }


REQUIRED = ("@method", "@target-uri")
REQUIRED_WITH_BODY = (*REQUIRED, "content-digest", "content-type")

_KEY_STATES = {
    "revoked": problems.KEY_REVOKED,
    "not_yet_valid": problems.KEY_NOT_YET_VALID,
    "expired": problems.KEY_EXPIRED,
}


@dataclass(frozen=True)
class Caller:
    """Who signed the request, with what, and the body they signed."""

    client: ClientInfo
    key: KeyInfo
    verified: Verified
    body: bytes
    signature_input: str
    signature: str
    # the covered header fields as received (the signature's other inputs: method and URL)
    method: str = "POST"
    url: str = ""
    covered: tuple[tuple[str, str], ...] = ()

    def request_record(self) -> dict[str, Any]:
        """What a forwarded copy needs to verify the signature again (Message.request)."""
        return {"method": self.method, "url": self.url, "headers": [list(h) for h in self.covered]}


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it exceeds ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > limit:
        raise AppError(f"请求体超过 {limit} 字节的上限", kind=TOO_LARGE)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AppError(f"请求体超过 {limit} 字节的上限", kind=TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def signed_request(request: Request) -> SignedRequest:
    """The Starlette request as the signature code sees it (every header line kept apart)."""
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    return SignedRequest(method=request.method, url=str(request.url), headers=headers)


def refusal(exc: SignatureError) -> ExchangeError:
    detail = str(exc)
    if isinstance(exc, MissingSignature):
        return ExchangeError(problems.SIGNATURE_MISSING)
    if isinstance(exc, UnknownKey):
        return ExchangeError(problems.KEY_UNKNOWN)
    if isinstance(exc, BadSignature):
        return ExchangeError(problems.SIGNATURE_INVALID)
    if isinstance(exc, MissingComponent | MissingParameter):
        return ExchangeError(problems.SIGNATURE_INCOMPLETE, f"签名覆盖不全：{detail}")
    if isinstance(exc, Expired):
        return ExchangeError(problems.SIGNATURE_EXPIRED)
    if isinstance(exc, NotYetValid | CreatedOutOfWindow):
        return ExchangeError(problems.SIGNATURE_STALE)
    if isinstance(
        exc, MalformedSignature | MalformedRequest | UnsupportedComponent | UnsupportedAlgorithm
    ):
        return ExchangeError(problems.SIGNATURE_MALFORMED, f"签名格式错误：{detail}"[:300])
    return ExchangeError(problems.SIGNATURE_MALFORMED)


class BodyHash:
    """SHA-256, SHA-512 and SHA-1 of a body fed in chunks (bodies streamed to disk)."""

    def __init__(self) -> None:
        self.size = 0
        self._hashes = {
            "sha-256": hashlib.sha256(),
            "sha-512": hashlib.sha512(),
            "sha1": hashlib.sha1(usedforsecurity=False),
        }

    def update(self, chunk: bytes) -> None:
        self.size += len(chunk)
        for h in self._hashes.values():
            h.update(chunk)

    def digest(self, alg: str) -> bytes:
        return self._hashes[alg].digest()

    def matches_content_digest(self, value: str) -> bool:
        """RFC 9530: every supported algorithm named in ``value`` matches, at least one."""
        try:
            digests = parse_content_digest(value)
        except DigestError:
            return False
        checked = False
        for alg, expected in digests.items():
            if alg not in SUPPORTED_ALGORITHMS:
                continue
            if not hmac.compare_digest(self.digest(alg), expected):
                return False
            checked = True
        return checked


def authenticate(
    db: Session | None,
    settings: Settings,
    request: Request,
    body: bytes | BodyHash,
    *,
    also_required: tuple[str, ...] = (),
    now: dt.datetime | None = None,
    remember_nonce: bool = True,
) -> Caller:
    """Verify the request's signature and its body's Content-Digest (``body`` as bytes, or as
    the hashes of a body streamed elsewhere); record the nonce (with ``remember_nonce`` false
    it is left to the caller: a message's nonce is stored with the message, and a replay is
    refused then). Raises ExchangeError; with ``db`` None, :class:`NeedDatabase` when the key
    is not in memory (:mod:`jcjg.exchange.cache`)."""
    has_body = body.size > 0 if isinstance(body, BodyHash) else bool(body)
    caller, sreq = authenticate_headers(
        db,
        settings,
        request,
        has_body=has_body,
        also_required=also_required,
        now=now,
        remember_nonce=remember_nonce,
    )
    check_digest(sreq, body, has_body)
    if isinstance(body, bytes):
        caller = dataclasses.replace(caller, body=body)
    return caller


def authenticate_headers(
    db: Session | None,
    settings: Settings,
    request: Request,
    *,
    has_body: bool,
    also_required: tuple[str, ...] = (),
    now: dt.datetime | None = None,
    remember_nonce: bool = True,
) -> tuple[Caller, SignedRequest]:
    """Everything but the body: the signature (over the Content-Digest header as sent), the
    key's and client's state, the policy and the nonce. A body streamed afterwards is then
    checked against that header with :func:`check_digest`, so nobody without a key can make
    the platform take in a large body."""
    now = now or utcnow()
    found: dict[str, KeyInfo] = {}

    def resolve(key_id: str) -> VerifyingKey | None:
        key = cache.KEYS.get(key_id)
        if key is cache.MISSING:
            if db is None:
                raise NeedDatabase
            key = cache.load_key(db, key_id, functools.partial(verifier_of, settings))
        if key is None:
            return None
        found["key"] = key
        return key.verifier

    try:
        sreq = signed_request(request)
        verified = verify_request(sreq, resolve_key=resolve)
        key = found["key"]
        # Only a verified signature names its client: refusals before this point are not
        # charged to the key they claim (anyone can name anyone's key id).
        request.state.exchange_key = key
        state = key.state(now)
        if state in _KEY_STATES:
            raise ExchangeError(_KEY_STATES[state])
        if key.client.status != ClientStatus.ACTIVE:
            raise ExchangeError(problems.CLIENT_INACTIVE)
        required = (REQUIRED_WITH_BODY if has_body else REQUIRED) + also_required
        check_policy(
            verified,
            required=required,
            now=int(now.timestamp()),
            max_skew=settings.exchange_max_skew_seconds,
        )
    except SignatureError as exc:
        raise refusal(exc) from exc
    nonce = verified.nonce or ""
    if len(nonce) > 128:
        raise ExchangeError(problems.SIGNATURE_MALFORMED, "nonce 不得超过 128 个字符")
    if remember_nonce:
        assert db is not None
        record_nonce(db, key.key_id, nonce, now)
    caller = Caller(
        client=key.client,
        key=key,
        verified=verified,
        body=b"",
        signature_input=", ".join(sreq.field_values("signature-input")),
        signature=", ".join(sreq.field_values("signature")),
        method=sreq.method,
        url=sreq.url,
        covered=tuple(
            (name, ", ".join(sreq.field_values(name)))
            for name in verified.covered
            if not name.startswith("@") and sreq.field_values(name)
        ),
    )
    return caller, sreq


def check_digest(sreq: SignedRequest, body: bytes | BodyHash, has_body: bool) -> None:
    """The body must match its signed Content-Digest (RFC 9530)."""
    if not has_body and not sreq.field_values("content-digest"):
        return
    try:
        value = sreq.component_value("content-digest")
        if isinstance(body, BodyHash):
            ok = body.matches_content_digest(value)
        else:
            ok = verify_content_digest(value, body)
    except (DigestError, SignatureError):
        ok = False
    if not ok:
        raise ExchangeError(problems.DIGEST_MISMATCH)


def record_nonce(db: Session, key_id: str, nonce: str, now: dt.datetime) -> None:
    try:
        with db.begin_nested():
            db.execute(insert(SeenNonce).values(key_id=key_id, nonce=nonce, seen_at=now))
    except IntegrityError as exc:
        raise ExchangeError(problems.NONCE_REPLAYED) from exc
