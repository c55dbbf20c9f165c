"""A registry sent in several messages is judged as a whole once complete, never midway
(issue 25 item 2): staffing against the standard waits for ``registry.sync`` complete or for
the quiet period; an alert that closes within it is withdrawn, not a finding."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.alerts.service import search_stmt
from jcjg.config import Settings, settings_in_use
from jcjg.core.db import utcnow
from jcjg.registry import sync
from jcjg.registry.models import RegistrySync
from tests.exchange.conftest import Lims, make_lims
from tests.factories import Factory, catalogue, id_number, registry_row

RULE = "staffing_below_standard"


@pytest.fixture
def quiet(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(settings, "registry_quiet_seconds", 600.0)
    return settings


def _standard(db: Session, factory: Factory, *labs: Lims) -> None:
    """Specialty 99 asks for 2 inspectors and 1 machine; each lab holds a certificate of it."""
    specialty, _, _ = catalogue(db)
    specialty.min_inspectors, specialty.min_equipment_sets = 2, 1
    specialty.min_senior_titles = specialty.min_testing_area_m2 = 0
    specialty.min_intermediate_titles = specialty.min_registered_engineers = 0
    for lab in labs:
        cert = registry_row(factory, "certificates", lab.institution)
        cert.specialties = [specialty]
    db.commit()


def _staff(client: TestClient, lab: Lims, count: int, start: int) -> None:
    people = [
        {"id_number": id_number(start + n), "name": f"检测员{start + n}", "specialties": ["99"]}
        for n in range(count)
    ]
    answer = lab.post(client, "registry.staff", lab.message(people=people))
    assert answer.status_code == 200, answer.body


def _machine(client: TestClient, lab: Lims) -> None:
    machine = {"asset_number": "YL-1", "name": "压力试验机", "status": "in_use"}
    answer = lab.post(client, "registry.equipment", lab.message(equipment=[machine]))
    assert answer.status_code == 200, answer.body


def _done(client: TestClient, lab: Lims, complete: bool = True) -> None:
    answer = lab.post(client, "registry.sync", lab.message(complete=complete))
    assert answer.status_code == 200, answer.body


def _alerts(db: Session, lab: Lims) -> list[tuple[str, str]]:
    db.expire_all()
    rows = db.scalars(
        select(Alert).where(Alert.rule_id == RULE, Alert.institution_id == lab.institution.id)
    )
    return [(a.status, a.facts.get("专项", "")) for a in rows]


def test_a_first_sync_is_judged_once_complete_never_midway(
    client: TestClient, db: Session, quiet: Settings, factory: Factory, lims: Lims
) -> None:
    short = make_lims(db, quiet, factory)
    _standard(db, factory, lims, short)
    # staff first, machines after: midway the lab has no machine, and nobody is told so
    _staff(client, lims, 2, 10)
    assert _alerts(db, lims) == []
    _machine(client, lims)
    _done(client, lims)
    assert _alerts(db, lims) == []  # complete and up to standard: nothing, ever
    # the other lab says it is done with one inspector: judged at once, and short
    _staff(client, short, 1, 20)
    _machine(client, short)
    assert _alerts(db, short) == []
    _done(client, short)
    assert _alerts(db, short) == [("open", "测试专项99")]
    # a later sync of the sound lab that retires its machine before sending the new one
    retired = {"asset_number": "YL-1", "name": "压力试验机", "status": "retired"}
    assert (
        lims.post(client, "registry.equipment", lims.message(equipment=[retired])).status_code
        == 200
    )
    assert _alerts(db, lims) == []  # midway: nothing
    new = {"asset_number": "YL-2", "name": "压力试验机", "status": "in_use"}
    assert lims.post(client, "registry.equipment", lims.message(equipment=[new])).status_code == 200
    _done(client, lims)
    assert _alerts(db, lims) == []
    # the short lab's alert is not closed midway by the sync that adds the missing inspector,
    # but when that sync is complete; gone within the quiet period, it was never a finding
    _staff(client, short, 1, 21)
    assert _alerts(db, short) == [("open", "测试专项99")]
    _done(client, short)
    assert _alerts(db, short) == [("withdrawn", "测试专项99")]


def test_without_a_closing_message_the_quiet_period_settles_it(
    client: TestClient, db: Session, quiet: Settings, factory: Factory, lims: Lims
) -> None:
    _standard(db, factory, lims)
    _done(client, lims, complete=False)  # a sync begins
    _staff(client, lims, 1, 30)
    now = utcnow()
    with settings_in_use(quiet):
        assert sync.due(db, now) == []  # still arriving
        run_rule(db, RULE)  # even the daily sweep leaves a registry midway alone
        assert _alerts(db, lims) == []
        later = now + dt.timedelta(seconds=601)
        assert sync.due(db, later) == [lims.institution.id]
        assert sync.judge_settled(db, later) == [lims.institution.id]
        db.commit()
        assert _alerts(db, lims) == [("open", "测试专项99")]
        assert sync.due(db, later) == []  # judged: not again until it changes
    row = db.get(RegistrySync, lims.institution.id)
    assert row.judged_at is not None
    assert row.changed_at < row.judged_at


def test_an_alert_gone_within_the_quiet_period_is_withdrawn(
    client: TestClient, db: Session, quiet: Settings, factory: Factory, lims: Lims
) -> None:
    _standard(db, factory, lims)
    # a registry kept on the pages is judged at every write: one inspector, then the second
    with settings_in_use(quiet):
        person = registry_row(factory, "people", lims.institution)
        db.commit()
        assert _alerts(db, lims) == [("open", "测试专项99")]
        registry_row(factory, "people", lims.institution)
        registry_row(factory, "equipment", lims.institution)
        db.commit()
    assert _alerts(db, lims) == [("withdrawn", "测试专项99")]
    listed = db.scalars(search_stmt(status="all", institution_id=lims.institution.id)).all()
    assert [a.rule_id for a in listed if a.rule_id == RULE] == []
    assert person.id
