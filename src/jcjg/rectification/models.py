"""Rectification orders (整改通知, 002 articles 17-18) and the steps of each."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin


class RectificationOrder(IdMixin, Base):
    """An authority's order that an institution rectify one or more of the behaviours of 002
    article 17 (``grounds``), citing what it found (alerts, nonconformities), by a deadline;
    answered by the institution with evidence, returned or closed by an authority, and
    published on the public list when an authority so decides (article 18). Every step is a
    :class:`RectificationEvent`, audited and notarised."""

    __tablename__ = "rectification_order"
    __permission_entity__: ClassVar[str] = "alert"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
    }

    number: Mapped[str] = mapped_column(String(24), unique=True)  # ZG + region + year + serial
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the issuing authority's
    grounds: Mapped[list[str]] = mapped_column(JSON, default=list)  # Ground values
    findings: Mapped[str] = mapped_column(Text)
    requirement: Mapped[str] = mapped_column(Text)
    alert_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    nonconformity_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    deadline: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # OrderStatus
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    answer: Mapped[str] = mapped_column(Text, default="")
    answer_evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    answered_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)  # the issue's
    # an order a child platform issued and forwarded (rectification.facts): the child's name
    # here, and the index of its latest step in the child's log; only the child acts on it
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)


class RectificationEvent(IdMixin, Base):
    """One step of an order: who did what when, from which status to which, why, with what
    evidence (files by SHA-256 in the blob store) and the log entry that notarises it."""

    __tablename__ = "rectification_event"

    order_id: Mapped[int] = mapped_column(ForeignKey("rectification_order.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # OrderAction
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    actor_name: Mapped[str] = mapped_column(String(100))
    note: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date, default=None)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # read back by the forwarder for each step it sends (rectification.facts.content)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
