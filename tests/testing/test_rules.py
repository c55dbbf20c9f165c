"""Each test-data rule fires when it should and stays quiet when it should not; the loading
rate is checked in each material's own branch and unit (a peer checker once never checked
cement compression because two branches tested the same flag)."""

from __future__ import annotations

import datetime as dt
import random
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.demo import synthetic
from jcjg.testing import overlaps
from jcjg.testing.models import Revision, TestRecord
from tests.testing.conftest import concrete_record, runs_of, when


def flagged(db, rule_id: str) -> set[str]:
    """Record numbers with an open alert of ``rule_id``."""
    db.expire_all()
    ids = {
        int(a.subject_id)
        for a in db.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open"))
    }
    return {r.number for r in db.scalars(select(TestRecord).where(TestRecord.id.in_(ids)))}


def send(client, lab, payload: dict[str, Any]) -> dict[str, Any]:
    response = lab.post(client, "test_record", payload)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("grade", "quiet_rate", "loud_rate"),
    [("C25", 0.4, 0.6), ("C30", 0.6, 1.2), ("C60", 0.9, 0.6)],
)
def test_loading_rate_concrete_bands(client, db, lab, grade, quiet_rate, loud_rate):
    quiet, _ = concrete_record(lab, number=f"Q-{grade}", grade=grade, rate_mpa_s=quiet_rate)
    loud, _ = concrete_record(lab, number=f"L-{grade}", grade=grade, rate_mpa_s=loud_rate, seed=2)
    send(client, lab, quiet)
    receipt = send(client, lab, loud)
    assert "loading_rate" in {w["code"] for w in receipt["warnings"]}
    assert flagged(db, "loading_rate") == {f"L-{grade}"}


def mortar_payload(lab, number: str, *, compressive_n_s: float, flexural_n_s: float, seed: int):
    specimens = synthetic.mortar_specimens(
        random.Random(seed), compressive_n_s=compressive_n_s, flexural_n_s=flexural_n_s
    )
    started, ended = when()
    return lab.message(
        number=number, kind="mortar_strength", item_code="0101", acquisition="auto",
        started_at=started, ended_at=ended, grade="P·O 42.5", age_days=28,
        specimens=specimens, judgement="conforming",
    )  # fmt: skip


def test_loading_rate_mortar_compression_and_flexure_each_checked(client, db, lab):
    send(client, lab, mortar_payload(lab, "M-OK", compressive_n_s=2400, flexural_n_s=50, seed=1))
    send(client, lab, mortar_payload(lab, "M-COMP", compressive_n_s=3200, flexural_n_s=50, seed=2))
    send(client, lab, mortar_payload(lab, "M-FLEX", compressive_n_s=2400, flexural_n_s=80, seed=3))
    assert flagged(db, "loading_rate") == {"M-COMP", "M-FLEX"}
    db.expire_all()
    facts = [a.facts for a in db.scalars(select(Alert).where(Alert.rule_id == "loading_rate"))]
    assert any("N/s" in f["加荷速度"] and f["标准范围"] == "2200～2600 N/s" for f in facts)
    assert any(f["标准范围"] == "40～60 N/s" for f in facts)


def rebar_payload(lab, number: str, *, stress_rate: float, seed: int):
    specimens = synthetic.bar_specimens(random.Random(seed), stress_rate_mpa_s=stress_rate)
    started, ended = when()
    return lab.message(
        number=number, kind="rebar_tensile", item_code="0102", acquisition="auto",
        started_at=started, ended_at=ended, grade="HRB400E", specimens=specimens,
        judgement="conforming",
    )  # fmt: skip


def test_loading_rate_rebar_elastic_range(client, db, lab):
    send(client, lab, rebar_payload(lab, "R-OK", stress_rate=20, seed=1))
    send(client, lab, rebar_payload(lab, "R-FAST", stress_rate=100, seed=2))
    assert flagged(db, "loading_rate") == {"R-FAST"}


