"""Signing requests for the platform (RFC 9421 + RFC 9530), with no web framework.

:func:`signed_headers` returns the headers to add to a request: ``Content-Digest`` (when there
is a body), ``Signature-Input`` and ``Signature``, covering ``@method``, ``@target-uri`` and, with
a body, ``content-digest`` and ``content-type``, with parameters ``created``, ``keyid`` and a
fresh random ``nonce``. This is all a vendor's implementation in another language must do;
docs/exchange-api/signing.md walks through one example byte by byte.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.exchange.digest import content_digest
from jcjg.exchange.signatures import (
    ALG_ED25519,
    ALG_HMAC_SHA256,
    ALG_SM2_SM3,
    Ed25519SigningKey,
    HmacSha256Key,
    Request,
    SigningKey,
    SM2SigningKey,
    sign_request,
)

COVERED = ("@method", "@target-uri")
COVERED_WITH_BODY = ("@method", "@target-uri", "content-digest", "content-type")
SIGNED_UPLOAD_HEADERS = frozenset(
    {"upload-offset", "upload-length", "upload-metadata", "upload-checksum"}
)


def load_key(alg: str, material: str | bytes | Ed25519PrivateKey) -> SigningKey:
    """A signing key from what the platform issued: for ``hmac-sha256`` the secret (bytes, or
    its base64 text as printed by ``jcjg clients create``); for ``ed25519`` the private key
    (a key object, PEM bytes/text, or the raw 32-byte seed or its base64); for ``sm2-sm3``
    (the ``sm`` extra: ``pip install 'jcjg[sm]'``) the SM2 private key as PKCS #8 PEM, or its
    32-byte scalar or that scalar's base64."""
    if alg == ALG_HMAC_SHA256:
        secret = material if isinstance(material, bytes) else None
        if isinstance(material, str):
            secret = base64.b64decode(material.strip(), validate=True)
        if secret is None:
            raise TypeError("an hmac-sha256 key is the secret's bytes or base64 text")
        return HmacSha256Key(secret)
    if alg == ALG_ED25519:
        if isinstance(material, Ed25519PrivateKey):
            return Ed25519SigningKey(material)
        data = material.encode() if isinstance(material, str) else material
        if data.lstrip().startswith(b"-----BEGIN"):
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            key = load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("the PEM file does not hold an Ed25519 private key")
            return Ed25519SigningKey(key)
        if len(data) == 32:
            return Ed25519SigningKey(data)
        return Ed25519SigningKey(base64.b64decode(data.strip(), validate=True))
    if alg == ALG_SM2_SM3:
        if isinstance(material, Ed25519PrivateKey):
            raise TypeError("an sm2-sm3 key is SM2, not Ed25519")
        data = material.encode() if isinstance(material, str) else material
        if data.lstrip().startswith(b"-----BEGIN") or len(data) == 32:
            return SM2SigningKey(data)
        return SM2SigningKey(base64.b64decode(data.strip(), validate=True))
    raise ValueError(f"unsupported algorithm {alg!r}; use ed25519, sm2-sm3 or hmac-sha256")


def infer_alg(material: str | bytes | Ed25519PrivateKey) -> str:
    """The algorithm a key's material implies, for callers who do not name it.

    An ``Ed25519PrivateKey`` or PEM text is ``ed25519`` (``sm2-sm3`` when the PEM holds an SM2
    key); other text (the base64 secret that
    ``jcjg clients create`` prints) and bytes longer than 32 are an ``hmac-sha256`` secret.
    Exactly 32 raw bytes are ambiguous, since both an Ed25519 seed and the platform's HMAC
    secrets are 32 bytes long, so they raise: a wrong guess would only surface as a 401 from
    the server, far from the mistake. The base64 of an Ed25519 seed is read as an HMAC secret
    for the same reason the platform prints HMAC secrets that way: pass ``alg`` for seeds.
    """
    if isinstance(material, Ed25519PrivateKey):
        return ALG_ED25519
    data = material.encode() if isinstance(material, str) else material
    if data.lstrip().startswith(b"-----BEGIN"):
        return ALG_SM2_SM3 if _is_sm2_pem(data) else ALG_ED25519
    if isinstance(material, str):
        return ALG_HMAC_SHA256
    if len(data) == 32:
        raise ValueError(
            "32 raw bytes may be an Ed25519 seed or an HMAC secret: "
            "name the algorithm (alg='ed25519' or alg='hmac-sha256')"
        )
    return ALG_HMAC_SHA256


def _is_sm2_pem(data: bytes) -> bool:
    """Whether PEM private key text holds an SM2 key (its curve's OID 1.2.156.10197.1.301)."""
    import re

    body = b"".join(re.findall(rb"^([A-Za-z0-9+/=]+)\r?$", data, flags=re.MULTILINE))
    try:
        der = base64.b64decode(body)
    except ValueError:
        return False
    return bytes.fromhex("06082a811ccf5501822d") in der


def signed_headers(
    method: str,
    url: str,
    *,
    key_id: str,
    key: SigningKey,
    body: bytes | None = None,
    content_type: str | None = None,
    headers: Mapping[str, str] | None = None,
    created: int | None = None,
    nonce: str | None = None,
    expires_in: int | None = None,
    digest_alg: str = "sha-256",
) -> dict[str, str]:
    """The headers that sign this request (merged over ``headers``, which are signed as
    given). With a body, ``content_type`` is required and ``Content-Digest`` is added. The
    tus headers among ``headers`` (``Upload-Offset``, ``Upload-Length``, ``Upload-Metadata``,
    ``Upload-Checksum``) are covered too: the platform acts on them, so it requires them signed.
    """
    out = dict(headers or {})
    covered: tuple[str, ...] = COVERED
    if body:
        if not content_type:
            raise ValueError("a request with a body needs its content type")
        out["Content-Type"] = content_type
        out["Content-Digest"] = content_digest(body, digest_alg)
        covered = COVERED_WITH_BODY
    covered += tuple(
        sorted({name.lower() for name in out if name.lower() in SIGNED_UPLOAD_HEADERS})
    )
    created = int(time.time()) if created is None else created
    signature = sign_request(
        Request(method=method.upper(), url=url, headers=list(out.items())),
        key_id=key_id,
        alg=key.alg,
        key=key,
        covered=covered,
        created=created,
        expires=created + expires_in if expires_in else None,
        nonce=nonce if nonce is not None else secrets.token_urlsafe(16),
    )
    out.update(signature)
    return out
