"""Filings of institutions working outside their region (004 一): filed by the lab, refused
when the period runs backwards or the region is its own; while in force the filed region's
authorities (and those of the regions below it; a province's filing covers its cities) see the
institution and its rows, the spot-check population includes it; withdrawn or expired, nothing."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.registry.models import Equipment, InstitutionFiling
from jcjg.supervision import service as supervision
from tests.factories import registry_row


def _auth(factory, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def _body(inst, **extra) -> dict:
    today = beijing_date(utcnow())
    return {
        "institution_id": inst.id, "filing_number": "浙建检备〔2026〕18号",
        "filed_region_code": "330100", "valid_from": (today - dt.timedelta(days=30)).isoformat(),
        "valid_until": (today + dt.timedelta(days=300)).isoformat(), "status": "filed",
        "local_office": "杭州市西湖区文三路 1 号",
    } | extra  # fmt: skip


def _sees(client, factory, user, inst) -> bool:
    answer = client.get(f"/api/v1/registry/institutions/{inst.id}", headers=_auth(factory, user))
    assert answer.status_code in (200, 404), answer.text
    return answer.status_code == 200


def test_a_filing_in_force_opens_the_lab_to_the_filed_region(client, db, factory):
    inst = factory.institution(region_code="360403", name="九江外出检测有限公司")
    machine = registry_row(factory, "equipment", inst)
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    hangzhou = factory.user(Role.CITY_AUTHORITY, region_code="330100")
    xihu = factory.user(Role.CITY_AUTHORITY, region_code="330106")
    zhejiang = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="330000")
    ningbo = factory.user(Role.CITY_AUTHORITY, region_code="330200")
    guangdong = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="440000")
    db.commit()
    assert not _sees(client, factory, hangzhou, inst)
    for bad, field in (
        ({"filed_region_code": "360400"}, "filed_region_code"),  # its own city
        ({"filed_region_code": "360000"}, "filed_region_code"),  # its own province
        ({"valid_until": "2020-01-01"}, "valid_until"),
        ({"filed_region_code": "3301"}, "filed_region_code"),
    ):
        refused = client.post("/api/v1/registry/filings", json=_body(inst, **bad),
                              headers=_auth(factory, admin))  # fmt: skip
        assert refused.status_code == 422, bad
        assert field in refused.text
    assert db.scalars(select(InstitutionFiling)).all() == []
    made = client.post("/api/v1/registry/filings", json=_body(inst), headers=_auth(factory, admin))
    assert made.status_code == 201, made.text
    for user in (hangzhou, xihu, zhejiang):
        assert _sees(client, factory, user, inst), user.region_code
        got = client.get(f"/api/v1/registry/equipment/{machine.id}", headers=_auth(factory, user))
        assert got.status_code == 200, user.region_code
    for user in (ningbo, guangdong):
        assert not _sees(client, factory, user, inst), user.region_code
    population = {i.id for i in db.scalars(supervision.population_stmt("330100"))}
    assert inst.id in population
    assert inst.id not in {i.id for i in db.scalars(supervision.population_stmt("330200"))}

    filing = db.scalars(select(InstitutionFiling)).one()
    withdrawn = client.patch(f"/api/v1/registry/filings/{filing.id}", json={"status": "withdrawn"},
                             headers=_auth(factory, admin))  # fmt: skip
    assert withdrawn.status_code == 200, withdrawn.text
    assert not _sees(client, factory, hangzhou, inst)
    assert db.get(Equipment, machine.id) is not None


def test_an_expired_or_future_filing_opens_nothing(client, db, factory):
    inst = factory.institution(region_code="360403")
    hangzhou = factory.user(Role.CITY_AUTHORITY, region_code="330100")
    today = beijing_date(utcnow())
    for number, start, end in (("过期", -400, -1), ("未到期", 10, 400)):
        db.add(InstitutionFiling(
            institution_id=inst.id, region_code=inst.region_code, filing_number=number,
            filed_region_code="330100", valid_from=today + dt.timedelta(days=start),
            valid_until=today + dt.timedelta(days=end), status="filed",
        ))  # fmt: skip
    db.commit()
    assert not _sees(client, factory, hangzhou, inst)
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="330000")
    db.add(InstitutionFiling(
        institution_id=inst.id, region_code=inst.region_code, filing_number="省级",
        filed_region_code="330000", valid_from=today, valid_until=today, status="filed",
    ))  # fmt: skip
    db.commit()
    # a province's filing: its cities see the institution too
    assert _sees(client, factory, hangzhou, inst)
    assert _sees(client, factory, province, inst)
