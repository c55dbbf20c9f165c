"""The rules engine: findings become alerts once, refresh, close themselves, reopen; narrowed
runs, write triggers, thresholds per region and the daily sweep."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import pytest
from sqlalchemy import event, select

from jcjg.alerts import engine
from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import (
    ON_WRITE_KEY,
    Finding,
    Rows,
    RuleContext,
    RunResult,
    hashed_key,
    run_rule,
    sweep,
)
from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.config import Settings
from jcjg.core import domains
from jcjg.core.db import utcnow
from jcjg.core.domains import Domain
from jcjg.core.jobs import registered, run_job
from jcjg.registry.models import Equipment
from jcjg.tenancy.models import Institution
from tests.alerts.conftest import BROKEN, DAY, SUSPENDED, suspended_check

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


def _alerts(db, rule_id="test_suspended"):
    db.expire_all()
    return list(db.scalars(select(Alert).where(Alert.rule_id == rule_id).order_by(Alert.id)))


@pytest.fixture
def quiet(db):
    """Engine tests run rules by hand: writes in this session trigger nothing."""
    db.info[ON_WRITE_KEY] = False
    return db


def _suspend(db, inst, at=NOW):
    inst.status = "suspended"
    inst.updated_at = at
    db.flush()


def test_a_rule_fires_for_what_it_checks_and_not_for_the_rest(quiet, factory, suspended):
    bad = factory.institution(region_code="360403", name="被暂停的检测机构")
    good = factory.institution(region_code="360403")
    _suspend(quiet, bad)

    assert run_rule(quiet, "test_suspended", now=NOW) == RunResult(raised=1)

    [alert] = _alerts(quiet)
    assert (alert.key, alert.status, alert.severity) == (f"institution:{bad.id}", "open", "warning")
    assert (alert.institution_id, alert.region_code) == (bad.id, "360403")
    assert (alert.subject_type, alert.subject_id, alert.subject_repr) == (
        "institution",
        str(bad.id),
        "被暂停的检测机构",
    )
    assert alert.facts == {"status": "suspended", "days": 0, "grace_days": 0}
    assert alert.first_seen_at == alert.last_seen_at == NOW
    assert good.id not in {a.institution_id for a in _alerts(quiet)}


def test_running_again_raises_nothing_new_and_moves_last_seen(quiet, factory, suspended):
    inst = factory.institution()
    _suspend(quiet, inst)
    run_rule(quiet, "test_suspended", now=NOW)
    later = NOW + 3 * DAY
    assert run_rule(quiet, "test_suspended", now=later) == RunResult(refreshed=1)
    assert run_rule(quiet, "test_suspended", now=later) == RunResult(refreshed=1)
    [alert] = _alerts(quiet)
    assert (alert.first_seen_at, alert.last_seen_at) == (NOW, later)
    assert alert.facts["days"] == 3  # the facts follow what was found


def test_an_alert_closes_itself_when_the_condition_is_gone_and_is_kept(quiet, factory, suspended):
    inst = factory.institution()
    _suspend(quiet, inst)
    run_rule(quiet, "test_suspended", now=NOW)
    inst.status = "active"
    quiet.flush()

    assert run_rule(quiet, "test_suspended", now=NOW + DAY) == RunResult(closed=1)

    [alert] = _alerts(quiet)
    assert (alert.status, alert.closed_at, alert.close_reason) == (
        "closed",
        NOW + DAY,
        "条件已消除",
    )
    assert alert.last_seen_at == NOW
    assert run_rule(quiet, "test_suspended", now=NOW + 2 * DAY) == RunResult()


def test_a_finding_that_comes_back_opens_a_new_alert(quiet, factory, suspended):
    inst = factory.institution()
    _suspend(quiet, inst)
    run_rule(quiet, "test_suspended", now=NOW)
    inst.status = "active"
    quiet.flush()
    run_rule(quiet, "test_suspended", now=NOW + DAY)
    _suspend(quiet, inst, at=NOW + 2 * DAY)

    assert run_rule(quiet, "test_suspended", now=NOW + 2 * DAY) == RunResult(raised=1)

    first, second = _alerts(quiet)
    assert (first.status, second.status) == ("closed", "open")
    assert first.key == second.key
    assert second.first_seen_at == NOW + 2 * DAY


def test_a_narrowed_run_touches_only_its_institutions(quiet, factory, suspended):
    a, b, c = (factory.institution() for _ in range(3))
    _suspend(quiet, a)
    _suspend(quiet, b)
    run_rule(quiet, "test_suspended", now=NOW)
    a.status = b.status = "active"
    _suspend(quiet, c)

    result = run_rule(quiet, "test_suspended", institution_ids={a.id}, now=NOW + DAY)

    assert result == RunResult(closed=1)
    by_inst = {x.institution_id: x.status for x in _alerts(quiet)}
    assert by_inst == {a.id: "closed", b.id: "open"}  # b untouched, c not looked at
    assert run_rule(quiet, "test_suspended", institution_ids=set(), now=NOW) == RunResult()
    assert run_rule(quiet, "test_suspended", now=NOW + DAY) == RunResult(raised=1, closed=1)


def test_a_narrowed_run_ignores_findings_outside_its_institutions(quiet, factory, only_rules):
    inst = factory.institution()
    other = factory.institution()

    def careless(ctx: RuleContext):  # does not narrow its query: the engine does
        for i in (inst, other):
            yield Finding(f"institution:{i.id}", "institution", str(i.id), i.name, i.id, None)

    rule = engine.Rule(
        id="test_careless",
        title="测试",
        clause="—",
        severity=Severity.INFO,
        subject_type="institution",
        check=careless,
    )
    only_rules(rule)
    assert run_rule(quiet, "test_careless", institution_ids=[inst.id]) == RunResult(raised=1)
    assert [a.institution_id for a in _alerts(quiet, "test_careless")] == [inst.id]


def test_an_alert_opened_meanwhile_is_refreshed_not_duplicated(quiet, factory, suspended):
    """Another transaction opened the alert after this run looked: the unique index refuses
    the second open alert and the run refreshes the first instead."""
    inst = factory.institution()
    key = f"institution:{inst.id}"
    existing = engine._new_alert(
        SUSPENDED, Finding(key, "institution", str(inst.id), "旧名称", inst.id, None), NOW
    )
    quiet.add(existing)
    quiet.flush()

    finding = Finding(key, "institution", str(inst.id), "新名称", inst.id, None)
    assert engine._insert(quiet, SUSPENDED, [finding], NOW + DAY) == (0, 1)

    [alert] = _alerts(quiet)
    assert (alert.id, alert.last_seen_at, alert.subject_repr) == (existing.id, NOW + DAY, "新名称")


def test_rules_run_together_each_reconcile_their_own_open_alerts(quiet, factory, only_rules):
    """run_triggered reads the open alerts of all the rules it runs for institutions (and of
    those it runs for rows) in one statement: each rule still refreshes and closes only its
    own, on its own institutions (rows)."""
    a, b = factory.institution(name="标记甲"), factory.institution(name="标记乙")

    def flagged(ctx: RuleContext):
        for i in ctx.db.scalars(ctx.narrow(select(Institution), Institution.id)):
            if i.name.startswith("标记"):
                yield Finding(f"institution:{i.id}", "institution", str(i.id), i.name, i.id, None)

    rules = [
        engine.Rule(
            id=rule_id,
            title="测试",
            clause="—",
            severity=Severity.INFO,
            subject_type="institution",
            check=flagged,
        )
        for rule_id in ("test_first", "test_second")
    ]
    only_rules(*rules, _rows_rule([]))  # and one judged by rows (suspended institutions)
    a.status = b.status = "suspended"
    quiet.flush()
    for rule_ in (*rules, _rows_rule([])):
        assert run_rule(quiet, rule_.id, now=NOW) == RunResult(raised=2)
    b.name = "乙"
    a.status = "active"
    quiet.flush()

    results = engine.run_triggered(
        quiet,
        {"test_first": {a.id, b.id}, "test_second": {a.id}, "test_rows": {a.id}},
        now=NOW + DAY,
    )

    assert results == {
        "test_first": RunResult(refreshed=1, closed=1),
        "test_second": RunResult(refreshed=1),  # b's left as it was: not in this run
        "test_rows": RunResult(closed=1),  # a's row no longer found; b's row not judged
    }
    rows = {x.institution_id: x.status for x in _alerts(quiet, "test_rows")}
    assert rows == {a.id: "closed", b.id: "open"}
    first = {x.institution_id: (x.status, x.last_seen_at) for x in _alerts(quiet, "test_first")}
    second = {x.institution_id: (x.status, x.last_seen_at) for x in _alerts(quiet, "test_second")}
    assert first == {a.id: ("open", NOW + DAY), b.id: ("closed", NOW)}
    assert second == {a.id: ("open", NOW + DAY), b.id: ("open", NOW)}


# --- write triggers ----------------------------------------------------------------------------


def test_a_committed_write_runs_the_rules_it_triggers(db, factory, suspended):
    bystander = factory.institution()
    inst = factory.institution()
    db.commit()
    assert _alerts(db) == []

    bystander.status = "suspended"  # flushed, but only committed with the next change
    db.flush()
    db.info[ON_WRITE_KEY] = False
    db.commit()  # switched off for this session: nothing runs
    assert _alerts(db) == []
    del db.info[ON_WRITE_KEY]

    inst.status = "suspended"
    db.commit()
    [alert] = _alerts(db)
    assert alert.institution_id == inst.id  # the run was narrowed to the written institution

    inst.name = "改名"  # a write without a status change refreshes the alert
    db.commit()
    [alert] = _alerts(db)
    assert (alert.status, alert.subject_repr) == ("open", "改名")

    inst.status = "active"
    db.commit()
    [alert] = _alerts(db)
    assert alert.status == "closed"


def test_an_unrelated_or_rolled_back_write_runs_nothing(db, factory, suspended):
    inst = factory.institution()
    db.commit()
    inst.status = "suspended"
    db.flush()
    db.rollback()
    factory.user()  # commits a user: not a trigger of the rule, and the rollback forgot inst
    assert _alerts(db) == []


def test_the_setting_switches_write_triggers_off(db, factory, suspended, monkeypatch):
    monkeypatch.setattr(engine, "_settings_on_write", True)
    engine.configure(Settings(env="test", secret_key="x" * 32, alerts_on_write=False))
    inst = factory.institution()
    inst.status = "suspended"
    db.commit()
    assert _alerts(db) == []
    db.info[ON_WRITE_KEY] = True  # a session may still ask for them
    inst.name = "再次保存"
    db.commit()
    assert len(_alerts(db)) == 1


def _rows_rule(seen: list[int], *others: type) -> engine.Rule:
    """Suspended institutions judged row by row (as curve_reuse judges curves): each row the
    check looks at is noted in ``seen``; ``others``: its other triggers."""

    def check(ctx):
        stmt = select(Institution).where(Institution.status == "suspended")
        for inst in ctx.db.scalars(
            ctx.narrow_rows(ctx.narrow(stmt, Institution.id), Institution.id)
        ):
            seen.append(inst.id)
            yield Finding(f"institution:{inst.id}", "institution", str(inst.id), inst.name,
                          inst.id, inst.region_code)  # fmt: skip

    return engine.Rule(
        id="test_rows", title="测试：逐行判断", clause="—", severity=Severity.INFO,
        subject_type="institution", check=check, triggers=(Institution, *others),
        rows=Rows(Institution, "institution"),
    )  # fmt: skip


def test_a_rule_judged_by_rows_judges_only_the_written_rows_on_write(db, factory, only_rules):
    seen: list[int] = []
    only_rules(_rows_rule(seen))
    a, b, c = factory.institution(), factory.institution(), factory.institution()
    a.status = b.status = "suspended"
    db.commit()
    assert sorted(seen) == sorted([a.id, b.id])
    assert {x.key: x.status for x in _alerts(db, "test_rows")} == {
        f"institution:{a.id}": "open", f"institution:{b.id}": "open"
    }  # fmt: skip

    seen.clear()
    a.name = "改名"  # one row written: only it is judged; b's alert is left as it is
    db.commit()
    assert seen == [a.id]
    alerts = {x.key: x for x in _alerts(db, "test_rows")}
    assert alerts[f"institution:{a.id}"].subject_repr == "改名"
    assert alerts[f"institution:{b.id}"].status == "open"

    seen.clear()
    a.status = "active"  # the written row no longer found: its alert closes, b's stays
    c.name = "无关"  # written, not suspended: judged, nothing found, nothing closed
    db.commit()
    assert seen == []
    assert {x.key: x.status for x in _alerts(db, "test_rows")} == {
        f"institution:{a.id}": "closed", f"institution:{b.id}": "open"
    }  # fmt: skip

    seen.clear()
    db.info[ON_WRITE_KEY] = False
    assert run_rule(db, "test_rows", now=utcnow()) == RunResult(refreshed=1)  # the sweep: all
    assert seen == [b.id]


def test_a_rule_judged_by_rows_judges_an_institution_on_a_write_of_its_other_triggers(
    db, factory, only_rules
):
    """A rule judged by rows also triggered by equipment (as equipment_invalid): a write of
    equipment judges again its institution's every row, a write of a row that row alone, both
    in one commit each once."""
    from tests.factories import registry_row

    seen: list[int] = []
    only_rules(_rows_rule(seen, Equipment))
    a, b, c = factory.institution(), factory.institution(), factory.institution()
    a.status = b.status = "suspended"
    db.commit()
    assert sorted(seen) == sorted([a.id, b.id])

    seen.clear()
    registry_row(factory, "equipment", b)  # b's equipment: b's rows judged again
    db.commit()
    assert seen == [b.id]

    seen.clear()
    registry_row(factory, "equipment", a)  # a's rows, and c's written row, in one commit
    c.status = "suspended"
    db.commit()
    assert sorted(seen) == sorted([a.id, c.id])
    assert {x.key: x.status for x in _alerts(db, "test_rows")} == {
        f"institution:{i.id}": "open" for i in (a, b, c)
    }

    seen.clear()
    registry_row(factory, "equipment", c)  # c's rows by institution, and c written: once
    c.name = "改名"
    db.commit()
    assert seen == [c.id]

    db.info[ON_WRITE_KEY] = False
    d = factory.institution()
    d.status = "suspended"
    db.commit()
    # a's rows by institution (its alert found again) and d's row (new): one result for both
    result = engine.run_triggered(db, {"test_rows": {engine.whole(a.id), d.id}})
    assert result == {"test_rows": RunResult(raised=1, refreshed=1)}


def test_a_written_row_reads_its_institutions_once_for_every_rule_it_triggers(
    db, factory, only_rules, monkeypatch
):
    """An instrument written triggers rules judged by institution, by rows (whole
    institutions) and by groups it cannot tell (its institutions): each notes its own form of
    the institution, read from the row once for them all."""
    from tests.factories import registry_row

    plain = dataclasses.replace(SUSPENDED, triggers=(Institution, Equipment))
    only_rules(plain, _rows_rule([], Equipment), _groups_rule([]))
    inst = factory.institution()
    db.commit()
    instrument = registry_row(factory, "equipment", inst)
    db.flush()
    engine.take_pending(db)
    read: list[object] = []
    real = engine.institution_ids_of

    def counted(obj: object) -> set[int]:
        read.append(obj)
        return real(obj)

    monkeypatch.setattr(engine, "institution_ids_of", counted)
    engine.note_written(db, [instrument])
    assert read == [instrument]
    assert engine.take_pending(db) == {
        SUSPENDED.id: {inst.id},
        "test_rows": {engine.whole(inst.id)},
        "test_groups": {inst.id},
    }


def _by_region(obj) -> set[str] | None:
    """A test rule's groups: an institution's key, from its region's numbering (the region
    before and after the write); None for equipment."""
    if not isinstance(obj, Institution):
        return None
    ids = engine.written_values(obj, "id")
    regions = engine.written_values(obj, "region_code")
    if ids is None or regions is None:
        return None
    return {f"institution:{i}:{code}" for i in ids for code in regions}


def _groups_rule(seen: list[frozenset[str] | None]) -> engine.Rule:
    def check(ctx: RuleContext):
        seen.append(ctx.keys)
        for finding in suspended_check(ctx):
            yield dataclasses.replace(finding, key=f"{finding.key}:{finding.region_code}")

    return engine.Rule(
        id="test_groups", title="测试：按组判断", clause="—", severity=Severity.INFO,
        subject_type="institution", check=check, triggers=(Institution, Equipment),
        defaults={"grace_days": 0}, groups=engine.Groups(_by_region),
    )  # fmt: skip


def test_a_rule_judged_by_groups_judges_the_written_groups_alone(db, factory, only_rules):
    """A write notes the groups of what it wrote (before and after the write) and the rule
    judges those alone: another group's alert is neither refreshed nor closed, even when its
    finding is gone; a trigger whose groups the rule cannot tell judges its institution
    whole; the sweep judges every group."""
    from tests.factories import registry_row

    seen: list[frozenset[str] | None] = []
    only_rules(_groups_rule(seen))
    a, b = factory.institution(region_code="360403"), factory.institution(region_code="360403")
    a.status = b.status = "suspended"
    db.commit()
    assert seen == [frozenset({f"institution:{a.id}:360403", f"institution:{b.id}:360403"})]
    first = {x.key: x.last_seen_at for x in _alerts(db, "test_groups")}
    assert set(first) == {f"institution:{a.id}:360403", f"institution:{b.id}:360403"}

    seen.clear()
    db.info[ON_WRITE_KEY] = False
    b.status = "active"  # b's finding is gone, unnoticed by writes
    db.commit()
    db.info[ON_WRITE_KEY] = True
    a.name = "改名"  # a's group alone: b's alert stays open as it was
    db.commit()
    assert seen == [frozenset({f"institution:{a.id}:360403"})]
    alerts = {x.key: x for x in _alerts(db, "test_groups")}
    assert alerts[f"institution:{a.id}:360403"].subject_repr == "改名"
    assert alerts[f"institution:{b.id}:360403"].status == "open"
    assert alerts[f"institution:{b.id}:360403"].last_seen_at == first[f"institution:{b.id}:360403"]

    seen.clear()
    a.region_code = "360402"  # moved to another group: both judged, the old one's alert closes
    db.commit()
    assert seen == [frozenset({f"institution:{a.id}:360403", f"institution:{a.id}:360402"})]
    assert {x.key: x.status for x in _alerts(db, "test_groups")} == {
        f"institution:{a.id}:360403": "closed", f"institution:{a.id}:360402": "open",
        f"institution:{b.id}:360403": "open",
    }  # fmt: skip

    seen.clear()
    registry_row(factory, "equipment", b)  # groups it cannot tell: b judged whole
    db.commit()
    assert seen == [None]
    assert _alerts(db, "test_groups")[1].status == "closed"  # b's, by institution

    seen.clear()
    db.expire(a, ["region_code"])
    a.region_code = "360403"  # set unloaded: its old group unknown, a judged whole
    db.commit()
    assert seen == [None]

    # groups and an institution judged whole in one run: each judged
    db.info[ON_WRITE_KEY] = False
    b.status = "suspended"
    db.commit()
    result = engine.run_triggered(
        db, {"test_groups": {f"institution:{a.id}:360403", b.id}}, now=utcnow()
    )
    assert result == {"test_groups": RunResult(raised=1, refreshed=1)}


def test_groups_a_rule_cannot_tell_do_not_refuse_the_write(db, factory, only_rules, caplog):
    """A rule whose Groups.of fails on a written object neither refuses the write nor skips
    it: the object's institution is judged whole, and the failure logged."""
    seen: list[frozenset[str] | None] = []

    def broken(obj: object) -> set[str] | None:
        raise RuntimeError("规则出错")

    only_rules(dataclasses.replace(_groups_rule(seen), groups=engine.Groups(broken)))
    inst = factory.institution()
    inst.status = "suspended"
    with caplog.at_level(logging.ERROR, logger="jcjg.alerts"):
        db.commit()
    assert seen == [None]
    assert [a.key for a in _alerts(db, "test_groups")] == [f"institution:{inst.id}:360403"]
    assert "could not tell the groups" in caplog.text


