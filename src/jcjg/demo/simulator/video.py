"""Video in ``jcjg simulate``: after the simulated days, each lab's cameras and what they
recorded of its tests (docs/video.md).

A lab's cameras are registered where its tests need them (:mod:`jcjg.video.places`): one on
each testing machine its filmed tests ran on, one for each other place, and a body camera at
each project's site where it tested on site; each test that had to be filmed is recorded from
shortly before it began to shortly after it ended. Segment files are cut once from a generated
clip (:func:`jcjg.demo.video.make_clip`) and every recording points to them: enough for the
rules and the replay, at the cost of a clip that repeats. Without ffmpeg the segments are
entered without files.

A violating lab (``--violations``) left the machine of its first filmed test without a camera:
``coverage_incomplete`` names it, and its tests there have no recording (``video_missing``,
judged by the daily sweep once the recording's grace has passed). And someone with access to its
recordings replaced a minute of one camera's recording (the segment's stored hash changed, as
when a file is swapped and its row made to match): the integrity check (``video.verify``) finds
the chain broken and the file not the one recorded, and ``video_gap`` says so.

The simulated cameras are held by a simulated recorder (:data:`HOLDER`): a lease on each, last
renewed when the run ends, as :mod:`jcjg.video.recorder` keeps its own (``camera_offline`` is
quiet for them until the lease has been expired for its working minutes: the simulator is gone
then, and no recorder has taken over). A violating lab's camera stopped answering during
working hours, long enough before the end of the run for ``camera_offline``: its recorder
opened an outage that nothing closed (``video_gap`` reports the hole as well), and nothing was
recorded on it since.

Cameras and segments are entered in the database, as the tampering of
:func:`jcjg.demo.simulator.sampling.tamper` is: no LIMS message registers cameras yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import load_overrides, resolve_thresholds
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.demo.video import Piece, cut_clip, make_clip
from jcjg.registry.models import Equipment
from jcjg.tenancy.models import Institution
from jcjg.testing.models import OnSiteRecord, TestRecord
from jcjg.video import segments
from jcjg.video.capture import reason
from jcjg.video.choices import PlaceKind
from jcjg.video.coverage import considered
from jcjg.video.models import Camera, CameraLease, Segment
from jcjg.video.places import Places
from jcjg.video.recorder import open_outage
from jcjg.video.rules import camera_offline, working_seconds

PIECE_SECONDS = 60
MARGIN = dt.timedelta(seconds=15)
FOLDER = "simulated"  # under the media folder: the shared segment files
HOLDER = "jcjg-simulate:recorder"  # the simulated recorder holding the simulated cameras
OFFLINE_FOR = 2  # a violating lab's camera offline for twice camera_offline's working minutes
PLANTED = ("coverage_incomplete", "video_missing", "video_gap", "camera_offline")


@dataclass(frozen=True)
class Filmed:
    """A record that had to be filmed: when, where, on which machines."""

    number: str
    start: dt.datetime
    end: dt.datetime
    places: frozenset[PlaceKind]
    machine_ids: tuple[int, ...]
    project_id: int | None


@dataclass
class LabVideo:
    """One lab's filmed records, its cameras and their recording windows."""

    institution: Institution
    records: list[Filmed]
    cameras: list[Camera] = field(default_factory=list)
    windows: dict[int, list[tuple[dt.datetime, dt.datetime]]] = field(default_factory=dict)


def film(db: Session, settings: Settings, labs: Iterable[tuple[str, bool]]) -> dict[str, int]:
    """Cameras and recordings for the simulated labs, (code, violator) each; the violations
    planted, by rule. Commits."""
    planted: dict[str, int] = defaultdict(int)
    now = utcnow()
    plans = [_plan(db, code, violator) for code, violator in labs]
    every = [p for p, _ in (x for x in plans if x is not None)]
    stopped = [_stops(db, lab, now) for lab, skipped in (x for x in plans if x) if skipped]
    longest = max(
        (b - a for lab in every for spans in lab.windows.values() for a, b in spans),
        default=dt.timedelta(0),
    )
    db.commit()  # the cameras: ffmpeg makes the footage without holding the write lock
    with tempfile.TemporaryDirectory(prefix="jcjg-sim-video-") as work:
        pieces = _pieces(settings, Path(work), longest.total_seconds())
        for lab in every:
            for camera in lab.cameras:
                for start, end in lab.windows.get(camera.id, []):
                    _ingest(db, camera, start, end, pieces)
    _hold(db, settings, every, now)
    for camera, since in (x for x in stopped if x is not None):
        # the recorder's verdict when ffmpeg's last words were a timeout: offline since the
        # end of the last segment
        why = reason("Connection to tcp://camera:554 failed: Connection timed out", 1)
        open_outage(db, camera, max(since, camera.last_segment_at or since), why, now)
        planted["camera_offline"] += 1
    for found in plans:
        if found is None:
            continue
        lab, skipped = found
        if skipped:
            planted["coverage_incomplete"] += 1
            planted["video_missing"] += _uncovered(db, lab)
            planted["video_gap"] += _swap_a_segment(db, lab)
    db.commit()
    return {k: v for k, v in planted.items() if v}


