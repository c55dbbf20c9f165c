"""The log's identity: its origin line, its signing key and its hash.

The key comes from ``JCJG_LEDGER_SIGNING_KEY`` (a note signer key string) or, failing that, from
``<JCJG_DATA_DIR>/ledger/signing.key``, generated on first use with file mode 0600. Under
``JCJG_CRYPTO=sm`` the log is another log (docs/operations/cryptography.md): an SM2 key (file
``signing-sm2.key``), SM3 hashes, and the origin ``<host>/ledger/sm`` by default.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jcjg.config import Settings
from jcjg.ledger.merkle import Hasher
from jcjg.ledger.note import Signer, Verifier, generate_signer
from jcjg.ledger.sm import new_sm3


@dataclass(frozen=True)
class LogIdentity:
    origin: str
    signer: Signer
    witnesses: tuple[Verifier, ...]
    max_delay_seconds: int

    @property
    def verifier(self) -> Verifier:
        return self.signer.verifier()

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    @property
    def cosigner(self) -> Signer:
        """What this platform cosigns other logs with (a child's, as its parent): the log's
        Ed25519 key as a c2sp.org/tlog-cosignature v1 signer; under ``JCJG_CRYPTO=sm`` its SM2
        key under the SM2 analogue (`note.TYPE_SM2_COSIGNATURE`)."""
        cosigner = self.signer.cosigner()
        assert cosigner is not None  # a log's key is Ed25519 or SM2
        return cosigner

    @property
    def hasher(self) -> Hasher:
        """The tree's hash: SM3 for an SM2-signed log, SHA-256 otherwise."""
        return new_sm3 if self.signer.is_sm2 else hashlib.sha256


def hasher_for(key: Verifier) -> Hasher:
    """The hash of the log whose key is ``key``: an SM2 key signs an SM3 tree."""
    return new_sm3 if key.is_sm2 else hashlib.sha256


def default_origin(settings: Settings) -> str:
    """``<host[:port]>/ledger`` of the platform's public address (``JCJG_BASE_URL``) when one is
    configured, else ``localhost/ledger``: never the port a development server happens to
    listen on, since another origin is another log."""
    suffix = "/ledger/sm" if settings.crypto == "sm" else "/ledger"
    if not settings.base_url_given:
        return f"localhost{suffix}"
    parts = urlsplit(settings.base_url)
    return f"{parts.netloc or 'localhost'}{parts.path.rstrip('/')}{suffix}"


def _key_file(settings: Settings) -> Path:
    name = "signing-sm2.key" if settings.crypto == "sm" else "signing.key"
    return settings.data_dir / "ledger" / name


def _checked(settings: Settings, signer: Signer) -> Signer:
    if signer.cosigner() is None:
        raise ValueError("日志签名密钥应为 Ed25519 或 SM2 的日志密钥，而不是副署密钥")
    if signer.is_sm2 != (settings.crypto == "sm"):
        wanted = "SM2" if settings.crypto == "sm" else "Ed25519"
        raise ValueError(f"日志签名密钥的算法与 JCJG_CRYPTO 不符：应为 {wanted} 密钥")
    return signer


def load_or_create_signer(settings: Settings, origin: str) -> Signer:
    if settings.ledger_signing_key:
        return _checked(settings, Signer(settings.ledger_signing_key.get_secret_value()))
    path = _key_file(settings)
    if path.exists():
        return _checked(settings, Signer(path.read_text("ascii").strip()))
    path.parent.mkdir(parents=True, exist_ok=True)
    skey, _ = generate_signer(origin, "sm2" if settings.crypto == "sm" else "ed25519")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(skey + "\n")
    return Signer(skey)


def _witnesses(keys: list[str]) -> tuple[Verifier, ...]:
    """The cosigners' keys as given, and each log key's cosigner form too (Ed25519: C2SP
    cosignature/v1; SM2: its analogue): a parent or witness configured by its log key cosigns
    in that format."""
    found: list[Verifier] = []
    for vkey in dict.fromkeys(keys):
        verifier = Verifier(vkey)
        found.append(verifier)
        cosigning = verifier.cosignature_verifier()
        if cosigning is not None:
            found.append(cosigning)
    return tuple(found)


def identity(settings: Settings) -> LogIdentity:
    origin = settings.ledger_origin or default_origin(settings)
    return LogIdentity(
        origin=origin,
        signer=load_or_create_signer(settings, origin),
        # the cosigners: those configured, and the upstream platform (docs/networking.md)
        witnesses=_witnesses(
            [*settings.ledger_witness_keys, *filter(None, [settings.upstream_log_key])]
        ),
        max_delay_seconds=settings.ledger_max_delay_seconds,
    )