def test_runs_by_rows_are_for_rules_judged_by_rows(quiet, suspended):
    with pytest.raises(ValueError, match="not judged by rows"):
        run_rule(quiet, "test_suspended", row_ids=[1], now=NOW)
    with pytest.raises(ValueError, match="not judged by groups"):
        run_rule(quiet, "test_suspended", keys=["institution:1"], now=NOW)
    with pytest.raises(ValueError, match="judged by groups is by institution"):
        dataclasses.replace(SUSPENDED, id="test_bad_groups", scope="project",
                            groups=engine.Groups(lambda obj: None))  # fmt: skip
    with pytest.raises(ValueError, match="one of them"):
        run_rule(quiet, "test_suspended", institution_ids=[1], project_ids=[1], now=NOW)
    with pytest.raises(ValueError, match="by institution and triggered by its rows"):
        engine.Rule(
            id="test_bad_rows", title="测试", clause="—", severity=Severity.INFO,
            subject_type="institution", check=lambda ctx: [],
            triggers=(RuleThreshold,), rows=Rows(Institution, "institution"),
        )  # fmt: skip


def test_a_failing_rule_does_not_refuse_the_write(db, factory, only_rules, caplog):
    only_rules(BROKEN, SUSPENDED)
    inst = factory.institution()
    inst.status = "suspended"
    with caplog.at_level(logging.ERROR, logger="jcjg.alerts"):
        db.commit()
    assert "rule test_broken failed on write" in caplog.text
    db.expire_all()
    assert db.get(type(inst), inst.id).status == "suspended"
    assert len(_alerts(db)) == 1  # the other rule still ran