@pytest.mark.parametrize(("name", "value"), [("diameter_mm", 0), ("gauge_mm", -5)])
def test_a_bar_of_no_size_is_refused_not_divided_by(client, db, lab, name, value):
    payload = rebar_payload(lab, "R-ZERO", stress_rate=20, seed=3)
    payload["specimens"][1]["values"][name] = value
    response = lab.post(client, "test_record", payload)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    [error] = response.json()["errors"]
    assert error["field"] == f"specimens[1].values.{name}"
    assert error["message"] == f"{name} 应为 1 至 2000 毫米"


def test_result_curve_mismatch(client, db, lab):
    send(client, lab, concrete_record(lab, number="RC-OK")[0])
    inflated, drawn = concrete_record(lab, number="RC-HIGH", seed=9)
    for n, curve in enumerate(drawn):  # the reported peaks 5 % above the curves'
        inflated["specimens"][n]["values"]["peak_kn"] = round(float(curve.force.max()) * 1.05, 2)
    send(client, lab, inflated)
    assert flagged(db, "result_curve_mismatch") == {"RC-HIGH"}


def test_curve_reuse_proves_copies_and_spares_other_specimens(client, db, settings, factory, lab):
    from tests.exchange.conftest import make_lims

    original, drawn = concrete_record(lab, number="CU-ORIG", seed=21)
    send(client, lab, original)
    rng = random.Random(5)
    exact, _ = concrete_record(lab, number="CU-EXACT", curves_of=drawn)
    shifted = [synthetic.copy_of(rng, c, shift_s=17.3) for c in drawn]
    noisy = [synthetic.copy_of(rng, c, shift_s=4.0, noise_kn=0.0015 * 800) for c in drawn]
    scaled = [synthetic.forge(rng, c, "rescaled", noise_kn=0, donor=c) for c in drawn]
    send(client, lab, exact)
    send(client, lab, concrete_record(lab, number="CU-SHIFT", curves_of=shifted)[0])
    send(client, lab, concrete_record(lab, number="CU-SCALED", curves_of=scaled)[0])
    other_lab = make_lims(db, settings, factory)  # another lab re-using the same test
    send(client, other_lab, concrete_record(other_lab, number="CU-NOISY", curves_of=noisy)[0])
    # genuinely different specimens of the same grade, machine and rate
    send(client, lab, concrete_record(lab, number="CU-NEW1", seed=22)[0])
    send(client, lab, concrete_record(lab, number="CU-NEW2", seed=23)[0])
    assert flagged(db, "curve_reuse") == {"CU-EXACT", "CU-SHIFT", "CU-SCALED", "CU-NOISY"}
    alerts = {
        a.subject_number: a for a in db.scalars(select(Alert).where(Alert.rule_id == "curve_reuse"))
    }
    exact_facts, noisy_facts = alerts["CU-EXACT"].facts, alerts["CU-NOISY"].facts
    assert exact_facts["最长连续相同点数"] >= 100
    assert exact_facts["残差相关系数"] > 0.99
    assert 0.5 < noisy_facts["残差相关系数"] < 0.99  # the noise dilutes, it does not hide
    assert noisy_facts["完全相同的数据点"] < 10
    assert noisy_facts["相同曲线的机构"] == lab.institution.name
    assert abs(alerts["CU-SCALED"].facts["力值比例"] - 1) >= 0.03
    assert alerts["CU-SHIFT"].facts["时间平移（秒）"] == pytest.approx(-17.3, abs=0.002)
    assert exact_facts["figure"].startswith("/testing/curves/")


