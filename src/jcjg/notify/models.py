"""What users are told (the inbox), how they want to be told, and every message sent."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, Time
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin


class Notification(IdMixin, Base):
    """One thing a user is told, in the inbox at once; by e-mail or SMS in the next digest."""

    __tablename__ = "notification"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # case, nonconformity, ...
    rule_id: Mapped[str | None] = mapped_column(String(64), default=None)
    severity: Mapped[str] = mapped_column(String(16), default="warning")  # alerts' Severity
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(300), default="")  # a path of the platform
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # set when the channel's digest took it (sent or not wanted): never sent twice
    emailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    texted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None, index=True)


class NotifyPreference(IdMixin, Base):
    """A user's choices: channels, which rules (none listed: all), quiet hours (Beijing time;
    e-mail and SMS wait until they end, except for critical findings)."""

    __tablename__ = "notify_preference"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), unique=True)
    email_on: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_on: Mapped[bool] = mapped_column(Boolean, default=False)
    rules: Mapped[list[str]] = mapped_column(JSON, default=list)
    quiet_start: Mapped[dt.time | None] = mapped_column(Time, default=None)
    quiet_end: Mapped[dt.time | None] = mapped_column(Time, default=None)


class Delivery(IdMixin, Base):
    """One e-mail or SMS: to whom, what, and how it went (tried again on failure)."""

    __tablename__ = "notify_delivery"

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # Channel
    address: Mapped[str] = mapped_column(String(254))  # as sent; shown masked
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    notification_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), index=True)  # DeliveryStatus
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
