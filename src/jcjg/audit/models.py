"""The audit log table."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin


class AuditLog(IdMixin, Base):
    """One audited fact: a create / update / delete of an object, or a security event."""

    __tablename__ = "audit_log"
    # the login's throttle counts an address's recent failures (accounts.service)
    __table_args__ = (Index("ix_audit_log_ip_at", "ip", "at"),)
    __permission_entity__: ClassVar[str] = "audit"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
        "self": "user_id",
    }

    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(32), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    username: Mapped[str | None] = mapped_column(String(64), default=None)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    object_type: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    object_id: Mapped[str | None] = mapped_column(String(64), default=None)
    object_repr: Mapped[str | None] = mapped_column(String(200), default=None)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    # Where the audited object (or, for events, the actor) belongs: scopes who may read it.
    region_code: Mapped[str | None] = mapped_column(String(6), index=True, default=None)
    institution_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)


class DenialCount(IdMixin, Base):
    """Refused requests (a permission missing, a form's CSRF token invalid) counted per
    principal, route and minute. The first of each is written to the audit log in full
    (``log_id``); its repeats only raise ``count`` here, so a caller refused again and again
    cannot grow the audit log without bound, and audit rows are never updated."""

    __tablename__ = "audit_denial_count"
    __table_args__ = (UniqueConstraint("action", "principal", "route", "minute"),)

    action: Mapped[str] = mapped_column(String(32))  # denied, csrf_failed
    principal: Mapped[str] = mapped_column(String(80))  # "user:12", or "ip:203.0.113.7"
    route: Mapped[str] = mapped_column(String(300))  # "POST /alerts/{alert_id}/case"
    minute: Mapped[dt.datetime] = mapped_column(UTCDateTime)  # UTC, seconds cut off
    count: Mapped[int] = mapped_column(Integer, default=1)
    last_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    log_id: Mapped[int | None] = mapped_column(
        ForeignKey("audit_log.id"), unique=True, default=None
    )
