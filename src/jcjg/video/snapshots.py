"""Start and break photos of force tests taken from the recording (001 4.2.2.2: 采集开始照片,
采集破型照片) when the lab did not send them: the frame at the record's start and at its peak
(the start plus the curve's time to peak), cut from the segment by ffmpeg into a JPEG in the
blob store."""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from jcjg.config import Settings, get_settings
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.testing.models import Curve, TestRecord
from jcjg.video.models import Camera, Segment, Snapshot
from jcjg.video.records import record_camera
from jcjg.video.segments import as_utc, at, media_path

LOOK_BACK = dt.timedelta(days=7)
BATCH = 50
FFMPEG_TIMEOUT_S = 60
MOMENTS = {"start": "采集开始照片", "break": "采集破型照片"}


def moments_of(db: Session, record: TestRecord) -> dict[str, dt.datetime]:
    """When to take each photo: the start, and the peak of the record's first curve."""
    start = as_utc(record.started_at)
    out = {"start": start}
    peak = db.scalars(
        select(Curve.time_to_peak_s)
        .where(Curve.test_record_id == record.id)
        .order_by(Curve.id)
        .limit(1)
    ).first()
    if peak is not None:
        out["break"] = start + dt.timedelta(seconds=float(peak))
    return out


def extract_frame(settings: Settings, segment: Segment, moment: dt.datetime) -> bytes | None:
    """The JPEG of the frame at ``moment`` in ``segment`` (None when ffmpeg makes none)."""
    offset = max(0.0, (as_utc(moment) - as_utc(segment.started_at)).total_seconds())
    source = media_path(settings, segment.path)
    if not source.exists():
        return None
    with tempfile.TemporaryDirectory(prefix="jcjg-snap-") as tmp:
        out = Path(tmp) / "frame.jpg"
        command = [
            settings.video_ffmpeg, "-hide_banner", "-loglevel", "error", "-nostdin",
            "-i", str(source), "-ss", f"{offset:.3f}", "-frames:v", "1", "-q:v", "3",
            "-y", str(out),
        ]  # fmt: skip
        # -ss after -i: decoded up to the moment (a segment is a few seconds). Before -i (a
        # seek in the input) ffmpeg 5.1 gives no frame for the last key-frame interval of an
        # MPEG-TS piece.
        result = subprocess.run(  # noqa: S603 - fixed arguments, our own paths
            command, capture_output=True, timeout=FFMPEG_TIMEOUT_S, check=False
        )
        if result.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            return None
        return out.read_bytes()


def jpeg_size(data: bytes) -> tuple[int, int]:
    """Width and height from a JPEG's start-of-frame marker (0, 0 when not found)."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            height = int.from_bytes(data[i + 5 : i + 7], "big")
            width = int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    return 0, 0


def take(db: Session, settings: Settings, record: TestRecord, camera: Camera) -> list[Snapshot]:
    """Take the record's missing photos from ``camera``'s recording."""
    return store(db, settings, cut(settings, plan(db, record, camera)))


@dataclass(frozen=True)
class Shot:
    """A photo to take: of ``record`` at ``moment`` (``when``), from ``segment`` of ``camera``;
    ``data`` once cut (None: not taken yet, or the recording gave no frame)."""

    record: TestRecord
    camera: Camera
    segment: Segment
    moment: str
    when: dt.datetime
    data: bytes | None = None


def plan(db: Session, record: TestRecord, camera: Camera) -> list[Shot]:
    """The record's photos not taken yet whose moment ``camera`` recorded (reads only)."""
    have = set(db.scalars(select(Snapshot.moment).where(Snapshot.test_record_id == record.id)))
    shots = []
    for moment, when in moments_of(db, record).items():
        segment = at(db, camera.id, when)
        if moment in have or segment is None or segment.removed_at is not None:
            continue
        shots.append(Shot(record, camera, segment, moment, when))
    return shots


def cut(settings: Settings, shots: list[Shot]) -> list[Shot]:
    """Each photo cut from its recording by ffmpeg (no database: the job cuts them with no
    transaction open, so no writer waits for ffmpeg)."""
    return [replace(s, data=extract_frame(settings, s.segment, s.when)) for s in shots]


def store(db: Session, settings: Settings, shots: list[Shot]) -> list[Snapshot]:
    """The photos cut, stored (blob and row); flushed."""
    taken: list[Snapshot] = []
    for shot in shots:
        if shot.data is None:
            continue
        digest = blob_store(settings).put(shot.data)
        width, height = jpeg_size(shot.data)
        record = shot.record
        row = Snapshot(
            test_record_id=record.id, camera_id=shot.camera.id, segment_id=shot.segment.id,
            institution_id=record.institution_id, region_code=record.region_code,
            project_id=record.project_id, moment=shot.moment, taken_at=shot.when,
            blob_digest=digest, width=width, height=height,
        )  # fmt: skip
        db.add(row)
        taken.append(row)
    db.flush()
    return taken


def pending(db: Session, now: dt.datetime, limit: int = BATCH) -> list[TestRecord]:
    """Recent force-test records with no photo taken yet."""
    return list(
        db.scalars(
            select(TestRecord)
            .where(
                TestRecord.kind != "other",
                TestRecord.started_at >= now - LOOK_BACK,
                TestRecord.ended_at <= now,
                TestRecord.institution_id.in_(select(Camera.institution_id)),
                ~exists().where(Snapshot.test_record_id == TestRecord.id),
            )
            .order_by(TestRecord.started_at.desc())
            .limit(limit)
        )
    )


def take_pending(db: Session, settings: Settings, now: dt.datetime) -> int:
    """The photos of the recent records that have none: planned, then ``db``'s transaction
    ends (commit) while ffmpeg cuts them, then stored (flushed; the caller commits)."""
    shots: list[Shot] = []
    for record in pending(db, now):
        camera = record_camera(db, record)
        if camera is not None:
            shots += plan(db, record, camera)
    db.commit()
    return len(store(db, settings, cut(settings, shots)))


@job("video.snapshots", title="从录像截取试验开始与破型照片", every=dt.timedelta(minutes=5))
def snapshots(db: Session, log: logging.Logger) -> None:
    """Take the start and break photos of recent force tests from their recording."""
    count = take_pending(db, get_settings(), utcnow())
    db.commit()
    log.info("%d snapshots", count)
