"""Integrity and evidence: segments notarised in batches, checked incrementally (a tampered,
missing or renumbered segment found), retention removing old files but never those an open
case or nonconformity holds; the rules camera_offline and video_gap fire and stay quiet."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert, Case, RuleThreshold
from jcjg.config import Settings, settings_in_use
from jcjg.core.db import utcnow
from jcjg.ledger.models import LedgerLeaf
from jcjg.nonconformity.models import Nonconformity
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord
from jcjg.video import capture, integrity, jobs, leases, retention, segments
from jcjg.video.choices import CameraStatus
from jcjg.video.credentials import redact
from jcjg.video.models import Camera, CameraLease, Outage, Segment, SegmentBatch
from jcjg.video.recorder import set_status
from jcjg.video.rules import working_seconds
from tests.factories import Factory

LOG = logging.getLogger("test.video")
# Wednesday 2026-11-18, 10:00 in Beijing: a working day
WORKING = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def video_settings(settings: Settings) -> Iterator[Settings]:
    tuned = settings.model_copy(update={"video_batch_segments": 4})
    with settings_in_use(tuned):
        yield tuned


def camera_of(db: Session, factory: Factory, region: str = "360403") -> Camera:
    institution = factory.institution(region_code=region)
    camera = Camera(
        institution_id=institution.id,
        region_code=institution.region_code,
        code=f"C-{institution.id}",
        name="收样室枪机",
        place_kind="receiving",
        stream_url="rtsp://127.0.0.1:9/cam0",
    )
    db.add(camera)
    db.flush()
    return camera


def record(
    db: Session, settings: Settings, camera: Camera, count: int, start: dt.datetime
) -> list[Segment]:
    """``count`` 4-second segments from ``start``, files written under the media folder."""
    rows = []
    for n in range(count):
        begun = start + dt.timedelta(seconds=4 * n)
        data = f"segment {camera.id} {n} {begun.isoformat()}".encode() * 50
        relative = f"{camera.id}/{begun:%Y%m%d}/{n + 1:09d}.ts"
        path = segments.media_path(settings, relative)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        rows.append(
            segments.ingest(
                db,
                camera=camera,
                relative_path=relative,
                started_at=begun,
                duration_s=4.0,
                sha256=hashlib.sha256(data).hexdigest(),
                size_bytes=len(data),
            )
        )
    return rows


def test_notarise_batches_each_cameras_segments(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    rows = record(db, video_settings, camera, 10, utcnow() - dt.timedelta(minutes=5))
    jobs.notarise(db, LOG)
    batches = db.scalars(
        select(SegmentBatch).where(SegmentBatch.camera_id == camera.id).order_by(SegmentBatch.id)
    ).all()
    assert [(b.first_sequence, b.last_sequence) for b in batches] == [(1, 4), (5, 8), (9, 10)]
    assert batches[-1].chain_head == rows[-1].chain
    leaf = db.scalars(
        select(LedgerLeaf).where(LedgerLeaf.leaf_index == batches[0].ledger_index)
    ).one()
    assert leaf.entry_type == "video_segment:notarise"
    assert rows[3].chain in str(leaf.entry)
    assert all(r.batch_id is not None for r in rows)
    jobs.notarise(db, LOG)  # nothing new: nothing notarised again
    assert db.scalars(select(SegmentBatch).where(SegmentBatch.camera_id == camera.id)).all() == (
        batches
    )


def test_verify_finds_a_tampered_file_and_a_rewritten_row(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    rows = record(db, video_settings, camera, 8, utcnow() - dt.timedelta(minutes=5))
    jobs.notarise(db, LOG)
    jobs.verify(db, LOG)
    db.refresh(camera)
    assert camera.integrity == []
    assert camera.verified_at is not None
    assert run_rule(db, "video_gap").raised == 0  # quiet while all is well

    path = segments.media_path(video_settings, rows[2].path)
    path.write_bytes(path.read_bytes().replace(b"segment", b"SEGMENT", 1))  # edited
    rows[5].sha256 = "0" * 64  # a row rewritten to match some other file
    db.flush()
    camera.verified_at = None  # a full check (the rolling slice covers all on a first run)
    jobs.verify(db, LOG)
    db.refresh(camera)
    kinds = {(p["kind"], p["sequence"]) for p in camera.integrity}
    assert ("file_changed", 3) in kinds
    assert ("chain", 6) in kinds
    assert ("file_changed", 6) in kinds
    alert = db.scalars(
        select(Alert).where(
            Alert.rule_id == "video_gap", Alert.key == f"camera:{camera.id}:integrity"
        )
    ).one()
    assert alert.status == "open"
    assert any("第 3 段" in line for line in alert.facts["问题"])

    # the next, incremental run checks other parts: what was found stays
    jobs.verify(db, LOG)
    db.refresh(camera)
    assert ("file_changed", 3) in {(p["kind"], p["sequence"]) for p in camera.integrity}


def test_verify_finds_missing_numbers_and_batch_heads(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    rows = record(db, video_settings, camera, 6, utcnow() - dt.timedelta(minutes=5))
    jobs.notarise(db, LOG)
    segments.media_path(video_settings, rows[1].path).unlink()
    db.delete(rows[2])  # a segment removed from the database and its numbering
    db.delete(rows[5])  # the last one, whose chain value was notarised
    db.flush()
    problems = integrity.check(db, video_settings, camera, utcnow())
    kinds = {p["kind"] for p in camera.integrity}
    assert problems
    assert {"file_missing", "sequence", "batch"} <= kinds


def test_retention_removes_old_files_and_keeps_the_rows(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    now = utcnow()
    old = record(db, video_settings, camera, 3, now - dt.timedelta(days=200))
    young = record(db, video_settings, camera, 2, now - dt.timedelta(days=20))
    removed, held = retention.enforce(db, video_settings, now)
    assert (removed, held) == (3, 0)
    for row in old:
        db.refresh(row)
        assert row.removed_at is not None
        assert not segments.media_path(video_settings, row.path).exists()
    assert all(segments.media_path(video_settings, r.path).exists() for r in young)
    assert segments.verify_camera(db, video_settings, camera.id) == []  # the chain still holds


def test_retention_by_region_prefix(video_settings: Settings) -> None:
    tuned = video_settings.model_copy(update={"video_retention_months": {"36": 12, "3604": 3}})
    assert retention.months_for(tuned, "360403") == 3
    assert retention.months_for(tuned, "360100") == 12
    assert retention.months_for(tuned, "450100") == 6
    assert retention.months_before(dt.datetime(2026, 8, 31, tzinfo=dt.UTC), 6) == dt.datetime(
        2026, 2, 28, tzinfo=dt.UTC
    )


def test_retention_never_removes_what_an_open_matter_holds(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    now = utcnow()
    start = now - dt.timedelta(days=200)
    rows = record(db, video_settings, camera, 30, start)  # two minutes of old recording
    test = TestRecord(
        institution_id=camera.institution_id, region_code=camera.region_code, number="JL-1",
        kind="concrete_compression", item_code="0108", acquisition="manual",
        started_at=start + dt.timedelta(seconds=20), ended_at=start + dt.timedelta(seconds=30),
    )  # fmt: skip
    db.add(test)
    db.flush()
    nc = Nonconformity(
        institution_id=camera.institution_id, region_code=camera.region_code,
        test_record_id=test.id, found_by="lab", material="混凝土", item_code="0108",
        deadline=now.date(),
    )  # fmt: skip
    db.add(nc)
    db.flush()
    removed, held = retention.enforce(db, video_settings, now)
    assert removed == 0
    assert held == 30
    assert all(segments.media_path(video_settings, r.path).exists() for r in rows)

    # the nonconformity closed, a case opened on the record's alert: still held
    nc.status = "closed"
    alert = factory.alert(
        _institution(db, camera), subject_type="test_record", subject_id=str(test.id)
    )
    db.add(Case(alert_id=alert.id, status="confirmed", institution_id=camera.institution_id))
    db.flush()
    assert retention.enforce(db, video_settings, now) == (0, 30)

    # the case closed: the files go
    db.scalars(select(Case).where(Case.alert_id == alert.id)).one().status = "closed"
    db.flush()
    assert retention.enforce(db, video_settings, now) == (30, 0)


def _institution(db: Session, camera: Camera) -> Institution:
    return db.get_one(Institution, camera.institution_id)


def test_retention_holds_a_camera_under_an_open_case(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    record(db, video_settings, camera, 2, utcnow() - dt.timedelta(days=400))
    alert = factory.alert(
        _institution(db, camera), subject_type="camera", subject_id=str(camera.id)
    )
    db.add(Case(alert_id=alert.id, status="rectifying", institution_id=camera.institution_id))
    db.flush()
    assert retention.enforce(db, video_settings, utcnow()) == (0, 2)


# --- rules ------------------------------------------------------------------------------------


def test_working_seconds_count_beijing_working_hours_only() -> None:
    hours = {"work_start_hour": 8, "work_end_hour": 18, "every_day": 0}
    # 2026-11-18 (Wed) 17:00 to 2026-11-19 (Thu) 09:00 Beijing: 1 h + 1 h
    start = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC)
    assert working_seconds(start, start + dt.timedelta(hours=16), hours) == 7200
    saturday = dt.datetime(2026, 11, 21, 2, 0, tzinfo=dt.UTC)
    assert working_seconds(saturday, saturday + dt.timedelta(hours=3), hours) == 0


def test_camera_offline_fires_in_working_hours_and_closes_when_back(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    db.add(
        CameraLease(camera_id=camera.id, holder="rec", acquired_at=WORKING,
                    heartbeat_at=WORKING, expires_at=WORKING + dt.timedelta(days=9))
    )  # fmt: skip
    outage = Outage(
        camera_id=camera.id, institution_id=camera.institution_id,
        region_code=camera.region_code, started_at=WORKING, reason="连接摄像机超时",
    )  # fmt: skip
    db.add(outage)
    db.flush()
    ids = [camera.institution_id]
    assert (
        run_rule(
            db, "camera_offline", institution_ids=ids, now=WORKING + dt.timedelta(minutes=20)
        ).raised
        == 0
    )
    assert (
        run_rule(
            db, "camera_offline", institution_ids=ids, now=WORKING + dt.timedelta(minutes=40)
        ).raised
        == 1
    )
    alert = db.scalars(select(Alert).where(Alert.rule_id == "camera_offline")).one()
    assert alert.subject_id == str(camera.id)
    assert alert.facts["原因"] == "连接摄像机超时"
    outage.ended_at = WORKING + dt.timedelta(minutes=45)
    db.flush()
    assert (
        run_rule(
            db, "camera_offline", institution_ids=ids, now=WORKING + dt.timedelta(minutes=50)
        ).closed
        == 1
    )


def test_camera_offline_quiet_at_night_and_for_retired_cameras(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    night = dt.datetime(2026, 11, 18, 14, 0, tzinfo=dt.UTC)  # 22:00 Beijing
    db.add(
        Outage(camera_id=camera.id, institution_id=camera.institution_id,
               region_code=camera.region_code, started_at=night)
    )  # fmt: skip
    retired = camera_of(db, factory)
    retired.status = "retired"
    db.flush()
    ids = [camera.institution_id, retired.institution_id]
    run = run_rule(db, "camera_offline", institution_ids=ids, now=night + dt.timedelta(hours=8))
    assert run.raised == 0  # 22:00 to 06:00: no working time


def test_camera_offline_when_no_recorder_holds_the_lease(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    db.add(
        CameraLease(camera_id=camera.id, holder="rec", acquired_at=WORKING,
                    heartbeat_at=WORKING, expires_at=WORKING)
    )  # fmt: skip
    db.flush()
    ids = [camera.institution_id]
    assert (
        run_rule(
            db, "camera_offline", institution_ids=ids, now=WORKING + dt.timedelta(minutes=31)
        ).raised
        == 1
    )
    alert = db.scalars(select(Alert).where(Alert.rule_id == "camera_offline")).one()
    assert alert.facts["原因"] == "无录像服务接管"


def test_video_gap_fires_for_an_outage_and_closes_after_the_keep_time(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    short = Outage(camera_id=camera.id, institution_id=camera.institution_id,
                   region_code=camera.region_code, started_at=WORKING,
                   ended_at=WORKING + dt.timedelta(seconds=30))  # fmt: skip
    db.add(short)
    db.flush()
    ids = [camera.institution_id]
    assert (
        run_rule(db, "video_gap", institution_ids=ids, now=WORKING + dt.timedelta(minutes=1)).raised
        == 0
    )
    long = Outage(camera_id=camera.id, institution_id=camera.institution_id,
                  region_code=camera.region_code, started_at=WORKING + dt.timedelta(minutes=5),
                  ended_at=WORKING + dt.timedelta(minutes=8), reason="视频流中断")  # fmt: skip
    db.add(long)
    db.flush()
    later = WORKING + dt.timedelta(minutes=10)
    assert run_rule(db, "video_gap", institution_ids=ids, now=later).raised == 1
    alert = db.scalars(select(Alert).where(Alert.rule_id == "video_gap")).one()
    assert alert.facts["工作时间内中断秒数"] == 180
    assert alert.facts["中断开始"].endswith("10:05:00")
    assert (
        run_rule(db, "video_gap", institution_ids=ids, now=later + dt.timedelta(hours=23)).closed
        == 0
    )
    assert (
        run_rule(db, "video_gap", institution_ids=ids, now=later + dt.timedelta(hours=25)).closed
        == 1
    )


def test_video_gap_threshold_per_region(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    db.add(RuleThreshold(rule_id="video_gap", region_code="360400", key="gap_seconds", value=600))
    db.add(Outage(camera_id=camera.id, institution_id=camera.institution_id,
                  region_code=camera.region_code, started_at=WORKING,
                  ended_at=WORKING + dt.timedelta(minutes=3)))  # fmt: skip
    db.flush()
    run = run_rule(
        db,
        "video_gap",
        institution_ids=[camera.institution_id],
        now=WORKING + dt.timedelta(minutes=5),
    )
    assert run.raised == 0


def test_retention_holds_a_projects_site_cameras_under_an_open_case(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    site = camera_of(db, factory)
    project = factory.project()
    site.project_id = project.id
    lab = camera_of(db, factory)
    for camera in (site, lab):
        record(db, video_settings, camera, 2, utcnow() - dt.timedelta(days=400))
    alert = factory.alert(
        _institution(db, site), subject_type="project", subject_id=str(project.id)
    )
    db.add(Case(alert_id=alert.id, status="confirmed", institution_id=site.institution_id))
    db.flush()
    assert retention.enforce(db, video_settings, utcnow()) == (
        2,
        2,
    )  # the lab's go, the site's stay
    kept = db.scalars(select(Segment).where(Segment.camera_id == site.id)).all()
    assert all(row.removed_at is None for row in kept)


def test_leases_one_holder_at_a_time(db: Session, factory: Factory) -> None:
    first, second, retired = camera_of(db, factory), camera_of(db, factory), camera_of(db, factory)
    retired.status = "retired"
    db.commit()
    now = utcnow()
    ids = {first.id, second.id, retired.id}
    won_a = set(leases.claim(db, holder="a", now=now, lease_seconds=30, limit=1)) & ids
    won_b = set(leases.claim(db, holder="b", now=now, lease_seconds=30, limit=10)) & ids
    assert len(won_a) == 1
    assert won_b == {first.id, second.id} - won_a  # never the retired camera, never a's
    assert leases.claim(db, holder="c", now=now, lease_seconds=30, limit=10) == []
    later = now + dt.timedelta(seconds=20)
    assert leases.renew(db, holder="a", camera_ids=won_a, now=later, lease_seconds=30) == won_a
    # b stops heartbeating: after expiry c takes its cameras, and b's renewal finds none
    expired = now + dt.timedelta(seconds=31)
    assert set(leases.claim(db, holder="c", now=expired, lease_seconds=30, limit=10)) == won_b
    assert leases.renew(db, holder="b", camera_ids=won_b, now=expired, lease_seconds=30) == set()
    leases.release(db, holder="a", camera_ids=won_a)
    assert db.get(CameraLease, next(iter(won_a))) is None


def test_reasons_do_not_tell_an_open_port_from_a_closed_one() -> None:
    """Until an address delivered video, whatever ffmpeg met reads the same on the camera's
    page (a port scan through the recorder learns nothing); ffmpeg's words go to the log."""
    tails = (
        "rtsp://u:secret@10.0.0.5/x: Connection refused",
        "rtsp://u:secret@10.0.0.5/x: Connection timed out",
        "rtsp://u:secret@10.0.0.5/x: No route to host",
        "[rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized",
        "[rtsp @ 0x1] method DESCRIBE failed: 404 Not Found",
        "rtsp://u:secret@10.0.0.5/x: Invalid data found when processing input",
        "rtsp://u:secret@10.0.0.5/x: End of file",
        "something odd",
        "",
    )
    for tail in tails:
        for code in (1, 69, None):
            assert capture.reason(tail, code) == capture.CANNOT_CONNECT, (tail, code)
    logged = capture.detail("rtsp://u:secret@10.0.0.5/x: Connection refused", 1)
    assert logged == "exit 1: rtsp://10.0.0.5/x: Connection refused"
    assert capture.detail("", None) == "stalled"


