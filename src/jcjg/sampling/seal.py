"""The electronic seal's statement and its verification (000 2.0.16).

The statement is RFC 8785 canonical JSON (``jcjg.ledger.canonical``), so a verifier outside
the platform re-derives the same bytes from the same facts. It names the sample, the project,
the sampler and the witness, the time and place of sealing, the SHA-256 of every photo of the
chain and the perceptual hash of the sample photo. The witness's phone signs those exact bytes
with its Ed25519 key (WebCrypto, private key not extractable); anyone holding the statement,
the signature and the witness's published public key verifies it with any Ed25519
implementation, e.g.::

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    Ed25519PublicKey.from_public_bytes(public_key).verify(signature, statement)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from jcjg.ledger.canonical import canonical_json

STATEMENT_TYPE = "jcjg.sample-seal/v1"
PHOTO_ROLES = ("sample", "tag", "sampler", "seal", "witness")


def key_id(public_key: bytes) -> str:
    """A key's id: SHA-256 of its 32 raw bytes, hex."""
    return hashlib.sha256(public_key).hexdigest()


def public_key_problem(raw: bytes) -> str | None:
    if len(raw) != 32:
        return "公钥应为 32 字节的 Ed25519 公钥"
    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return "不是有效的 Ed25519 公钥"
    return None


def statement_bytes(statement: dict[str, Any]) -> bytes:
    return canonical_json(statement)


def parse_statement(data: bytes) -> dict[str, Any]:
    """The statement a client sent back; refuses anything but its canonical form."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("封志声明不是有效的 JSON") from exc
    if not isinstance(value, dict) or value.get("type") != STATEMENT_TYPE:
        raise ValueError("封志声明类型不符")
    if canonical_json(value) != data:
        raise ValueError("封志声明不是规范化 JSON（RFC 8785）")
    return value


def verify(public_key: bytes, statement: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the holder of ``public_key``'s Ed25519 signature of
    ``statement``."""
    if len(signature) != 64:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, statement)
    except (InvalidSignature, ValueError):
        return False
    return True
