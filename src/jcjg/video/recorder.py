"""The recorder: one process supervising an ffmpeg child per camera it holds a lease on.

Each pass (:meth:`Recorder.tick`, about every half second) renews the leases on the heartbeat,
claims free or expired cameras up to its capacity, and for each camera takes the finished
segments in (hashed, moved under the media folder as ``<camera>/<YYYYMMDD>/<HHMMSSffffff>.ts``,
entered with :func:`jcjg.video.segments.ingest`), restarts ffmpeg with backoff when it ended
or stalled, and opens an :class:`~jcjg.video.models.Outage` (camera offline) after
``video_offline_after_seconds`` without a segment, closed when segments come again.
Never logs a stream address with its password.

Before each start the stream's host is resolved and every address checked
(:func:`jcjg.video.addresses.connect_target`); ffmpeg gets the checked address in place of the
name, so a name resolving elsewhere the second time (DNS rebinding) reaches nothing unchecked.
What the camera's page says of a failure does not tell an open port from a closed one
(:func:`jcjg.video.capture.reason`); ffmpeg's own words go to the log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import mmap
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from jcjg.alerts.engine import ON_WRITE_KEY
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.video import addresses, leases, segments
from jcjg.video.capture import CANNOT_CONNECT, NOT_STARTED, Capture, Finished, detail, reason
from jcjg.video.choices import CameraStatus
from jcjg.video.credentials import stream_address
from jcjg.video.models import Camera, Outage

log = logging.getLogger("jcjg.video.recorder")
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")
MAX_BACKOFF_S = 30.0


def file_digest(path: Path) -> tuple[str, int]:
    """SHA-256 and size of a finished segment, hashed straight from the page cache (mapped,
    not copied: the file was just written)."""
    with path.open("rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            return hashlib.sha256(b"").hexdigest(), 0
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return hashlib.sha256(mapped).hexdigest(), size


def default_holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Watch:
    """What the recorder knows of one camera it holds."""

    camera_id: int
    since: dt.datetime  # held since
    capture: Capture | None = None
    started_at: dt.datetime | None = None  # this ffmpeg run's start
    progress_at: dt.datetime | None = None  # last finished segment (wall clock)
    last_end: dt.datetime | None = None  # end of the last segment taken in
    next_start: dt.datetime | None = None
    failures: int = 0
    offline: bool = False
    why: str = ""
    known: set[str] = field(default_factory=set)
    target: str = ""  # the address (and port) this ffmpeg run connects to
    proven: str = ""  # the address that last delivered video


def set_status(db: Session, camera: Camera, status: CameraStatus, now: dt.datetime) -> None:
    """Set a camera's status unless it was retired meanwhile: one conditional UPDATE, so a
    camera retired on a page while its recorder takes a segment in stays retired."""
    db.flush()
    db.execute(
        update(Camera)
        .where(Camera.id == camera.id, Camera.status != CameraStatus.RETIRED.value)
        .values(status=status.value)
        .execution_options(synchronize_session=False)
    )
    db.expire(camera, ["status"])
    camera.status_since = now  # through the session: the write re-runs the camera's rules


def open_outage(
    db: Session, camera: Camera, since: dt.datetime, why: str, now: dt.datetime
) -> None:
    """A camera that stopped sending segments: an outage from ``since`` (unless one is open
    already), closed when segments come again; the camera offline."""
    ongoing = db.scalars(
        select(Outage.id).where(Outage.camera_id == camera.id, Outage.ended_at.is_(None))
    ).first()
    if ongoing is None:
        db.add(
            Outage(
                camera_id=camera.id,
                institution_id=camera.institution_id,
                region_code=camera.region_code,
                project_id=camera.project_id,
                started_at=since,
                reason=why[:200],
            )
        )
    set_status(db, camera, CameraStatus.OFFLINE, now)


class Recorder:
    """Records the cameras it holds leases on; drive it with :meth:`tick` or :meth:`run`."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        holder: str | None = None,
        capacity: int | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.holder = (holder or default_holder())[:120]
        self.capacity = capacity or settings.video_recorder_capacity
        self.watches: dict[int, Watch] = {}
        self.segment_seconds = settings.video_segment_seconds
        self.lease_seconds = float(settings.video_lease_seconds)
        self.heartbeat_seconds = max(self.lease_seconds / 3, 1.0)
        self.stall_seconds = max(3.0 * self.segment_seconds, 8.0)
        self.offline_seconds = float(settings.video_offline_after_seconds)
        self._heartbeat_at: dt.datetime | None = None
        self.workroot = settings.media_dir / ".work" / _SAFE.sub("_", self.holder)
        self.ingested = 0

    # --- the loop ------------------------------------------------------------------------

    def tick(self, now: dt.datetime | None = None) -> None:
        """One pass: leases (on the heartbeat), then every held camera."""
        now = now or utcnow()
        if self._heartbeat_at is None or (now - self._heartbeat_at).total_seconds() >= (
            self.heartbeat_seconds
        ):
            self._heartbeat_at = now
            self._leases(now)
        arrived: list[tuple[Watch, Finished]] = []
        for watch in list(self.watches.values()):
            arrived += self._look_after(watch, now)
        self._take_in(arrived, now)
        for watch in list(self.watches.values()):
            self._judge(watch, now)

    def run(self, stop: threading.Event, poll_seconds: float = 0.5) -> None:
        """Record until ``stop`` is set, then stop every ffmpeg and release the leases."""
        log.info("recorder %s: up to %d cameras", self.holder, self.capacity)
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # the database away a moment: try again on the next pass
                    log.exception("recorder pass failed")
                stop.wait(poll_seconds)
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop every ffmpeg (their last segments taken in) and release the leases."""
        now = utcnow()
        for watch in self.watches.values():  # all at once: each then finishes in parallel
            if watch.capture is not None:
                watch.capture.interrupt()
        arrived: list[tuple[Watch, Finished]] = []
        for watch in list(self.watches.values()):
            arrived += self._end_capture(watch, graceful=True)
        self._take_in(arrived, now)
        with self.factory() as db:
            leases.release(db, holder=self.holder, camera_ids=list(self.watches))
        self.watches.clear()

    def abandon(self) -> None:
        """Kill every ffmpeg and forget the cameras without releasing (a recorder that died)."""
        for watch in self.watches.values():
            if watch.capture is not None:
                watch.capture.kill()
        self.watches.clear()

    # --- leases --------------------------------------------------------------------------

    def _leases(self, now: dt.datetime) -> None:
        with self.factory() as db:
            held = leases.renew(
                db,
                holder=self.holder,
                camera_ids=list(self.watches),
                now=now,
                lease_seconds=self.lease_seconds,
            )
            lost = set(self.watches) - held  # taken over, or retired
            for camera_id in lost:
                log.info("camera %d: lease lost or camera retired", camera_id)
                self._end_capture(self.watches.pop(camera_id), graceful=False)
            if lost:  # a retired camera's lease goes at once (a lost one is not ours)
                leases.release(db, holder=self.holder, camera_ids=lost)
            won = leases.claim(
                db,
                holder=self.holder,
                now=now,
                lease_seconds=self.lease_seconds,
                limit=self.capacity - len(self.watches),
                exclude=set(self.watches),
            )
        for camera_id in won:
            log.info("camera %d: claimed by %s", camera_id, self.holder)
            self.watches[camera_id] = Watch(camera_id, since=now, next_start=now)

    # --- one camera ----------------------------------------------------------------------

    def _look_after(self, watch: Watch, now: dt.datetime) -> list[tuple[Watch, Finished]]:
        """Start ffmpeg when due, restart it when it ended or stalled; the segments it
        finished since the last pass."""
        capture = watch.capture
        if capture is None:
            if watch.next_start is not None and now >= watch.next_start:
                self._start_capture(watch, now)
            return []
        found = capture.finished()
        if found:
            watch.progress_at = now
        if not capture.running():
            found += capture.finished()
            self._ended(watch, now, capture, capture.process.returncode, bool(found))
        elif self._stalled(watch, now):
            self._ended(watch, now, capture, None, bool(found))
        return [(watch, f) for f in found]

    def _ended(
        self, watch: Watch, now: dt.datetime, capture: Capture, code: int | None, found: bool
    ) -> None:
        """ffmpeg ended (``code``) or stalled (None): the reason the page shows, ffmpeg's own
        words to the log. Video from this address (now or before) proves it."""
        proven = bool(watch.target) and (found or watch.proven == watch.target)
        tail = capture.stderr_tail()
        self._failed(watch, now, reason(tail, code, proven=proven), detail(tail, code))

    def _stalled(self, watch: Watch, now: dt.datetime) -> bool:
        last = watch.progress_at or watch.started_at
        return last is not None and (now - last).total_seconds() > self.stall_seconds

    def _start_capture(self, watch: Watch, now: dt.datetime) -> None:
        with self.factory() as db:
            camera = db.get(Camera, watch.camera_id)
            if camera is None or camera.status == CameraStatus.RETIRED.value:
                return  # a retired camera's lease goes on the next heartbeat
            address = stream_address(self.settings, camera)
            code = camera.code
        try:  # resolved and checked now, outside the session: ffmpeg connects to what passed
            target = addresses.connect_target(self.settings, address)
        except addresses.Refused as refused:
            log.warning("camera %s: stream address refused: %s", code, refused.detail)
            self._failed(watch, now, refused.shown, refused.detail)
            return
        workdir = self.workroot / str(watch.camera_id)
        try:
            watch.capture = Capture(
                self.settings.video_ffmpeg, target.url, workdir, self.segment_seconds
            )
        except OSError as exc:
            log.warning("camera %s: ffmpeg could not start: %s", code, exc.strerror)
            self._failed(watch, now, NOT_STARTED, f"ffmpeg could not start: {exc.strerror}")
            return
        watch.target = target.key
        watch.started_at = now
        watch.progress_at = None
        log.info("camera %s: recording (ffmpeg pid %d)", code, watch.capture.pid)

    def _end_capture(self, watch: Watch, *, graceful: bool) -> list[tuple[Watch, Finished]]:
        """End ffmpeg; gracefully, the segments it finished last."""
        capture, watch.capture = watch.capture, None
        if capture is None:
            return []
        if graceful:
            capture.stop()
            return [(watch, f) for f in capture.finished()]
        capture.kill()
        return []

    def _failed(self, watch: Watch, now: dt.datetime, why: str, details: str) -> None:
        """ffmpeg ended, stalled or was not started: note why (``why`` for the camera's page,
        ``details`` for the log only), start again after a backoff."""
        self._end_capture(watch, graceful=False)
        watch.failures += 1
        watch.why = why
        delay = min(2.0 ** (watch.failures - 1), MAX_BACKOFF_S)
        watch.next_start = now + dt.timedelta(seconds=delay)
        log.info("camera %d: %s (%s); again in %.0f s", watch.camera_id, why, details, delay)

    def _take_in(self, arrived: list[tuple[Watch, Finished]], now: dt.datetime) -> None:
        """Enter the segments finished in one pass, in one transaction (cameras cut their
        segments at about the same moments: one commit for all of them); if that fails, each
        in its own, so that one camera's trouble costs the others nothing. Files move under
        the media folder once their rows are committed."""
        if not arrived:
            return
        if not self._commit(arrived, now):
            for item in arrived:
                self._commit([item], now)

    def _commit(self, arrived: list[tuple[Watch, Finished]], now: dt.datetime) -> bool:
        moves: list[tuple[Path, Path]] = []
        with self.factory() as db:
            db.info[ON_WRITE_KEY] = False  # a segment changes no rule's answer by itself
            try:
                ids = {watch.camera_id for watch, _finished in arrived}
                cameras = {c.id: c for c in db.scalars(select(Camera).where(Camera.id.in_(ids)))}
                for watch, finished in arrived:
                    camera = cameras[watch.camera_id]  # KeyError: the camera is gone
                    moves.append((finished.path, self._enter(db, camera, watch, finished, now)))
                db.commit()
            except Exception:
                log.exception("%d segments not entered", len(arrived))
                db.rollback()
                return False
        for source, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
        for watch, _finished in arrived:
            watch.failures = 0
            watch.offline = False
        self.ingested += len(arrived)
        return True

    def _enter(
        self, db: Session, camera: Camera, watch: Watch, finished: Finished, now: dt.datetime
    ) -> Path:
        """Hash a finished file and enter it in the camera's chain; returns where the file
        goes: ``<camera>/<YYYYMMDD>/<HHMMSS + microseconds>.ts`` by its start (UTC)."""
        digest, size = file_digest(finished.path)
        started = dt.datetime.fromtimestamp(finished.started_epoch, dt.UTC)
        relative = f"{camera.id}/{started:%Y%m%d}/{started:%H%M%S%f}.ts"
        target = segments.media_path(self.settings, relative)
        if target.exists():  # never over another segment's file
            raise FileExistsError(relative)
        segment = segments.ingest(
            db,
            camera=camera,
            relative_path=relative,
            started_at=started,
            duration_s=finished.duration_s,
            sha256=digest,
            size_bytes=size,
        )
        retired = camera.status == CameraStatus.RETIRED.value
        if not retired and (watch.offline or camera.status != CameraStatus.ONLINE.value):
            db.info[ON_WRITE_KEY] = True  # status and outages: camera_offline, video_gap
            self._back_online(db, camera, segment.started_at, now)
        watch.progress_at = now
        watch.last_end = segment.ended_at
        watch.proven = watch.target
        return target

    @staticmethod
    def _silent(watch: Watch) -> str:
        """Why a camera whose ffmpeg has not failed yet sends nothing: said neutrally unless
        its address delivered video before (an address that accepts and stays silent must
        read as one that refuses)."""
        if watch.target and watch.proven == watch.target:
            return "长时间未收到视频片段"
        return CANNOT_CONNECT

    def _back_online(
        self, db: Session, camera: Camera, started: dt.datetime, now: dt.datetime
    ) -> None:
        for outage in db.scalars(
            select(Outage).where(Outage.camera_id == camera.id, Outage.ended_at.is_(None))
        ):
            outage.ended_at = max(started, outage.started_at)
        set_status(db, camera, CameraStatus.ONLINE, now)

    def _judge(self, watch: Watch, now: dt.datetime) -> None:
        """Offline after ``video_offline_after_seconds`` without a segment: open an outage."""
        if watch.offline:
            return
        last = watch.progress_at or watch.since
        if (now - last).total_seconds() <= self.offline_seconds:
            return
        watch.offline = True
        with self.factory() as db:
            camera = db.get(Camera, watch.camera_id)
            if camera is None or camera.status == CameraStatus.RETIRED.value:
                return  # a retired camera's lease goes on the next heartbeat
            since = watch.last_end or camera.last_segment_at or watch.since
            open_outage(db, camera, since, watch.why or self._silent(watch), now)
            db.commit()
        log.info("camera %d: offline (%s)", watch.camera_id, watch.why or "no segment")