def test_reasons_of_a_stream_that_delivered_video_say_what_went_wrong() -> None:
    tail = (
        "[rtsp @ 0x1] method DESCRIBE failed: 401 Unauthorized\n"
        "rtsp://u:secret@10.0.0.5/x: Server returned 401"
    )
    assert capture.reason(tail, 1, proven=True) == "用户名或密码错误"
    assert (
        capture.reason("rtsp://u:secret@h/x: Connection refused", 1, proven=True)
        == "无法连接摄像机（连接被拒绝）"
    )
    assert capture.reason("", None, proven=True) == "视频流停滞（长时间未生成新片段）"
    odd = capture.reason("rtsp://u:secret@h/x: something odd", 69, proven=True)
    assert odd == "视频流中断（录像进程退出，代码 69）"
    assert redact("open rtsp://user:p%40ss@10.0.0.5:554/live failed") == (
        "open rtsp://10.0.0.5:554/live failed"
    )


def test_one_cameras_trouble_costs_the_others_nothing(
    db: Session, factory: Factory, video_settings: Settings, session_factory: sessionmaker[Session]
) -> None:
    from jcjg.video.capture import Finished
    from jcjg.video.recorder import Recorder, Watch

    camera = camera_of(db, factory)
    db.commit()
    recorder = Recorder(video_settings, session_factory, holder="t")
    work = video_settings.media_dir / ".work"
    work.mkdir(parents=True)
    good, bad = work / "good.ts", work / "bad.ts"
    good.write_bytes(b"good" * 100)
    bad.write_bytes(b"bad" * 100)
    now = utcnow()
    gone = Watch(camera_id=10**9, since=now)  # a camera that no longer exists
    arrived = [
        (gone, Finished(bad, 0.0, 4.0, now.timestamp())),
        (Watch(camera_id=camera.id, since=now), Finished(good, 0.0, 4.0, now.timestamp())),
    ]
    recorder._take_in(arrived, now)
    db.expire_all()
    row = db.scalars(select(Segment).where(Segment.camera_id == camera.id)).one()
    assert segments.media_path(video_settings, row.path).read_bytes() == b"good" * 100
    assert not good.exists()
    assert bad.exists()  # left in the work folder, cleared when ffmpeg starts again
    assert recorder.ingested == 1


