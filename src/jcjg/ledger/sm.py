"""The national algorithms (GB/T 39786): SM3 hashes and SM2 signatures, for ``JCJG_CRYPTO=sm``.

- SM3 (GB/T 32905) comes from OpenSSL: the standard library's ``hashlib`` when the Python it
  runs on was linked with an OpenSSL that has it, else ``cryptography``'s own OpenSSL.
- SM2 signatures (GB/T 32918.2, with SM3 and the default distinguishing identifier
  ``1234567812345678`` of GM/T 0009) come from ``tongsuopy``, the Python binding of Tongsuo,
  the OpenAtom Foundation's OpenSSL with the national algorithms (constant-time C): neither
  ``cryptography`` nor the standard library signs with SM2. It is an optional dependency
  (``pip install 'jcjg[sm]'``), imported only when an SM2 key is used.

A signature travels as 64 bytes, r || s (32 bytes each, big-endian), as RFC 9421 carries the
ECDSA signatures; a public key as its 65-byte uncompressed point 0x04 || x || y; a private key
as its 32-byte scalar (or PKCS #8 PEM). The RFC 9421 algorithm name ``sm2-sm3`` is the
platform's (docs/exchange-api/signing.md): SM2 over the signature base with SM3 and the default
identifier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

ALG_SM2_SM3 = "sm2-sm3"
DEFAULT_ID = b"1234567812345678"
"""The signer's distinguishing identifier when none is agreed (GM/T 0009-2012 section 10)."""

PUBLIC_KEY_BYTES = 65
PRIVATE_KEY_BYTES = 32
SIGNATURE_BYTES = 64
# The order n of the SM2 recommended curve (GB/T 32918.5): private keys are in [1, n - 2].
_N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123

INSTALL_HINT = "国密算法 SM2 需要 tongsuopy：pip install 'jcjg[sm]'"


class SMUnavailable(RuntimeError):
    """SM2 was asked for and ``tongsuopy`` is not installed."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


def _sm3_factory() -> Callable[[bytes], Any]:
    try:
        hashlib.new("sm3")
    except ValueError:
        from cryptography.hazmat.primitives import hashes

        class _Sm3:
            __slots__ = ("_h",)

            def __init__(self, data: bytes = b"") -> None:
                self._h = hashes.Hash(hashes.SM3())
                self._h.update(data)

            def update(self, data: bytes) -> None:
                self._h.update(data)

            def digest(self) -> bytes:
                return self._h.finalize()

        return _Sm3

    def _hashlib_sm3(data: bytes = b"") -> Any:
        return hashlib.new("sm3", data)

    return _hashlib_sm3


new_sm3: Callable[[bytes], Any] = _sm3_factory()
"""``new_sm3(data)``: an SM3 hash object (``.update``, ``.digest``), as ``hashlib.sha256``."""


def sm3(data: bytes) -> bytes:
    """The 32-byte SM3 digest of ``data``."""
    digest: bytes = new_sm3(data).digest()
    return digest


def _backend() -> tuple[Any, Any, Any, Any]:
    try:
        from tongsuopy.crypto import hashes, serialization
        from tongsuopy.crypto.asymciphers import ec
        from tongsuopy.crypto.exceptions import InvalidSignature
    except ImportError as exc:
        raise SMUnavailable from exc
    return ec, hashes, serialization, InvalidSignature


def _der(r: int, s: int) -> bytes:
    """DER SEQUENCE { INTEGER r, INTEGER s }, which OpenSSL's SM2 signs and verifies."""

    def integer(v: int) -> bytes:
        body = v.to_bytes((v.bit_length() + 8) // 8 or 1, "big")
        return b"\x02" + bytes([len(body)]) + body

    content = integer(r) + integer(s)
    return b"\x30" + bytes([len(content)]) + content


def _raw(der: bytes) -> bytes:
    """r || s (32 bytes each) of a DER signature made by OpenSSL."""
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _load_pem(load: Any, data: bytes, kind: str) -> Any:
    """An SM2 key from PEM; ValueError for anything else (another curve, Ed25519, RSA, junk),
    which Tongsuo reports with exceptions of its own."""
    ec = _backend()[0]
    try:
        key = load(data) if kind == "public" else load(data, password=None)
    except Exception as exc:  # tongsuopy's UnsupportedAlgorithm is no ValueError
        raise ValueError(f"the PEM file does not hold an SM2 {kind} key") from exc
    if not isinstance(getattr(key, "curve", None), ec.SM2):
        raise ValueError(f"the PEM file does not hold an SM2 {kind} key")
    return key


class SM2VerifyingKey:
    """An SM2 public key (``sm2-sm3``), from its 65-byte uncompressed point or PEM."""

    __slots__ = ("_key", "public_bytes")

    def __init__(self, key: bytes | str) -> None:
        ec, _, serialization, _ = _backend()
        data = key.encode("ascii") if isinstance(key, str) else key
        if not isinstance(data, bytes):
            raise TypeError("an SM2 public key is its 65-byte point or PEM")
        if data.lstrip().startswith(b"-----BEGIN"):
            loaded = _load_pem(serialization.load_pem_public_key, data, "public")
            data = loaded.public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
            )
        if len(data) != PUBLIC_KEY_BYTES or data[0] != 0x04:
            raise ValueError("an SM2 public key is 65 bytes: 0x04 || x || y")
        try:
            self._key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SM2(), data)
        except Exception as exc:  # tongsuopy raises its own errors for a point off the curve
            raise ValueError("the SM2 public key is not a point of the curve") from exc
        self.public_bytes = data

    @property
    def alg(self) -> str:
        return ALG_SM2_SM3

    def verify(self, base: bytes, signature: bytes) -> bool:
        """True iff ``signature`` (r || s) is this key's SM2 signature of ``base``."""
        if len(signature) != SIGNATURE_BYTES:
            return False
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        if not (0 < r < _N and 0 < s < _N):
            return False
        ec, hashes, _, invalid = _backend()
        try:
            self._key.verify(_der(r, s), base, ec.ECDSA(hashes.SM3()))
        except invalid:
            return False
        return True

    def public_pem(self) -> bytes:
        """The key as SubjectPublicKeyInfo PEM."""
        _, _, serialization, _ = _backend()
        pem: bytes = self._key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem

    def __repr__(self) -> str:
        return f"SM2VerifyingKey({self.public_bytes.hex()})"


