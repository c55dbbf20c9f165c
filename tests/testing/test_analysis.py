"""The analysis models of illegal subcontracting (000 7.2.2(1)): ``group_transfer`` (a
project's testing contracted to one lab, commissioned to a lab of the same investor without a
contract) and ``capacity_exceeded`` (force tests the machine or the inspector could not have done
in the time declared). Each fires on planted data and stays quiet just inside."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.contracts.models import Contract
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.sampling.models import Commission
from jcjg.testing import analysis
from jcjg.testing.analysis import owner_groups
from jcjg.testing.models import TestRecord
from tests.testing.conftest import concrete_record, runs_of
from tests.testing.test_rules import flagged, send

GROUP = "江西恒建投资集团有限公司"


def _owned(inst, *investors: tuple[str, float]) -> None:
    inst.investors = [{"name": n, "share": s} for n, s in investors]


def _contract(db, inst, project, number: str, signed: dt.date, items=("0108",)) -> Contract:
    row = Contract(
        institution_id=inst.id, region_code=project.region_code, project_id=project.id,
        number=number, year=signed.year, sequence=int(number[-2:]), client_unit="建设单位",
        signed_on=signed, items=list(items), pdf_sha256="0" * 64,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


def _commission(db, inst, project, number: str, day: dt.date, items=("0108",), status="registered"):
    db.add(
        Commission(
            institution_id=inst.id, region_code=project.region_code, project_id=project.id,
            number=number, year=day.year, seq=int(number[-2:]), commissioned_on=day,
            items=list(items), status=status,
        )
    )  # fmt: skip
    db.flush()


def _open(db, rule_id: str) -> list[Alert]:
    db.expire_all()
    stmt = select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open")
    return list(db.scalars(stmt))


def test_owner_groups_fold_names_and_need_the_share():
    class Inst:
        def __init__(self, id_, investors):
            self.id, self.investors = id_, investors

    groups = owner_groups(
        [
            Inst(1, [{"name": "江西 恒建（集团）", "share": 60}, {"name": "甲", "share": 40}]),
            Inst(2, [{"name": "江西恒建(集团)", "share": "30"}]),
            Inst(3, [{"name": "江西恒建（集团）", "share": 10}, {"name": None, "share": 90}]),
            Inst(4, ["not a pair", {"name": "乙", "share": "半数"}]),
        ],
        min_share=30,
    )
    assert groups == {1: {"江西恒建(集团)", "甲"}, 2: {"江西恒建(集团)"}}


def test_group_transfer_fires_on_a_sister_lab_taking_the_contracted_work(db, factory):
    holder = factory.institution(name="南昌建科检测有限公司")
    taker = factory.institution(name="九江恒信检测有限公司")
    stranger = factory.institution(name="九江另一检测有限公司")
    _owned(holder, (GROUP, 51), ("管理团队", 49))
    _owned(taker, (GROUP.replace("有限公司", " 有限公司"), 60))  # a blank: the same investor
    _owned(stranger, ("另一投资人", 100))
    project = factory.project()
    today = beijing_date(utcnow())
    _contract(db, holder, project, "HT-01", today - dt.timedelta(days=30))
    _commission(db, taker, project, "WT-01", today - dt.timedelta(days=20))
    _commission(db, taker, project, "WT-02", today - dt.timedelta(days=2), items=())  # any item
    _commission(db, taker, project, "WT-03", today, status="rejected")  # sent back: not work
    _commission(db, stranger, project, "WT-04", today)  # no common investor
    _commission(db, holder, project, "WT-05", today)  # the holder's own commission
    run_rule(db, "group_transfer")
    [alert] = _open(db, "group_transfer")
    assert (alert.institution_id, alert.project_id) == (holder.id, project.id)
    assert alert.subject_type == "contract"
    assert alert.region_code == project.region_code
    assert alert.facts["承接机构"] == "九江恒信检测有限公司"
    assert alert.facts["委托件数"] == 2
    assert alert.facts["共同投资人"] == [GROUP]
    # the sister signs its own contract for the items: no longer a transfer
    _contract(db, taker, project, "HT-02", today - dt.timedelta(days=25))
    run_rule(db, "group_transfer")
    assert _open(db, "group_transfer") == []


def test_a_narrowed_group_transfer_run_reads_the_projects_institutions(db, factory, monkeypatch):
    """A contract's or a commission's write (a run narrowed to its project) reads the
    institutions with a contract or a commission on the project, not every institution of the
    platform, and finds what the whole run finds."""
    holder, taker = factory.institution(), factory.institution()
    for _ in range(10):  # institutions of the same group with no work on the project
        _owned(factory.institution(), (GROUP, 80))
    _owned(holder, (GROUP, 51))
    _owned(taker, (GROUP, 60))
    project = factory.project()
    today = beijing_date(utcnow())
    _contract(db, holder, project, "HT-01", today - dt.timedelta(days=30))
    _commission(db, taker, project, "WT-01", today - dt.timedelta(days=20))
    read: list[int] = []
    groups = analysis.owner_groups
    monkeypatch.setattr(
        analysis, "owner_groups", lambda insts, share: read.extend(i.id for i in insts)
        or groups(insts, share),
    )  # fmt: skip
    run_rule(db, "group_transfer", project_ids=[project.id])
    assert sorted(read) == sorted([holder.id, taker.id])
    [alert] = _open(db, "group_transfer")
    assert (alert.institution_id, alert.project_id) == (holder.id, project.id)
    read.clear()
    run_rule(db, "group_transfer")
    assert len(read) > 10
    assert [a.id for a in _open(db, "group_transfer")] == [alert.id]


def test_group_transfer_stays_quiet_just_inside(db, factory):
    holder = factory.institution()
    minor = factory.institution()
    other_items = factory.institution()
    early = factory.institution()
    _owned(holder, (GROUP, 30))  # exactly the default share: controlling
    _owned(minor, (GROUP, 29.9))  # below it: not the group
    _owned(other_items, (GROUP, 80))
    _owned(early, (GROUP, 80))
    project = factory.project()
    today = beijing_date(utcnow())
    _contract(db, holder, project, "HT-01", today - dt.timedelta(days=10), items=("0108",))
    _commission(db, minor, project, "WT-01", today)
    _commission(db, other_items, project, "WT-02", today, items=("0102",))  # not contracted
    _commission(db, early, project, "WT-03", today - dt.timedelta(days=11))  # before the contract
    run_rule(db, "group_transfer")
    assert _open(db, "group_transfer") == []


def _shortened(payload, minutes: float) -> None:
    ended = dt.datetime.fromisoformat(payload["ended_at"])
    payload["started_at"] = (ended - dt.timedelta(minutes=minutes)).isoformat()


def test_capacity_exceeded_by_a_machine_and_by_an_inspector(client, db, lab):
    inspector = [{"name": "王检测"}]

    def record(number: str, *, minutes_ago: float, asset: str, minutes: float, seed: int):
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        payload.update(equipment=[asset], lab_name="力学室", inspectors=inspector)
        _shortened(payload, minutes)
        send(client, lab, payload)

    # three cubes at 0.6 MPa/s: about a minute of curve each, and 20 s to place each
    record("CAP-OK", minutes_ago=60, asset="SB-001", minutes=5, seed=1)
    record("CAP-FAST", minutes_ago=50, asset="SB-001", minutes=1.5, seed=2)
    assert flagged(db, "capacity_exceeded") == {"CAP-FAST"}
    [alert] = _open(db, "capacity_exceeded")
    [reason] = alert.facts["做不完的原因"]
    assert reason.startswith("设备 SB-001：本条至少需要 ")
    assert reason.endswith("申报时段只有 1.5 分钟")
    assert alert.facts["试件数"] == 3
    # one inspector starting ten cube tests on ten machines in the same minute: a minute of
    # handling each, so the eighth and later cannot be done by their declared end (6 minutes
    # and one of clock slack)
    for n in range(10):
        record(f"CAP-P{n}", minutes_ago=30, asset=f"SB-1{n:02d}", minutes=6, seed=10 + n)
    assert flagged(db, "capacity_exceeded") == {"CAP-FAST", "CAP-P7", "CAP-P8", "CAP-P9"}
    reasons = [r for a in _open(db, "capacity_exceeded") for r in a.facts["做不完的原因"]]
    assert any(r.startswith("检测人员 王检测：本条至少需要 1.0 分钟，开始时仍被") for r in reasons)


def test_capacity_exceeded_judges_the_record_written_against_its_queues(
    client, db, lab, monkeypatch
):
    """Judged by rows: a record's write judges that record against the records of its machine
    and its inspector started before it, reading two days back, not the institution's every
    record. A record sent late, tested before ones already judged, is judged on its write;
    those behind it in the queue are judged again by the sweep."""
    inspector = [{"name": "王检测"}]

    def record(number: str, *, minutes_ago: float, seed: int, asset: str) -> int:
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        payload.update(equipment=[asset], lab_name="力学室", inspectors=inspector)
        send(client, lab, payload)
        return db.scalars(select(TestRecord.id).where(TestRecord.number == number)).one()

    record("Q-OLD", minutes_ago=5 * 24 * 60, seed=1, asset="SB-100")  # five days ago
    read: list[set[int]] = []
    tests = analysis._tests

    def reading(ctx):
        got = tests(ctx)
        read.append({t.id for t in got})
        return got

    monkeypatch.setattr(analysis, "_tests", reading)
    runs = runs_of(monkeypatch, "capacity_exceeded")
    # seven six-minute tests started in the same minute by one inspector on seven machines: a
    # minute of handling each, the seventh done just by its end and the clock's slack
    ids = [record(f"Q-{n}", minutes_ago=30, seed=10 + n, asset=f"SB-1{n:02d}") for n in range(7)]
    assert runs == [{"row_ids": {i}} for i in ids]
    assert read[0] == {ids[0]}  # the record of five days ago is not read
    assert flagged(db, "capacity_exceeded") == set()
    # sent now, started a minute before them: judged on its write (first in the queue, quiet);
    # the seventh, now behind it too, is found by the sweep
    early = record("Q-EARLY", minutes_ago=31, seed=20, asset="SB-120")
    assert runs[7:] == [{"row_ids": {early}}]
    assert flagged(db, "capacity_exceeded") == set()
    run_rule(db, "capacity_exceeded", institution_ids=[lab.institution.id])  # as the sweep
    db.commit()
    assert flagged(db, "capacity_exceeded") == {"Q-6"}


def test_a_test_of_days_on_the_machine_is_read_on_a_write_as_by_the_sweep(client, db, lab):
    """A record's write reads the records still running two days before it, not only those
    started then: behind a genuine three-day test on the machine, a record is booked twice and
    judged from its own start, on its write as by the sweep (read without the long test, it
    was judged behind the record before it, and flagged)."""

    def record(number: str, *, minutes_ago: float, minutes: float, seed: int, **kw) -> None:
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        # no inspector: a three-day window would pass an inspector's day of 14 hours
        payload.update(equipment=["SB-001"], lab_name="力学室", inspectors=[])
        _shortened(payload, minutes)
        payload.update(kw)
        send(client, lab, payload)

    started = (utcnow() - dt.timedelta(days=3)).isoformat()
    record("D-LONG", minutes_ago=10, minutes=5, seed=1, started_at=started)
    # 4.4 minutes of curves and handling each, declared 3.6 with a minute of slack: A runs
    # 0.8 minutes past its end, and B, declared from A's end, would be behind it
    record("D-A", minutes_ago=60, minutes=3.6, seed=2)
    record("D-B", minutes_ago=60 - 3.6, minutes=3.6, seed=3)
    assert flagged(db, "capacity_exceeded") == set()
    run_rule(db, "capacity_exceeded", institution_ids=[lab.institution.id])  # as the sweep
    db.commit()
    assert flagged(db, "capacity_exceeded") == set()


def test_capacity_exceeded_by_an_inspector_day_beyond_its_hours(db, factory):
    """An inspector's declared windows of one Beijing day, merged: 14 hours pass; the record
    that passes them and the later ones are flagged, not the overlapping ones before."""
    from jcjg.testing.models import TestRecord

    lab, other = factory.institution(), factory.institution()
    day = dt.datetime(2026, 11, 10, 0, 0, tzinfo=dt.UTC)  # 08:00 in Beijing

    def record(inst, number: str, hour: float, hours: float) -> None:
        start = day + dt.timedelta(hours=hour)
        db.add(
            TestRecord(
                institution_id=inst.id, region_code=inst.region_code, number=number,
                kind="concrete_compression", item_code="0108", inspectors=["赵检测"],
                started_at=start, ended_at=start + dt.timedelta(hours=hours),
                received_at=start + dt.timedelta(hours=hours, minutes=5), acquisition="manual",
            )
        )  # fmt: skip

    # 08:00-12:00 and 10:00-14:00 overlap: 6 hours merged; then 15:00-21:00 (12) and
    # 21:00-23:30 (14.5 > 14): flagged, and 23:30-23:50 after it
    for n, (hour, hours) in enumerate(((0, 4), (2, 4), (7, 6), (13, 2.5), (15.5, 1 / 3))):
        record(lab, f"DAY-{n}", hour, hours)
    # another inspector of the same name at another institution: its own day
    record(other, "DAY-X", 0, 13.5)
    db.commit()
    run_rule(db, "capacity_exceeded", now=day + dt.timedelta(days=1))
    db.commit()
    assert flagged(db, "capacity_exceeded") == {"DAY-3", "DAY-4"}
    reasons = {r for a in _open(db, "capacity_exceeded") for r in a.facts["做不完的原因"]}
    assert (
        "检测人员 赵检测：2026-11-10 申报的检测时段合计已达 14.5 小时，超过一天 14 小时" in reasons
    )


def test_a_machine_booked_twice_is_impossible_timing_not_capacity_exceeded(client, db, lab):
    """docs/testing.md: overlaps on one machine are impossible_timing's; capacity_exceeded
    judges the second record from its own declared start (and still flags it when it is
    itself faster than its curves)."""
    inspector = [{"name": "王检测"}]

    def record(number: str, *, minutes_ago: float, minutes: float, seed: int, asset="SB-001"):
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        payload.update(equipment=[asset], lab_name="力学室", inspectors=inspector)
        _shortened(payload, minutes)
        send(client, lab, payload)

    record("TWICE-A", minutes_ago=60, minutes=5, seed=1)  # 55-60 minutes ago
    record("TWICE-B", minutes_ago=59, minutes=5, seed=2)  # 54-59: four minutes inside A
    assert flagged(db, "impossible_timing") == {"TWICE-B"}
    assert flagged(db, "capacity_exceeded") == set()
    # a third record on the machine right after B is judged behind B as usual
    record("TWICE-C", minutes_ago=53.5, minutes=1.5, seed=3)
    assert flagged(db, "capacity_exceeded") == {"TWICE-C"}
