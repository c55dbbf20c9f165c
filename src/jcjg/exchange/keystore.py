"""HMAC secrets at rest: sealed with AES-256-GCM under a key derived from JCJG_SECRET_KEY, or
with SM4-GCM under an HKDF-SM3 key when ``JCJG_CRYPTO=sm`` (GB/T 39786).

Ed25519 public keys need no protection; HMAC secrets do, since whoever reads one can sign as
the lab. The sealing key is HKDF-SHA256 of the platform secret, so a database dump alone does
not give the secrets away. Rotating JCJG_SECRET_KEY makes stored HMAC keys unusable: rotate
the clients' keys (``jcjg clients rotate``) at the same time, or prefer Ed25519.

An SM4 seal starts with the marker ``SM4G``, then its 12-byte nonce; an AES seal is the nonce
then the ciphertext. Either opens whatever the profile now is, so switching ``JCJG_CRYPTO``
loses nothing: secrets sealed before stay readable, new ones are sealed the new way.
"""

from __future__ import annotations

import functools
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"jcjg exchange hmac secret v1"
_SM4_INFO = b"jcjg exchange sealed secret sm4 v1"
_NONCE = 12
_TAG = 16
SM4_MARKER = b"SM4G"
SECRET_BYTES = 32


@functools.lru_cache(maxsize=4)
def _aead(secret_key: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
        secret_key.encode("utf-8")
    )
    return AESGCM(key)


@functools.lru_cache(maxsize=4)
def _sm4_key(secret_key: str) -> bytes:
    return HKDF(algorithm=hashes.SM3(), length=16, salt=None, info=_SM4_INFO).derive(
        secret_key.encode("utf-8")
    )


def _sm4_seal(secret_key: str, secret: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(_NONCE)
    encryptor = Cipher(algorithms.SM4(_sm4_key(secret_key)), modes.GCM(nonce)).encryptor()
    encryptor.authenticate_additional_data(aad)
    body = encryptor.update(secret) + encryptor.finalize()
    return SM4_MARKER + nonce + body + encryptor.tag


def _sm4_unseal(secret_key: str, sealed: bytes, aad: bytes) -> bytes:
    nonce, body = (
        sealed[len(SM4_MARKER) : len(SM4_MARKER) + _NONCE],
        sealed[len(SM4_MARKER) + _NONCE :],
    )
    if len(nonce) != _NONCE or len(body) < _TAG:
        raise InvalidTag
    decryptor = Cipher(
        algorithms.SM4(_sm4_key(secret_key)), modes.GCM(nonce, body[-_TAG:])
    ).decryptor()
    decryptor.authenticate_additional_data(aad)
    return decryptor.update(body[:-_TAG]) + decryptor.finalize()


def new_secret() -> bytes:
    """A fresh 32-byte HMAC secret from the operating system's CSPRNG."""
    return secrets.token_bytes(SECRET_BYTES)


def seal(secret_key: str, secret: bytes, key_id: str, *, sm4: bool = False) -> bytes:
    """Encrypt ``secret`` (with SM4-GCM when ``sm4``, else AES-256-GCM); the key id is bound as
    associated data (no swapping rows)."""
    if sm4:
        return _sm4_seal(secret_key, secret, key_id.encode("utf-8"))
    nonce = secrets.token_bytes(_NONCE)
    return nonce + _aead(secret_key).encrypt(nonce, secret, key_id.encode("utf-8"))


def unseal(secret_key: str, sealed: bytes, key_id: str) -> bytes:
    """Decrypt what :func:`seal` made; raises ``cryptography.exceptions.InvalidTag`` if the
    platform secret changed or the row was tampered with."""
    if sealed.startswith(SM4_MARKER):
        try:
            return _sm4_unseal(secret_key, sealed, key_id.encode("utf-8"))
        except InvalidTag:
            pass  # one AES nonce in 2**32 starts with the marker: try it as AES
    return _aead(secret_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], key_id.encode("utf-8"))
