# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""The penalty register: recording by API (good and bad), correcting, scope, publicity."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.ledger.models import LedgerLeaf
from jcjg.notify.models import Notification
from jcjg.penalties import service
from jcjg.registry.models import Person
from tests.penalties.helpers import make_penalty


def _auth(factory, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def _body(inst, **extra) -> dict:
    today = beijing_date(utcnow())
    return {
        "number": "浔建罚字〔2026〕第 101 号", "institution_id": inst.id, "basis_code": "jz57",
        "basis_article": "第三十条", "facts": "出具虚假检测报告。", "kind": "fine",
        "amount": "30000.00", "decided_on": today.isoformat(), "public_from": today.isoformat(),
        "public_until": (today + dt.timedelta(days=90)).isoformat(),
    } | extra  # fmt: skip


def test_the_city_records_a_decision_notarised_and_told(client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    inst = factory.institution(region_code="360403")
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    person = Person(institution_id=inst.id, region_code=inst.region_code, name="李四",
                    id_number="360403199001011234", key_role="technical_director")  # fmt: skip
    db.add(person)
    db.commit()
    answer = client.post("/api/v1/penalties", json=_body(inst, person_ids=[person.id]),
                         headers=_auth(factory, city))  # fmt: skip
    assert answer.status_code == 201, answer.text
    got = answer.json()
    assert (
        got["persons"] == ["李四"]
        and got["is_public"]
        and "建设工程质量检测管理办法" in got["basis"]
    )
    leaf = db.scalars(select(LedgerLeaf).where(LedgerLeaf.leaf_index == got["ledger_index"])).one()
    assert leaf.entry_type == "penalty:decide" and "李四".encode() not in leaf.entry
    told = db.scalars(select(Notification).where(Notification.user_id == admin.id)).all()
    assert any("行政处罚" in n.title for n in told)
    again = client.post("/api/v1/penalties", json=_body(inst), headers=_auth(factory, city))
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


def test_bad_decisions_are_refused_naming_the_field(client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    inst = factory.institution(region_code="360403")
    elsewhere = factory.institution(region_code="360102")
    headers = _auth(factory, city)
    cases = [
        (_body(inst, basis_code="NOPE"), "basis_code"),
        (_body(inst, basis_code="002"), "basis_code"),  # Guangxi's: not cited in Jiangxi
        (_body(inst, basis_code="000"), "basis_code"),  # a draft grounds no decision
        (_body(elsewhere), "institution_id"),
        (_body(inst, amount=None), "body"),
        (_body(inst, public_until="2000-01-01"), "body"),
        (_body(inst, kind="death"), "kind"),
    ]
    for body, field in cases:
        answer = client.post("/api/v1/penalties", json=body, headers=headers)
        assert answer.status_code == 422, (field, answer.text)
        assert field in answer.text
    assert client.get("/api/v1/penalties", headers=headers).json()["total"] == 0


def test_a_lab_reads_its_own_and_cannot_record(client, db, factory):
    inst = factory.institution(region_code="360403")
    mine = make_penalty(factory, inst)
    other = make_penalty(factory, factory.institution(region_code="360403"))
    db.commit()
    staff = factory.user(Role.INSTITUTION_STAFF, institution=inst)
    headers = _auth(factory, staff)
    listed = client.get("/api/v1/penalties", headers=headers).json()
    assert [p["id"] for p in listed["items"]] == [mine.id]
    assert client.get(f"/api/v1/penalties/{other.id}", headers=headers).status_code == 404
    assert client.post("/api/v1/penalties", json=_body(inst), headers=headers).status_code == 403


def test_a_correction_is_logged_and_names_masked_once_not_public(client, db, factory):
    inst = factory.institution(region_code="360403")
    row = make_penalty(factory, inst, public=False)
    db.commit()
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    answer = client.patch(f"/api/v1/penalties/{row.id}", json={"facts": "更正后的事实。",
                          "reason": "笔误"}, headers=_auth(factory, city))  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["facts"] == "更正后的事实。"
    nanchang = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    assert client.patch(f"/api/v1/penalties/{row.id}", json={"reason": "x" * 3},
                        headers=_auth(factory, nanchang)).status_code == 404  # fmt: skip
    staff = factory.user(Role.INSTITUTION_STAFF, institution=inst)
    seen = client.get(f"/api/v1/penalties/{row.id}", headers=_auth(factory, staff)).json()
    assert seen["persons"] == ["张*"] and not seen["is_public"]


def test_counts_by_region(db, factory):
    make_penalty(factory, factory.institution(region_code="360403"))
    make_penalty(factory, factory.institution(region_code="360102"))
    db.commit()
    today = beijing_date(utcnow())
    found = service.counts_by_region(db, "3604", today - dt.timedelta(days=30), today)
    assert set(found) == {"360403"} and found["360403"].count == 1
    assert str(found["360403"].amount) == "20000.00"