def test_curve_reuse_reads_the_candidates_sharing_most_bands_first(client, db, lab, monkeypatch):
    """A curve reads at most CANDIDATES_READ earlier curves' fingerprints, those sharing the
    most band keys with it: with one read, among fifteen curves of the same grade, machine and
    rate, the copies' originals are still among them (found as candidates, not as twins)."""
    from jcjg.testing import service as testing_service

    for seed in range(31, 35):  # earlier specimens of the same kind, alike in shape
        send(client, lab, concrete_record(lab, number=f"CR-{seed}", seed=seed)[0])
    original, drawn = concrete_record(lab, number="CR-ORIG", seed=21)
    send(client, lab, original)
    read: list[int] = []
    ranked = testing_service.ranked
    monkeypatch.setattr(testing_service, "CANDIDATES_READ", 1)

    def counted(vectors, rises, *a, **k):
        read.append(len(rises))
        return ranked(vectors, rises, *a, **k)

    monkeypatch.setattr(testing_service, "ranked", counted)
    monkeypatch.setattr(testing_service, "_twins", lambda *a: [])  # the candidates alone
    send(client, lab, concrete_record(lab, number="CR-COPY", curves_of=drawn)[0])
    assert flagged(db, "curve_reuse") == {"CR-COPY"}
    assert read
    assert max(read) == 1


def test_late_upload_auto_minutes_and_manual_hours(client, db, lab):
    send(client, lab, concrete_record(lab, number="LT-AUTO-OK", minutes_ago=5)[0])
    send(client, lab, concrete_record(lab, number="LT-AUTO", minutes_ago=90, seed=2)[0])
    manual_ok, _ = concrete_record(lab, number="LT-MAN-OK", minutes_ago=120, seed=3)
    manual_ok["acquisition"] = "manual"
    manual_late, _ = concrete_record(lab, number="LT-MAN", minutes_ago=30 * 60, seed=4)
    manual_late["acquisition"] = "manual"
    send(client, lab, manual_ok)
    send(client, lab, manual_late)
    assert flagged(db, "late_upload") == {"LT-AUTO", "LT-MAN"}


def test_manual_override_only_for_auto_acquired_values(client, db, lab, monkeypatch):
    """Judged by rows: each revision's write judges that revision alone."""
    auto, _ = concrete_record(lab, number="MO-AUTO")
    manual, _ = concrete_record(lab, number="MO-MAN", seed=2)
    manual["acquisition"] = "manual"
    send(client, lab, auto)
    send(client, lab, manual)
    runs = runs_of(monkeypatch, "manual_override")
    for number, payload in (("MO-AUTO", auto), ("MO-MAN", manual)):
        before = payload["specimens"][0]["values"]["peak_kn"]
        response = lab.post(
            client,
            "test_revision",
            lab.message(
                record_number=number,
                field="specimens[1].peak_kn",
                before=before,
                after=before + 10,
                reason="复核更正",
                revised_by="王检测",
                revised_at=when(1)[1],
            ),
        )
        assert response.status_code == 200, response.text
    assert flagged(db, "manual_override") == {"MO-AUTO"}
    revisions = db.scalars(select(Revision.id).order_by(Revision.id)).all()
    assert runs == [{"row_ids": {r}} for r in revisions]


def test_judgement_mismatch(client, db, lab):
    weak = (560.0, 570.0, 565.0)  # about 25 MPa: below C30
    send(client, lab, concrete_record(lab, number="JM-OK", judgement="conforming")[0])
    send(client, lab, concrete_record(lab, number="JM-BAD", peaks=weak, seed=2)[0])
    honest, _ = concrete_record(
        lab, number="JM-HONEST", peaks=weak, seed=3, judgement="nonconforming"
    )
    send(client, lab, honest)
    assert flagged(db, "judgement_mismatch") == {"JM-BAD"}
    db.expire_all()
    record = db.scalars(select(TestRecord).where(TestRecord.number == "JM-HONEST")).one()
    assert record.platform_judgement == "nonconforming"


