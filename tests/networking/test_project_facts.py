# ruff: noqa: PT018  (several things of one row at once)
"""A city's projects on its province (docs/networking.md, "Projects"): a project the city's
station enters is notarised with the digest of its particulars, which go up beside the leaf;
the province keeps it as the city's, so the city's samples and commissions naming it apply."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.ledger.models import LedgerLeaf
from jcjg.networking.models import Forwarded
from jcjg.projects import service
from jcjg.projects.models import Project
from jcjg.projects.service import particulars_digest
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base
from tests.networking.test_forwards import Setup
from tests.networking.test_relayed_facts import Province

FIELDS = {
    "code": "XM360403-2026-001", "name": "九江市八里湖学校教学楼", "region_code": "360403",
    "address": "九江市八里湖新区 1 号", "site_latitude": 29.68, "site_longitude": 115.95,
    "site_radius_m": 250, "owner_unit": "九江市教育局", "permit_number": "360403202611270001",
}  # fmt: skip


@pytest.fixture
def city(db, settings, factory) -> Setup:
    return Setup(db, settings, factory)


def _content(**changes: Any) -> dict[str, Any]:
    fields = {k: v for k, v in FIELDS.items() if k != "region_code"} | changes
    return service.ProjectFields.model_validate(fields).model_dump(mode="json")


def _entry(content: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {
        "code": content["code"], "region_code": "360403", "name": content["name"],
        "sha256": particulars_digest(content),
    } | changes  # fmt: skip


def _project(db) -> Project | None:
    db.expire_all()
    return db.scalar(select(Project).where(Project.code == FIELDS["code"]))


@pytest.mark.sqlite
def test_a_project_entered_here_is_notarised_and_goes_up_with_its_particulars(
    client, db, factory, base
):
    station = factory.user(Role.STATION, region_code="360400")
    principal = principal_for(db=db, user=station, settings=factory.settings)
    project = service.create_project(db=db, principal=principal, raw=FIELDS)
    service.update_project(db=db, principal=principal, project_id=project.id,
                           raw=FIELDS | {"name": "九江市八里湖学校教学楼（一期）"})  # fmt: skip
    service.update_project(db=db, principal=principal, project_id=project.id,
                           raw=FIELDS | {"name": "九江市八里湖学校教学楼（一期）"})  # fmt: skip
    db.commit()
    leaves = db.scalars(
        select(LedgerLeaf).where(LedgerLeaf.leaf_index >= base).order_by(LedgerLeaf.leaf_index)
    ).all()
    # entered, then changed once (the same form again changes nothing, notarises nothing)
    assert [leaf.entry_type for leaf in leaves] == [
        service.PROJECT_REGISTER,
        service.PROJECT_UPDATE,
    ]
    entries = [json.loads(leaf.entry)["data"] for leaf in leaves]
    assert entries[0]["code"] == FIELDS["code"] and entries[0]["region_code"] == "360403"
    assert "address" not in entries[0]  # the particulars only as their digest
    upstream = Upstream()
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"]]
    # the first leaf no longer matches the project (renamed since): the update brings it
    assert "content" not in items[0]
    assert items[1]["content"]["name"] == "九江市八里湖学校教学楼（一期）"
    assert items[1]["content"]["address"] == FIELDS["address"]
    assert particulars_digest(items[1]["content"]) == entries[1]["sha256"]


@pytest.mark.sqlite
def test_the_province_keeps_the_citys_project_and_follows_its_changes(client, db, city):
    content = _content()
    answer = city.post(client, [city.log.append(service.PROJECT_REGISTER, _entry(content))
                                | {"content": content}])  # fmt: skip
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer.text
    got = _project(db)
    assert (got.region_code, got.origin, got.address, got.site_radius_m) == (
        "360403", "360400", FIELDS["address"], 250,
    )  # fmt: skip
    # samples and commissions of the city's labs find it by its code
    assert service.project_by_code(db, FIELDS["code"]).id == got.id
    changed = _content(address="九江市八里湖新区 2 号", status="completed")
    done = city.post(client, [city.log.append(service.PROJECT_UPDATE, _entry(changed))
                              | {"content": changed}])  # fmt: skip
    assert done.json()["outcomes"]["rebuilt"] == 1, done.text
    got = _project(db)
    assert (got.address, got.status) == ("九江市八里湖新区 2 号", "completed")
    # an update whose particulars changed again since: only the name follows
    renamed = _entry(_content(name="新名称", address="别处"))
    city.post(client, [city.log.append(service.PROJECT_UPDATE, renamed)])
    got = _project(db)
    assert (got.name, got.address) == ("新名称", "九江市八里湖新区 2 号")
    assert db.scalar(select(func.count()).select_from(Project)) == 1


@pytest.mark.parametrize(
    ("name", "entry", "content", "says"),
    [
        ("outside the city", {"region_code": "360102"}, None, "不在该下级平台辖区内"),
        ("no such region", {"region_code": "360499"}, None, "行政区划代码不存在"),
        ("digest", {"sha256": "0" * 64}, None, "与存证的摘要不符"),
        ("code of the content", None, {"code": "XM-OTHER"}, "编号或名称不符"),
        ("control character", None, {"address": "八里湖\x00"}, "content.address"),
        ("bad radius", None, {"site_radius_m": "x"}, "content.site_radius_m"),
        ("malformed code", {"code": "XM 1"}, None, "code"),
        ("extra field", {"owner": "x"}, None, "owner"),
        ("wrong type", {"name": 7}, None, "name"),
    ],
)
def test_a_project_the_province_cannot_take_is_refused_and_leaves_nothing(
    client, db, city, name, entry, content, says
):
    given = _content()
    if content is not None:
        given = given | content
    data = _entry(given) | {"code": FIELDS["code"], "name": FIELDS["name"]} | (entry or {})
    answer = city.post(client, [city.log.append(service.PROJECT_REGISTER, data)
                                | {"content": given}])  # fmt: skip
    body = answer.json()
    assert body["outcomes"] == {"duplicate": 0, "refused": 1}, (name, body)
    assert says in json.dumps(body["refused"], ensure_ascii=False), (name, body["refused"])
    assert db.scalar(select(func.count()).select_from(Project)) == 0, name


def test_a_code_of_the_provinces_own_project_is_not_overwritten(client, db, city, factory):
    own = factory.project(region_code="360403", code=FIELDS["code"], name="本省工程")
    db.commit()
    content = _content()
    answer = city.post(client, [city.log.append(service.PROJECT_REGISTER, _entry(content))
                                | {"content": content}])  # fmt: skip
    body = answer.json()
    assert body["outcomes"]["refused"] == 1 and body["refused"][0]["status"] == 409, body
    assert "本平台监督站录入" in body["refused"][0]["detail"]
    db.refresh(own)
    assert own.name == "本省工程"


@pytest.mark.sqlite
def test_the_nation_keeps_a_project_the_province_relays_over_its_message_copy(
    client, db, settings, factory
):
    province = Province(db, settings, factory)
    # the project came up first as the city's project message, through the province
    factory.project(region_code="360403", code=FIELDS["code"], name="旧名", origin="360000")
    db.commit()
    changed = _content(address="九江市八里湖新区 3 号")
    leaf = province.city_leaf(service.PROJECT_UPDATE, _entry(changed))
    answer = province.post(client, [province.relay(leaf, changed)])
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer.text
    got = _project(db)
    assert (got.name, got.address, got.origin) == (
        FIELDS["name"],
        "九江市八里湖新区 3 号",
        "360000",
    )
    row = db.scalar(select(Forwarded).where(Forwarded.entry_type == service.PROJECT_UPDATE))
    assert (row.source_origin, row.source_index) == (province.city.origin, 0)
