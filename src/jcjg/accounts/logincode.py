"""A one-time login code by SMS or e-mail: the second factor an authority account may choose
instead of (or without) an authenticator app.

An account of an authority or a station that chose a channel (``User.login_code_channel``,
on /account/totp, confirmed with its password) gets, after its password, a six-digit code at
its registered mobile or e-mail address (``notify.channels``: the SMS gateway adapter, SMTP).
The session waits for it (``pending_totp``, as for the app's code); the code's salted SHA-256
and the moment it was sent are kept on the session; it is good for :data:`LIFETIME` and one
right answer; another may be sent after :data:`RESEND_AFTER`. Wrong codes count in
``totp_failures`` and lock the account as the app's do. Without an app code, an account with a
channel is asked for the sent code; with both, the app is asked.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets

from sqlalchemy.orm import Session

from jcjg.accounts.service import lock_user_after_failures
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.models import User, UserSession
from jcjg.auth.passwords import verify_password
from jcjg.auth.permissions import OFFICERS
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.core.masking import mask_email, mask_phone
from jcjg.notify.channels import DeliveryError, email_sender, sms_gateway

CHANNELS = {"sms": "短信", "email": "电子邮件"}
ELIGIBLE = frozenset(r.value for r in OFFICERS)
LIFETIME = dt.timedelta(minutes=5)
RESEND_AFTER = dt.timedelta(seconds=60)


class NotSent(Exception):
    """The code could not be sent; the message (Chinese) says why, for the login page."""


def eligible(user: User) -> bool:
    return user.role in ELIGIBLE


def address(user: User, channel: str) -> str | None:
    return user.phone if channel == "sms" else user.email if channel == "email" else None


def shown_address(user: User, channel: str | None = None) -> str:
    """Where a code goes by ``channel`` (the account's own by default), masked:
    ``138****5678``, ``z***@example.com``; "" where the account has no such address."""
    channel = channel or user.login_code_channel or ""
    to = address(user, channel)
    if not to:
        return ""
    return mask_phone(to) if channel == "sms" else mask_email(to)


def _digest(settings: Settings, session: UserSession, code: str) -> str:
    salt = f"{settings.secret_key}\x00{session.id}\x00{session.token_hash}\x00"
    return hashlib.sha256((salt + code).encode()).hexdigest()


def wait_before_resend(session: UserSession, now: dt.datetime | None = None) -> int:
    """Seconds before another code may be sent to this session's login (0: now)."""
    if session.login_code_sent_at is None:
        return 0
    left = session.login_code_sent_at + RESEND_AFTER - (now or utcnow())
    return max(0, math.ceil(left.total_seconds()))


def send(db: Session, settings: Settings, session: UserSession, user: User) -> None:
    """Send a new code for ``session`` by the user's channel; the previous one no longer
    counts. Raises :class:`NotSent` when no channel is configured or the gateway refuses."""
    channel = user.login_code_channel or ""
    to = address(user, channel)
    if not to:
        raise NotSent(f"账号未登记{'手机号' if channel == 'sms' else '电子邮箱'}，无法发送验证码")
    code = f"{secrets.randbelow(1_000_000):06d}"
    text = (
        f"【{settings.platform_name}】登录验证码 {code}，5 分钟内有效。"
        "如非本人操作，请立即联系管理员。"
    )
    try:
        if channel == "sms":
            gateway = sms_gateway(settings)
            if gateway is None:
                raise NotSent("平台未配置短信网关，无法发送验证码，请联系管理员")
            gateway.send(f"login-{session.id}-{secrets.token_hex(4)}", to, text)
        else:
            mail = email_sender(settings)
            if mail is None:
                raise NotSent("平台未配置邮件服务器，无法发送验证码，请联系管理员")
            mail.send(to, f"{settings.platform_name}登录验证码", text)
    except DeliveryError as error:
        record_event(db, AuditAction.LOGIN_FAILED, obj=user, detail=f"登录验证码发送失败：{error}")
        raise NotSent("验证码发送失败，请稍后重试或联系管理员") from None
    session.login_code_hash = _digest(settings, session, code)
    session.login_code_sent_at = utcnow()
    record_event(db, AuditAction.TOTP, obj=user, detail=f"发送登录验证码（{CHANNELS[channel]}）")
    db.flush()


def check(db: Session, settings: Settings, session: UserSession, user: User, code: str) -> bool:
    """Whether ``code`` is the one sent for this session, unexpired; used up when right;
    wrong ones counted (and the account locked) as the app's codes are."""
    typed = "".join(code.split())
    sent = session.login_code_sent_at
    fresh = sent is not None and utcnow() <= sent + LIFETIME
    right = (
        fresh
        and session.login_code_hash is not None
        and secrets.compare_digest(_digest(settings, session, typed), session.login_code_hash)
    )
    if right:
        session.login_code_hash = None
        user.totp_failures = 0
        db.flush()
        return True
    user.totp_failures += 1
    why = "已过期" if not fresh else "错误"
    record_event(db, AuditAction.LOGIN_FAILED, obj=user,
                 detail=f"第 {user.totp_failures} 次登录验证码{why}")  # fmt: skip
    if user.totp_failures >= settings.lockout_threshold:
        user.totp_failures = 0
        lock_user_after_failures(db=db, settings=settings, user=user)
    db.flush()
    return False


def choose(db: Session, user: User, channel: str, password: str) -> None:
    """Set (or, with "", turn off) the account's login code channel, its password confirming."""
    errors = []
    if not verify_password(user.password_hash, password):
        errors.append(FieldError("password", "密码不正确", "wrong"))
    if channel and channel not in CHANNELS:
        errors.append(FieldError("channel", "请选择短信或电子邮件", "choice"))
    elif channel and not eligible(user):
        errors.append(FieldError("channel", "登录验证码只供主管部门和监督机构的账号使用", "role"))
    elif channel and not address(user, channel):
        missing = "手机号" if channel == "sms" else "电子邮箱"
        errors.append(FieldError("channel", f"账号未登记{missing}：请先请管理员登记", "missing"))
    if errors:
        raise ValidationFailed(errors=errors)
    user.login_code_channel = channel or None
    said = f"启用登录验证码（{CHANNELS[channel]}）" if channel else "停用登录验证码"
    record_event(db, AuditAction.TOTP, obj=user, detail=said)
    db.flush()
