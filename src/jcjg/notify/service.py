"""Telling users: :func:`notify` puts a notification in each user's inbox at once; the
``notify.deliver`` job (:func:`deliver`) sends what is new by e-mail and SMS as one digest per
user and channel per ``JCJG_NOTIFY_DIGEST_MINUTES``, with the counts, in the user's channels,
for the rules they chose, outside their quiet hours (critical findings do not wait). Every
message is a :class:`Delivery` row with its outcome; failures are tried again (1, 5, 30,
120 minutes), then given up and shown as failed."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.core.masking import mask_email, mask_phone
from jcjg.core.templating import templates
from jcjg.core.workdays import BEIJING
from jcjg.notify.channels import DeliveryError, EmailSender, SmsGateway
from jcjg.notify.choices import Channel, DeliveryStatus
from jcjg.notify.models import Delivery, Notification, NotifyPreference

RETRY_MINUTES = (1, 5, 30, 120)  # after the 1st, 2nd, ... failure; then given up
KIND_LABELS = {
    "case": "预警处理",
    "rectification": "整改要求",
    "escalation": "升级督办",
    "nonconformity": "不合格结果",
    "expert": "专家评审",
    "proficiency": "能力验证",
    "supervision_report": "监管情况报告",
    "penalty": "行政处罚",
    "credit": "信用评价",
    "ops": "运维预警",
}


def notify(
    db: Session,
    users: Iterable[User],
    *,
    kind: str,
    title: str,
    body: str = "",
    link: str = "",
    severity: str = "warning",
    rule_id: str | None = None,
    now: dt.datetime,
) -> list[Notification]:
    """One notification per active user (each once), in the inbox now."""
    seen: set[int] = set()
    out = []
    for user in users:
        if user.id in seen or not user.is_active:
            continue
        seen.add(user.id)
        row = Notification(
            user_id=user.id, kind=kind, rule_id=rule_id, severity=severity, title=title[:200],
            body=body, link=link[:300], created_at=now,
        )  # fmt: skip
        db.add(row)
        out.append(row)
    db.flush()
    return out


AUTHORITY_ROLES = (Role.STATION.value, Role.CITY_AUTHORITY.value, Role.PROVINCIAL_AUTHORITY.value)
INSTITUTION_ROLES = (Role.INSTITUTION_ADMIN.value, Role.INSTITUTION_STAFF.value)


def authorities(
    db: Session, regions: Iterable[str | None], roles: tuple[str, ...] = AUTHORITY_ROLES
) -> list[User]:
    """The active accounts of ``roles`` (stations and authorities) whose region is one of
    ``regions``."""
    codes = sorted({r for r in regions if r})
    return list(db.scalars(select(User).where(
        User.region_code.in_(codes), User.role.in_(roles), User.is_active.is_(True),
    ).order_by(User.id)))  # fmt: skip


def institution_users(db: Session, institution_id: int | None) -> list[User]:
    """The active administrator and staff accounts of an institution."""
    if institution_id is None:
        return []
    return list(db.scalars(select(User).where(
        User.institution_id == institution_id, User.role.in_(INSTITUTION_ROLES),
        User.is_active.is_(True),
    ).order_by(User.id)))  # fmt: skip


def preference(db: Session, user_id: int) -> NotifyPreference:
    """The user's preferences (the defaults, unsaved, when they never chose)."""
    found = db.scalars(select(NotifyPreference).where(NotifyPreference.user_id == user_id)).first()
    return found or NotifyPreference(user_id=user_id, email_on=True, sms_on=False, rules=[])


def in_quiet_hours(pref: NotifyPreference, now: dt.datetime) -> bool:
    """Whether ``now`` (Beijing time) is inside the user's quiet hours (which may span
    midnight: 22:00-07:00)."""
    start, end = pref.quiet_start, pref.quiet_end
    if start is None or end is None or start == end:
        return False
    local = now.astimezone(BEIJING).time()
    return start <= local < end if start < end else (local >= start or local < end)