def test_the_recorders_digest_is_the_segments_digest(tmp_path: Path) -> None:
    from jcjg.video.recorder import file_digest

    for data in (b"", b"x", bytes(range(256)) * 9000):
        path = tmp_path / "seg.ts"
        path.write_bytes(data)
        assert file_digest(path) == segments.file_sha256(path)


def test_a_new_camera_has_its_connection_time_before_it_counts_as_offline(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)  # registered, never recorded, no recorder holds it
    camera.created_at = WORKING  # Wednesday 10:00 Beijing
    db.flush()
    ids = [camera.institution_id]
    # two hours later: far beyond 30 minutes, within the 24 working hours to connect it
    later = WORKING + dt.timedelta(hours=2)
    assert run_rule(db, "camera_offline", institution_ids=ids, now=later).raised == 0
    # four working days later (10 working hours a day): still never recorded
    assert (
        run_rule(
            db, "camera_offline", institution_ids=ids, now=WORKING + dt.timedelta(days=4)
        ).raised
        == 1
    )
    alert = db.scalars(select(Alert).where(Alert.rule_id == "camera_offline")).one()
    assert alert.facts["原因"] == "登记后一直未接入录像"


def test_a_camera_retired_while_recording_stays_retired(
    db: Session, factory: Factory, video_settings: Settings
) -> None:
    camera = camera_of(db, factory)
    camera.status = "offline"
    db.flush()
    # the page retires it (another transaction, here the same one)
    db.execute(update(Camera).where(Camera.id == camera.id).values(status="retired"))
    # the recorder then takes a segment in and would mark the camera online
    set_status(db, camera, CameraStatus.ONLINE, WORKING)
    db.flush()
    db.expire_all()
    assert db.get(Camera, camera.id).status == "retired"
    live = camera_of(db, factory)
    set_status(db, live, CameraStatus.ONLINE, WORKING)
    db.flush()
    db.expire_all()
    assert db.get(Camera, live.id).status == "online"
