"""The periodic supervision reports kept by the platform (docs/overview.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin


class SupervisionReport(IdMixin, Base):
    """A region's supervision report for a month or a quarter: the PDF (a blob by its SHA-256,
    notarised in the ledger) and the figures that fed it. One per region and period."""

    __tablename__ = "supervision_report"
    __table_args__ = (UniqueConstraint("region_code", "period"),)
    __permission_entity__: ClassVar[str] = "supervision_report"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}

    region_code: Mapped[str] = mapped_column(String(6), index=True)
    period: Mapped[str] = mapped_column(String(8))  # "2026-10" (month) or "2026Q3" (quarter)
    kind: Mapped[str] = mapped_column(String(8))  # PeriodKind value
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date] = mapped_column(Date)  # the period's last day
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    figures: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)
    generated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    generated_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    notified: Mapped[int] = mapped_column(Integer, default=0)
