# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""What the spot checks refuse and exclude: plans outside the region or for an unknown
specialty, the population by specialty, institutions checked recently, too few officers or no
institution to draw, inputs before the draw, findings on another check's items, a sign-off with
items missing or a conclusion that contradicts them, changes after signing; the job that
completes waiting draws."""

from __future__ import annotations

import datetime as dt

from jcjg.auth.choices import Role
from jcjg.catalogue.models import Specialty
from jcjg.core.db import utcnow
from jcjg.ledger import service as ledger
from jcjg.registry.models import QualificationCertificate
from jcjg.supervision import service
from jcjg.supervision.models import CheckItem, SupervisionCheck, SupervisionDraw
from tests.supervision.conftest import auth, drawn_plan, plan_body


def test_plans_outside_the_region_or_for_unknown_specialties_are_refused(client, db, factory, city):
    headers = auth(factory, city.officer)
    other = client.post(
        "/api/v1/supervision/plans", json=plan_body(region_code="360100"), headers=headers
    )
    assert other.status_code == 422 and "本辖区" in other.text
    unknown = client.post(
        "/api/v1/supervision/plans", json=plan_body(specialty="98"), headers=headers
    )
    assert unknown.status_code == 422 and "资质专项不存在" in unknown.text
    backwards = client.post(
        "/api/v1/supervision/plans",
        json=plan_body(period_start="2026-12-31", period_end="2026-11-01"),
        headers=headers,
    )
    assert backwards.status_code == 422
    listed = client.get("/api/v1/supervision/plans", headers=headers).json()
    assert listed == [] or listed.get("items", []) == []


def test_the_population_by_specialty_holds_only_valid_certificates(db, factory, city):
    specialty = db.query(Specialty).order_by(Specialty.id).first()
    holder, lapsed = city.institutions[1], city.institutions[2]
    for inst, status in ((holder, "valid"), (lapsed, "revoked")):
        cert = QualificationCertificate(
            institution_id=inst.id, region_code=inst.region_code,
            number=f"CERT-{inst.id}", issued_by="江西省住房和城乡建设厅", status=status,
            issue_date=dt.date(2025, 1, 1), valid_until=dt.date(2030, 1, 1),
        )  # fmt: skip
        cert.specialties.append(specialty)
        db.add(cert)
    db.commit()
    drawn = [i.id for i in db.scalars(service.population_stmt("360400", specialty.code))]
    assert drawn == [holder.id]
    everyone = [i.id for i in db.scalars(service.population_stmt("360400"))]
    assert everyone == sorted(i.id for i in city.institutions)


def test_recent_checks_are_excluded_and_draws_need_people_and_places(client, db, factory, city):
    plan = drawn_plan(client, db, factory, city, institution_count=1, recent_months=0)
    check = db.get(SupervisionCheck, plan["checks"][0]["id"])
    check.status, check.check_date = "signed", utcnow().date()
    db.commit()
    headers = auth(factory, city.officer)
    again = client.post("/api/v1/supervision/plans", json=plan_body(), headers=headers).json()
    client.post(f"/api/v1/supervision/plans/{again['id']}/draw", headers=headers)
    request = db.query(SupervisionDraw).filter_by(plan_id=again["id"]).one()
    # the recently checked institution is in the request's population, marked excluded
    assert check.institution_id in request.institutions.values()
    ledger.integrate(db)
    db.commit()
    assert service.complete_waiting(db) == 1
    db.commit()
    chosen = {c["institution"] for c in db.get(SupervisionDraw, request.id).checks}
    assert check.institution_id not in chosen

    lonely = factory.user(Role.CITY_AUTHORITY, region_code="360700")
    factory.institution(region_code="360702")
    db.commit()
    few = client.post("/api/v1/supervision/plans", json=plan_body(region_code="360700"),
                      headers=auth(factory, lonely)).json()  # fmt: skip
    refused = client.post(f"/api/v1/supervision/plans/{few['id']}/draw",
                          headers=auth(factory, lonely))  # fmt: skip
    assert refused.status_code == 409 and "执法人员不足" in refused.text
    empty_city = factory.user(Role.CITY_AUTHORITY, region_code="360800")
    factory.user(Role.STATION, region_code="360800")
    db.commit()
    nothing = client.post("/api/v1/supervision/plans", json=plan_body(region_code="360800"),
                          headers=auth(factory, empty_city)).json()  # fmt: skip
    refused = client.post(f"/api/v1/supervision/plans/{nothing['id']}/draw",
                          headers=auth(factory, empty_city))  # fmt: skip
    assert refused.status_code == 409 and "没有可抽取的检测机构" in refused.text


def test_findings_and_signatures_follow_the_items(client, db, factory, city):
    plan = drawn_plan(client, db, factory, city, institution_count=1)
    check = plan["checks"][0]
    users = {u.id: u for u in city.officers}
    first, second = (users[o["user_id"]] for o in check["officers"])
    url = f"/api/v1/supervision/checks/{check['id']}"
    foreign = CheckItem(check_type="other_type", code="X1", title="别类检查项", sort=1)
    db.add(foreign)
    db.commit()
    wrong = client.post(f"{url}/findings", json={"item_id": foreign.id, "result": "conforming"},
                        headers=auth(factory, first))  # fmt: skip
    assert wrong.status_code == 422 and "不属于本检查" in wrong.text
    items = service.items_for(db, "institution")
    early = client.post(f"{url}/sign", json={"conclusion": "conforming", "summary": "检查"},
                        headers=auth(factory, first))  # fmt: skip
    assert early.status_code == 422 and "尚有检查项未记录" in early.text
    for n, item in enumerate(items):
        body = {"item_id": item.id, "result": "nonconforming" if n == 0 else "conforming",
                "finding": "样品台账缺页" if n == 0 else ""}  # fmt: skip
        assert client.post(f"{url}/findings", json=body,
                           headers=auth(factory, first)).status_code == 200  # fmt: skip
    contradicts = client.post(f"{url}/sign", json={"conclusion": "conforming", "summary": "检查"},
                              headers=auth(factory, first))  # fmt: skip
    assert contradicts.status_code == 422 and "结论不能为未发现问题" in contradicts.text
    for who in (first, second):
        done = client.post(f"{url}/sign", json={"conclusion": "nonconforming", "summary": "检查"},
                           headers=auth(factory, who))  # fmt: skip
        assert done.status_code == 200
    late = client.post(f"{url}/findings", json={"item_id": items[0].id, "result": "conforming"},
                       headers=auth(factory, first))  # fmt: skip
    assert late.status_code == 409 and "已签字确认" in late.text
    assert db.query(SupervisionDraw).count() == 1
