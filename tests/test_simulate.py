"""``jcjg simulate`` against a live platform: real HTTP, real client, real rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jcjg.alerts.engine import run_rule
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_midnight
from jcjg.demo.simulator import region as sim
from jcjg.exchange.models import Client, Message
from jcjg.registry.models import Equipment, Person
from jcjg.tenancy.models import Institution
from tests.client.live import running_exchange

# an end-to-end run of the simulator against the platform: the same on both databases
pytestmark = pytest.mark.once
# the seed of the sampling runs: one whose three days take every report and test-data rule
# round (a run plants each rule once, across the labs, before any twice)
SEED = 1


def test_a_simulated_region_reports_through_the_api(tmp_path: Path) -> None:
    with running_exchange(tmp_path) as exchange:
        with exchange.sessions() as db:
            sims = sim.prepare(
                db,
                exchange.settings,
                institutions=2,
                region="360400",
                seed=7,
                violations=1.0,
                key_dir=tmp_path / "keys",
            )
            catalogue = sim.catalogue_parameters(db)
        assert len({s.code for s in sims}) == 2
        assert all(s.region.startswith("3604") for s in sims)
        seen: list[tuple[int, int, int]] = []
        summary = sim.run(
            sims,
            url=exchange.url,
            days=2,
            seed=7,
            catalogue=catalogue,
            progress=lambda day, done, total: seen.append((day, done, total)),
        )
        assert summary.failures == []
        total = sum(summary.sent.values())
        assert summary.statuses == {"applied": total}
        assert set(summary.sent) == {
            "registry.labs",
            "registry.staff",
            "registry.equipment",
            "registry.capabilities",
            "registry.signatories",
            "registry.sync",
        }
        assert summary.files > 0  # calibration certificates went up as files
        # Every institution breaks three rules of its registry (violations=1.0), the two
        # taking all five in turn, and lets its certificate near its end; the receipts said
        # so, and each opened its alert.
        assert {"calibration_expired", "certificate_lending"} & set(summary.warnings)
        assert set(summary.planted) == set(sim.PLANTED)
        assert summary.planted["licence_expiring"] == 2
        assert seen[-1][0] == 1
        assert seen[-1][1] == seen[-1][2]
        assert any(line.startswith("机构 2 家") for line in summary.lines())
        with exchange.sessions() as db:
            from jcjg.alerts.models import Alert

            opened = select(Alert.rule_id).where(Alert.status == "open")
            # (the exchange's monitoring: judged in tests/test_simulate.py planted_rules_fire)
            monitored = {"client_silent", "client_error_spike"}
            assert set(sim.PLANTED) - monitored <= set(db.scalars(opened))
            assert db.scalar(select(func.count()).select_from(Message)) == total
            assert db.scalar(select(func.count()).select_from(Person)) > 15
            assert db.scalar(select(func.count()).select_from(Equipment)) > 15
            # Running again with the same seed reuses the institutions, clients and keys.
            again = sim.prepare(
                db,
                exchange.settings,
                institutions=2,
                region="360400",
                seed=7,
                violations=1.0,
                key_dir=tmp_path / "keys",
            )
            assert [s.key_id for s in again] == [s.key_id for s in sims]
            assert db.scalar(select(func.count()).select_from(Institution)) == 2
            assert db.scalar(select(func.count()).where(Client.name == sim.CLIENT_NAME)) == 2
            # and each violating lab's second system, never connected, once
            assert db.scalar(select(func.count()).where(Client.name == sim.SPARE_CLIENT)) == 2


def test_prepare_explains_a_missing_region(tmp_path: Path) -> None:
    with (
        running_exchange(tmp_path) as exchange,
        exchange.sessions() as db,
        pytest.raises(ValueError, match="区县"),
    ):
        sim.prepare(
            db, exchange.settings, institutions=1, region="990000", seed=1,
            violations=0, key_dir=tmp_path,
        )  # fmt: skip


def _sampling_run(tmp_path: Path, exchange, *, institutions: int, days: int, violations: float):
    from jcjg.demo.simulator import alerts as cases
    from jcjg.demo.simulator import proficiency, video
    from jcjg.demo.simulator import sampling as simulation

    with exchange.sessions() as db:
        sims = sim.prepare(
            db, exchange.settings, institutions=institutions, region="360400", seed=SEED,
            violations=violations, key_dir=tmp_path / "keys",
        )  # fmt: skip
        projects = simulation.prepare(
            db, exchange.settings, labs=[(s.code, s.region) for s in sims], region="360400",
            seed=SEED, violations=violations, codes_per_project=4 * days + 4,
        )  # fmt: skip
        codes = [s.code for s in sims]
        handlers = cases.prepare(
            db, station=projects[0].station, institution_codes=codes, violations=violations
        )
        db.commit()
        catalogue = sim.catalogue_parameters(db)
    summary = sim.run(
        sims, url=exchange.url, days=days, seed=SEED, catalogue=catalogue,
        projects=projects, violations=violations, handlers=handlers,
    )  # fmt: skip
    with exchange.sessions() as db:
        simulation.tamper(db, summary.tamper)
    with exchange.sessions() as db:  # the labs' cameras; with violations, each lab's machine
        labs = [(s.code, violations > 0) for s in sims]  # of its first test without one
        summary.planted.update(video.film(db, exchange.settings, labs))
    # the region's proficiency test, the labs' results sent by their LIMS
    planted, failures = proficiency.run(
        exchange.sessions, [(s, violations > 0) for s in sims], region="360400",
        url=exchange.url, seed=SEED,
    )  # fmt: skip
    summary.planted.update(planted)
    summary.failures.extend(failures)
    return projects, summary


def planted_rules_fire(exchange, projects, summary) -> None:
    """A violations=1.0 run of 4 labs over 3 days (`_sampling_run`) planted every sampling,
    test-data and report rule, each fired; the station worked the alerts each evening and
    the cases of the labs that never answer escalate once their deadlines pass. The browser
    test of the simulator's reports (tests/browser/test_simulated_reports.py) makes that run
    once and checks both: the simulation is the suite's costliest single step."""
    from jcjg.alerts.models import Alert
    from jcjg.demo.simulator.sampling import PLANTED, SITE_PLANTED
    from jcjg.projects.models import ProjectMember
    from jcjg.sampling.models import Commission, Sample, SampleReceipt, SampleSeal, WitnessRecord

    assert summary.failures == []
    assert len(projects) == 2
    assert set(summary.sent) >= {"commission", "sample_event"}
    assert summary.statuses == {"applied": sum(summary.sent.values())}
    # every sample broke one rule, each project taking the rules in turn; every test record
    # of an accepted sample one of the test-data rules
    from jcjg.demo.simulator.reports import PLANTED as REPORTS_PLANTED
    from jcjg.demo.simulator.testing import HISTORY_PLANTED
    from jcjg.demo.simulator.testing import PLANTED as TESTS_PLANTED
    from jcjg.demo.simulator.video import PLANTED as VIDEO_PLANTED

    planted = {
        *PLANTED, *SITE_PLANTED, "assignment_change_late", "untrained_on_duty", "on_duty_mismatch",
        *TESTS_PLANTED, *HISTORY_PLANTED, "onsite_plan_late", "onsite_late_upload",
        "unfiled_out_of_province",
        "report_signed_by_outsider", "group_transfer", *sim.PLANTED, "nonconformity_unhandled",
        "rectification_order_overdue", "unlicensed_work",
        *REPORTS_PLANTED, *VIDEO_PLANTED, "proficiency_unsatisfactory",
    }  # fmt: skip
    assert set(summary.planted) == planted
    assert {"test_record", "test_revision"} <= set(summary.sent)
    sealed = summary.actions["见证封样"]
    assert summary.actions["取样登记"] == sealed >= 2 * summary.days
    assert any(line.startswith("埋设的违规：") for line in summary.lines())
    with exchange.sessions() as db:
        _sweeps_to_come(db)
        _verify_video(db, exchange.settings)
        _cameras_offline(db, summary)
        refused = _monitor_exchange(exchange, db)
        overdue = _orders_overdue(db)
        db.commit()
        assert db.scalar(select(func.count()).select_from(Sample)) == sealed
        assert db.scalar(select(func.count()).select_from(SampleSeal)) == sealed
        assert db.scalar(select(func.count()).select_from(WitnessRecord)) == sealed
        assert db.scalar(select(func.count()).select_from(SampleReceipt)) == sealed
        # a commission per project and day, and each violating project's sister lab's (taken
        # without a contract: group_transfer)
        transfers = summary.planted["group_transfer"]
        assert 1 <= transfers <= 2
        commissions = select(func.count()).select_from(Commission)
        assert db.scalar(commissions) == 2 * summary.days + transfers
        changes = select(func.count()).select_from(ProjectMember)
        assert db.scalar(changes.where(ProjectMember.is_initial.is_(False))) == 2
        fired = set(db.scalars(select(Alert.rule_id).where(Alert.status == "open")))
        assert planted - {"client_error_spike"} <= fired
        # the data quality rule across messages: a violating lab's record filed under a
        # commission registered after its test (jcjg.demo.simulator.testing.backdated_plans)
        from jcjg.governance.models import QualityCheck

        failing = db.scalars(select(QualityCheck.failures).where(QualityCheck.failed > 0))
        assert "检测记录的试验开始时间不早于委托日期" in {f["name"] for fs in failing for f in fs}
        # each lab whose clock ran behind, in the hour its messages were refused
        assert len(refused) == summary.planted["client_error_spike"] == 4
        # the slow labs never answered their written orders (the second and the fourth)
        assert len(overdue) == summary.planted["rectification_order_overdue"] >= 1
        assert overdue <= set(_lab_ids(db)[1::2])
        refused = select(func.count()).select_from(SampleReceipt)
        planted_refusals = summary.planted["sample_photo_mismatch"]
        planted_refusals += summary.planted["receipt_refused"]
        assert db.scalar(refused.where(SampleReceipt.accepted.is_(False))) == planted_refusals
    _handled_and_escalated(exchange, summary)


