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
    path = f"/api/v1/registry/filings/{filing.id}"
    # the lab cannot end the filed region's view itself: withdraw, shorten, move or delete
    for change in ({"status": "withdrawn"}, {"valid_until": beijing_date(utcnow()).isoformat()},
                   {"filed_region_code": "330200"}):  # fmt: skip
        refused = client.patch(path, json=change, headers=_auth(factory, admin))
        assert refused.status_code == 403, change
        assert "备案地主管部门" in refused.json()["detail"]
    assert client.delete(path, headers=_auth(factory, admin)).status_code == 403
    assert _sees(client, factory, hangzhou, inst)
    longer = (beijing_date(utcnow()) + dt.timedelta(days=400)).isoformat()
    extended = client.patch(path, json={"valid_until": longer, "local_office": "杭州市滨江区 9 号"},
                            headers=_auth(factory, admin))  # fmt: skip
    assert extended.status_code == 200, extended.text
    withdrawn = client.patch(path, json={"status": "withdrawn"}, headers=_auth(factory, hangzhou))
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


def test_the_filed_region_reads_the_registry_and_keeps_only_the_filing(client, db, factory):
    """A filing lets the filed region see the lab's registry, not keep it: its rows stay its
    own region's to correct; the filing's own row the filed region may withdraw."""
    inst = factory.institution(region_code="360403", name="九江外出检测有限公司")
    machine = registry_row(factory, "equipment", inst)
    hangzhou = factory.user(Role.CITY_AUTHORITY, region_code="330100")
    jiujiang = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    today = beijing_date(utcnow())
    filing = InstitutionFiling(
        institution_id=inst.id, region_code=inst.region_code, filing_number="浙备 1 号",
        filed_region_code="330100", valid_from=today, valid_until=today + dt.timedelta(days=9),
        status="filed",
    )  # fmt: skip
    db.add(filing)
    db.commit()
    equipment = f"/api/v1/registry/equipment/{machine.id}"
    assert client.get(equipment, headers=_auth(factory, hangzhou)).status_code == 200
    for user, allowed in ((hangzhou, False), (jiujiang, True)):
        patched = client.patch(equipment, json={"name": "压力试验机（改）"},
                               headers=_auth(factory, user))  # fmt: skip
        assert (patched.status_code == 200) is allowed, (user.region_code, patched.text)
        body = {"institution_id": inst.id, "name": "回弹仪", "status": "in_use"}
        made = client.post("/api/v1/registry/equipment", headers=_auth(factory, user), json=body)
        assert (made.status_code == 201) is allowed, (user.region_code, made.text)
    assert client.delete(equipment, headers=_auth(factory, hangzhou)).status_code == 404
    assert db.get(Equipment, machine.id) is not None
    # the home city may not shorten it either; the filed city may
    shorter = {"valid_until": today.isoformat()}
    path = f"/api/v1/registry/filings/{filing.id}"
    assert client.patch(path, json=shorter, headers=_auth(factory, jiujiang)).status_code == 403
    assert client.patch(path, json=shorter, headers=_auth(factory, hangzhou)).status_code == 200


def test_the_filings_page_names_the_filed_region(browser_client, db, factory):
    from tests.factories import login

    inst = factory.institution(region_code="360403", name="九江外出检测有限公司")
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    today = beijing_date(utcnow())
    db.add(InstitutionFiling(
        institution_id=inst.id, region_code=inst.region_code, filing_number="浙备 2 号",
        filed_region_code="330100", valid_from=today, valid_until=today, status="filed",
    ))  # fmt: skip
    db.commit()
    login(browser_client, admin.username)
    page = browser_client.get("/registry/filings", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "浙江省杭州市（330100）" in page.text
    assert "浙备 2 号" in page.text


def test_the_detail_page_offers_editing_only_to_who_may_edit(browser_client, db, factory):
    """The filed region reads a lab's equipment page without 编辑 (following it would 404); the
    home region sees it, and the filed region sees it on the filing itself."""
    from tests.factories import login

    inst = factory.institution(region_code="360403", name="九江外出检测有限公司")
    machine = registry_row(factory, "equipment", inst)
    hangzhou = factory.user(Role.CITY_AUTHORITY, region_code="330100")
    jiujiang = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    today = beijing_date(utcnow())
    filing = InstitutionFiling(
        institution_id=inst.id, region_code=inst.region_code, filing_number="浙备 3 号",
        filed_region_code="330100", valid_from=today, valid_until=today, status="filed",
    )  # fmt: skip
    db.add(filing)
    db.commit()
    edit = f'href="/registry/equipment/{machine.id}/edit"'
    for user, offered in ((hangzhou, False), (jiujiang, True)):
        login(browser_client, user.username)
        page = browser_client.get(f"/registry/equipment/{machine.id}")
        assert page.status_code == 200
        assert (edit in page.text) is offered, user.region_code
        browser_client.cookies.clear()
    login(browser_client, hangzhou.username)
    page = browser_client.get(f"/registry/filings/{filing.id}")
    assert f'href="/registry/filings/{filing.id}/edit"' in page.text
