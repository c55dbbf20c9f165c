"""The login's graphic captcha, asked once an address has failed to log in a few times.

An address that failed ``login_captcha_after`` times within the address window
(``login_address_window_minutes``, counted from the audit log like the address throttle) gets a
picture of five characters on the login form, drawn by the ``captcha`` library; the login is
refused, before the password is checked, unless they are typed back. Before that, people who
type their password right are not bothered; long after, the address throttle
(``login_address_failures``) refuses the address altogether.

Nothing is stored when the form is shown: the challenge is a token (AES-GCM under a key drawn
from ``secret_key``) holding its characters and when it expires, which the picture's address
carries. A token is good for one try and for :data:`LIFETIME`: its digest is written when a
login uses it (``UsedCaptcha``), and a token seen before is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import secrets
import struct

from captcha.image import ImageCaptcha
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete
from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import recent_moments
from jcjg.auth.models import UsedCaptcha
from jcjg.config import Settings
from jcjg.core.db import utcnow

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
LENGTH = 5
LIFETIME = dt.timedelta(minutes=10)
TOKEN_MAX = 120  # characters of a token: a longer one is not ours
_NONCE = 12


def required(db: Session, settings: Settings, ip: str | None, now: dt.datetime) -> bool:
    """Whether a login from ``ip`` must answer a captcha now."""
    after = settings.login_captcha_after
    if not ip or after <= 0:
        return False
    window = dt.timedelta(minutes=settings.login_address_window_minutes)
    moments = recent_moments(db, AuditAction.LOGIN_FAILED, ip=ip, since=now - window, limit=after)
    return len(moments) >= after


def _key(settings: Settings) -> bytes:
    return hashlib.sha256(b"jcjg-login-captcha\x00" + settings.secret_key.encode()).digest()


def issue(settings: Settings, now: dt.datetime | None = None) -> str:
    """A new challenge's token (URL-safe, no padding)."""
    text = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    expires = int(((now or utcnow()) + LIFETIME).timestamp())
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(_key(settings)).encrypt(nonce, struct.pack(">q", expires) + text.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()


def _open(settings: Settings, token: str, now: dt.datetime) -> str | None:
    """The characters of an unexpired token of ours, else None."""
    if not token or len(token) > TOKEN_MAX:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = AESGCM(_key(settings)).decrypt(raw[:_NONCE], raw[_NONCE:], None)
    except (ValueError, InvalidTag):
        return None
    (expires,) = struct.unpack(">q", plain[:8])
    if expires < now.timestamp():
        return None
    return plain[8:].decode()


def picture(settings: Settings, token: str) -> bytes | None:
    """The PNG of an unexpired token's characters, else None."""
    text = _open(settings, token, utcnow())
    if text is None:
        return None
    return ImageCaptcha(width=200, height=70).generate(text).getvalue()


def passes(db: Session, settings: Settings, token: str, answer: str) -> bool:
    """Whether ``answer`` is the token's characters (case and spaces aside) and the token is
    unexpired and unused; the token is used up either way (flushed)."""
    now = utcnow()
    text = _open(settings, token, now)
    if text is None:
        return False
    digest = hashlib.sha256(token.encode()).hexdigest()
    if db.get(UsedCaptcha, digest) is not None:
        return False
    db.execute(delete(UsedCaptcha).where(UsedCaptcha.used_at < now - LIFETIME))
    db.add(UsedCaptcha(digest=digest, used_at=now))
    db.flush()
    typed = "".join(answer.split()).upper()
    return secrets.compare_digest(typed.encode(), text.encode())
