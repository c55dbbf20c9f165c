"""Fraud no single rule names (issue 25 item 4): results piled just above the line, one
inspector or machine in two institutions' tests at once, cubes tested or reported before their
age. Each fires on planted data and stays quiet on the clean case beside it."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.registry.models import Equipment, Person
from jcjg.sampling.models import Sample
from jcjg.testing import fraud
from jcjg.testing.models import TestRecord
from tests.exchange.conftest import make_lims
from tests.factories import login
from tests.testing.conftest import concrete_record, runs_of


def _open(db, rule_id: str) -> list[Alert]:
    db.expire_all()
    stmt = select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open")
    return list(db.scalars(stmt))


# --- the statistics ------------------------------------------------------------------------------


def test_binomial_tail_and_wilson_bound_known_values():
    assert fraud.binomial_tail(0, 10, 0.3) == 1.0
    assert fraud.binomial_tail(10, 10, 0.5) == pytest.approx(0.5**10)
    assert fraud.binomial_tail(8, 10, 0.5) == pytest.approx(56 / 1024)
    assert fraud.binomial_tail(11, 10, 0.5) == 0.0
    # Wilson 95 % upper bound of 5/10: 0.7634
    assert fraud.wilson_upper(5, 10) == pytest.approx(0.7634, abs=1e-4)
    assert fraud.wilson_upper(0, 0) == 1.0


def test_margin_of_each_kind():
    concrete = {"values": {"strength_mpa": 31.5, "percent_of_design": 105.0}, "void": False}
    assert fraud.margin("concrete_compression", "C30", 28, concrete) == 105.0
    assert fraud.margin("concrete_compression", "C30", 28, {"void": True, "values": {}}) is None
    rebar = {"values": {"1.yield_mpa": 440.0, "2.yield_mpa": 420.0, "1.tensile_mpa": 600.0}}
    assert fraud.margin("rebar_tensile", "HRB400E", None, rebar) == pytest.approx(105.0)
    assert fraud.margin("rebar_tensile", "Q235", None, rebar) is None
    cement = {"values": {"compressive_mpa": 46.75, "flexural_mpa": 7.8}}
    assert fraud.margin("mortar_strength", "P·O 42.5", 28, cement) == pytest.approx(110.0)
    assert fraud.margin("mortar_strength", "P·O 42.5", 7, cement) is None
    assert fraud.margin("other", "", None, concrete) is None


def _lab_results(rng: random.Random, n: int, nudge: bool) -> list[float]:
    out = []
    for _ in range(n):
        value, lift = rng.gauss(108, 8), rng.uniform(0, 2.5)
        if nudge and 95 <= value < 100:
            value = 100 + lift
        out.append(value)
    return out


def test_a_nudged_lab_is_improbable_and_a_clean_one_is_not():
    rng = random.Random(7)
    clean = _lab_results(rng, 300, nudge=False)
    nudged = _lab_results(random.Random(7), 300, nudge=True)
    quiet = fraud.pile_above(clean, (0, 0), band=5)
    loud = fraud.pile_above(nudged, (0, 0), band=5)
    assert quiet.probability > 0.05
    assert loud.below == 0
    assert loud.above > 40
    assert loud.probability < 1e-6
    # the prediction comes from the neighbours of the band, which nudging leaves alone
    assert (loud.side_low, loud.side_high) == (quiet.side_low, quiet.side_high)
    assert loud.own_share == quiet.own_share
    # too few neighbours: the peers' split stands in
    sparse = fraud.pile_above([99.0, 101.0, 102.0], (40, 60), band=5)
    assert sparse.own_share is None
    assert sparse.expected_share == pytest.approx(fraud.wilson_upper(60, 100))


def test_vanished_failures_against_the_labs_past_and_its_peers():
    rng = random.Random(11)
    past = [rng.gauss(110, 8) for _ in range(400)]  # about 11 % below the line
    honest = [rng.gauss(110, 8) for _ in range(200)]
    passing = [100 + rng.uniform(0, 2.5) if m < 100 else m for m in honest]
    peers = (2000, 220)
    assert fraud.failures_vanished(honest, past, peers).probability > 0.05
    gone = fraud.failures_vanished(passing, past, peers)
    assert gone.failures == 0
    assert gone.probability < 1e-4
    # a lab always this good, or among peers this good, is not accused for it
    strong = [rng.gauss(130, 8) for _ in range(400)]
    assert fraud.failures_vanished(passing, strong, peers).probability > 0.05
    assert fraud.failures_vanished(passing, past, (2000, 2)).probability > 0.05
    # too little to compare with: no judgement
    assert fraud.failures_vanished(passing, past[:30], peers) is None
    assert fraud.failures_vanished(passing, past, (150, 20)) is None
    assert fraud.binomial_head(0, 10, 0.5) == pytest.approx(0.5**10)
    assert fraud.binomial_head(0, 400, 0.1) == pytest.approx(0.9**400)  # ~5e-19, not 0
    assert fraud.binomial_head(3, 10, 0.3) + fraud.binomial_tail(4, 10, 0.3) == pytest.approx(1)
    assert fraud.wilson_lower(0, 50) == 0.0


def test_results_above_line_flags_the_lab_whose_failures_vanished(db, factory):
    cheat, *peers = (factory.institution() for _ in range(3))
    rng = random.Random(5)
    now = utcnow()
    for inst in (cheat, *peers):
        for n in range(360):  # a year before the window, then the window's six months
            value = rng.gauss(110, 8)
            days = 1 + n % 170 if n < 160 else 200 + n % 300
            if inst is cheat and days < 170 and value < 100:
                value = 100 + rng.uniform(0, 2.5)  # every failure, however far below
            _record(db, inst, f"{inst.id}-v{n}", value, now - dt.timedelta(days=days))
    db.commit()
    run_rule(db, "results_above_line")
    db.commit()
    alerts = _open(db, "results_above_line")
    assert [a.institution_id for a in alerts] == [cheat.id]
    facts = alerts[0].facts
    assert facts["统计期内不合格"].startswith("0/")
    assert _below_one_percent(facts["不合格如此之少的概率"])
    assert facts["合格线以下 5% 内的组数"] == 0


def test_a_labs_peers_are_counted_once_for_the_province(db, factory, monkeypatch):
    """Twelve labs of a province: each lab's results near the line are counted once, and a
    lab's peers are the province's sums less its own (each lab counted every other lab's
    again: 132 counts for 12 labs, 4 million for 2,000)."""
    calls = []
    near_line = fraud.near_line
    monkeypatch.setattr(fraud, "near_line", lambda *a, **k: calls.append(1) or near_line(*a, **k))
    labs = [factory.institution() for _ in range(12)]
    rng = random.Random(9)
    now = utcnow()
    for inst in labs:
        for n in range(30):
            at = now - dt.timedelta(days=1 + n % 60)
            _record(db, inst, f"{inst.id}-p{n}", rng.gauss(112, 8), at)
    db.commit()
    run_rule(db, "results_above_line")
    assert len(calls) <= 2 * len(labs)


def _record(db, inst, number: str, percent: float, at: dt.datetime) -> None:
    db.add(
        TestRecord(
            institution_id=inst.id, region_code=inst.region_code, number=number,
            kind="concrete_compression", item_code="0108", grade="C30", age_days=28,
            started_at=at, ended_at=at + dt.timedelta(minutes=6), received_at=at,
            acquisition="auto",
            recomputed={"values": {"strength_mpa": percent * 0.3,
                                   "percent_of_design": percent}, "void": False},
        )
    )  # fmt: skip


def _nudged_region(db, factory):
    honest, nudging = factory.institution(), factory.institution()
    rng = random.Random(3)
    now = utcnow()
    for inst, nudge in ((honest, False), (nudging, True)):
        for n, value in enumerate(_lab_results(rng, 240, nudge)):
            at = now - dt.timedelta(days=1 + n % 60, hours=n % 7)
            _record(db, inst, f"{inst.id}-{n}", value, at)
    db.commit()
    run_rule(db, "results_above_line")
    db.commit()
    alerts = _open(db, "results_above_line")
    assert [a.institution_id for a in alerts] == [nudging.id]
    facts = alerts[0].facts
    assert facts["合格线以下 5% 内的组数"] == 0
    assert facts["合格线以上 5% 内的组数"] > 20
    assert _below_one_percent(facts["偶然出现的概率"])
    assert "99%～100%：0 组" in facts["合格线附近各区间的组数"]
    assert "混凝土立方体抗压强度" in alerts[0].subject_repr
    return honest, nudging, alerts[0]


def test_results_above_line_flags_the_lab_that_nudges(db, factory):
    _nudged_region(db, factory)


def test_the_pile_is_drawn_for_those_who_may_read_the_records(app, browser_client, db, factory):
    honest, nudging, alert = _nudged_region(db, factory)
    figure = alert.facts["figure"]
    assert figure.startswith(f"/testing/institutions/{nudging.id}/near-line?kind=")
    authority = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, authority.username)
    drawn = browser_client.get(figure)
    assert drawn.status_code == 200
    assert drawn.headers["content-type"].startswith("image/svg+xml")
    assert "合格线" in drawn.text
    assert "线下 5% 内 0 组" in drawn.text
    assert drawn.text.count("<rect") == 1 + 20  # the background and a bar per 1 %
    page = browser_client.get(f"/alerts/{alert.id}", headers={"accept": "text/html"})
    assert figure.replace("&", "&amp;") in page.text
    # the honest lab's own staff may not see the other lab's records drawn
    staff = factory.user(Role.INSTITUTION_STAFF, institution=honest)
    with TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as other:
        login(other, staff.username)
        assert other.get(figure).status_code == 404
    assert browser_client.get(figure.replace("band=5", "band=50")).status_code in (400, 422)


# --- clash_across_institutions -------------------------------------------------------------------


def _people_and_machines(db, lims, digest: str, id_number: str) -> None:
    inst = lims.institution
    base = {"institution_id": inst.id, "region_code": inst.region_code}
    db.add_all(
        [
            Equipment(name="压力机", asset_number="SB-001", status="in_use",
                      calibration_valid_until=utcnow().date() + dt.timedelta(days=100),
                      calibration_certificate_sha256=digest, **base),
            Person(name="王检测", id_number=id_number, is_inspector=True, **base),
        ]
    )  # fmt: skip
    db.commit()


def test_one_inspector_or_machine_in_two_institutions_at_once(client, db, settings, factory, lab):
    other = make_lims(db, settings, factory)
    stranger = make_lims(db, settings, factory)
    shared_cert, own_cert = "ab" * 32, "cd" * 32
    _people_and_machines(db, lab, shared_cert, "360402198503120011")
    _people_and_machines(db, other, shared_cert, "360402198503120011")
    _people_and_machines(db, stranger, own_cert, "360402199001010022")

    def send(lims, number: str, minutes_ago: float, seed: int) -> None:
        payload, _ = concrete_record(lims, number=number, seed=seed, minutes_ago=minutes_ago)
        payload["inspectors"] = [{"name": "王检测", "id_number": lims.id_number}]
        response = lims.post(client, "test_record", payload)
        assert response.status_code == 200, response.text

    lab.id_number = other.id_number = "360402198503120011"
    stranger.id_number = "360402199001010022"
    send(lab, "CL-A", 30, 1)
    send(other, "CL-B", 27, 2)  # overlaps A: the same person and the same machine
    send(stranger, "CL-C", 28, 3)  # overlaps both, but its own person and machine
    send(other, "CL-D", 10, 4)  # after A: quiet
    run_rule(db, "clash_across_institutions")
    db.commit()
    alerts = _open(db, "clash_across_institutions")
    assert [a.subject_number for a in alerts] == ["CL-B"]
    clashes = alerts[0].facts["冲突"]
    assert any("王检测（身份证号 360402********0011）" in c and "CL-A" in c for c in clashes)
    assert any("设备 SB-001" in c and "检定/校准证书相同" in c for c in clashes)
    assert alerts[0].institution_id == other.institution.id


def test_a_clash_is_carried_by_the_record_sent_later_judged_on_its_write(
    client, db, settings, factory, lab, monkeypatch
):
    """Judged by rows: a record sent late (its test started before the other institution's)
    carries the clash, found on its write, which judges it alone; registering a person
    judges the institution's records again."""
    other = make_lims(db, settings, factory)
    _people_and_machines(db, lab, "ab" * 32, "360402198503120011")
    _people_and_machines(db, other, "ab" * 32, "360402198503120011")

    def send(lims, number: str, minutes_ago: float, seed: int) -> None:
        payload, _ = concrete_record(lims, number=number, seed=seed, minutes_ago=minutes_ago)
        payload["inspectors"] = [{"name": "王检测", "id_number": "360402198503120011"}]
        assert lims.post(client, "test_record", payload).status_code == 200

    send(other, "LT-B", 27, 2)
    runs = runs_of(monkeypatch, "clash_across_institutions")
    send(lab, "LT-A", 30, 1)  # started before B, sent after it
    (alert,) = _open(db, "clash_across_institutions")
    assert (alert.subject_number, alert.institution_id) == ("LT-A", lab.institution.id)
    assert any("LT-B" in c for c in alert.facts["冲突"])
    late = db.scalars(select(TestRecord.id).where(TestRecord.number == "LT-A")).one()
    assert runs == [{"row_ids": {late}}]
    inst = lab.institution
    db.add(
        Person(name="李检测", id_number="360402199001010022", is_inspector=True,
               institution_id=inst.id, region_code=inst.region_code)
    )  # fmt: skip
    db.commit()
    assert runs[1:] == [{"institution_ids": {lab.institution.id}}]
    assert [a.id for a in _open(db, "clash_across_institutions")] == [alert.id]


# --- curing_age_short ----------------------------------------------------------------------------


def _sample(db, factory, code: str, prepared: dt.datetime) -> None:
    project = factory.project()
    sampler = factory.user(Role.SAMPLER)
    db.add(
        Sample(sample_code=code, project_id=project.id, region_code=project.region_code,
               material="混凝土试块", specification="C30", prepared_at=prepared,
               sampler_user_id=sampler.id, photo_sample_sha256="0" * 64,
               photo_tag_sha256="0" * 64, photo_person_sha256="0" * 64, sample_phash="0" * 16)
    )  # fmt: skip
    db.commit()


def test_cubes_tested_or_reported_before_their_age(client, db, factory, lab, monkeypatch):
    """Judged by rows: a record's write judges that record; a report's its institution's."""
    now = utcnow()
    runs = runs_of(monkeypatch, "curing_age_short")
    _sample(db, factory, "360403260000101A", now - dt.timedelta(days=28, hours=2))
    _sample(db, factory, "360403260000102B", now - dt.timedelta(days=20))
    _sample(db, factory, "360403260000103C", now - dt.timedelta(days=27, hours=12))  # within 20 h
    for number, code, seed in (
        ("AGE-OK", "360403260000101A", 1),
        ("AGE-EARLY", "360403260000102B", 2),
        ("AGE-EDGE", "360403260000103C", 3),
    ):
        payload, _ = concrete_record(lab, number=number, seed=seed)
        for specimen in payload["specimens"]:
            specimen["sample_code"] = code
        response = lab.post(client, "test_record", payload)
        assert response.status_code == 200, response.text
    alerts = _open(db, "curing_age_short")
    assert [a.subject_number for a in alerts] == ["AGE-EARLY"]
    ids = dict(db.execute(select(TestRecord.number, TestRecord.id)).all())
    assert runs == [{"row_ids": {ids[n]}} for n in ("AGE-OK", "AGE-EARLY", "AGE-EDGE")]
    facts = alerts[0].facts
    assert facts["申报龄期"] == "28 天"
    assert "实际龄期 20 天" in facts["问题"][0]
    # a report on the sound record, dated before the age ended: the record is flagged for it
    from tests.reports.test_reports import report_message

    early = (now - dt.timedelta(days=3)).date().isoformat()
    response = lab.post(
        client,
        "report",
        report_message(lab, "BG-2026-0101", test_record_numbers=["AGE-OK"], issued_on=early),
    )
    assert response.status_code == 200, response.text
    alerts = _open(db, "curing_age_short")
    assert sorted(a.subject_number for a in alerts) == ["AGE-EARLY", "AGE-OK"]
    assert runs[3:] == [{"institution_ids": {lab.institution.id}}]
    ok = next(a for a in alerts if a.subject_number == "AGE-OK")
    assert any("检测报告 BG-2026-0101 签发于" in p for p in ok.facts["问题"])


# --- standard_curing_offsite ---------------------------------------------------------------------


def _received(db, factory, lab, code: str, cast: dt.datetime, curing: str, at: dt.datetime):
    """A sample of ``curing`` cast at ``cast``, accepted at ``lab`` at ``at``."""
    from jcjg.sampling.models import SampleReceipt

    _sample(db, factory, code, cast)
    sample = db.scalars(select(Sample).where(Sample.sample_code == code)).one()
    sample.curing = curing
    receipt = SampleReceipt(
        sample_code=code, sample_id=sample.id, project_id=sample.project_id,
        institution_id=lab.institution.id, region_code=sample.region_code, accepted=True,
        checked_at=at, via="page",
    )  # fmt: skip
    db.add(receipt)
    db.commit()


def test_standard_cubes_received_long_before_their_age_were_cured_off_site(
    db, factory, lab, client
):
    cast = utcnow() - dt.timedelta(days=28, hours=1)
    for code, curing, received_after in (
        ("360403260000201A", "standard", dt.timedelta(days=2)),  # at the lab from day 2
        ("360403260000202B", "standard", dt.timedelta(days=26)),  # sent two days before
        ("360403260000203C", "same_condition", dt.timedelta(days=2)),  # cured beside it: fine
    ):
        _received(db, factory, lab, code, cast, curing, cast + received_after)
    for number, code, seed in (
        ("CUR-LAB", "360403260000201A", 11),
        ("CUR-SITE", "360403260000202B", 12),
        ("CUR-SAME", "360403260000203C", 13),
    ):
        payload, _ = concrete_record(lab, number=number, seed=seed)
        for specimen in payload["specimens"]:
            specimen["sample_code"] = code
        response = lab.post(client, "test_record", payload)
        assert response.status_code == 200, response.text
    alerts = _open(db, "standard_curing_offsite")
    assert [a.subject_id for a in alerts] == ["360403260000201A"]
    facts = alerts[0].facts
    assert facts["检测记录"] == "CUR-LAB"
    assert facts["收样时距养护结束"].startswith("26 天")
    assert alerts[0].institution_id == lab.institution.id


def test_standard_cubes_held_untested_at_the_lab_are_judged_by_the_sweep(db, factory, lab):
    now = utcnow()
    code = "360403260000211A"
    _received(db, factory, lab, code, now - dt.timedelta(days=1), "standard", now)
    run_rule(db, "standard_curing_offsite", now=now + dt.timedelta(days=2))
    assert _open(db, "standard_curing_offsite") == []  # two days at the lab: not yet
    run_rule(db, "standard_curing_offsite", now=now + dt.timedelta(days=5))
    alerts = _open(db, "standard_curing_offsite")
    assert [a.subject_id for a in alerts] == [code]
    assert alerts[0].facts["检测记录"] == "尚未检测"
    assert alerts[0].institution_id == lab.institution.id


def _below_one_percent(chance: str) -> bool:
    """A probability as the alert words it ("0.0051%（约 1/20000）", "不到百万分之一")."""
    return chance == "不到百万分之一" or float(chance.split("%")[0]) < 1