def test_the_rules_a_write_triggers_run_in_one_savepoint(quiet, factory, only_rules):
    """The rules of one run share a savepoint: two statements, where one each took two a rule
    (a batch of a message or two pays them with every rule its writes trigger)."""
    rules = [dataclasses.replace(SUSPENDED, id=f"test_{name}") for name in ("a", "b", "c")]
    only_rules(*rules)
    inst = factory.institution()
    _suspend(quiet, inst, at=NOW - 2 * DAY)
    pending = {rule.id: {inst.id} for rule in rules}
    assert engine.run_triggered(quiet, pending, now=NOW) == {
        rule.id: RunResult(raised=1) for rule in rules
    }
    savepoints: list[str] = []

    def seen(conn, cursor, statement, params, context, many):
        if statement.startswith("SAVEPOINT"):
            savepoints.append(statement)

    bind = quiet.get_bind()
    event.listen(bind, "before_cursor_execute", seen)
    try:  # again: each alert refreshed, none opened (opening one takes a savepoint of its own)
        results = engine.run_triggered(quiet, pending, now=NOW + DAY)
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    assert results == {rule.id: RunResult(refreshed=1) for rule in rules}
    assert len(savepoints) == 1


def _a_broken_rule_between_two(quiet, factory, only_rules):
    """Three rules (two working ones about a suspended institution, a failing one between
    them), the institution, and what a write of it triggers."""
    first, last = (dataclasses.replace(SUSPENDED, id=f"test_{name}") for name in ("a", "z"))
    broken = dataclasses.replace(BROKEN, id="test_m_broken")
    only_rules(first, broken, last)
    inst = factory.institution()
    _suspend(quiet, inst, at=NOW - 2 * DAY)
    return first, broken, last, inst, {rule.id: {inst.id} for rule in (first, broken, last)}