def _sweeps_to_come(db) -> None:
    """The time-driven rules as the sweeps to come judge them, with their clocks moved."""
    # a skipped report number is a gap once the later number has waited 3 days
    run_rule(db, "number_gap", now=utcnow() + dt.timedelta(days=4))
    # a lab's results over months are judged in the daily sweep
    run_rule(db, "results_above_line")
    # the sweep judges recordings once they have had time to arrive
    run_rule(db, "video_missing", now=utcnow() + dt.timedelta(hours=2))
    # a report's signed PDF is due 24 hours after its code
    run_rule(db, "report_late", now=utcnow() + dt.timedelta(hours=25))
    # a nonconforming result is to be handled within 15 working days
    run_rule(db, "nonconformity_unhandled", now=utcnow() + dt.timedelta(days=30))
    # a pour's sets are judged a day after it; cubes kept at the lab, days on
    run_rule(db, "specimen_sets_short", now=utcnow() + dt.timedelta(hours=25))
    run_rule(db, "standard_curing_offsite", now=utcnow() + dt.timedelta(days=4))


def _verify_video(db, settings) -> None:
    """The ``video.verify`` job's work: each camera's recording checked, then ``video_gap``."""
    from jcjg.video import integrity
    from jcjg.video.models import Camera

    for camera in db.scalars(select(Camera).order_by(Camera.id)).all():
        integrity.check(db, settings, camera, utcnow())
    run_rule(db, "video_gap")


