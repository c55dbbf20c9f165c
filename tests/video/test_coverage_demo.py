"""The demo's video: a camera really recorded over a record's time (files that verify), and
the planted problems of every video rule in the demo region. A demo loaded without ffmpeg
(rows without files) is tested in tests/demo/test_load_clock.py, in the one extra demo load the
suite makes."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.demo import video as video_demo
from jcjg.demo.testing import FIRST
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord
from jcjg.video import segments
from jcjg.video.models import Camera, Outage


def cameras(db, code_prefix: str) -> dict[str, Camera]:
    rows = db.scalars(select(Camera).where(Camera.code.startswith(code_prefix)))
    return {c.code: c for c in rows}


@pytest.fixture(scope="module")
def has_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None


@pytest.mark.demo  # as `jcjg demo load` left it, its recordings among its files
def test_demo_records_a_camera_over_a_test_and_plants_each_video_problem(db, settings,
                                                                         has_ffmpeg):  # fmt: skip
    first = db.scalars(select(TestRecord).where(TestRecord.number == FIRST)).one()
    center = cameras(db, "JZ-CAM-")
    press = center["JZ-CAM-01"]
    assert press.equipment_id is not None
    assert segments.covering(db, [press.id], first.started_at, first.ended_at) == []
    if has_ffmpeg:  # real files, each as hashed, chained and kept
        assert segments.verify_camera(db, settings, press.id) == []
        assert (settings.media_dir / segments.last_segment(db, press.id).path).stat().st_size
    open_alerts = {
        (a.rule_id, a.subject_number or a.subject_id)
        for a in db.scalars(select(Alert).where(Alert.status == "open"))
    }
    assert ("video_missing", FIRST) not in open_alerts
    assert ("video_missing", "JZ-HNT-2026-0002") in open_alerts  # not recorded
    assert ("video_missing", "JZ-XCJL-2026-0001") in open_alerts  # the on-site test
    assert ("video_missing", video_demo.IMPERMEABILITY) in open_alerts
    hengxin = db.scalars(select(Institution).where(Institution.name.contains("恒信"))).one()
    coverage = db.scalars(select(Alert).where(Alert.rule_id == "coverage_incomplete")).all()
    assert [(a.institution_id, a.facts["places"]) for a in coverage] == [
        (hengxin.id, ["混凝土抗渗试验"])
    ]
    # camera_offline: an open outage since 09:00 of a working day; video_gap: a changed file
    planted = cameras(db, "HX-CAM-")
    door, lab = planted["HX-CAM-01"], planted["HX-CAM-02"]
    outage = db.scalars(select(Outage).where(Outage.camera_id == door.id)).one()
    assert outage.ended_at is None
    assert outage.started_at <= dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    kinds = {p["kind"] for p in lab.integrity}
    assert kinds == ({"file_changed"} if has_ffmpeg else {"file_missing"})
    assert all(p["detail"] and p["started_at"] for p in lab.integrity)
    closed = db.scalars(select(Outage).where(Outage.camera_id == lab.id)).one()
    assert closed.ended_at - closed.started_at == dt.timedelta(minutes=7)