def _registry(db, lims):
    """Two labs of the institution, a machine in each, one past its calibration."""
    import datetime as dt
    from decimal import Decimal

    from jcjg.registry.models import Equipment, Lab, Person

    inst = lims.institution
    base = {"institution_id": inst.id, "region_code": inst.region_code}
    mech = Lab(name="力学室", address="九江", area_m2=Decimal("120"), **base)
    other = Lab(name="二号力学室", address="九江", area_m2=Decimal("80"), **base)
    db.add_all([mech, other])
    db.flush()
    today = dt.datetime.now(dt.UTC).date()
    db.add_all(
        [
            Equipment(name="压力机", asset_number="SB-001", lab_id=mech.id, status="in_use",
                      calibration_valid_until=today + dt.timedelta(days=100), **base),
            Equipment(name="压力机", asset_number="SB-OLD", lab_id=mech.id, status="in_use",
                      calibration_valid_until=today - dt.timedelta(days=10), **base),
            Equipment(name="压力机", asset_number="SB-002", lab_id=other.id, status="in_use",
                      calibration_valid_until=today + dt.timedelta(days=100), **base),
        ]
    )  # fmt: skip
    person = Person(name="王检测", id_number="360402198503120011", is_inspector=True, **base)
    db.add(person)
    db.commit()


def test_equipment_invalid(client, db, lab):
    _registry(db, lab)
    for number, assets, seed in (
        ("EQ-OK", ["SB-001"], 1),
        ("EQ-OLD", ["SB-OLD"], 2),
        ("EQ-NONE", ["SB-999"], 3),
        ("EQ-LAB", ["SB-002"], 4),  # registered in the other lab
    ):
        payload, _ = concrete_record(lab, number=number, seed=seed)
        payload["equipment"] = assets
        send(client, lab, payload)
    assert flagged(db, "equipment_invalid") == {"EQ-OLD", "EQ-NONE", "EQ-LAB"}
    db.expire_all()
    facts = {
        a.facts["设备问题"][0]
        for a in db.scalars(select(Alert).where(Alert.rule_id == "equipment_invalid"))
    }
    assert any("已过期" in f for f in facts)
    assert any("未在本机构" in f for f in facts)
    assert any("不在力学室" in f for f in facts)


def test_equipment_invalid_judges_a_record_on_its_write_and_all_on_the_registry_s(
    client, db, lab, monkeypatch
):
    """Judged by rows: a record's write judges it alone; renewing an instrument's calibration
    judges the institution's records again."""
    from jcjg.registry.models import Equipment

    _registry(db, lab)
    for number, seed in (("RW-OLD", 1), ("RW-OLD-2", 2)):
        payload, _ = concrete_record(lab, number=number, seed=seed)
        payload["equipment"] = ["SB-OLD"]
        send(client, lab, payload)
    assert flagged(db, "equipment_invalid") == {"RW-OLD", "RW-OLD-2"}
    runs = runs_of(monkeypatch, "equipment_invalid")
    payload, _ = concrete_record(lab, number="RW-NEW", seed=3)
    payload["equipment"] = ["SB-001"]
    send(client, lab, payload)
    new = db.scalars(select(TestRecord.id).where(TestRecord.number == "RW-NEW")).one()
    assert runs == [{"row_ids": {new}}]  # the earlier records were not judged again
    machine = db.scalars(select(Equipment).where(Equipment.asset_number == "SB-OLD")).one()
    machine.calibration_valid_until = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=300)
    db.commit()
    assert runs[1:] == [{"institution_ids": {lab.institution.id}}]
    assert flagged(db, "equipment_invalid") == set()


def _booked(i: int, start: dt.datetime, length: dt.timedelta) -> SimpleNamespace:
    return SimpleNamespace(id=i, started_at=start, ended_at=start + length)