def _cameras_offline(db, summary) -> None:
    """``camera_offline`` at the simulation's clock: each violating lab's camera whose stream
    stopped answering in working hours, and none of the cameras the simulated recorder holds
    and records."""
    from jcjg.alerts.models import Alert

    run_rule(db, "camera_offline", now=_simulation_clock(db))
    offline = db.scalars(select(Alert).where(Alert.rule_id == "camera_offline")).all()
    assert len(offline) == summary.planted["camera_offline"]
    assert summary.planted["camera_offline"] == summary.planted["coverage_incomplete"]
    # the neutral text until the address delivered video to this recorder, then the timeout
    reasons = {a.facts["原因"] for a in offline}
    assert reasons
    assert reasons <= {"无法连接摄像机视频流", "连接摄像机超时"}


def _simulation_clock(db) -> dt.datetime:
    """The end of the run: when the simulated recorder last renewed its leases, one on each
    simulated camera."""
    from jcjg.demo.simulator.video import HOLDER
    from jcjg.video.models import Camera, CameraLease

    leases = db.scalars(select(CameraLease)).all()
    assert len(leases) == db.scalar(select(func.count()).select_from(Camera)) > 0
    assert {lease.holder for lease in leases} == {HOLDER}
    return max(lease.heartbeat_at for lease in leases)