def test_a_rule_failing_among_others_takes_none_of_their_work(
    quiet, factory, only_rules, caplog, monkeypatch
):
    """A rule that fails after others ran in the shared savepoint rolls their work back with
    it: the others then run again, each in a savepoint of its own, and open their alerts once;
    the failing one is logged and skipped."""
    first, broken, last, inst, pending = _a_broken_rule_between_two(quiet, factory, only_rules)
    with caplog.at_level(logging.ERROR, logger="jcjg.alerts"):
        results = engine.run_triggered(quiet, pending, now=NOW)
    assert results == {first.id: RunResult(raised=1), last.id: RunResult(raised=1)}
    assert caplog.text.count("failed on write") == 1
    assert "rule test_m_broken failed on write" in caplog.text
    for rule in (first, last):
        assert [a.key for a in _alerts(quiet, rule.id)] == [f"institution:{inst.id}"]
    # alerts open before: refreshed and closed once each, though the shared run closed them
    # and refreshed them before the failing rule rolled it back (the failing rule shares the
    # savepoint again: not run apart, as a rule that failed lately is)
    monkeypatch.setattr(engine, "FAILED_ALONE_SECONDS", 0.0)
    other = factory.institution()
    _suspend(quiet, other, at=NOW - 2 * DAY)
    pending = {rule.id: {inst.id, other.id} for rule in (first, broken, last)}
    engine.run_triggered(quiet, pending, now=NOW)
    inst.status = "active"
    quiet.flush()
    later = NOW + DAY
    results = engine.run_triggered(quiet, pending, now=later)
    assert results == {rule.id: RunResult(refreshed=1, closed=1) for rule in (first, last)}
    for rule in (first, last):
        alerts = {a.key: (a.status, a.closed_at, a.last_seen_at) for a in _alerts(quiet, rule.id)}
        assert alerts == {
            f"institution:{inst.id}": ("closed", later, NOW),
            f"institution:{other.id}": ("open", None, later),
        }


