"""Test records (检测数据 / 原始记录), their specimens, force-time curves and revisions.

Test records are written once, as the lab's system sent them; a correction is a
:class:`Revision` that keeps the value before, the value after, who and why (001 4.2.2.2,
5.4.4). So records are not change-logged rows to edit: the revisions are their change log.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin

_SCOPE = {"region": "region_code", "institution": "institution_id", "project": "project_id"}


class TestRecord(IdMixin, Base):
    """One test as the lab's system uploaded it: what was tested, how, by whom, on which
    machine, the raw values of each specimen and the results the lab computed; beside them
    what the platform recomputed."""

    __test__ = False  # not a pytest test class
    __tablename__ = "test_record"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (
        UniqueConstraint("institution_id", "number"),
        # the list's order (latest first) and its keyset pages; the date filters
        Index("ix_test_record_ended_at_id", "ended_at", "id"),
    )

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    commission_id: Mapped[int | None] = mapped_column(
        ForeignKey("commission.id"), index=True, default=None
    )
    number: Mapped[str] = mapped_column(String(64))  # the raw record's number
    sequence: Mapped[int | None] = mapped_column(Integer, default=None)  # in its Beijing year
    kind: Mapped[str] = mapped_column(String(24), index=True)  # TestKind value
    item_code: Mapped[str] = mapped_column(String(12), index=True)  # catalogue test item
    parameter_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    standard: Mapped[str] = mapped_column(String(200), default="")
    lab_name: Mapped[str] = mapped_column(String(100), default="")
    equipment: Mapped[list[str]] = mapped_column(JSON, default=list)  # asset numbers
    inspectors: Mapped[list[str]] = mapped_column(JSON, default=list)  # names (IDs not kept)
    inspector_person_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    environment: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    acquisition: Mapped[str] = mapped_column(String(8))  # Acquisition value
    grade: Mapped[str] = mapped_column(String(32), default="")  # C30, HRB400E, P·O 42.5
    age_days: Mapped[int | None] = mapped_column(Integer, default=None)
    specimen_size_mm: Mapped[int | None] = mapped_column(Integer, default=None)
    results: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # as the lab computed
    lab_judgement: Mapped[str] = mapped_column(String(16), default="none")  # Judgement
    recomputed: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # the platform's
    platform_judgement: Mapped[str] = mapped_column(String(16), default="none")
    # Marked for the nonconformity register (不合格台账): who judged the result nonconforming,
    # "lab", "platform" or "both"; "" when neither did.
    nonconforming_by: Mapped[str] = mapped_column(
        String(8), default="", server_default="", index=True
    )
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)  # notarised


class Specimen(IdMixin, Base):
    """One specimen of a record: its raw values and, for a force test, its curve."""

    __tablename__ = "test_specimen"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (UniqueConstraint("test_record_id", "position"),)

    test_record_id: Mapped[int] = mapped_column(ForeignKey("test_record.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    position: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 ...
    sample_code: Mapped[str | None] = mapped_column(String(20), index=True, default=None)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Curve(IdMixin, Base):
    """A specimen's force-time curve: the points compressed in the blob store, the features
    and the fingerprint in the database."""

    __tablename__ = "force_curve"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    specimen_id: Mapped[int] = mapped_column(ForeignKey("test_specimen.id"), unique=True)
    test_record_id: Mapped[int] = mapped_column(ForeignKey("test_record.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    blob_digest: Mapped[str] = mapped_column(String(64))  # of the stored (compressed) form
    upload_sha256: Mapped[str | None] = mapped_column(String(64), default=None)  # binary upload
    stored_bytes: Mapped[int] = mapped_column(Integer)
    n_points: Mapped[int] = mapped_column(Integer)
    sampling_hz: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    peak_kn: Mapped[float] = mapped_column(Float)
    time_to_peak_s: Mapped[float] = mapped_column(Float)
    rate_kn_s: Mapped[float | None] = mapped_column(Float, default=None)
    has_displacement: Mapped[bool] = mapped_column(Boolean, default=False)
    # the re-use fingerprint (jcjg.testing.curves): 64 float32; its band keys in CurveKey
    fp_vector: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    fp_peak_kn: Mapped[float | None] = mapped_column(Float, default=None, index=True)
    fp_rise_s: Mapped[float | None] = mapped_column(Float, default=None)


class CurveKey(Base):
    """The locality-sensitive band keys of a curve's fingerprint (:mod:`jcjg.testing.fpindex`):
    a re-used curve shares at least one with its original, two unrelated curves rarely do."""

    __tablename__ = "force_curve_key"

    curve_id: Mapped[int] = mapped_column(ForeignKey("force_curve.id"), primary_key=True)
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, index=True)


class Revision(IdMixin, Base):
    """A change to a record's value (数据修改记录): time, person, field, before, after,
    reason (001 4.2.2.2). The record keeps its original value; the revision says what it
    became. Notarised with the message that brought it."""

    __tablename__ = "test_revision"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    test_record_id: Mapped[int] = mapped_column(ForeignKey("test_record.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    field: Mapped[str] = mapped_column(String(100))  # "specimens[2].yield_kn", "results.x"
    before: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    after: Mapped[Any] = mapped_column(JSON, nullable=True, default=None)
    reason: Mapped[str] = mapped_column(Text)
    revised_by: Mapped[str] = mapped_column(String(64))  # the person's name
    revised_by_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), default=None)
    revised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    auto_acquired: Mapped[bool] = mapped_column(Boolean, default=False)  # the value was
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)  # notarised


class OnSitePlan(IdMixin, Base):
    """An on-site test's plan (现场检测方案), due ahead of the work: the method statement,
    planned start and end, quantity and place (002 10: 24 hours ahead; 003 III(3): 3 working
    days ahead; the lead time is a threshold per region)."""

    __tablename__ = "onsite_plan"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (UniqueConstraint("institution_id", "number"),)

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    number: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(12))
    method_statement: Mapped[str] = mapped_column(Text, default="")
    method_sha256: Mapped[str | None] = mapped_column(String(64), default=None)  # the file
    planned_start: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    planned_end: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    quantity: Mapped[str] = mapped_column(String(100), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)


class OnSiteRecord(IdMixin, Base):
    """What was done on site (现场检测记录): when, where (the phone's or instrument's position
    and its distance outside the project's geofence), key photos and clips, the data."""

    __tablename__ = "onsite_record"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (UniqueConstraint("institution_id", "number"),)

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("onsite_plan.id"), default=None)
    plan_number: Mapped[str] = mapped_column(String(64), default="")
    number: Mapped[str] = mapped_column(String(64))
    item_code: Mapped[str] = mapped_column(String(12))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    distance_m: Mapped[float | None] = mapped_column(Float, default=None)
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)  # SHA-256 of the files
    clips: Mapped[list[str]] = mapped_column(JSON, default=list)
    inspectors: Mapped[list[str]] = mapped_column(JSON, default=list)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)


class RecordTally(IdMixin, Base):
    """Test records counted by Beijing month, region, institution, project, item and kind: what
    the statistics page (``/testing/stats``) adds up instead of a year of records. Rebuilt as a
    whole by the job ``testing.tally`` (:func:`jcjg.testing.stats.refresh_tally`); each row
    says when. Scoped as the records it counts."""

    __tablename__ = "test_record_tally"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    month: Mapped[str] = mapped_column(String(7))  # "2026-11", Beijing
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    item_code: Mapped[str] = mapped_column(String(12))
    kind: Mapped[str] = mapped_column(String(24))
    records: Mapped[int] = mapped_column(Integer)
    auto: Mapped[int] = mapped_column(Integer)  # acquired automatically
    late: Mapped[int] = mapped_column(Integer)  # with a late_upload finding, open or closed
    flagged: Mapped[int] = mapped_column(Integer)  # with an open alert of any rule
    nonconforming: Mapped[int] = mapped_column(Integer)  # marked for the register
    refreshed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