class SM2SigningKey:
    """An SM2 private key (``sm2-sm3``), from its 32-byte scalar or PKCS #8 PEM."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes | str | Any) -> None:
        ec, _, serialization, _ = _backend()
        if isinstance(key, str):
            key = key.encode("ascii")
        if isinstance(key, bytes) and key.lstrip().startswith(b"-----BEGIN"):
            key = _load_pem(serialization.load_pem_private_key, key, "private")
        elif isinstance(key, bytes):
            if len(key) != PRIVATE_KEY_BYTES:
                raise ValueError("a raw SM2 private key is 32 bytes")
            scalar = int.from_bytes(key, "big")
            if not 0 < scalar < _N - 1:
                raise ValueError("the SM2 private key is out of range")
            key = ec.derive_private_key(scalar, ec.SM2())
        self._key = key

    @classmethod
    def generate(cls) -> SM2SigningKey:
        ec = _backend()[0]
        return cls(ec.generate_private_key(ec.SM2()))

    @property
    def alg(self) -> str:
        return ALG_SM2_SM3

    def sign(self, base: bytes) -> bytes:
        """The 64-byte SM2 signature r || s of ``base`` (randomised)."""
        ec, hashes, _, _ = _backend()
        return _raw(self._key.sign(base, ec.ECDSA(hashes.SM3())))

    @property
    def public_bytes(self) -> bytes:
        _, _, serialization, _ = _backend()
        data: bytes = self._key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return data

    def private_bytes_raw(self) -> bytes:
        """The 32-byte private scalar (keep it secret)."""
        value: int = self._key.private_numbers().private_value
        return value.to_bytes(32, "big")

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS #8 PEM (keep it secret)."""
        _, _, serialization, _ = _backend()
        pem: bytes = self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return pem

    def verifying_key(self) -> SM2VerifyingKey:
        return SM2VerifyingKey(self.public_bytes)

    def __repr__(self) -> str:
        return f"SM2SigningKey(public={self.public_bytes.hex()})"