def test_a_rule_that_failed_runs_alone_and_the_others_once(
    quiet, factory, only_rules, caplog, monkeypatch
):
    """After a rule failed on write, it runs in a savepoint of its own for a while: the others
    share theirs and run once (not again after the broken one rolled their work back), and
    the broken one is still logged each time it fails; once that while is over it shares the
    others' savepoint again."""
    first, broken, last, inst, pending = _a_broken_rule_between_two(quiet, factory, only_rules)
    runs: list[str] = []
    real = engine.run_rule

    def counted(db, rule_id, **kwargs):
        runs.append(rule_id)
        return real(db, rule_id, **kwargs)

    monkeypatch.setattr(engine, "run_rule", counted)
    with caplog.at_level(logging.INFO, logger="jcjg.alerts"):
        first_results = engine.run_triggered(quiet, pending, now=NOW)
        assert runs == [first.id, broken.id, first.id, broken.id, last.id]  # the fallback
        assert "each runs alone now" in caplog.text
        caplog.clear()
        runs.clear()
        later = engine.run_triggered(quiet, pending, now=NOW + DAY)
        assert runs == [first.id, last.id, broken.id]  # each once: the broken one apart
        assert "each runs alone now" not in caplog.text
        assert caplog.text.count("rule test_m_broken failed on write") == 1
        # past the while: it shares their savepoint again (and fails it again)
        monkeypatch.setattr(engine, "FAILED_ALONE_SECONDS", 0.0)
        caplog.clear()
        runs.clear()
        engine.run_triggered(quiet, pending, now=NOW + 2 * DAY)
        assert runs == [first.id, broken.id, first.id, broken.id, last.id]
        assert "each runs alone now" in caplog.text
    assert first_results == {first.id: RunResult(raised=1), last.id: RunResult(raised=1)}
    assert later == {first.id: RunResult(refreshed=1), last.id: RunResult(refreshed=1)}
    for rule in (first, last):
        assert [a.key for a in _alerts(quiet, rule.id)] == [f"institution:{inst.id}"]


