"""Inspection contracts (检测合同) between an institution and a project's owner (000 4.3.3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import JSON, Date, ForeignKey, Integer, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin


class Contract(IdMixin, Base):
    """A contract as the lab's system sent it, with its signed PDF; written once, notarised."""

    __tablename__ = "contract"
    __permission_entity__: ClassVar[str] = "contract"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
        "project": "project_id",
    }
    __table_args__ = (UniqueConstraint("institution_id", "number"),)

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    client_unit: Mapped[str] = mapped_column(String(200))  # the owner (建设单位)
    signed_on: Mapped[dt.date] = mapped_column(Date, index=True)
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # test item codes
    amount_yuan: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), default=None)
    pdf_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)