def _monitor_exchange(exchange, db) -> set[str]:
    """The hourly ``exchange.monitor`` job's rules once the request tally is written: now,
    and at the end of each hour in which messages were refused as stale (``client_error_spike``
    judges the hour it runs in). The clients ``client_error_spike`` raised an alert on."""
    from jcjg.alerts.models import Alert
    from jcjg.exchange.models import ClientStat

    db.commit()  # what was read so far was read before the tally: read afresh after it
    exchange.flush_counters()
    run_rule(db, "client_silent")
    stale = select(ClientStat.hour).where(ClientStat.outcome == "exchange-signature-stale")
    run_rule(db, "client_error_spike")
    for hour in sorted(set(db.scalars(stale))):
        run_rule(db, "client_error_spike", now=hour + dt.timedelta(minutes=59))
    raised = select(Alert.subject_id).where(Alert.rule_id == "client_error_spike")
    return set(db.scalars(raised))


def _orders_overdue(db) -> set[int]:
    """``rectification_order_overdue`` the day after the last written order's deadline, at
    Beijing noon: the institutions of the orders it finds waiting for their answer."""
    from jcjg.alerts.models import Alert
    from jcjg.rectification.models import RectificationOrder

    deadlines = list(db.scalars(select(RectificationOrder.deadline)))
    if deadlines:
        after = beijing_midnight(max(deadlines) + dt.timedelta(days=1))
        run_rule(db, "rectification_order_overdue", now=after + dt.timedelta(hours=12))
    found = select(Alert.institution_id).where(
        Alert.rule_id == "rectification_order_overdue", Alert.status == "open"
    )
    return set(db.scalars(found))


def _lab_ids(db) -> list[int]:
    return list(db.scalars(select(Institution.id).order_by(Institution.id)))


def _handled_and_escalated(exchange, summary) -> None:
    """The station worked the alerts each evening; the labs answered, except the slow half
    (violations=1.0), whose cases escalate once their deadlines pass."""
    from jcjg.alerts.cases import escalate_overdue
    from jcjg.alerts.models import Case, CaseEvent
    from jcjg.ledger.models import LedgerLeaf

    acts = summary.handling
    assert any(line.startswith("预警处理：") for line in summary.lines())
    assert acts["预警确认"] >= acts["责令整改"] > acts["整改答复"] > 0
    assert acts["预警办结"] > 0
    assert acts["整改答复"] == acts["预警办结"] + acts["整改退回"]
    with exchange.sessions() as db:

        def count(status: str) -> int:
            return db.scalar(select(func.count()).select_from(Case).where(Case.status == status))

        assert count("closed") == acts["预警办结"]
        assert count("dismissed") == acts["预警排除"]
        answered = select(func.count()).select_from(CaseEvent).where(CaseEvent.action == "rectify")
        assert db.scalar(answered) == acts["整改答复"]
        assert all(e.evidence for e in db.scalars(select(CaseEvent).where(
            CaseEvent.action == "rectify")))  # fmt: skip
        assert db.scalar(select(func.count()).select_from(LedgerLeaf).where(
            LedgerLeaf.entry_type == "case:close")) == acts["预警办结"]  # fmt: skip
        waiting = db.scalars(select(Case).where(Case.status == "rectifying")).all()
        # ceil(4 * 1.0 / 2) labs never answer: the second and the fourth. The first, which has
        # a project, answered (and may wait on a last evening's return); so may the third, in
        # whose registry the rules find the violations it planted.
        first, second, _third, fourth = _lab_ids(db)
        assert second in {c.institution_id for c in waiting}
        answering = {e.case_id for e in db.scalars(select(CaseEvent).where(
            CaseEvent.action == "rectify"))}  # fmt: skip
        answered = {db.get(Case, i).institution_id for i in answering}
        assert first in answered
        assert not answered & {second, fourth}
        # the day after the last deadline (two working days on: more than four days over a
        # weekend or a holiday), at Beijing noon
        after = beijing_midnight(max(c.deadline for c in waiting) + dt.timedelta(days=1))
        escalated = escalate_overdue(db, after + dt.timedelta(hours=12))
        db.commit()
        assert sorted(c.id for c in escalated) == sorted(c.id for c in waiting)
        # from the county to the city; a case on work over the province's border (a project in
        # Huangmei, unfiled_out_of_province) goes up the project's region, to Huanggang
        assert {c.escalated_to for c in escalated} <= {"360400", "421100"}
        assert {c.escalated_to for c in escalated if c.region_code.startswith("36")} == {"360400"}
        assert all(c.escalated_to == "421100" for c in escalated if c.region_code == "421127")
        assert all(c.escalation_level == 1 for c in escalated)