# --- thresholds per region ---------------------------------------------------------------------


def test_the_most_specific_region_wins(quiet, factory, suspended):
    for code, value in (("360000", 10), ("360400", 20), ("360403", 30)):
        quiet.add(
            RuleThreshold(rule_id="test_suspended", region_code=code, key="grace_days", value=value)
        )
    quiet.add(RuleThreshold(rule_id="test_suspended", region_code="360403", key="gone", value=1))
    quiet.flush()
    ctx = RuleContext(db=quiet, rule=SUSPENDED, now=NOW)
    assert ctx.thresholds("360403") == {"grace_days": 30}  # county
    assert ctx.thresholds("360402") == {"grace_days": 20}  # city
    assert ctx.thresholds("360102") == {"grace_days": 10}  # province
    assert ctx.thresholds("440103") == {"grace_days": 0}  # default
    assert ctx.thresholds(None) == {"grace_days": 0}
    assert isinstance(ctx.thresholds("360403")["grace_days"], int)

    inst = factory.institution(region_code="360403")
    _suspend(quiet, inst, at=NOW - 25 * DAY)
    assert run_rule(quiet, "test_suspended", now=NOW) == RunResult()  # 25 < 30 days
    county = quiet.scalars(select(RuleThreshold).where(RuleThreshold.region_code == "360403"))
    for row in county:
        quiet.delete(row)
    quiet.flush()
    assert run_rule(quiet, "test_suspended", now=NOW) == RunResult(raised=1)  # 25 >= 20 days
    assert _alerts(quiet)[0].facts["grace_days"] == 20


