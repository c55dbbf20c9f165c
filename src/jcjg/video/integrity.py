"""Checking a camera's recording incrementally (the ``video.verify`` job).

Each run checks, for one camera:

- the segments received since the last check: chain links and files re-hashed;
- every notarised batch head against its row;
- a rolling slice of the older segments (chain links and files), so that every kept file is
  re-hashed once every ``REHASH_DAYS``: the slice is the part of the numbering that the time
  since the last run covers of that period, whatever the runs' spacing.

What it finds replaces the earlier findings for the parts it checked; findings about parts not
checked this time are kept (a problem stays until a check of its segment finds it gone).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.video import segments
from jcjg.video.models import Camera, Segment, SegmentBatch

REHASH_DAYS = 30
_RECENT_SLACK = dt.timedelta(minutes=1)


def _rows(db: Session, camera_id: int, lo: int, hi: int) -> list[Segment]:
    return list(
        db.scalars(
            select(Segment)
            .where(Segment.camera_id == camera_id, Segment.sequence >= lo, Segment.sequence <= hi)
            .order_by(Segment.sequence)
        )
    )


def _checked(
    db: Session, settings: Settings, camera_id: int, lo: int, hi: int
) -> list[segments.Problem]:
    """Chain and files of the segments numbered ``lo``..``hi``."""
    if hi < lo:
        return []
    rows = _rows(db, camera_id, lo, hi)
    before = _rows(db, camera_id, lo - 1, lo - 1) if lo > 1 else []
    previous = before[0].chain if before else segments.GENESIS
    found = segments.verify_chain(rows, previous, lo - 1)
    if lo > 1 and not before:
        found.insert(0, segments.Problem("sequence", lo - 1, f"缺少第 {lo - 1} 段"))
    return found + segments.verify_files(settings, rows)


def _slices(camera: Camera, top: int, now: dt.datetime) -> list[tuple[int, int]]:
    """The numbers of the rolling slice for this run (1-based, inclusive ranges)."""
    period = REHASH_DAYS * 86400.0
    if camera.verified_at is None or (now - camera.verified_at).total_seconds() >= period:
        return [(1, top)]
    phase_now = (now.timestamp() % period) / period
    phase_then = phase_now - (now - camera.verified_at).total_seconds() / period
    hi = int(phase_now * top)
    if phase_then < 0:  # wrapped around: the end of the numbering, then its start
        return [(int((phase_then + 1) * top) + 1, top), (1, hi)]
    return [(int(phase_then * top) + 1, hi)]


def check(db: Session, settings: Settings, camera: Camera, now: dt.datetime) -> int:
    """Check ``camera`` (see the module); stores the problems and the time; returns how many."""
    top = db.scalar(select(func.max(Segment.sequence)).where(Segment.camera_id == camera.id)) or 0
    ranges: list[tuple[int, int]] = []
    since = camera.verified_at - _RECENT_SLACK if camera.verified_at else None
    first_new = (
        db.scalar(
            select(func.min(Segment.sequence)).where(
                Segment.camera_id == camera.id, Segment.received_at >= since
            )
        )
        if since
        else 1
    )
    if first_new:
        ranges.append((int(first_new), top))
    ranges += _slices(camera, top, now)
    found: list[segments.Problem] = []
    for lo, hi in ranges:
        found += _checked(db, settings, camera.id, lo, hi)
    heads = select(SegmentBatch.last_sequence).where(SegmentBatch.camera_id == camera.id)
    rows = {
        r.sequence: r
        for r in db.scalars(
            select(Segment).where(Segment.camera_id == camera.id, Segment.sequence.in_(heads))
        )
    }
    found += segments.verify_batches(db, camera.id, rows)
    kept = [
        p
        for p in camera.integrity or []
        if p.get("kind") != "batch"
        and not any(lo <= int(p.get("sequence", 0)) <= hi for lo, hi in ranges)
    ]
    camera.integrity = _unique(kept + [_as_dict(p) for p in found])
    camera.verified_at = now
    return len(camera.integrity)


def _as_dict(problem: segments.Problem) -> dict[str, Any]:
    return {
        "kind": problem.kind,
        "sequence": problem.sequence,
        "detail": problem.detail,
        "started_at": problem.started_at.isoformat() if problem.started_at else None,
    }


def _unique(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, Any]] = set()
    out: list[dict[str, Any]] = []
    for p in sorted(problems, key=lambda p: (int(p.get("sequence", 0)), str(p.get("kind")))):
        if (p.get("kind"), p.get("sequence")) not in seen:
            seen.add((p.get("kind"), p.get("sequence")))
            out.append(p)
    return out