def test_simulated_sites_without_violations_stay_quiet(tmp_path: Path) -> None:
    from jcjg.alerts.models import Alert
    from jcjg.demo.simulator.sampling import PLANTED, SITE_PLANTED
    from jcjg.sampling.models import SampleReceipt
    from jcjg.testing.models import TestRecord

    with running_exchange(tmp_path) as exchange:
        _, summary = _sampling_run(tmp_path, exchange, institutions=1, days=1, violations=0.0)
        assert summary.failures == []
        assert summary.planted == {}
        assert summary.actions["见证封样"] >= 2
        # the lab answered the written order the station gave it, and put a materials
        # inspector on the materials tests
        assert summary.handling["整改通知答复"] == summary.handling["下达整改通知"] == 1
        assert summary.actions["岗位安排"] == 1
        with exchange.sessions() as db:
            from jcjg.demo.simulator.reports import PLANTED as REPORTS_PLANTED
            from jcjg.demo.simulator.testing import HISTORY_PLANTED
            from jcjg.demo.simulator.testing import PLANTED as TESTS_PLANTED

            rules = {
                *PLANTED, *SITE_PLANTED, "assignment_change_late", "untrained_on_duty",
                "on_duty_mismatch",
                *TESTS_PLANTED, *HISTORY_PLANTED, "onsite_plan_late", "onsite_late_upload",
                "unfiled_out_of_province",
                "report_signed_by_outsider", "group_transfer",
                *REPORTS_PLANTED, "report_late", "number_gap", "number_reused",
                "proficiency_unsatisfactory", *sim.PLANTED, "video_gap", "nonconformity_unhandled",
                "rectification_order_overdue", "unlicensed_work", "camera_offline",
            }  # fmt: skip
            # every sequence continuous, even once late numbers have had their time; every
            # filmed test recorded, by a camera on its machine or at its site, every recording
            # whole; every report's PDF uploaded in time
            _sweeps_to_come(db)
            run_rule(db, "coverage_incomplete")
            _verify_video(db, exchange.settings)
            # every camera held by the simulated recorder, none offline at the simulation's clock
            run_rule(db, "camera_offline", now=_simulation_clock(db))
            assert _monitor_exchange(exchange, db) == set()
            assert _orders_overdue(db) == set()
            assert not set(db.scalars(select(Alert.rule_id).where(Alert.rule_id.in_(rules))))
            # (the labs had no cameras until the end of the run: open no longer)
            video = {"video_missing", "coverage_incomplete"}
            opened = select(Alert.rule_id).where(Alert.status == "open")
            assert not set(db.scalars(opened.where(Alert.rule_id.in_(video))))
            # the records' machines, inspectors and scope are all in order
            on_records = select(Alert.rule_id).where(Alert.subject_type == "test_record")
            assert not set(db.scalars(on_records))
            records = db.scalars(select(TestRecord).where(TestRecord.acquisition == "auto")).all()
            assert records
            assert all(r.equipment and r.inspector_person_ids for r in records)
            receipts = db.scalars(select(SampleReceipt)).all()
            assert receipts
            assert all(r.accepted for r in receipts)