def test_rules_run_on_write_read_their_overrides_together_each_its_own(quiet, factory, only_rules):
    """run_triggered reads every rule's overrides in one statement; each rule is judged by
    its own (the most specific region first), a rule without any by its defaults, a rule
    judged by rows as one judged by institutions."""
    strict = dataclasses.replace(SUSPENDED, id="test_strict")
    lenient = dataclasses.replace(SUSPENDED, id="test_lenient")
    plain = dataclasses.replace(SUSPENDED, id="test_plain")
    by_rows = dataclasses.replace(
        SUSPENDED, id="test_by_rows", rows=Rows(Institution, "institution")
    )
    only_rules(strict, lenient, plain, by_rows)
    for rule_id, code, value in (
        ("test_strict", "360000", 40), ("test_strict", "360403", 10),
        ("test_lenient", "360403", 30), ("test_by_rows", "360403", 30), ("test_other", "360403", 1),
    ):  # fmt: skip
        quiet.add(RuleThreshold(rule_id=rule_id, region_code=code, key="grace_days", value=value))
    inst = factory.institution(region_code="360403")
    _suspend(quiet, inst, at=NOW - 25 * DAY)
    reads: list[str] = []

    def seen(conn, cursor, statement, params, context, many):
        if "rule_threshold" in statement:
            reads.append(statement)

    bind = quiet.get_bind()
    event.listen(bind, "before_cursor_execute", seen)
    try:
        pending = {rule_id: {inst.id} for rule_id in (strict.id, lenient.id, plain.id, by_rows.id)}
        results = engine.run_triggered(quiet, pending, now=NOW)
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    assert results == {
        "test_strict": RunResult(raised=1),  # 25 >= 10 days (its county's, not its province's)
        "test_lenient": RunResult(),  # 25 < 30 days
        "test_plain": RunResult(raised=1),  # 25 >= 0 days
        "test_by_rows": RunResult(),  # judged by the written row: 25 < 30 days
    }
    assert len(reads) == 1


# --- the sweep ---------------------------------------------------------------------------------


def test_the_sweep_job_runs_every_rule_for_the_whole_platform(
    session_factory, db, factory, only_rules
):
    only_rules(SUSPENDED, BROKEN)
    insts = [factory.institution(region_code=code) for code in ("360403", "360102", "440103")]
    db.info[ON_WRITE_KEY] = False
    for inst in insts:
        inst.status = "suspended"
    db.commit()

    run = run_job(session_factory, registered()["alerts.sweep"])

    assert run.status == "failed"  # the broken rule fails the run ...
    assert "test_broken" in run.log
    assert "RuntimeError: 规则出错" in run.log
    assert "test_suspended: 3 new, 0 still present, 0 closed" in run.log
    assert len(_alerts(db)) == 3  # ... and the other rule's alerts are kept

    only_rules(SUSPENDED)
    again = run_job(session_factory, registered()["alerts.sweep"])
    assert again.status == "succeeded", again.log
    assert "test_suspended: 0 new, 3 still present, 0 closed" in again.log


def test_sweep_reports_each_rule(quiet, factory, only_rules):
    only_rules(SUSPENDED, BROKEN)
    _suspend(quiet, factory.institution())
    after: list[str] = []  # the daily job commits there: one rule's writes a transaction
    result = sweep(quiet, now=NOW, each=after.append)
    assert result.results == {"test_suspended": RunResult(raised=1)}
    assert list(result.failed) == ["test_broken"]
    assert after == ["test_broken", "test_suspended"]  # the failed one too


# --- registering rules -------------------------------------------------------------------------


