"""The register's rows."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
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


class Nonconformity(IdMixin, Base):
    """One nonconforming result: where (project, part of structure), what (material, item,
    values and limit), who found it (the lab, the platform or both), and its handling.

    It comes from a stored test record (``source`` record) or from the lab's own report through
    the exchange API (``source`` reported; message ``nonconformity``), whose raw record may not be
    on the platform: ``reported_number`` is then the lab's record number, linked to the record
    when that is uploaded. ``reported_at`` marks any entry the lab reported, with its note and
    when it told the client (003 III(6))."""

    __tablename__ = "nonconformity"
    __table_args__ = (
        UniqueConstraint("institution_id", "reported_number"),
        # the register's order (latest found first) and its keyset pages
        Index("ix_nonconformity_found_at_id", "found_at", "id"),
    )
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
        "project": "project_id",
    }
    # the register's statements count and sum a region's share of the table, with no other
    # index to narrow them: the scope's sets of ids are looked up by a hash (auth.scopes.InSelect)
    __scope_hashed__: ClassVar[bool] = True

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    test_record_id: Mapped[int | None] = mapped_column(
        ForeignKey("test_record.id"), unique=True, default=None
    )
    source: Mapped[str] = mapped_column(String(16), default="record")  # NcSource
    found_by: Mapped[str] = mapped_column(String(16))  # lab, platform, both
    material: Mapped[str] = mapped_column(String(40))  # the test kind's label
    item_code: Mapped[str] = mapped_column(String(12), index=True)
    structure_part: Mapped[str] = mapped_column(String(100), default="")
    grade: Mapped[str] = mapped_column(String(32), default="")  # the limit it is judged by
    requirement: Mapped[str] = mapped_column(String(200), default="")  # the limit, in words
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    found_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    deadline: Mapped[dt.date] = mapped_column(Date, index=True)
    status: Mapped[str] = mapped_column(String(16), index=True, default="open")  # NcStatus
    handling: Mapped[str] = mapped_column(String(16), default="")  # Handling
    handling_note: Mapped[str] = mapped_column(Text, default="")
    handled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # handling a child platform recorded on its own entry of the same result and forwarded
    # (nonconformity.facts): the child's name here and the index of its step in the child's
    # log; only the child handles the entry from then on
    handling_origin: Mapped[str | None] = mapped_column(String(100), default=None)
    handling_origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # a child platform's register entry of the same result (nonconformity:register, :link,
    # :report, forwarded): the child's name here, its region, the index of its latest step in
    # its log and who found it there; the narrowest level's (the city's over its province's)
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_region: Mapped[str | None] = mapped_column(String(6), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    origin_found_by: Mapped[str | None] = mapped_column(String(16), default=None)
    notified: Mapped[int] = mapped_column(Integer, default=0)  # users told when it was found
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)
    # what the lab reported (message ``nonconformity``)
    reported_number: Mapped[str | None] = mapped_column(String(64), default=None)
    conclusion: Mapped[str] = mapped_column(String(500), default="")
    judged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    informed_client_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    reported_note: Mapped[str] = mapped_column(Text, default="")
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
