"""Recorded segments: the hash chain that links them, taking a finished file in, checking a
camera's chain and files, and finding what recording covers a moment.

Each segment's ``chain`` is SHA-256 over the previous segment's chain (64 zeros before the
first), the segment's number, start (UTC, ISO 8601 with microseconds), duration and the file's
SHA-256, as one line of text (:func:`link`). Changing, removing or inserting one segment
changes every later chain value, and batches of chain heads are notarised in the ledger
(``video_segment:notarise`` leaves, :mod:`jcjg.video.jobs`): the database cannot be rewritten
to match an edited file without the notarised head disagreeing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.video.models import Camera, Segment, SegmentBatch

GENESIS = "0" * 64
_CHUNK = 1 << 20


def as_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC (aware times only: a naive one is refused)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime refused")
    return moment.astimezone(dt.UTC)


def link(
    previous: str, sequence: int, started_at: dt.datetime, duration_s: float, sha256: str
) -> str:
    """The chain value of a segment after ``previous``."""
    started = as_utc(started_at).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    line = f"{previous} {sequence} {started} {duration_s:.3f} {sha256}\n"
    return hashlib.sha256(line.encode("ascii")).hexdigest()


def file_sha256(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def media_path(settings: Settings, relative: str) -> Path:
    """The file of a segment (``relative`` as stored); never outside the media folder."""
    root = settings.media_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"segment path outside the media folder: {relative!r}")
    return path


def last_segment(db: Session, camera_id: int) -> Segment | None:
    return db.scalars(
        select(Segment)
        .where(Segment.camera_id == camera_id)
        .order_by(Segment.sequence.desc())
        .limit(1)
    ).first()


def ingest(
    db: Session,
    *,
    camera: Camera,
    relative_path: str,
    started_at: dt.datetime,
    duration_s: float,
    sha256: str,
    size_bytes: int,
) -> Segment:
    """Enter a finished segment file (already under the media folder) as the camera's next
    segment, linked into its chain; marks the camera online. Flushes, never commits."""
    previous = last_segment(db, camera.id)
    sequence = previous.sequence + 1 if previous else 1
    started = as_utc(started_at)
    segment = Segment(
        camera_id=camera.id,
        institution_id=camera.institution_id,
        region_code=camera.region_code,
        project_id=camera.project_id,
        sequence=sequence,
        started_at=started,
        ended_at=started + dt.timedelta(seconds=duration_s),
        duration_s=round(duration_s, 3),
        path=relative_path,
        size_bytes=size_bytes,
        sha256=sha256,
        chain=link(
            previous.chain if previous else GENESIS, sequence, started, round(duration_s, 3), sha256
        ),
    )
    db.add(segment)
    camera.last_segment_at = segment.ended_at
    db.flush()
    return segment


@dataclass(frozen=True)
class Problem:
    """Something wrong with a camera's recording: ``kind`` is ``chain`` (a row's chain value
    does not follow), ``sequence`` (numbers missing), ``file_missing``, ``file_changed`` or
    ``batch`` (a notarised head no longer matches)."""

    kind: str
    sequence: int
    detail: str
    started_at: dt.datetime | None = None


def verify_chain(
    segments: Sequence[Segment], previous: str = GENESIS, previous_sequence: int = 0
) -> list[Problem]:
    """Check that each row's chain value follows from the one before and numbers run on."""
    problems: list[Problem] = []
    chain, expected = previous, previous_sequence + 1
    for row in segments:
        if row.sequence != expected:
            problems.append(
                Problem(
                    "sequence",
                    expected,
                    f"缺少第 {expected}～{row.sequence - 1} 段",
                    row.started_at,
                )
            )
        value = link(chain, row.sequence, row.started_at, row.duration_s, row.sha256)
        if value != row.chain:
            problems.append(Problem("chain", row.sequence, "哈希链不连续", row.started_at))
        chain, expected = row.chain, row.sequence + 1
    return problems


def verify_files(settings: Settings, segments: Iterable[Segment]) -> list[Problem]:
    """Check each kept segment's file against its SHA-256 (removed ones by retention skipped)."""
    problems: list[Problem] = []
    for row in segments:
        if row.removed_at is not None:
            continue
        path = media_path(settings, row.path)
        if not path.exists():
            problems.append(Problem("file_missing", row.sequence, "录像文件缺失", row.started_at))
            continue
        digest, _size = file_sha256(path)
        if digest != row.sha256:
            problems.append(
                Problem("file_changed", row.sequence, "录像文件已被改动", row.started_at)
            )
    return problems


def verify_batches(db: Session, camera_id: int, by_sequence: dict[int, Segment]) -> list[Problem]:
    """Check the notarised chain heads against the rows."""
    problems: list[Problem] = []
    for batch in db.scalars(select(SegmentBatch).where(SegmentBatch.camera_id == camera_id)):
        row = by_sequence.get(batch.last_sequence)
        if row is None or row.chain != batch.chain_head:
            problems.append(
                Problem(
                    "batch",
                    batch.last_sequence,
                    "与存证的哈希链头不一致",
                    row.started_at if row else None,
                )
            )
    return problems


def verify_camera(
    db: Session, settings: Settings, camera_id: int, *, files: bool = True
) -> list[Problem]:
    """Everything wrong with a camera's recording: chain, numbering, files, notarised heads."""
    rows = list(
        db.scalars(select(Segment).where(Segment.camera_id == camera_id).order_by(Segment.sequence))
    )
    problems = verify_chain(rows)
    if files:
        problems += verify_files(settings, rows)
    problems += verify_batches(db, camera_id, {row.sequence: row for row in rows})
    return problems


def covering(
    db: Session,
    camera_ids: Sequence[int],
    start: dt.datetime,
    end: dt.datetime,
    *,
    tolerance_s: float = 2.0,
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The parts of ``start``–``end`` no segment of the cameras covers (empty: fully
    recorded). Gaps shorter than ``tolerance_s`` between segments do not count."""
    if not camera_ids:
        return [(start, end)]
    rows = db.execute(
        select(Segment.started_at, Segment.ended_at)
        .where(
            Segment.camera_id.in_(camera_ids),
            Segment.started_at < end,
            Segment.ended_at > start,
        )
        .order_by(Segment.started_at)
    ).all()
    missing: list[tuple[dt.datetime, dt.datetime]] = []
    slack = dt.timedelta(seconds=tolerance_s)
    cursor = as_utc(start)
    finish = as_utc(end)
    for seg_start, seg_end in rows:
        seg_start, seg_end = as_utc(seg_start), as_utc(seg_end)
        if seg_start - cursor > slack:
            missing.append((cursor, seg_start))
        cursor = max(cursor, seg_end)
    if finish - cursor > slack:
        missing.append((cursor, finish))
    return missing


def at(db: Session, camera_id: int, moment: dt.datetime) -> Segment | None:
    """The segment of a camera recorded at ``moment``, if any."""
    return db.scalars(
        select(Segment)
        .where(
            Segment.camera_id == camera_id,
            Segment.started_at <= moment,
            Segment.ended_at > moment,
        )
        .order_by(Segment.sequence)
        .limit(1)
    ).first()