def unread(db: Session, user_id: int) -> int:
    return int(
        db.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


@dataclass
class DeliverResult:
    sent: int = 0
    failed: int = 0
    waiting: int = 0  # users whose digest waits (period, quiet hours)
    by_channel: Counter[str] = field(default_factory=Counter)


def _address(user: User, channel: Channel) -> str | None:
    return (user.email if channel is Channel.EMAIL else user.phone) or None


def _wanted(pref: NotifyPreference, channel: Channel, n: Notification) -> bool:
    on = pref.email_on if channel is Channel.EMAIL else pref.sms_on
    return bool(on) and (not pref.rules or n.rule_id is None or n.rule_id in pref.rules)


def _compose(
    settings: Settings, channel: Channel, user: User, rows: list[Notification]
) -> tuple[str, str]:
    counts = Counter(KIND_LABELS.get(n.kind, n.kind) for n in rows)
    summary = "、".join(f"{k} {v} 条" for k, v in counts.most_common())
    subject = f"【{settings.platform_name}】{len(rows)} 条新通知：{summary}"
    name = "notify/email.txt" if channel is Channel.EMAIL else "notify/sms.txt"
    body = templates().get_template(name).render(
        user=user, rows=rows, summary=summary, count=len(rows), settings=settings,
        base=settings.base_url.rstrip("/"), localtime=lambda t: t.astimezone(BEIJING),
    )  # fmt: skip
    return subject[:200], body.strip() + ("\n" if channel is Channel.EMAIL else "")


_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")


def scrub(error: str, address: str) -> str:
    """An error as kept and shown: the address and any other e-mail address or mobile number
    in it masked (a refused recipient comes back in the SMTP server's answer)."""
    error = error.replace(address, mask_email(address) if "@" in address else mask_phone(address))
    error = _EMAIL.sub(lambda m: mask_email(m.group()), error)
    return _PHONE.sub(lambda m: mask_phone(m.group()), error)


def _send(delivery: Delivery, email: EmailSender | None, sms: SmsGateway | None,
          now: dt.datetime) -> bool:  # fmt: skip
    delivery.attempts += 1
    try:
        if delivery.channel == Channel.EMAIL.value:
            if email is None:
                raise DeliveryError("未配置邮件服务器（JCJG_SMTP_HOST）")
            delivery.details = {"message_id": email.send(delivery.address, delivery.subject,
                                                         delivery.body)}  # fmt: skip
        else:
            if sms is None:
                raise DeliveryError("未配置短信网关（JCJG_SMS_GATEWAY_URL）")
            sms.send(f"jcjg-{delivery.id}", delivery.address, delivery.body)
    except DeliveryError as exc:
        delivery.last_error = scrub(str(exc), delivery.address)[:500]
        if delivery.attempts > len(RETRY_MINUTES):
            delivery.status = DeliveryStatus.FAILED.value
            delivery.next_attempt_at = None
        else:
            delivery.status = DeliveryStatus.PENDING.value
            wait = RETRY_MINUTES[delivery.attempts - 1]
            delivery.next_attempt_at = now + dt.timedelta(minutes=wait)
        return False
    delivery.status = DeliveryStatus.SENT.value
    delivery.sent_at = now
    delivery.next_attempt_at = None
    delivery.last_error = ""
    return True


def deliver(
    db: Session,
    settings: Settings,
    now: dt.datetime,
    *,
    email: EmailSender | None,
    sms: SmsGateway | None,
    before_sending: Callable[[], object] | None = None,
) -> DeliverResult:
    """Retry what failed and is due, then send each user's new notifications as one digest
    per channel. Flushes; the caller commits. ``before_sending`` is called before each message
    leaves (the job commits there: a digest is stored, due now, before the mail server or the
    SMS gateway is asked, and no transaction waits for them; a run stopped in between leaves
    it for the next run's retries)."""
    result = DeliverResult()

    def send(delivery: Delivery) -> bool:
        if before_sending is not None:
            before_sending()
        return _send(delivery, email, sms, now)

    retry = db.scalars(
        select(Delivery).where(
            Delivery.status == DeliveryStatus.PENDING.value, Delivery.next_attempt_at <= now
        )
    ).all()
    for delivery in retry:
        ok = send(delivery)
        result.sent += ok
        result.failed += not ok
    period = dt.timedelta(minutes=settings.notify_digest_minutes)
    for channel in Channel:
        taken = Notification.emailed_at if channel is Channel.EMAIL else Notification.texted_at
        pending = db.scalars(
            select(Notification).where(taken.is_(None)).order_by(Notification.id)
        ).all()
        by_user: dict[int, list[Notification]] = {}
        for n in pending:
            by_user.setdefault(n.user_id, []).append(n)
        for user_id, rows in by_user.items():
            user = db.get(User, user_id)
            pref = preference(db, user_id)
            address = _address(user, channel) if user is not None and user.is_active else None
            wanted = [n for n in rows if address and _wanted(pref, channel, n)]
            for n in rows:
                if n not in wanted:  # not for this channel: never waits for it
                    _mark(n, channel, now)
            if not wanted:
                continue
            critical = any(n.severity == "critical" for n in wanted)
            last = db.scalar(
                select(func.max(Delivery.created_at)).where(
                    Delivery.user_id == user_id, Delivery.channel == channel.value
                )
            )
            if (last is not None and now - last < period) or (
                in_quiet_hours(pref, now) and not critical
            ):
                result.waiting += 1
                continue
            assert user is not None
            assert address is not None
            subject, body = _compose(settings, channel, user, wanted)
            delivery = Delivery(
                user_id=user_id, channel=channel.value, address=address, subject=subject,
                body=body, notification_ids=[n.id for n in wanted],
                status=DeliveryStatus.PENDING.value, created_at=now, next_attempt_at=now,
            )  # fmt: skip
            db.add(delivery)
            db.flush()
            for n in wanted:
                _mark(n, channel, now)
            ok = send(delivery)
            result.sent += ok
            result.failed += not ok
            result.by_channel[channel.value] += 1
    db.flush()
    return result


def _mark(n: Notification, channel: Channel, now: dt.datetime) -> None:
    if channel is Channel.EMAIL:
        n.emailed_at = now
    else:
        n.texted_at = now