@pytest.mark.parametrize("allowed_s", [-600, 0, 60, 3600])
def test_bookings_find_what_a_walk_over_the_pool_finds(allowed_s):
    """overlaps.Bookings yields, for a record and an identity, exactly the records booked
    there that a walk over the whole pool finds overlapping it by more than the allowance,
    started before or after it, whatever the allowance's sign and however long the records:
    minutes, days, a record of 1970, one of no duration."""
    rng = random.Random(allowed_s)
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    pool = []
    for i in rng.sample(range(1, 1000), 300):  # ids not in the order of the starts
        start = base + dt.timedelta(minutes=rng.randrange(0, 3000, 5))
        minutes = rng.choice([0, 1, 6, 30, 240, 240, 3 * 1440])
        pool.append(_booked(i, start, dt.timedelta(minutes=minutes)))
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    pool.append(_booked(1000, epoch, base - epoch + dt.timedelta(days=1)))
    keys = {r.id: rng.choice("AB") for r in pool}
    bookings = overlaps.Bookings((keys[r.id], r) for r in pool)
    allowed = dt.timedelta(seconds=allowed_s)
    for record in pool:
        for key in "AB":
            walked = {
                o.id for o in pool if keys[o.id] == key and overlaps.overlap(record, o) > allowed
            }
            found = [o.id for o in bookings.overlapping(key, record, allowed)]
            assert sorted(found) == sorted(walked)
            assert len(found) == len(set(found))


def test_one_long_record_does_not_make_every_search_a_walk():
    """A machine's 2,000 back-to-back six-minute records and one record of 1970 to now on it:
    a search looks at the records it yields and a few more, not at every earlier record as a
    search bounded by the pool's longest record did (2,000 searches: ~2 million looks)."""
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    six = dt.timedelta(minutes=6)
    pool = [_booked(i, base + i * six, six) for i in range(2000)]
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    pool.append(_booked(5000, epoch, base + dt.timedelta(days=30) - epoch))
    bookings = overlaps.Bookings(("SB-001", r) for r in pool)
    allowed = dt.timedelta(seconds=60)
    yielded = 0
    for record in pool[:-1]:
        found = list(bookings.overlapping("SB-001", record, allowed))
        assert [o.id for o in found if o is not record] == [5000]
        yielded += len(found)
    assert yielded == 4000
    assert bookings.examined < 3 * yielded


def test_a_search_stops_at_its_limit_and_lists_the_first_clashes():
    """A record clashing with more records than a search seeks: the search stops at SOUGHT,
    and stops at the same records whatever else the pool holds; the finding lists LISTED
    and says how many more."""
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    clashing = [_booked(i, base, dt.timedelta(hours=2)) for i in range(1, 251)]
    before = [base - dt.timedelta(days=1 + i) for i in range(50)]
    quiet = [_booked(300 + i, start, dt.timedelta(minutes=6)) for i, start in enumerate(before)]
    record = _booked(1000, base + dt.timedelta(minutes=30), dt.timedelta(minutes=30))
    searched = []
    for pool in (clashing, clashing + quiet, list(reversed(clashing)) + quiet):
        bookings = overlaps.Bookings(("SB-001", r) for r in [*pool, record])
        found, complete = overlaps.clashing(
            bookings, record, ["SB-001"], dt.timedelta(seconds=60), lambda key, other: True
        )
        assert not complete
        assert len(found) == overlaps.SOUGHT
        searched.append(sorted(found))
    assert searched[0] == searched[1] == searched[2]
    lines = [f"原始记录 {i}" for i in searched[0]]
    shown = overlaps.listed(lines, complete=False)
    assert shown[: overlaps.LISTED] == lines[: overlaps.LISTED]
    assert shown[overlaps.LISTED :] == [f"……另有 {len(lines) - overlaps.LISTED} 处以上"]
    assert overlaps.listed(lines[:25], complete=True)[-1] == "……另有 5 处"
    assert overlaps.listed(lines[:3], complete=True) == lines[:3]


