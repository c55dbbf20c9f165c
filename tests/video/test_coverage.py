"""The coverage rules: a listed test with no recording of its time (video_missing), and an
institution doing listed tests with no camera there (coverage_incomplete)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.config import settings_in_use
from jcjg.core.db import utcnow
from jcjg.registry.models import Equipment, Lab
from jcjg.testing.models import OnSiteRecord, TestRecord
from jcjg.video.retention import months_before, months_for
from tests.factories import camera, recorded

NOW = utcnow().replace(microsecond=0)


def machine(db, inst, asset: str, lab: Lab | None = None) -> Equipment:
    row = Equipment(institution_id=inst.id, region_code=inst.region_code, status="in_use",
                    name=f"压力机{asset}", asset_number=asset,
                    lab_id=lab.id if lab else None)  # fmt: skip
    db.add(row)
    db.flush()
    return row


def record(db, inst, number: str, *, hours_ago: float = 3, minutes: float = 8,
           **values) -> TestRecord:  # fmt: skip
    ended = NOW - dt.timedelta(hours=hours_ago)
    fields = {
        "institution_id": inst.id, "region_code": inst.region_code, "number": number,
        "kind": "concrete_compression", "item_code": "0108", "acquisition": "auto",
        "started_at": ended - dt.timedelta(minutes=minutes), "ended_at": ended,
    }  # fmt: skip
    row = TestRecord(**(fields | values))
    db.add(row)
    db.flush()
    return row


def onsite(db, inst, number: str, project, *, hours_ago: float = 3) -> OnSiteRecord:
    ended = NOW - dt.timedelta(hours=hours_ago)
    row = OnSiteRecord(institution_id=inst.id, region_code=inst.region_code, number=number,
                       project_id=project.id, item_code="0203",
                       started_at=ended - dt.timedelta(hours=1), ended_at=ended)  # fmt: skip
    db.add(row)
    db.flush()
    return row


def flagged(db, rule_id: str, now: dt.datetime = NOW) -> dict[str, dict]:
    """Subject numbers (or ids) with an open alert of ``rule_id`` after a run, with facts."""
    run_rule(db, rule_id, now=now)
    db.flush()
    alerts = db.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open"))
    return {a.subject_number or a.subject_id: a.facts for a in alerts}


# --- video_missing ---------------------------------------------------------------------------


def test_a_force_test_without_recording_is_flagged_and_a_recorded_one_is_not(db, factory):
    inst = factory.institution()
    press = machine(db, inst, "SB-1")
    cam = camera(factory, inst, equipment_id=press.id, name="压力机摄像机")
    filmed = record(db, inst, "R-FILMED", equipment=["SB-1"])
    recorded(db, cam, filmed.started_at - dt.timedelta(seconds=3), 8 * 60 + 6)
    record(db, inst, "R-BARE", equipment=["SB-1"], hours_ago=5)
    found = flagged(db, "video_missing")
    assert set(found) == {"R-BARE"}
    facts = found["R-BARE"]
    assert facts["uncovered_seconds"] == 480
    assert facts["cameras"] == [f"{cam.code} 压力机摄像机"]
    assert facts["places"] == ["力学性能试验"]
    assert len(facts["uncovered"]) == 1
    assert "～" in facts["uncovered"][0]


def test_a_hole_in_the_recording_is_flagged_with_its_time(db, factory):
    inst = factory.institution()
    press = machine(db, inst, "SB-2")
    cam = camera(factory, inst, equipment_id=press.id)
    rec = record(db, inst, "R-HOLE", equipment=["SB-2"])
    recorded(db, cam, rec.started_at, 120)  # two minutes, then 3 missing, then the rest
    recorded(db, cam, rec.started_at + dt.timedelta(minutes=5), 3 * 60)
    facts = flagged(db, "video_missing")["R-HOLE"]
    assert facts["uncovered_seconds"] == 180
    # a gap shorter than the tolerance does not count
    recorded(db, cam, rec.started_at + dt.timedelta(seconds=128), 172)
    assert "R-HOLE" not in flagged(db, "video_missing")


def test_kinds_not_listed_are_not_judged(db, factory):
    inst = factory.institution()
    record(db, inst, "R-SET", kind="other", item_code="0101", parameter_codes=["010103"])
    record(db, inst, "R-WIN", kind="other", item_code="0507", parameter_codes=["050701"])
    assert set(flagged(db, "video_missing")) == {"R-WIN"}  # 凝结时间 needs no film; 气密 does


def test_without_cameras_on_its_machines_the_places_cameras_count(db, factory):
    inst = factory.institution()
    window_cam = camera(factory, inst, place_kind="window")
    camera(factory, inst, place_kind="mechanical")  # records nothing: a window test's not its
    rec = record(db, inst, "R-WIN", kind="other", item_code="0507", parameter_codes=["050702"])
    recorded(db, window_cam, rec.started_at, 8 * 60)
    unknown = record(db, inst, "R-NEW-PRESS", equipment=["SB-404"])  # a machine not registered
    assert set(flagged(db, "video_missing")) == {"R-NEW-PRESS"}
    assert flagged(db, "video_missing")["R-NEW-PRESS"]["cameras"][0].startswith("CAM-")
    assert unknown.number == "R-NEW-PRESS"


def test_an_institution_without_cameras_is_flagged_with_none_considered(db, factory):
    inst = factory.institution()
    record(db, inst, "R-NOCAM")
    assert flagged(db, "video_missing")["R-NOCAM"]["cameras"] == ["无"]


def test_on_site_records_need_the_projects_or_an_on_site_camera(db, factory):
    inst = factory.institution()
    project, other = factory.project(), factory.project()
    site_cam = camera(factory, inst, place_kind="onsite", project_id=project.id, form="body")
    camera(factory, inst, place_kind="onsite", project_id=other.id)
    filmed = onsite(db, inst, "XC-1", project)
    recorded(db, site_cam, filmed.started_at, 3600, step=60)
    onsite(db, inst, "XC-2", other)
    found = flagged(db, "video_missing")
    assert set(found) == {"XC-2"}
    alert = db.scalars(select(Alert).where(Alert.subject_number == "XC-2")).one()
    assert (alert.subject_type, alert.project_id) == ("onsite_record", other.id)


def test_too_fresh_or_too_old_records_are_not_judged(db, factory, settings):
    inst = factory.institution()
    record(db, inst, "R-FRESH", hours_ago=0.5)  # the recording may still be on its way
    record(db, inst, "R-DUE", hours_ago=1.2)
    record(db, inst, "R-OLD", hours_ago=24 * 190)  # past six months: the recording is gone
    assert set(flagged(db, "video_missing")) == {"R-DUE"}
    # a region keeping recordings twelve months judges the old one too
    kept = settings.model_copy(update={"video_retention_months": {inst.region_code[:4]: 12}})
    with settings_in_use(kept):
        assert set(flagged(db, "video_missing")) == {"R-DUE", "R-OLD"}
    # and a region's longer grace leaves the due one until later
    db.add(RuleThreshold(rule_id="video_missing", region_code=inst.region_code[:4] + "00",
                         key="grace_minutes", value=120))  # fmt: skip
    db.flush()
    assert set(flagged(db, "video_missing")) == set()


def test_retention_by_region_and_calendar_months(settings):
    kept = settings.model_copy(update={"video_retention_months": {"": 4, "36": 8, "3604": 12}})
    assert months_for(settings, "360403") == 6
    assert (months_for(kept, "360403"), months_for(kept, "360102")) == (12, 8)
    assert months_for(kept, "110101") == 4
    assert months_before(dt.datetime(2026, 8, 31, tzinfo=dt.UTC), 6) == dt.datetime(
        2026, 2, 28, tzinfo=dt.UTC
    )
    assert months_before(dt.datetime(2026, 3, 15, tzinfo=dt.UTC), 3).month == 12


def test_video_missing_waits_for_the_sweep(db, factory):
    """A write does not re-run it (a record is judged once its recording had time to come)."""
    inst = factory.institution()
    record(db, inst, "R-WRITE", hours_ago=4)
    db.commit()
    assert db.scalars(select(Alert).where(Alert.rule_id == "video_missing")).all() == []
    assert set(flagged(db, "video_missing")) == {"R-WRITE"}
