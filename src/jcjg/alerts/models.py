"""Alerts raised by the rules engine, and the per-region thresholds of the rules."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin

# At most one open alert per (rule, key): a finding raises one alert however often it is seen.
_OPEN = "status = 'open'"


class Alert(IdMixin, Base):
    """A rule's finding about one subject. Written by the engine only: opened when first found,
    refreshed while found again, closed (never deleted) when the condition is gone."""

    __tablename__ = "alert"
    __permission_entity__: ClassVar[str] = "alert"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
        "project": "project_id",
    }
    __table_args__ = (
        Index(
            "uq_alert_open_rule_id_key",
            "rule_id",
            "key",
            unique=True,
            sqlite_where=text(_OPEN),
            postgresql_where=text(_OPEN),
        ),
        # a subject's alerts: a record's page, the lists' flags and the statistics
        Index("ix_alert_subject", "subject_type", "subject_id"),
        # the lists' default, a scope's open alerts: each scope column's with the status
        Index("ix_alert_status_region_code", "status", "region_code"),
        Index("ix_alert_status_institution_id", "status", "institution_id"),
        Index("ix_alert_status_project_id", "status", "project_id"),
    )

    rule_id: Mapped[str] = mapped_column(String(64), index=True)
    # Stable identity of the finding within its rule ("equipment:17", "id_number:<sha256>").
    key: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(16))  # Severity value
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64), default=None)
    subject_repr: Mapped[str] = mapped_column(String(200))
    # The number people know the subject by: a record's or a report's number, a sample's code,
    # an equipment's asset number (None when it has none).
    subject_number: Mapped[str | None] = mapped_column(String(64), default=None)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    region_code: Mapped[str | None] = mapped_column(String(6), index=True, default=None)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="open")  # AlertStatus (indexed above)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    close_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    # an alert a child platform raised and handled, rebuilt here with its case (alerts.facts):
    # the child's name here and the index of its latest step in the child's log. The rules
    # here leave it alone and only the child handles it.
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)


class RuleThreshold(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A region's value for one threshold of a rule, over the rule's default. The most specific
    region wins: a county's value over its city's, a city's over its province's."""

    __tablename__ = "rule_threshold"
    __table_args__ = (UniqueConstraint("rule_id", "region_code", "key"),)

    rule_id: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)

    def audit_repr(self) -> str:
        return f"{self.rule_id} {self.region_code} {self.key}"


class RuleBasis(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A region's own basis for a rule: articles of documents in the regulation library that
    apply there, cited after the rule's national basis by the platforms of that region and of
    the regions under it (docs/regulations.md)."""

    __tablename__ = "rule_basis"
    __table_args__ = (UniqueConstraint("rule_id", "region_code"),)

    rule_id: Mapped[str] = mapped_column(String(64))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    clause: Mapped[str] = mapped_column(String(500))  # "jx01 第十条；003 四（三）"

    def audit_repr(self) -> str:
        return f"{self.rule_id} {self.region_code}"


class Case(IdMixin, Base):
    """The handling of one alert (督办, 整改; 000 4.1.6, 002 17-18): confirmed or dismissed by
    an authority, rectification ordered with a deadline and a responsible party, answered with
    evidence by the institution, closed by the authority; escalated a level up when the
    deadline passes. Every step is a :class:`CaseEvent`, audited and notarised."""

    __tablename__ = "alert_case"
    __permission_entity__: ClassVar[str] = "alert"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
        "project": "project_id",
    }

    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # CaseStatus
    region_code: Mapped[str | None] = mapped_column(String(6), index=True, default=None)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    deadline: Mapped[dt.date | None] = mapped_column(Date, index=True, default=None)
    responsible: Mapped[str] = mapped_column(String(200), default="")
    # escalations for the current deadline's lapse: 0 none; the region it went up to
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    escalated_to: Mapped[str | None] = mapped_column(String(6), index=True, default=None)
    escalated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class CaseEvent(IdMixin, Base):
    """One step of a case: who did what when, from which status to which, why, with what
    evidence (files by SHA-256 in the blob store) and the log entry that notarises it."""

    __tablename__ = "alert_case_event"

    case_id: Mapped[int] = mapped_column(ForeignKey("alert_case.id"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # CaseAction
    from_status: Mapped[str | None] = mapped_column(String(16), default=None)
    to_status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    actor_name: Mapped[str] = mapped_column(String(100))  # "平台" for the escalation job
    note: Mapped[str] = mapped_column(Text, default="")
    deadline: Mapped[dt.date | None] = mapped_column(Date, default=None)
    responsible: Mapped[str] = mapped_column(String(200), default="")
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # indexed: a child's forwarder looks a step up by its leaf (alerts.facts)
    ledger_index: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
