"""Test reports (检测报告) with their platform-issued supervision codes (监管码), the test
records they cover, and the log of every scan of a code."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin

_SCOPE = {"region": "region_code", "institution": "institution_id", "project": "project_id"}


class Report(IdMixin, Base):
    """A report as the lab's system declared it when asking for its supervision code, and
    what the platform checked. Written once; withdrawing or replacing it keeps it, linked, with
    the reason (the replacement names it in ``replaces_id``)."""

    __tablename__ = "report"
    __permission_entity__: ClassVar[str] = "report"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (
        UniqueConstraint("institution_id", "number"),
        # the list's order (latest first) and its keyset pages
        Index("ix_report_received_at_id", "received_at", "id"),
    )

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    commission_id: Mapped[int | None] = mapped_column(
        ForeignKey("commission.id"), index=True, default=None
    )
    number: Mapped[str] = mapped_column(String(64))  # the lab's report number
    year: Mapped[int] = mapped_column(Integer)  # of the lab's annual numbering
    sequence: Mapped[int] = mapped_column(Integer)
    supervision_code: Mapped[str] = mapped_column(String(17), unique=True)
    code_serial: Mapped[int] = mapped_column(Integer)  # per region and year of issue
    code_year: Mapped[int] = mapped_column(Integer)
    token: Mapped[str] = mapped_column(String(32))  # in the QR's URL: reads the whole chain
    title: Mapped[str] = mapped_column(String(200), default="")
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # test item codes
    conclusion: Mapped[str] = mapped_column(Text, default="")
    judgement: Mapped[str] = mapped_column(String(16), default="none")  # testing Judgement
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # key results stated
    signatories: Mapped[list[str]] = mapped_column(JSON, default=list)  # names
    signatory_person_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    # signatories registered with another institution, not this one (the rule
    # report_signed_by_outsider); read from the ID numbers of the message, which are not kept
    signatory_outsider_ids: Mapped[list[int]] = mapped_column(
        JSON, default=list, server_default="[]"
    )
    issued_on: Mapped[dt.date] = mapped_column(Date, index=True)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="issued", index=True)
    status_reason: Mapped[str] = mapped_column(String(500), default="")
    status_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"), default=None)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    pdf_received_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    pdf_checks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)  # the code's issue
    leaf_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)


class ReportRecord(Base):
    """A test record a report covers."""

    __tablename__ = "report_test_record"

    report_id: Mapped[int] = mapped_column(ForeignKey("report.id"), primary_key=True)
    test_record_id: Mapped[int] = mapped_column(
        ForeignKey("test_record.id"), primary_key=True, index=True
    )


class CodeScan(IdMixin, Base):
    """One look-up of a supervision code on the public page (or its JSON): what was asked,
    what it found. Unknown codes are possible forgeries (``unknown_code_scanned``)."""

    __tablename__ = "code_scan"

    code: Mapped[str] = mapped_column(String(40), index=True)  # as asked, normalised
    report_id: Mapped[int | None] = mapped_column(ForeignKey("report.id"), index=True, default=None)
    outcome: Mapped[str] = mapped_column(String(16), index=True)  # ScanOutcome
    token_given: Mapped[bool] = mapped_column(Boolean, default=False)
    client_hash: Mapped[str] = mapped_column(String(16), default="")  # of the address, salted
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    scanned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class LegacyReport(IdMixin, Base):
    """A report another platform issued before this one took over (``jcjg import
    legacy-reports``): its code, as printed on the paper and in its QR code, still answers on
    ``/v/<code>``, as an imported report (no chain, no proof of this platform's). One import
    is one leaf of the log (``report:legacy_import``), naming the file it came from."""

    __tablename__ = "report_legacy"

    code: Mapped[str] = mapped_column(String(40), unique=True)  # normalised as a scan is
    report_number: Mapped[str] = mapped_column(String(64))
    institution_name: Mapped[str] = mapped_column(String(200))
    institution_code: Mapped[str | None] = mapped_column(String(32), default=None)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    issued_on: Mapped[dt.date] = mapped_column(Date)
    pdf_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    source: Mapped[str] = mapped_column(String(200))  # the platform it came from
    file_sha256: Mapped[str] = mapped_column(String(64))  # of the imported table
    ledger_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