def test_the_decorator_makes_a_rule_that_runs_once_a_domain_lists_it(only_rules):
    @engine.rule(
        "test_decorated",
        title="测试",
        clause="000 4.1.3",
        severity=Severity.CRITICAL,
        subject_type="equipment",
        defaults={"max_days": 30},
    )
    def check(ctx):
        """说明取自文档字符串。"""
        return []

    assert isinstance(check, engine.Rule)
    assert (check.description, check.defaults) == ("说明取自文档字符串。", {"max_days": 30})
    assert "test_decorated" not in engine.rules()  # declared, not yet listed by a domain
    only_rules(check)
    assert engine.rules() == {"test_decorated": check}
    with pytest.raises(domains.DomainConflict, match="rule 'test_decorated'"):
        domains.check([Domain(name="a", title="甲", rules=(check,)),
                       Domain(name="b", title="乙", rules=(check,))])  # fmt: skip


def test_an_extension_adds_findings_and_triggers_to_another_domains_rule(only_rules):
    @engine.extend_rule("test_suspended", triggers=(RuleThreshold,))
    def more(ctx):
        return []

    only_rules(SUSPENDED)
    assert engine._watched() == (("test_suspended", (Institution,)),)
    assert engine._watched() is engine._watched()  # kept for the registration (every commit)
    only_rules(SUSPENDED, more)  # another registration: read again
    assert engine.checks_of(SUSPENDED) == [SUSPENDED.check, more.check]
    assert ("test_suspended", (Institution, RuleThreshold)) in engine._watched()
    only_rules(more)  # extending a rule nobody declares
    with pytest.raises(ValueError, match="no domain declares"):
        engine.rules()


def test_an_extension_may_judge_the_rule_by_its_rows(db, factory, only_rules):
    """The registry's rule judged on each record by the testing package's extension, by rows:
    a write of a row runs the extension's check alone for it; a write of the rule's own
    triggers runs both for the institution."""
    from tests.factories import registry_row

    calls: list[tuple[str, frozenset[int] | None, frozenset[int] | None]] = []

    def base_check(ctx):
        calls.append(("base", ctx.institution_ids, ctx.row_ids))
        return []

    base = engine.Rule(
        id="test_base", title="测试：登记", clause="—", severity=Severity.INFO,
        subject_type="institution", check=base_check, triggers=(Equipment,),
    )  # fmt: skip

    @engine.extend_rule("test_base", triggers=(Institution,), rows=Rows(Institution, "inst"))
    def each(ctx):
        calls.append(("rows", ctx.institution_ids, ctx.row_ids))
        stmt = select(Institution).where(Institution.status == "suspended")
        for inst in ctx.db.scalars(
            ctx.narrow_rows(ctx.narrow(stmt, Institution.id), Institution.id)
        ):
            yield Finding(f"inst:{inst.id}", "institution", str(inst.id), inst.name,
                          inst.id, inst.region_code)  # fmt: skip

    only_rules(base, each)
    assert engine.rules()["test_base"].rows == Rows(Institution, "inst")
    a = factory.institution()
    calls.clear()
    a.status = "suspended"
    db.commit()
    assert calls == [("rows", None, frozenset({a.id}))]
    assert [x.key for x in _alerts(db, "test_base")] == [f"inst:{a.id}"]
    calls.clear()
    registry_row(factory, "equipment", a)
    db.commit()
    assert calls == [("base", frozenset({a.id}), None), ("rows", frozenset({a.id}), None)]

    @engine.extend_rule("test_base", triggers=(Institution,), rows=Rows(Institution, "inst"))
    def again(ctx):
        return []

    only_rules(base, each, again)
    with pytest.raises(ValueError, match="one declaration only"):
        engine.rules()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": "Bad-Id"}, "snake_case"),
        ({"defaults": {"最大": 1}}, "snake_case"),
        ({"defaults": {"on": True}}, "must be a number"),
    ],
)
def test_a_malformed_rule_is_refused(kwargs, message):
    base = {
        "id": "test_ok",
        "title": "测试",
        "clause": "—",
        "severity": Severity.INFO,
        "subject_type": "institution",
        "check": lambda ctx: [],
    }
    with pytest.raises(ValueError, match=message):
        engine.Rule(**{**base, **kwargs})


def test_personal_data_keys_are_hashed():
    key = hashed_key("id_number", " 11010119900307123x ")
    assert key == hashed_key("id_number", "11010119900307123X")
    assert key.startswith("id_number:")
    assert "110101" not in key
    assert len(key) == len("id_number:") + 64
    with pytest.raises(ValueError, match="finding key"):
        Finding("", "person", None, "张*", None, None)


def test_now_must_be_timezone_aware(quiet, suspended):
    with pytest.raises(ValueError, match="timezone-aware"):
        run_rule(quiet, "test_suspended", now=dt.datetime(2026, 1, 1))  # noqa: DTZ001
    assert utcnow().tzinfo is not None