def test_impossible_timing_with_a_test_of_days_on_the_machine(client, db, lab):
    """A genuine three-day test on a machine: a six-minute test on the same machine within it,
    sent later, carries the clash; one before it is quiet; the sweep finds the same."""
    _registry(db, lab)

    def record(number: str, minutes_ago: float, seed: int, days: float = 0) -> None:
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        if days:
            payload["started_at"] = (utcnow() - dt.timedelta(days=days)).isoformat()
        payload.update(equipment=["SB-001"], lab_name="力学室")
        send(client, lab, payload)

    record("DAYS-A", 10, 1, days=3)  # three days ago to ten minutes ago
    record("DAYS-B", 60, 2)  # within A
    record("DAYS-C", 5 * 1440, 3)  # five days ago: before A began
    assert flagged(db, "impossible_timing") == {"DAYS-B"}
    (alert,) = db.scalars(select(Alert).where(Alert.rule_id == "impossible_timing"))
    assert alert.facts["冲突"] == ["设备 SB-001 同时用于原始记录 DAYS-A"]
    run_rule(db, "impossible_timing", institution_ids=[lab.institution.id])
    db.commit()
    assert flagged(db, "impossible_timing") == {"DAYS-B"}


def test_impossible_timing_machine_and_person(client, db, lab):
    _registry(db, lab)
    inspector = [{"name": "王检测", "id_number": "360402198503120011"}]

    def record(number: str, minutes_ago: float, assets: list[str], lab_name: str, seed: int):
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        payload.update(equipment=assets, lab_name=lab_name, inspectors=inspector)
        send(client, lab, payload)

    record("TM-A", 20, ["SB-001"], "力学室", 1)  # 6 minutes each
    record("TM-B", 17, ["SB-001"], "力学室", 2)  # same machine, overlapping A
    record("TM-C", 5, ["SB-001"], "力学室", 3)  # after both: quiet
    record("TM-D", 7, ["SB-002"], "二号力学室", 4)  # the same inspector in another lab, with C
    # the record sent later carries the clash: D, though it started before C
    assert flagged(db, "impossible_timing") == {"TM-B", "TM-D"}
    db.expire_all()
    clashes = [
        c
        for a in db.scalars(select(Alert).where(Alert.rule_id == "impossible_timing"))
        for c in a.facts["冲突"]
    ]
    assert any("设备 SB-001 同时用于原始记录 TM-A" in c for c in clashes)
    assert any("王检测 同时在力学室做原始记录 TM-C" in c for c in clashes)


def test_impossible_timing_judges_the_records_sent_against_those_sent_before(
    client, db, lab, monkeypatch
):
    """Judged by rows: a record sent late (its test before one already sent) carries the
    clash, and writing it judges that record alone. A run over the institution, as the sweep
    makes, finds the same."""
    _registry(db, lab)

    def record(number: str, minutes_ago: float, seed: int) -> None:
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        payload.update(equipment=["SB-001"], lab_name="力学室")
        send(client, lab, payload)

    record("LATE-A", 30, 1)
    record("LATE-B", 27, 2)  # overlaps A on the machine: B carries it
    runs = runs_of(monkeypatch, "impossible_timing")
    record("LATE-C", 33, 3)  # tested before A, sent after it, overlapping it
    assert flagged(db, "impossible_timing") == {"LATE-B", "LATE-C"}
    late = db.scalars(select(TestRecord.id).where(TestRecord.number == "LATE-C")).one()
    assert runs == [{"row_ids": {late}}]  # neither A nor B judged again
    facts = {
        a.subject_repr: a.facts["冲突"]
        for a in db.scalars(select(Alert).where(Alert.rule_id == "impossible_timing"))
    }
    assert facts["原始记录 LATE-C"] == ["设备 SB-001 同时用于原始记录 LATE-A"]
    run_rule(db, "impossible_timing", institution_ids=[lab.institution.id])
    db.commit()
    assert flagged(db, "impossible_timing") == {"LATE-B", "LATE-C"}


