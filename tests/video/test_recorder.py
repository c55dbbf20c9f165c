"""The recorder against a real RTSP test camera: segments recorded, timed and chained; the
camera killed and restarted (outage opened and closed, offline then online, the gap alert);
two recorders (the second takes over when the first stops heartbeating)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.video import segments
from jcjg.video.credentials import seal_password, stream_address
from jcjg.video.models import Camera, CameraLease, Outage, Segment
from jcjg.video.recorder import Recorder
from tests.factories import Factory
from tests.video.rtsp import RtspCamera, camera_clip, rtsp_camera  # noqa: F401

pytestmark = [pytest.mark.xdist_group("video-recorder")]


@pytest.fixture
def video_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "video_segment_seconds": 1,
            "video_offline_after_seconds": 5,
            "video_lease_seconds": 3,
        }
    )


def make_camera(db: Session, factory: Factory, settings: Settings, cam: RtspCamera) -> Camera:
    institution = factory.institution()
    camera = Camera(
        institution_id=institution.id,
        region_code=institution.region_code,
        code="CAM-01",
        name="力学室球机",
        place_kind="mechanical",
        form="dome",
        stream_url=cam.url(),
        username=cam.user,
    )
    db.add(camera)
    db.flush()
    seal_password(settings, camera, cam.password)
    db.commit()
    return camera


@pytest.fixture
def recorders(
    video_settings: Settings, session_factory: sessionmaker[Session]
) -> Iterator[Callable[[str], Recorder]]:
    made: list[Recorder] = []

    def make(holder: str) -> Recorder:
        recorder = Recorder(video_settings, session_factory, holder=holder, capacity=4)
        made.append(recorder)
        return recorder

    yield make
    for recorder in made:
        recorder.abandon()


def until(condition: Callable[[], bool], tick: Callable[[], None], timeout: float) -> None:
    """Drive ``tick`` until ``condition`` holds (poll with a deadline)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        tick()
        time.sleep(0.1)


def count(db: Session, camera: Camera) -> int:
    db.expire_all()
    return len(db.scalars(select(Segment.id).where(Segment.camera_id == camera.id)).all())


def assert_recorded(db: Session, settings: Settings, camera: Camera, began: float) -> None:
    """Numbered on, timed on the wall clock, back to back, chained and verified."""
    rows = db.scalars(
        select(Segment).where(Segment.camera_id == camera.id).order_by(Segment.sequence)
    ).all()
    assert [r.sequence for r in rows] == list(range(1, len(rows) + 1))
    # the segments follow each other and their times are the wall clock's
    span = (rows[-1].ended_at - rows[0].started_at).total_seconds()
    assert abs(sum(r.duration_s for r in rows) - span) < 0.5
    # the stream starts when ffmpeg connects: its first frame is live within a moment of that
    # (a few segments' time: starting ffmpeg on a loaded two-core CI machine took 1.1 s once)
    assert 0 <= rows[0].started_at.timestamp() - began < 3.0, rows[0].started_at.timestamp() - began
    assert abs(rows[-1].ended_at.timestamp() - time.time()) < 2.0
    assert segments.verify_camera(db, settings, camera.id) == []
    assert rows[0].path.startswith(f"{camera.id}/")
    assert rows[0].path.endswith(".ts")
    db.refresh(camera)
    assert camera.status == "online"


def any_hour(db: Session) -> None:
    """video_gap counts every hour of every day (the test runs whenever)."""
    for key, value in {"work_start_hour": 0, "work_end_hour": 24, "every_day": 1}.items():
        db.add(RuleThreshold(rule_id="video_gap", region_code="360000", key=key, value=value))
    db.flush()


def test_address_percent_encodes_credentials_and_never_stores_them(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    cam = RtspCamera(video_settings.data_dir / "none.mp4", user="a b", password="p@ss:w/rd")
    camera = make_camera(db, factory, video_settings, cam)
    assert camera.password_sealed
    assert b"p@ss" not in camera.password_sealed
    address = stream_address(video_settings, camera)
    assert address.startswith("rtsp://a%20b:p%40ss%3Aw%2Frd@127.0.0.1:")
    assert "p@ss" not in camera.stream_url


def test_records_reconnects_and_verifies(
    db: Session,
    factory: Factory,
    video_settings: Settings,
    rtsp_camera: RtspCamera,  # noqa: F811
    recorders: Callable[[str], Recorder],
) -> None:
    camera = make_camera(db, factory, video_settings, rtsp_camera)
    recorder = recorders("rec-a")
    began = time.time()
    until(lambda: count(db, camera) >= 5, recorder.tick, 20)
    assert_recorded(db, video_settings, camera, began)

    # the camera goes away: offline, an outage opened from the last segment's end
    rtsp_camera.stop()

    def outage_open() -> bool:
        db.expire_all()
        return db.scalars(select(Outage).where(Outage.camera_id == camera.id)).first() is not None

    until(outage_open, recorder.tick, 20)
    outage = db.scalars(select(Outage).where(Outage.camera_id == camera.id)).one()
    db.refresh(camera)
    assert camera.status == "offline"
    assert outage.ended_at is None
    assert outage.reason
    assert "rtsp://" not in outage.reason
    assert "p@ss" not in outage.reason
    last = segments.last_segment(db, camera.id)
    assert last is not None
    assert abs((outage.started_at - last.ended_at).total_seconds()) < 0.01

    # video_gap fires while the recording has a hole (any hour, any day, for the test)
    any_hour(db)
    outage.started_at -= dt.timedelta(seconds=120)  # as if it had lasted two minutes
    db.commit()
    run_rule(db, "video_gap")
    gap = db.scalars(select(Alert).where(Alert.rule_id == "video_gap")).one()
    assert gap.status == "open"
    assert gap.facts

    # back: segments again, the outage closed, online
    rtsp_camera.start()

    def back() -> bool:
        db.expire_all()
        return db.get_one(Outage, outage.id).ended_at is not None

    until(back, recorder.tick, 25)
    db.refresh(camera)
    assert camera.status == "online"
    assert segments.verify_camera(db, video_settings, camera.id) == []
    # the gap alert stays while the lab is told (keep_hours), and closes after
    run_rule(db, "video_gap")
    db.refresh(gap)
    assert gap.status == "open"
    run_rule(db, "video_gap", now=utcnow() + dt.timedelta(hours=25))
    db.refresh(gap)
    assert gap.status == "closed"
    recorder.stop()
    assert db.scalars(select(CameraLease)).first() is None


def test_second_recorder_takes_over_when_the_first_stops_heartbeating(
    db: Session,
    factory: Factory,
    video_settings: Settings,
    rtsp_camera: RtspCamera,  # noqa: F811
    recorders: Callable[[str], Recorder],
) -> None:
    camera = make_camera(db, factory, video_settings, rtsp_camera)
    first, second = recorders("rec-a"), recorders("rec-b")
    until(lambda: count(db, camera) >= 2, first.tick, 20)
    second.tick()
    assert second.watches == {}  # held by the first
    first.abandon()  # dies: no heartbeat, no release
    recorded = count(db, camera)

    def taken_over() -> bool:
        db.expire_all()
        lease = db.get(CameraLease, camera.id)
        return lease is not None and lease.holder == "rec-b" and count(db, camera) > recorded + 1

    until(taken_over, second.tick, 25)
    assert segments.verify_camera(db, video_settings, camera.id) == []

    # retired: no longer recorded, its lease given up on the next heartbeat
    camera.status = "retired"
    db.commit()
    until(lambda: not second.watches, second.tick, 10)
    db.expire_all()
    assert db.get(CameraLease, camera.id) is None
