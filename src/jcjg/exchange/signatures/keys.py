"""Keys: what signing and verifying need of one (`SigningKey`, `VerifyingKey`), and the
algorithms the platform issues, ``ed25519``, ``hmac-sha256`` and ``sm2-sm3`` (the national
algorithm, `jcjg.ledger.sm`). Any other object with the
`VerifyingKey` shape works too (the tests verify the RFC's RSA and ECDSA examples that way)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from jcjg.exchange.signatures.errors import UnsupportedAlgorithm
from jcjg.ledger.sm import ALG_SM2_SM3, SM2SigningKey, SM2VerifyingKey

ALG_ED25519 = "ed25519"
ALG_HMAC_SHA256 = "hmac-sha256"


class SigningKey(Protocol):
    """What `sign_request` needs of a key: its RFC 9421 algorithm name and a sign function."""

    @property
    def alg(self) -> str: ...

    def sign(self, base: bytes) -> bytes: ...


class VerifyingKey(Protocol):
    """What `verify_request` needs of a key: its algorithm name and a verify function."""

    @property
    def alg(self) -> str: ...

    def verify(self, base: bytes, signature: bytes) -> bool: ...


class Ed25519SigningKey:
    """An Ed25519 private key (``ed25519``), from a key object or its raw 32-byte seed."""

    __slots__ = ("_key",)

    def __init__(self, key: Ed25519PrivateKey | bytes) -> None:
        if isinstance(key, bytes):
            if len(key) != 32:
                raise ValueError("a raw Ed25519 private key is 32 bytes")
            key = Ed25519PrivateKey.from_private_bytes(key)
        elif not isinstance(key, Ed25519PrivateKey):
            raise TypeError("expected an Ed25519PrivateKey or its 32 raw bytes")
        self._key = key

    @property
    def alg(self) -> str:
        return ALG_ED25519

    def sign(self, base: bytes) -> bytes:
        """The 64-byte Ed25519 signature of `base` (deterministic)."""
        return self._key.sign(base)

    def verifying_key(self) -> Ed25519VerifyingKey:
        """The matching public key."""
        return Ed25519VerifyingKey(self._key.public_key())

    def __repr__(self) -> str:
        return f"Ed25519SigningKey(public={self.verifying_key().public_bytes.hex()})"


class Ed25519VerifyingKey:
    """An Ed25519 public key (``ed25519``), from a key object or its raw 32 bytes."""

    __slots__ = ("_key",)

    def __init__(self, key: Ed25519PublicKey | bytes) -> None:
        if isinstance(key, bytes):
            if len(key) != 32:
                raise ValueError("a raw Ed25519 public key is 32 bytes")
            key = Ed25519PublicKey.from_public_bytes(key)
        elif not isinstance(key, Ed25519PublicKey):
            raise TypeError("expected an Ed25519PublicKey or its 32 raw bytes")
        self._key = key

    @property
    def alg(self) -> str:
        return ALG_ED25519

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte public key."""
        return self._key.public_bytes_raw()

    def verify(self, base: bytes, signature: bytes) -> bool:
        """True iff `signature` is this key's Ed25519 signature of `base`."""
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, base)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"Ed25519VerifyingKey({self.public_bytes.hex()})"


class HmacSha256Key:
    """A shared secret for ``hmac-sha256``; signs and verifies. At least 32 bytes (RFC 2104
    recommends no less than the hash output: a shorter secret is easier to guess than to forge).
    """

    __slots__ = ("_secret",)
    MIN_SECRET_BYTES = 32

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes):
            raise TypeError("an HMAC secret is bytes")
        if len(secret) < self.MIN_SECRET_BYTES:
            raise ValueError(f"an HMAC secret has at least {self.MIN_SECRET_BYTES} bytes")
        self._secret = secret

    @property
    def alg(self) -> str:
        return ALG_HMAC_SHA256

    def sign(self, base: bytes) -> bytes:
        """HMAC-SHA256 of `base` (32 bytes)."""
        return hmac.new(self._secret, base, hashlib.sha256).digest()

    def verify(self, base: bytes, signature: bytes) -> bool:
        """True iff `signature` is the HMAC of `base`, compared in constant time."""
        return hmac.compare_digest(self.sign(base), signature)

    def __repr__(self) -> str:
        return "HmacSha256Key(<secret>)"  # never print the secret


def signing_key(alg: str, key: Ed25519PrivateKey | bytes) -> SigningKey:
    """A signing key for `alg` from a key object or raw bytes (HMAC: the secret)."""
    if alg == ALG_ED25519:
        return Ed25519SigningKey(key)
    if alg == ALG_SM2_SM3:
        return SM2SigningKey(key)
    if alg == ALG_HMAC_SHA256:
        if not isinstance(key, bytes):
            raise TypeError("an hmac-sha256 key is the secret's bytes")
        return HmacSha256Key(key)
    raise UnsupportedAlgorithm(alg)


def verifying_key(alg: str, key: Ed25519PublicKey | bytes) -> VerifyingKey:
    """A verifying key for `alg` from a key object or raw bytes (HMAC: the secret)."""
    if alg == ALG_ED25519:
        return Ed25519VerifyingKey(key)
    if alg == ALG_SM2_SM3:
        if not isinstance(key, bytes):
            raise TypeError("an sm2-sm3 key is its 65-byte point")
        return SM2VerifyingKey(key)
    if alg == ALG_HMAC_SHA256:
        if not isinstance(key, bytes):
            raise TypeError("an hmac-sha256 key is the secret's bytes")
        return HmacSha256Key(key)
    raise UnsupportedAlgorithm(alg)