def test_new_thresholds_judge_again_every_record_of_a_rule_judged_by_rows(client, db, factory, lab):
    """A province sets impossible_timing's allowance for the city: every record of its
    institutions is judged again at once (a rule judged by rows was run with the institutions'
    ids taken for records' ids, judging the wrong records and not these)."""
    _registry(db, lab)
    for number, minutes_ago, seed in (("THR-A", 30, 1), ("THR-B", 27, 2)):  # 3 minutes' overlap
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=minutes_ago)
        payload.update(equipment=["SB-001"], lab_name="力学室")
        send(client, lab, payload)
    assert flagged(db, "impossible_timing") == {"THR-B"}
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    answer = client.put(
        f"/api/v1/rules/impossible_timing/thresholds/{lab.institution.region_code[:4]}00",
        json={"overlap_seconds": 600},
        headers={"Authorization": f"Bearer {factory.token(province)}"},
    )
    assert answer.status_code == 200, answer.text
    assert flagged(db, "impossible_timing") == set()


def test_out_of_scope_and_unlicensed_work_on_each_record(client, db, lab, monkeypatch):
    """The registry's rules, extended to test records: a test item outside the valid
    certificate, an inspector without the specialty."""
    import datetime as dt

    from jcjg.registry.models import Person, QualificationCertificate
    from tests.factories import catalogue

    held, _, _ = catalogue(db, "01")  # item 0101
    other, _, _ = catalogue(db, "02")  # item 0201
    inst = lab.institution
    base = {"institution_id": inst.id, "region_code": inst.region_code}
    cert = QualificationCertificate(
        number="JZ-SCOPE", issued_by="江西省住房和城乡建设厅",
        issue_date=dt.date(2024, 1, 1), valid_until=dt.date(2030, 1, 1), **base,
    )  # fmt: skip
    cert.specialties = [held]
    qualified = Person(name="王检测", id_number="360402198503120011", is_inspector=True, **base)
    qualified.specialties = [held]
    clerk = Person(name="赵文员", id_number="36040219900101001X", is_inspector=False, **base)
    db.add_all([cert, qualified, clerk])
    db.commit()
    for number, item, who, seed in (
        ("SC-OK", "0101", qualified, 1),
        ("SC-OUT", "0201", qualified, 2),
        ("SC-CLERK", "0101", clerk, 3),
    ):
        payload, _ = concrete_record(lab, number=number, seed=seed)
        payload.update(item_code=item, inspectors=[{"name": who.name, "id_number": who.id_number}])
        send(client, lab, payload)
    assert flagged(db, "out_of_scope") == {"SC-OUT"}
    # the clerk is no inspector; the inspector holds 01, not the 02 of SC-OUT's item
    assert flagged(db, "unlicensed_work") == {"SC-CLERK", "SC-OUT"}
    assert other.code == "02"
    # judged by rows: a record's write judges it alone; the certificate's, every record
    scope, licence = runs_of(monkeypatch, "out_of_scope"), runs_of(monkeypatch, "unlicensed_work")
    payload, _ = concrete_record(lab, number="SC-MORE", seed=4)
    inspector = {"name": "王检测", "id_number": qualified.id_number}
    payload.update(item_code="0201", inspectors=[inspector])
    send(client, lab, payload)
    more = db.scalars(select(TestRecord.id).where(TestRecord.number == "SC-MORE")).one()
    assert scope == licence == [{"row_ids": {more}}]
    assert flagged(db, "out_of_scope") == {"SC-OUT", "SC-MORE"}
    cert.specialties = [held, other]
    db.commit()
    assert scope[1:] == [{"institution_ids": {inst.id}}]
    assert flagged(db, "out_of_scope") == set()


