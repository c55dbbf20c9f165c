"""HMAC secrets at rest: sealed with AES-256-GCM under a key derived from JCJG_SECRET_KEY.

Ed25519 public keys need no protection; HMAC secrets do, since whoever reads one can sign as
the lab. The sealing key is HKDF-SHA256 of the platform secret, so a database dump alone does
not give the secrets away. Rotating JCJG_SECRET_KEY makes stored HMAC keys unusable: rotate
the clients' keys (``jcjg clients rotate``) at the same time, or prefer Ed25519.
"""

from __future__ import annotations

import functools
import secrets

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"jcjg exchange hmac secret v1"
_NONCE = 12
SECRET_BYTES = 32


@functools.lru_cache(maxsize=4)
def _aead(secret_key: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )
    return AESGCM(key)


def new_secret() -> bytes:
    """A fresh 32-byte HMAC secret from the operating system's CSPRNG."""
    return secrets.token_bytes(SECRET_BYTES)


def seal(secret_key: str, secret: bytes, key_id: str) -> bytes:
    """Encrypt ``secret``; the key id is bound as associated data (no swapping rows)."""
    nonce = secrets.token_bytes(_NONCE)
    return nonce + _aead(secret_key).encrypt(nonce, secret, key_id.encode("utf-8"))


def unseal(secret_key: str, sealed: bytes, key_id: str) -> bytes:
    """Decrypt what :func:`seal` made; raises ``cryptography.exceptions.InvalidTag`` if the
    platform secret changed or the row was tampered with."""
    return _aead(secret_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], key_id.encode("utf-8"))