def _plan(db: Session, code: str, violator: bool) -> tuple[LabVideo, bool] | None:
    """A lab's cameras (flushed) and what each records; and whether a machine was left
    without a camera."""
    inst = db.scalars(select(Institution).where(Institution.code == code)).first()
    if inst is None:
        return None
    lab = LabVideo(inst, _filmed(db, inst))
    machines = {m.id: m for m in db.scalars(select(Equipment).where(
        Equipment.institution_id == inst.id))}  # fmt: skip
    used = list(dict.fromkeys(i for r in lab.records for i in r.machine_ids))
    skipped = used[0] if violator and used else None
    n = 0
    for machine_id in used:
        if machine_id != skipped:
            n += 1
            machine = machines[machine_id]
            lab.cameras.append(_camera(db, inst, n, f"{machine.name}摄像机", PlaceKind.MECHANICAL,
                                       equipment_id=machine_id, lab_id=machine.lab_id))  # fmt: skip
    places = {p for r in lab.records for p in r.places} - {PlaceKind.MECHANICAL, PlaceKind.ONSITE}
    for place in sorted(places, key=lambda p: p.value):
        n += 1
        lab.cameras.append(_camera(db, inst, n, f"{place.label}摄像机", place))
    for project_id in sorted({r.project_id for r in lab.records
                              if PlaceKind.ONSITE in r.places and r.project_id}):  # fmt: skip
        n += 1
        lab.cameras.append(_camera(db, inst, n, "现场检测记录仪", PlaceKind.ONSITE, form="body",
                                   project_id=project_id))  # fmt: skip
    for record in lab.records:
        if skipped is not None and skipped in record.machine_ids:
            continue  # the planted violation: nothing recorded its tests
        chosen = considered(lab.cameras, record.machine_ids, record.places, record.project_id)
        if chosen:
            spans = lab.windows.setdefault(chosen[0].id, [])
            spans.append((record.start - MARGIN, record.end + MARGIN))
    lab.windows = {k: _merged(v) for k, v in lab.windows.items()}
    return lab, skipped is not None


def _filmed(db: Session, inst: Institution) -> list[Filmed]:
    places = Places.reading(db)
    machines = {
        e.asset_number: e.id
        for e in db.scalars(select(Equipment).where(Equipment.institution_id == inst.id))
        if e.asset_number
    }
    out: list[Filmed] = []
    records = select(TestRecord).where(TestRecord.institution_id == inst.id)
    for r in db.scalars(records.order_by(TestRecord.started_at, TestRecord.id)):
        needed = places.of(r.kind, r.parameter_codes or [])
        if needed:
            ids = tuple(machines[a] for a in r.equipment or [] if a in machines)
            out.append(Filmed(r.number, r.started_at, r.ended_at, needed, ids, r.project_id))
    onsite = select(OnSiteRecord).where(OnSiteRecord.institution_id == inst.id)
    for o in db.scalars(onsite.order_by(OnSiteRecord.started_at, OnSiteRecord.id)):
        out.append(Filmed(o.number, o.started_at, o.ended_at, frozenset({PlaceKind.ONSITE}), (),
                          o.project_id))  # fmt: skip
    return out


def _hold(db: Session, settings: Settings, labs: list[LabVideo], now: dt.datetime) -> None:
    """The simulated recorder's leases on every simulated camera: held since the lab's first
    recording, last renewed ``now`` (expiring a lease's length later, as a recorder's do)."""
    expires = now + dt.timedelta(seconds=settings.video_lease_seconds)
    for lab in labs:
        since = min((r.start - MARGIN for r in lab.records), default=now)
        for camera in lab.cameras:
            db.add(CameraLease(camera_id=camera.id, holder=HOLDER, acquired_at=min(since, now),
                               heartbeat_at=now, expires_at=expires))  # fmt: skip
    db.flush()


