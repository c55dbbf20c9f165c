"""Retention: segment files older than their region's retention are removed (the rows and
their hashes stay, ``removed_at`` set, so the chain still verifies), except those an open
matter holds.

A segment is held when its time overlaps, for a camera of the same institution:

- a test record with an open nonconformity (not closed), or under an alert whose case is open
  (not dismissed or closed): the record's start to end, 10 minutes either side;
- a sample under an open case: from its sampling on;
- a project under an open case: every segment of the project's site cameras;
- an open nonconformity with no test record: the institution's recordings, all of them;
- a camera under an open case (a ``video_gap`` or ``camera_offline`` case): all its segments.

Retention by region: ``video_retention_months`` maps region code prefixes to months (the
longest matching prefix wins; 6 months by default; settings refuse fewer than 3).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import CaseStatus
from jcjg.alerts.models import Alert, Case
from jcjg.config import Settings
from jcjg.nonconformity.choices import NcStatus
from jcjg.nonconformity.models import Nonconformity
from jcjg.sampling.models import Sample
from jcjg.testing.models import TestRecord
from jcjg.video import segments
from jcjg.video.models import Camera, Segment

DEFAULT_MONTHS = 6
MARGIN = dt.timedelta(minutes=10)
BATCH = 2000
_CLOSED_CASES = (CaseStatus.DISMISSED.value, CaseStatus.CLOSED.value)
Window = tuple[dt.datetime, dt.datetime]


def months_for(settings: Settings, region_code: str) -> int:
    """The retention (months) of a region: the longest matching prefix's, else 6."""
    best, months = -1, DEFAULT_MONTHS
    for prefix, value in settings.video_retention_months.items():
        if region_code.startswith(prefix) and len(prefix) > best:
            best, months = len(prefix), value
    return months


def months_before(moment: dt.datetime, months: int) -> dt.datetime:
    """``moment`` less ``months`` calendar months (the day clipped to the month's end)."""
    year, month = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + year, month + 1
    day = moment.day
    while True:
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


@dataclass
class Holds:
    """What open matters hold: time windows per institution, whole institutions, cameras."""

    windows: dict[int, list[Window]] = field(default_factory=lambda: defaultdict(list))
    institutions: set[int] = field(default_factory=set)
    cameras: set[int] = field(default_factory=set)

    def holds(self, camera: Camera, start: dt.datetime, end: dt.datetime) -> bool:
        if camera.id in self.cameras or camera.institution_id in self.institutions:
            return True
        return any(s < end and start < e for s, e in self.windows.get(camera.institution_id, []))


def _record_window(record: TestRecord) -> Window:
    return record.started_at - MARGIN, record.ended_at + MARGIN


def holds(db: Session, now: dt.datetime) -> Holds:
    """Everything open matters hold now."""
    found = Holds()
    for nc in db.scalars(select(Nonconformity).where(Nonconformity.status != NcStatus.CLOSED)):
        record = db.get(TestRecord, nc.test_record_id) if nc.test_record_id else None
        if record is None:
            found.institutions.add(nc.institution_id)
        else:
            found.windows[nc.institution_id].append(_record_window(record))
    open_cases = (
        select(Alert)
        .join(Case, Case.alert_id == Alert.id)
        .where(Case.status.not_in(_CLOSED_CASES), Alert.subject_id.is_not(None))
    )
    for alert in db.scalars(open_cases):
        _hold_subject(db, found, alert, now)
    return found


def _hold_subject(db: Session, found: Holds, alert: Alert, now: dt.datetime) -> None:
    text = alert.subject_id or ""
    if not text.isdecimal():
        return
    subject = int(text)
    if alert.subject_type == "camera":
        found.cameras.add(subject)
    elif alert.subject_type == "test_record":
        record = db.get(TestRecord, subject)
        if record is not None and record.institution_id is not None:
            found.windows[record.institution_id].append(_record_window(record))
    elif alert.subject_type == "sample":
        sample = db.get(Sample, subject)
        if sample is not None and sample.institution_id is not None:
            found.windows[sample.institution_id].append((sample.sampled_at - MARGIN, now))
    elif alert.subject_type == "project":
        found.cameras.update(db.scalars(select(Camera.id).where(Camera.project_id == subject)))


def enforce(db: Session, settings: Settings, now: dt.datetime) -> tuple[int, int]:
    """Remove the files past retention that nothing holds; returns (removed, held). Commits
    after each camera's batch."""
    held_by = holds(db, now)
    removed = held = 0
    for camera in list(db.scalars(select(Camera).order_by(Camera.id))):
        cutoff = months_before(now, months_for(settings, camera.region_code))
        after = 0
        while True:
            rows = list(
                db.scalars(
                    select(Segment)
                    .where(
                        Segment.camera_id == camera.id,
                        Segment.ended_at < cutoff,
                        Segment.removed_at.is_(None),
                        Segment.sequence > after,
                    )
                    .order_by(Segment.sequence)
                    .limit(BATCH)
                )
            )
            if not rows:
                break
            for row in rows:
                if held_by.holds(camera, row.started_at, row.ended_at):
                    held += 1
                    continue
                segments.media_path(settings, row.path).unlink(missing_ok=True)
                row.removed_at = now
                removed += 1
            after = rows[-1].sequence
            db.commit()
    return removed, held
