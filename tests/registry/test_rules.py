"""Every registry rule: a case that fires, a case that does not, and idempotent reruns."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.alerts.engine import rules, run_rule
from jcjg.alerts.models import Alert
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.registry import models as m
from jcjg.registry import rules as registry_rules
from tests.factories import catalogue, id_number, registry_row


def _today() -> dt.date:
    """Today in Beijing, when the test runs (a run may cross midnight after collection: the
    rules count days from their own now)."""
    return beijing_date(utcnow())


def _open(db, rule_id: str, institution_id: int) -> list[Alert]:
    run_rule(db, rule_id)
    return list(
        db.scalars(
            select(Alert).where(
                Alert.rule_id == rule_id,
                Alert.institution_id == institution_id,
                Alert.status == "open",
            )
        )
    )


def test_all_registry_rules_are_registered():
    assert {
        "calibration_expired",
        "certificate_lending",
        "unlicensed_work",
        "out_of_scope",
        "staffing_below_standard",
        "signatory_out_of_scope",
        "licence_expiring",
    } <= set(rules())
    for rule_id in ("calibration_expired", "out_of_scope"):
        assert rules()[rule_id].title
        assert rules()[rule_id].clause.startswith("000")


def test_calibration_expired(db, factory):
    inst = factory.institution()
    eq = registry_row(factory, "equipment", inst)
    eq.calibration_valid_until = _today() + dt.timedelta(days=10)
    assert _open(db, "calibration_expired", inst.id) == []
    eq.calibration_valid_until = _today() - dt.timedelta(days=3)
    first = _open(db, "calibration_expired", inst.id)
    assert len(first) == 1
    assert first[0].facts["已过期天数"] == 3
    again = _open(db, "calibration_expired", inst.id)  # idempotent: still one alert
    assert [a.id for a in again] == [first[0].id]
    eq.status = "retired"  # out of use: no longer a finding, the alert closes
    assert _open(db, "calibration_expired", inst.id) == []
    closed = db.get(Alert, first[0].id)
    assert (closed.status, closed.close_reason) == ("closed", "条件已消除")


def test_certificate_lending_by_id_number_and_registered_certificate(db, factory):
    a, b = factory.institution(), factory.institution()
    person = registry_row(factory, "people", a)
    assert _open(db, "certificate_lending", a.id) == []
    copy = m.Person(
        name=person.name, id_number=person.id_number, title="junior",
        institution_id=b.id, region_code=b.region_code,
    )  # fmt: skip
    db.add(copy)
    db.flush()
    alerts_a = _open(db, "certificate_lending", a.id)
    alerts_b = _open(db, "certificate_lending", b.id)
    assert len(alerts_a) == len(alerts_b) == 1
    assert person.id_number not in str(alerts_a[0].facts)  # masked in the facts
    assert person.id_number not in alerts_a[0].key  # hashed in the key
    assert b.name in alerts_a[0].facts["同时登记于"]
    copy.employed_until = _today() - dt.timedelta(days=1)  # left b: no longer lending
    assert _open(db, "certificate_lending", a.id) == []

    engineer_a = registry_row(factory, "people", a)
    engineer_b = m.Person(
        name="另一人", id_number=id_number(901), title="senior", institution_id=b.id,
        region_code=b.region_code,
    )  # fmt: skip
    db.add(engineer_b)
    engineer_a.registered_certificate_no = engineer_b.registered_certificate_no = "S360400123"
    db.flush()
    assert len(_open(db, "certificate_lending", b.id)) == 1


def test_a_narrowed_lending_run_reads_only_the_people_sharing_a_number(db, factory, monkeypatch):
    """A write in one institution judges lending by reading the people anywhere who share an
    ID number or a registered certificate (trimmed, in capitals) with its people, not every
    person of the platform; it finds what the whole read finds."""
    a, b, crowd = factory.institution(), factory.institution(), factory.institution()
    person = registry_row(factory, "people", a)
    for _ in range(20):  # a crowd of people of another institution, sharing nothing
        registry_row(factory, "people", crowd)
    copy = m.Person(
        name=person.name, id_number=person.id_number.lower(), title="junior",
        institution_id=b.id, region_code=b.region_code,
        registered_certificate_no="\u3000s360400777\t",
    )  # fmt: skip
    person.registered_certificate_no = "S360400777"
    db.add(copy)
    db.flush()
    assert copy.registered_certificate_no == "s360400777"  # stored without its blanks
    seen: list[int] = []
    lending = registry_rules._lending
    monkeypatch.setattr(
        registry_rules, "_lending",
        lambda ctx, people, *a: seen.append(len(people)) or lending(ctx, people, *a),
    )  # fmt: skip
    run_rule(db, "certificate_lending", institution_ids=[a.id])
    assert seen == [2, 2]  # the two sharing, for each of the two numbers
    found = db.scalars(
        select(Alert.key).where(Alert.rule_id == "certificate_lending", Alert.status == "open")
    ).all()
    assert len(found) == 2  # a's two findings: its ID number, its certificate
    run_rule(db, "certificate_lending")
    again = db.scalars(
        select(Alert.key).where(
            Alert.rule_id == "certificate_lending",
            Alert.status == "open",
            Alert.institution_id == a.id,
        )
    ).all()
    assert sorted(again) == sorted(found)


def test_unlicensed_work(db, factory):
    inst = factory.institution()
    specialty, _, _ = catalogue(db)
    other, _, _ = catalogue(db, code="97")
    person = registry_row(factory, "people", inst)
    person.specialties = [specialty]
    db.add(
        m.Assignment(
            person_id=person.id, specialty_id=specialty.id, start_date=_today(),
            institution_id=inst.id, region_code=inst.region_code,
        )
    )  # fmt: skip
    db.flush()
    assert _open(db, "unlicensed_work", inst.id) == []
    wrong = m.Assignment(
        person_id=person.id, specialty_id=other.id, start_date=_today() - dt.timedelta(days=2),
        institution_id=inst.id, region_code=inst.region_code,
    )  # fmt: skip
    db.add(wrong)
    db.flush()
    found = _open(db, "unlicensed_work", inst.id)
    assert len(found) == 1
    assert found[0].facts["安排的专项"] == other.name
    wrong.end_date = _today() - dt.timedelta(days=1)  # the assignment is over
    assert _open(db, "unlicensed_work", inst.id) == []


def _certificate(factory, inst, specialties, **kw) -> m.QualificationCertificate:
    cert = registry_row(factory, "certificates", inst)
    cert.specialties = list(specialties)
    for key, value in kw.items():
        setattr(cert, key, value)
    factory.db.flush()
    return cert


def test_out_of_scope(db, factory):
    inst = factory.institution()
    held, _, _ = catalogue(db)
    outside, _, outside_param = catalogue(db, code="96")
    cert = _certificate(factory, inst, [held])
    cap = registry_row(factory, "capabilities", inst)  # a parameter of the held specialty
    assert _open(db, "out_of_scope", inst.id) == []
    cap.parameter_id = outside_param.id
    db.flush()
    found = _open(db, "out_of_scope", inst.id)
    assert [a.facts["专项"] for a in found] == [outside.name]
    cap.parameter_id = held.items[0].parameters[0].id
    cert.status = "suspended"
    db.flush()
    found = _open(db, "out_of_scope", inst.id)
    assert {a.subject_type for a in found} == {"institution", "certificate"}


def test_staffing_below_standard(db, factory):
    inst = factory.institution()
    specialty, _, _ = catalogue(db)
    specialty.min_inspectors, specialty.min_equipment_sets = 2, 1
    specialty.min_senior_titles = specialty.min_testing_area_m2 = 0
    specialty.min_intermediate_titles = specialty.min_registered_engineers = 0
    _certificate(factory, inst, [specialty])
    registry_row(factory, "people", inst)
    found = _open(db, "staffing_below_standard", inst.id)
    assert len(found) == 1
    assert set(found[0].facts["不足"]) == {"检测人员（人）", "在用仪器设备（台套）"}
    registry_row(factory, "people", inst)
    registry_row(factory, "equipment", inst)
    assert _open(db, "staffing_below_standard", inst.id) == []


def test_signatory_out_of_scope(db, factory):
    inst = factory.institution()
    held, _, _ = catalogue(db)
    outside, _, _ = catalogue(db, code="95")
    _certificate(factory, inst, [held])
    sig = registry_row(factory, "signatories", inst)
    sig.specialties = [held]
    db.flush()
    assert _open(db, "signatory_out_of_scope", inst.id) == []
    sig.specialties = [held, outside]
    db.flush()
    found = _open(db, "signatory_out_of_scope", inst.id)
    assert found[0].facts["超出资质的签字范围"] == [outside.name]


def test_licence_expiring(db, factory):
    inst = factory.institution()
    held, _, _ = catalogue(db)
    cert = _certificate(factory, inst, [held], valid_until=_today() + dt.timedelta(days=90))
    assert _open(db, "licence_expiring", inst.id) == []
    cert.valid_until = _today() + dt.timedelta(days=45)
    db.flush()
    found = _open(db, "licence_expiring", inst.id)
    assert found[0].facts["剩余天数"] == 45
    lic = registry_row(factory, "licences", inst)
    lic.valid_until = _today() + dt.timedelta(days=5)
    db.flush()
    assert len(_open(db, "licence_expiring", inst.id)) == 2


def test_a_write_runs_the_rules_for_that_institution(app, client, factory):
    """Through the API: saving an expired calibration raises the alert in the same request."""
    from jcjg.auth.choices import Role

    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    headers = {"Authorization": f"Bearer {factory.token(admin)}"}
    body = {
        "institution_id": inst.id,
        "name": "回弹仪",
        "status": "in_use",
        "calibration_valid_until": (_today() - dt.timedelta(days=1)).isoformat(),
    }
    assert client.post("/api/v1/registry/equipment", json=body, headers=headers).status_code == 201
    alerts = client.get("/api/v1/alerts?rule_id=calibration_expired", headers=headers).json()
    assert [a["subject_repr"] for a in alerts["items"]] == ["回弹仪"]
