"""The audit log table."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin


class AuditLog(IdMixin, Base):
    """One audited fact: a create / update / delete of an object, or a security event."""

    __tablename__ = "audit_log"
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