def test_curve_reuse_compares_the_nearest_twins_and_skips_an_unreadable_curve(
    client, db, settings, lab
):
    from jcjg.alerts.models import RuleThreshold
    from jcjg.core.blobs import blob_store
    from jcjg.testing import service
    from jcjg.testing.models import Curve

    # no candidate by the fingerprint's cosine: only the twins in peak and rise time are left
    db.add(RuleThreshold(rule_id="curve_reuse", region_code=lab.institution.region_code,
                         key="min_similarity", value=1.01))  # fmt: skip
    db.commit()
    original, drawn = concrete_record(lab, number="TW-ORIG", seed=41)
    send(client, lab, original)
    rng = random.Random(8)
    noisy = [synthetic.copy_of(rng, c, shift_s=3.0, noise_kn=1.0) for c in drawn]
    send(client, lab, concrete_record(lab, number="TW-COPY", curves_of=noisy)[0])
    assert flagged(db, "curve_reuse") == {"TW-COPY"}
    # an earlier curve whose stored points are gone is not compared; the rule still runs
    first = db.scalars(select(Curve).order_by(Curve.id)).first()
    path = blob_store(settings)._path(first.blob_digest)
    assert path.exists()
    path.unlink()
    service.forget_prepared()  # kept prepared in this process since TW-COPY compared it
    again = [synthetic.copy_of(rng, c, shift_s=5.0, noise_kn=1.0) for c in drawn]
    send(client, lab, concrete_record(lab, number="TW-AGAIN", curves_of=again)[0])
    assert "TW-AGAIN" in flagged(db, "curve_reuse")  # the other curves it copies are still there


def test_a_curve_compared_again_is_read_and_prepared_once(client, db, settings, lab):
    from jcjg.config import Settings
    from jcjg.core.blobs import BlobNotFound
    from jcjg.testing import service
    from jcjg.testing.models import Curve

    payload, _ = concrete_record(lab, number="PR-ONCE", seed=43)
    send(client, lab, payload)
    row = db.scalars(select(Curve).order_by(Curve.id)).first()
    first = service.prepared_curve(settings, row, 0.9)
    assert service.prepared_curve(settings, row, 0.9) is first  # kept, not read again
    assert service.prepared_curve(settings, row, 0.6) is not first  # another branch
    assert first.curve.n == row.n_points
    # another store (another platform in this process) does not share it
    elsewhere = Settings(**{**settings.model_dump(), "data_dir": settings.data_dir / "other"})
    with pytest.raises(BlobNotFound):
        service.prepared_curve(elsewhere, row, 0.9)


def test_environment_out_of_range_per_method(client, db, lab):
    def record(number: str, seed: int, environment: dict[str, float] | None) -> None:
        payload, _ = concrete_record(lab, number=number, seed=seed, minutes_ago=60 - seed * 8)
        if environment is not None:
            payload["environment"] = environment
        send(client, lab, payload)

    record("ENV-OK", 1, {"temperature_c": 20.0, "humidity_percent": 55})
    record("ENV-EDGE", 2, {"temperature_c": 25.0, "humidity_percent": 50})  # just inside
    record("ENV-HOT", 3, {"temperature_c": 27.5, "humidity_percent": 60})
    record("ENV-DRY", 4, {"temperature_c": 21.0, "humidity_percent": 42})
    record("ENV-NONE", 5, None)  # nothing stated: not judged
    # the cement room is narrower (20 ± 2 ℃): 23 ℃ is outside
    cement = mortar_payload(lab, "ENV-CEM", compressive_n_s=2400, flexural_n_s=50, seed=6)
    cement["environment"] = {"temperature_c": 23.0, "humidity_percent": 60}
    send(client, lab, cement)
    # rebar only asks for 10-35 ℃
    bars = rebar_payload(lab, "ENV-BAR", stress_rate=20, seed=7)
    bars["environment"] = {"temperature_c": 30.0, "humidity_percent": 20}
    send(client, lab, bars)
    assert flagged(db, "environment_out_of_range") == {"ENV-HOT", "ENV-DRY", "ENV-CEM"}
    problems = {
        p
        for a in db.scalars(select(Alert).where(Alert.rule_id == "environment_out_of_range"))
        for p in a.facts["问题"]
    }
    assert "试验温度 27.5 ℃，GB/T 50081-2019 要求 15～25 ℃" in problems
    assert "相对湿度 42%，GB/T 50081-2019 要求不低于 50%" in problems
    assert "试验温度 23 ℃，GB/T 17671-2021 要求 18～22 ℃" in problems
