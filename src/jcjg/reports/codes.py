"""Supervision codes (监管码, 000 4.1.2): ``<region><yy><serial><check>``, 17 characters
(:mod:`jcjg.core.codes`): the issuing institution's region, the year of issue, 8 digits
counted per region and year, and an ISO 7064 MOD 37-36 check character. A sample code has 16.

The code alone is not a secret (it is printed); the per-report token in the QR's URL is: it
opens the whole chain and the PDF, so reports cannot be read by counting codes."""

from __future__ import annotations

import secrets

from jcjg.core.codes import CodeFormat

SUPERVISION = CodeFormat("监管码", serial_digits=8)
TOKEN_BYTES = 15  # 120 bits, 20 URL-safe characters


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def verify_url(base_url: str, code: str, token: str | None = None) -> str:
    """What the QR holds: ``{base}/v/{code}?t={token}``."""
    url = f"{base_url.rstrip('/')}/v/{code}"
    return f"{url}?t={token}" if token else url
