"""Cameras, their recorded segments (hash-chained, notarised in batches), outages, the
recorders' leases, clips and snapshots.

A camera belongs to an institution (a lab camera, possibly watching one machine) or to a
project's site (an on-site camera, still the institution's). Recorded video lives in the media
folder (``<data_dir>/video``), one file per segment; the database keeps each segment's time,
size, SHA-256 and its link in the camera's hash chain, so an edited, removed or missing
segment shows (``jcjg.video.segments``).
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
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin

_SCOPE = {"region": "region_code", "institution": "institution_id", "project": "project_id"}


class Camera(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A camera (监控点位): whose, where (place kind, lab, machine or site), its stream."""

    __tablename__ = "camera"
    __permission_entity__: ClassVar[str] = "camera"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"password_sealed"})
    __audit_untracked__: ClassVar[frozenset[str]] = frozenset(
        {"status", "status_since", "last_segment_at", "verified_at", "integrity", "updated_at"}
    )
    __table_args__ = (UniqueConstraint("institution_id", "code"),)

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    code: Mapped[str] = mapped_column(String(64))  # the institution's own number for it
    name: Mapped[str] = mapped_column(String(100))
    place_kind: Mapped[str] = mapped_column(String(24), index=True)  # PlaceKind
    form: Mapped[str] = mapped_column(String(16), default="bullet")  # CameraForm
    lab_id: Mapped[int | None] = mapped_column(ForeignKey("lab.id"), default=None)
    equipment_id: Mapped[int | None] = mapped_column(
        ForeignKey("equipment.id"), index=True, default=None
    )
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), index=True, default=None
    )
    location: Mapped[str] = mapped_column(String(200), default="")
    resolution: Mapped[str] = mapped_column(String(16), default="")  # "1920x1080"
    # The stream without credentials (rtsp://host:554/path); user name and password apart,
    # the password sealed with the platform's secret key like exchange secrets.
    stream_url: Mapped[str] = mapped_column(String(500))
    username: Mapped[str] = mapped_column(String(64), default="")
    password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    onvif_address: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    status_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_segment_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # What the last integrity check (jcjg.video.jobs: chain, numbering, files, notarised
    # heads) found: a list of segments.Problem as dicts, empty when all is well.
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    integrity: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)

    def audit_repr(self) -> str:
        return f"{self.code} {self.name}"


class Segment(IdMixin, Base):
    """One recorded segment of a camera: a file of a few seconds, copied from the stream
    without re-encoding. ``chain`` is SHA-256 over the previous segment's chain, this
    segment's number, times and SHA-256 (``jcjg.video.segments.link``)."""

    __tablename__ = "video_segment"
    __permission_entity__: ClassVar[str] = "camera"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (
        UniqueConstraint("camera_id", "sequence"),
        Index("ix_video_segment_camera_started", "camera_id", "started_at"),
    )

    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    sequence: Mapped[int] = mapped_column(BigInteger)  # 1, 2, 3 … per camera
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    duration_s: Mapped[float] = mapped_column(Float)
    path: Mapped[str] = mapped_column(String(300))  # under the media folder
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    chain: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("video_segment_batch.id"), index=True, default=None
    )
    # set when retention removed the file (the row and its hashes stay: the chain still verifies)
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SegmentBatch(IdMixin, Base):
    """Segments of one camera notarised together: the ledger leaf holds the camera, the range
    of numbers and the chain value of the last one."""

    __tablename__ = "video_segment_batch"
    __permission_entity__: ClassVar[str] = "camera"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    first_sequence: Mapped[int] = mapped_column(BigInteger)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    chain_head: Mapped[str] = mapped_column(String(64))
    ledger_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    notarised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Outage(IdMixin, Base):
    """A time a camera recorded nothing: from the last segment's end until segments came again
    (``ended_at`` empty while it lasts). ``reason`` is what the recorder saw."""

    __tablename__ = "camera_outage"
    __permission_entity__: ClassVar[str] = "camera"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    reason: Mapped[str] = mapped_column(String(200), default="")


class CameraLease(Base):
    """Which recorder records a camera: one holder at a time, renewed by its heartbeat and
    taken over by another recorder once it expires."""

    __tablename__ = "camera_lease"

    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Clip(IdMixin, Base):
    """An exported clip: an MP4 of a time range copied from the segments (no re-encoding), in
    the blob store, with its manifest (the segments' numbers and SHA-256) signed and
    notarised."""

    __tablename__ = "video_clip"
    __permission_entity__: ClassVar[str] = "camera"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_s: Mapped[float] = mapped_column(Float)
    blob_digest: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON)
    signature: Mapped[str] = mapped_column(String(400))  # the signed note over the manifest
    ledger_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Snapshot(IdMixin, Base):
    """A photo taken from the recording at a test record's moment (001 4.2.2.2: 采集开始照片,
    采集破型照片) when the lab did not send one."""

    __tablename__ = "video_snapshot"
    __permission_entity__: ClassVar[str] = "test_record"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (UniqueConstraint("test_record_id", "moment"),)

    test_record_id: Mapped[int] = mapped_column(ForeignKey("test_record.id"), index=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"))
    segment_id: Mapped[int] = mapped_column(ForeignKey("video_segment.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    moment: Mapped[str] = mapped_column(String(8))  # "start" | "break"
    taken_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    blob_digest: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    from_lab: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