def _stops(db: Session, lab: LabVideo, now: dt.datetime) -> tuple[Camera, dt.datetime] | None:
    """A violating lab's camera whose stream stops answering during working hours, twice
    ``camera_offline``'s working minutes before ``now``: the one that recorded the least
    lately (what it would have recorded since is not: its windows are cut there). The camera
    and when it stopped."""
    recorded = [c for c in lab.cameras if lab.windows.get(c.id)]
    if not recorded:
        return None
    camera = min(recorded, key=lambda c: lab.windows[c.id][-1][1])
    overrides = load_overrides(db, camera_offline.id)
    limits = resolve_thresholds(camera_offline, overrides, camera.region_code)
    wanted = OFFLINE_FOR * float(limits["minutes"]) * 60
    early, late = now - dt.timedelta(days=31), now  # a month holds that many working minutes
    while late - early > dt.timedelta(seconds=1):  # the latest moment that far from now
        middle = early + (late - early) / 2
        if working_seconds(middle, now, limits) >= wanted:
            early = middle
        else:
            late = middle
    lab.windows[camera.id] = [(a, min(b, early)) for a, b in lab.windows[camera.id] if a < early]
    return camera, early


def _camera(db: Session, inst: Institution, n: int, name: str, place: PlaceKind,
            **values: Any) -> Camera:  # fmt: skip
    camera = Camera(institution_id=inst.id, region_code=inst.region_code, code=f"SIM-CAM-{n:02d}",
                    name=name, place_kind=place.value, resolution="1920x1080",
                    stream_url=f"rtsp://10.{inst.id % 250}.0.{n}:554/Streaming/Channels/101",
                    **values)  # fmt: skip
    db.add(camera)
    db.flush()
    return camera


def _merged(spans: list[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    out: list[tuple[dt.datetime, dt.datetime]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


Shared = list[tuple[Piece, str, int]]  # a segment file, its SHA-256 and size


def _pieces(settings: Settings, work: Path, seconds: float) -> Shared:
    """The shared segment files (or, without ffmpeg, their would-be names) with their
    hashes."""
    clip = make_clip(settings, work) if seconds > 0 else None
    folder = settings.media_dir / FOLDER
    found = cut_clip(settings, clip, folder, seconds, PIECE_SECONDS) if clip else None
    if not found:
        count = int(seconds // PIECE_SECONDS) + 1
        found = [Piece(f"{n:05d}.ts", n * PIECE_SECONDS, PIECE_SECONDS) for n in range(count)]
    out: Shared = []
    for piece in found:
        path = folder / piece.name
        digest, size = segments.file_sha256(path) if path.exists() else ("0" * 64, 0)
        out.append((piece, digest, size))
    return out


def _ingest(db: Session, camera: Camera, start: dt.datetime, end: dt.datetime,
            pieces: Shared) -> None:  # fmt: skip
    for piece, digest, size in pieces:
        if start + dt.timedelta(seconds=piece.offset) >= end:
            break
        segments.ingest(db, camera=camera, relative_path=f"{FOLDER}/{piece.name}",
                        started_at=start + dt.timedelta(seconds=piece.offset),
                        duration_s=piece.duration, sha256=digest, size_bytes=size)  # fmt: skip
    camera.status = "online"


def _swap_a_segment(db: Session, lab: LabVideo) -> int:
    """A minute in the middle of the lab's longest recording replaced: the segment's stored
    SHA-256 changed after it was chained (found by ``video.verify``). 1 when done."""
    counts = {
        camera.id: db.scalar(select(func.count()).where(Segment.camera_id == camera.id)) or 0
        for camera in lab.cameras
    }
    camera_id = max(counts, key=lambda c: counts[c], default=None)
    if camera_id is None or counts[camera_id] < 3:
        return 0
    middle = db.scalars(
        select(Segment).where(
            Segment.camera_id == camera_id, Segment.sequence == counts[camera_id] // 2 + 1
        )
    ).one()
    middle.sha256 = hashlib.sha256(f"替换的录像 {middle.id}".encode()).hexdigest()
    db.flush()
    return 1


def _uncovered(db: Session, lab: LabVideo) -> int:
    """How many of the lab's filmed records no recording covers."""
    count = 0
    for r in lab.records:
        chosen = considered(lab.cameras, r.machine_ids, r.places, r.project_id)
        if segments.covering(db, [c.id for c in chosen], r.start, r.end, tolerance_s=10):
            count += 1
    return count
