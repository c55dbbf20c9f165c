"""The log's identity: its origin line and its Ed25519 signing key.

The key comes from ``JCJG_LEDGER_SIGNING_KEY`` (a note signer key string) or, failing that, from
``<JCJG_DATA_DIR>/ledger/signing.key``, generated on first use with file mode 0600.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from jcjg.config import Settings
from jcjg.ledger.note import Signer, Verifier, generate_signer


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


def default_origin(settings: Settings) -> str:
    """``<host[:port]>/ledger`` of the platform's public address (``JCJG_BASE_URL``) when one is
    configured, else ``localhost/ledger``: never the port a development server happens to
    listen on, since another origin is another log."""
    if not settings.base_url_given:
        return "localhost/ledger"
    parts = urlsplit(settings.base_url)
    return f"{parts.netloc or 'localhost'}{parts.path.rstrip('/')}/ledger"


def _key_file(settings: Settings) -> Path:
    return settings.data_dir / "ledger" / "signing.key"


def load_or_create_signer(settings: Settings, origin: str) -> Signer:
    if settings.ledger_signing_key:
        return Signer(settings.ledger_signing_key.get_secret_value())
    path = _key_file(settings)
    if path.exists():
        return Signer(path.read_text("ascii").strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    skey, _ = generate_signer(origin)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(skey + "\n")
    return Signer(skey)


def identity(settings: Settings) -> LogIdentity:
    origin = settings.ledger_origin or default_origin(settings)
    return LogIdentity(
        origin=origin,
        signer=load_or_create_signer(settings, origin),
        # the cosigners: those configured, and the upstream platform (docs/networking.md)
        witnesses=tuple(
            Verifier(v)
            for v in dict.fromkeys(
                [*settings.ledger_witness_keys, *filter(None, [settings.upstream_log_key])]
            )
        ),
        max_delay_seconds=settings.ledger_max_delay_seconds,
    )
