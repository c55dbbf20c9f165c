"""coverage_incomplete: an institution doing listed tests with no camera for their place, or
machines of mechanical tests that no camera watches."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.registry.models import Lab
from jcjg.video import coverage
from tests.factories import camera
from tests.video.test_coverage import flagged, machine, onsite, record

RULE = "coverage_incomplete"


def lab(db, inst, name: str) -> Lab:
    row = Lab(institution_id=inst.id, region_code=inst.region_code, name=name,
              address="九江市濂溪区测试路1号", area_m2=Decimal(300))  # fmt: skip
    db.add(row)
    db.flush()
    return row


def test_machines_need_a_camera_on_them_or_a_dome_in_their_lab(db, factory):
    inst = factory.institution()
    room, other_room = lab(db, inst, "力学室"), lab(db, inst, "化学室")
    on_it = machine(db, inst, "SB-1", room)
    machine(db, inst, "SB-2", room)  # under the room's dome
    machine(db, inst, "SB-3", other_room)  # no camera in its room
    machine(db, inst, "SB-4")  # not used in a test: not judged
    camera(factory, inst, equipment_id=on_it.id)
    camera(factory, inst, lab_id=room.id, form="dome")
    for n, asset in enumerate(("SB-1", "SB-2", "SB-3")):
        record(db, inst, f"R-{n}", equipment=[asset])
    found = flagged(db, RULE)
    assert found == {str(inst.id): {"places": [], "machines": ["压力机SB-3（SB-3）"], "days": 30}}
    camera(factory, inst, lab_id=other_room.id, form="dome")
    assert flagged(db, RULE) == {}


def test_a_listed_test_with_no_camera_for_its_place(db, factory):
    inst = factory.institution()
    record(db, inst, "R-WIN", kind="other", item_code="0507", parameter_codes=["050701"])
    record(db, inst, "R-SET", kind="other", item_code="0101", parameter_codes=["010103"])
    retired = camera(factory, inst, place_kind="window", status="retired")
    assert flagged(db, RULE)[str(inst.id)]["places"] == ["建筑外窗性能试验"]
    retired.status = "online"
    db.flush()
    assert flagged(db, RULE) == {}


def test_only_recent_tests_count_and_a_region_may_look_further(db, factory, monkeypatch):
    """The rule reads back as far as the longest window any region set (30 days by default),
    not the 366 days it allows."""
    read = []
    recent = coverage._recent
    monkeypatch.setattr(
        coverage, "_recent", lambda ctx, region, at: read.append(at) or recent(ctx, region, at)
    )
    inst = factory.institution()
    record(db, inst, "R-OLD", kind="other", item_code="0108", parameter_codes=["010802"],
           hours_ago=24 * 40)  # fmt: skip
    assert flagged(db, RULE) == {}
    assert read == []  # forty days back: not read
    db.add(RuleThreshold(rule_id=RULE, region_code=inst.region_code, key="days", value=60))
    db.flush()
    facts = flagged(db, RULE)[str(inst.id)]
    assert (facts["places"], facts["days"]) == (["混凝土抗渗试验"], 60)
    assert len(read) == 1


def test_on_site_tests_need_an_on_site_camera(db, factory):
    inst = factory.institution()
    project = factory.project()
    onsite(db, inst, "XC-1", project)
    assert flagged(db, RULE)[str(inst.id)]["places"] == ["现场检测"]
    camera(factory, inst, place_kind="lab_overview", project_id=project.id)  # at the site
    assert flagged(db, RULE) == {}


def test_registering_the_camera_closes_the_alert_on_commit(db, factory):
    inst = factory.institution()
    record(db, inst, "R-CW", kind="other", item_code="0603", parameter_codes=["060304"],
           hours_ago=2)  # fmt: skip
    db.commit()
    alert = db.scalars(select(Alert).where(Alert.rule_id == RULE)).one()
    assert (alert.status, alert.facts["places"]) == ("open", ["玻璃幕墙性能试验"])
    camera(factory, inst, place_kind="curtain_wall")
    db.commit()
    db.refresh(alert)
    assert alert.status == "closed"


def test_a_labs_month_is_read_as_its_kinds_of_test_not_record_by_record(db, factory, monkeypatch):
    """Every batch of a lab's records runs the rule: its month of records is read grouped by
    kind, parameters, machines and region, each group judged once by its latest start. A
    group recent only by its latest record counts; the needs take the region of the latest
    test (here the one that sorts last, and whose earlier records are too old for it)."""
    judged = []
    recent = coverage._recent
    monkeypatch.setattr(
        coverage, "_recent", lambda ctx, region, at: judged.append(at) or recent(ctx, region, at)
    )
    inst = factory.institution(region_code="360402")
    room = lab(db, inst, "力学室")
    machine(db, inst, "SB-1", room)
    machine(db, inst, "SB-2", room)
    for n in range(30):
        record(db, inst, f"R-CUBE-{n}", equipment=["SB-1"], hours_ago=3 + 24 * n)
    record(db, inst, "R-CUBE-SB2", equipment=["SB-2", "SB-1"], hours_ago=24 * 40)  # too old
    windows = {"kind": "other", "item_code": "0507", "parameter_codes": ["050701"]}
    for n, hours_ago in enumerate((24 * 10, 24 * 12, 1)):  # only the last within 7 days
        record(db, inst, f"R-WIN-{n}", region_code="360403", hours_ago=hours_ago, **windows)
    db.add(RuleThreshold(rule_id=RULE, region_code="360403", key="days", value=7))
    db.flush()

    found = flagged(db, RULE)

    assert found == {
        str(inst.id): {
            "places": ["力学性能试验", "建筑外窗性能试验"],  # no camera at all
            "machines": ["压力机SB-1（SB-1）"],  # SB-2's only record is forty days old
            "days": 7,  # the region of the latest record's
        }
    }
    assert len(judged) == 2  # the cubes on SB-1, the windows
    alert = db.scalars(select(Alert).where(Alert.rule_id == RULE)).one()
    assert alert.region_code == "360403"
