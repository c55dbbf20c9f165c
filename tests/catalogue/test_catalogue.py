"""The qualification catalogue: the 2023 edition loaded by the upgrade, edited by the province."""

from __future__ import annotations

from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.catalogue import editions, service
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from tests.factories import login, page_csrf

NINE = [
    "建筑材料及构配件",
    "主体结构及装饰装修",
    "钢结构",
    "地基基础",
    "建筑节能",
    "建筑幕墙",
    "市政工程材料",
    "道路工程",
    "桥梁及地下工程",
]


def _count(db, model) -> int:
    return db.scalar(select(func.count()).select_from(model))


def test_the_upgrade_loaded_the_2023_edition(db):
    # the session database is built by refdata.upgrade, as `jcjg db upgrade` builds one
    [shipped] = editions.shipped()
    assert [s.name for s in shipped.specialties] == NINE
    assert [s.name for s in service.specialties(db=db) if s.valid_from_id] == NINE
    assert [e.code for e in service.editions(db=db)] == ["2023"]
    totals = {
        "specialties": 9,
        "items": sum(len(s.items) for s in shipped.specialties),
        "parameters": sum(len(i.parameters) for s in shipped.specialties for i in s.items),
    }
    current = {
        "specialties": _count(db, Specialty),
        "items": _count(db, TestItem),
        "parameters": _count(db, Parameter),
    }
    assert current == totals
    cement = db.scalars(select(TestItem).where(TestItem.code == "0101")).one()
    names = {p.name: p.required for p in cement.parameters}
    assert names["胶砂强度"] is True
    assert any(not required for required in names.values())  # optional parameters exist
    for item in db.scalars(select(TestItem)):
        assert any(p.required for p in item.parameters), item.name
        assert item.code.startswith(item.specialty.code)


def test_provincial_authority_edits_requirements_others_cannot(client, db, factory):
    specialty = db.scalars(select(Specialty).where(Specialty.name == "钢结构")).one()
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    url = f"/api/v1/catalogue/specialties/{specialty.id}/requirements"
    headers = {"Authorization": f"Bearer {factory.token(province)}"}
    ok = client.patch(url, json={"min_inspectors": 25, "min_testing_area_m2": 800}, headers=headers)
    assert ok.status_code == 200
    assert ok.json()["min_inspectors"] == 25
    bad = client.patch(
        url, json={"min_inspectors": -1, "colour": 1, "min_senior_titles": "x"}, headers=headers
    )
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json()["errors"]} == {
        "min_inspectors",
        "colour",
        "min_senior_titles",
    }
    refused = client.patch(
        url, json={"min_inspectors": 1}, headers={"Authorization": f"Bearer {factory.token(city)}"}
    )
    assert refused.status_code == 403
    tree = client.get("/api/v1/catalogue/specialties", headers=headers).json()
    assert [s["name"] for s in tree] == NINE


def test_catalogue_page_and_parameter_edits(browser_client, db, factory):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get("/catalogue")
    assert "建筑材料及构配件" in page.text
    assert "胶砂强度" in page.text
    token = page_csrf(browser_client, "/catalogue")
    cement = db.scalars(select(TestItem).where(TestItem.code == "0101")).one()
    added = browser_client.post(
        f"/catalogue/items/{cement.id}/parameters",
        data={"csrf_token": token, "name": "水化热", "unit": "kJ/kg", "required": "0"},
    )
    assert added.status_code == 303
    db.expire_all()
    new = db.scalars(select(Parameter).where(Parameter.name == "水化热")).one()
    assert (new.required, new.unit, new.code[:4]) == (False, "kJ/kg", cement.code)
    duplicate = browser_client.post(
        f"/catalogue/items/{cement.id}/parameters",
        data={"csrf_token": token, "name": "水化热"},
        headers={"accept": "application/json"},
    )
    assert duplicate.status_code == 422
    flipped = browser_client.post(
        f"/catalogue/parameters/{new.id}/required", data={"csrf_token": token, "required": "1"}
    )
    assert flipped.status_code == 303
    db.expire_all()
    assert db.get(Parameter, new.id).required is True
    bad = browser_client.post(
        f"/catalogue/specialties/{cement.specialty_id}",
        data={"csrf_token": token, "min_inspectors": "很多"},
    )
    assert bad.status_code == 422
    assert "应为整数" in bad.text
