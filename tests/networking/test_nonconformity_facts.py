"""A city's nonconformity register on its province (docs/networking.md, "Nonconformity
register"): the province enters the result itself from the lab's messages; the city's register
steps name the province's entry of it (held until the province has applied the lab's message),
in order with the city's handling, and a fact held too long is refused."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from sqlalchemy import select, update

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.facts import HOLD
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from jcjg.networking import jobs
from jcjg.networking.models import Child, Forwarded
from jcjg.networking.wire import RELAYED
from jcjg.nonconformity import facts as nc_facts
from jcjg.nonconformity.models import Nonconformity
from tests.factories import login
from tests.networking.test_alert_facts import CITY, HTML, _entry
from tests.networking.test_forwards import Setup
from tests.networking.test_relayed_facts import Province

NUMBER = "JL-2026-0031"


@pytest.fixture
def city(db, settings, factory) -> Setup:
    return Setup(db, settings, factory)


def _register(city, entry_type: str = nc_facts.REGISTER, **changes: Any) -> dict[str, Any]:
    data = {"nonconformity": 41, "test_record": 9, "number": NUMBER, "institution": 3,
            "project": None, "found_by": "platform", "source": "record", "item": "0101",
            "at": utcnow().isoformat()} | changes  # fmt: skip
    return city.log.append(entry_type, data) | {"content": {"institution": city.institution.code}}


def _handle(city) -> dict[str, Any]:
    data = {"nonconformity": 41, "handling": "retest", "status": "handling",
            "at": utcnow().isoformat()}  # fmt: skip
    content = {"institution": city.institution.code, "number": NUMBER, "note": "复检"}
    return city.log.append(nc_facts.HANDLE, data) | {"content": content}


def _got(db, item: Nonconformity) -> Nonconformity:
    db.expire_all()
    return db.get(Nonconformity, item.id)


@pytest.mark.sqlite
def test_the_citys_register_entry_names_the_provinces_own_entry_of_the_result(
    browser_client, db, city, factory
):
    item = _entry(db, city.institution, NUMBER)
    registered = _register(city)
    answer = city.post(browser_client, [registered]).json()
    assert answer["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer
    got = _got(db, item)
    assert (got.origin, got.origin_region, got.origin_index, got.origin_found_by) == (
        CITY, "360400", registered["index"], "platform",
    )  # fmt: skip
    # the lab's report linked at the city later: the entry names the city's latest step
    linked = _register(city, nc_facts.REPORT, found_by="both")
    assert city.post(browser_client, [linked]).json()["outcomes"]["rebuilt"] == 1
    got = _got(db, item)
    assert (got.origin_index, got.origin_found_by) == (linked["index"], "both")
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get(f"/nonconformities/{item.id}", headers=HTML).text
    assert f"下级平台“{CITY}”的不合格台账也登记了该结果" in page
    assert "机构判定与平台复核均不合格" in page


@pytest.mark.sqlite
def test_a_step_before_the_result_arrives_is_held_and_taken_in_order(
    browser_client, db, city, factory
):
    client = browser_client
    registered, handled = _register(city), _handle(city)
    answer = city.post(client, [registered, handled]).json()
    assert answer["outcomes"] == {"duplicate": 0, "held": 2}, answer
    assert answer["refused"] == []
    rows = db.scalars(select(Forwarded).order_by(Forwarded.origin_index)).all()
    assert [r.outcome for r in rows] == ["held", "held"]
    assert "不合格台账没有" in rows[0].problem["detail"]
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(client, province.username)
    page = client.get(f"/network/children/{city.child.id}", headers=HTML).text
    assert "<dt>暂存（待本平台先处理其所依据的数据）</dt><dd>2 条</dd>" in page
    # the province applies the lab's record: its own entry; the next run of the job takes both
    item = _entry(db, city.institution, NUMBER)
    jobs.held(db, logging.getLogger("test"))
    got = _got(db, item)
    assert (got.origin, got.handling, got.handling_origin) == (CITY, "retest", CITY)
    rows = db.scalars(select(Forwarded).order_by(Forwarded.origin_index)).all()
    assert [(r.outcome, r.problem) for r in rows] == [("rebuilt", None), ("rebuilt", None)]
    # and they go on up in the city's order
    ledger.sequence(db)
    db.commit()
    leaves = db.scalars(
        select(LedgerLeaf).where(LedgerLeaf.leaf_hash.in_([r.relay_leaf_hash for r in rows]))
        .order_by(LedgerLeaf.leaf_index)
    ).all()  # fmt: skip
    assert [leaf.entry_type for leaf in leaves] == [nc_facts.REGISTER, nc_facts.HANDLE]
    assert json.loads(leaves[0].entry)["data"][RELAYED]["index"] == registered["index"]


@pytest.mark.sqlite
def test_a_held_step_goes_first_when_the_next_forward_comes(client, db, city):
    assert city.post(client, [_handle(city)]).json()["outcomes"]["held"] == 1
    item = _entry(db, city.institution, NUMBER)
    closed = city.log.append(
        nc_facts.CLOSE,
        {"nonconformity": 41, "handling": "retest", "status": "closed", "at": utcnow().isoformat()},
    )
    closed["content"] = {"institution": city.institution.code, "number": NUMBER, "note": "闭环"}
    answer = city.post(client, [closed]).json()
    assert answer["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer
    got = _got(db, item)
    assert (got.status, got.handling_note, got.handling_origin_index) == (
        "closed", "闭环", closed["index"],
    )  # fmt: skip


def test_a_step_held_too_long_is_refused(client, db, city):
    assert city.post(client, [_register(city)]).json()["outcomes"]["held"] == 1
    db.execute(update(Forwarded).values(received_at=utcnow() - HOLD - dt.timedelta(minutes=1)))
    db.commit()
    jobs.held(db, logging.getLogger("test"))
    db.expire_all()
    row = db.scalars(select(Forwarded)).one()
    assert (row.outcome, row.problem["status"]) == ("refused", 404)
    assert db.get(Child, city.child.id).refused == 1


@pytest.mark.parametrize(
    ("name", "changes", "content", "says"),
    [
        ("no content", {}, None, "缺少不合格结果所属的检测机构"),
        ("who found it", {"found_by": "nobody"}, {}, "found_by"),
        ("time without zone", {"at": "2026-11-27T08:00:00"}, {}, "时间须带时区"),
        ("number too long", {"number": "J" * 65}, {}, "number"),
        ("control character", {"number": "JL\x00"}, {}, "number"),
        ("extra content", {}, {"note": "x"}, "content.note"),
        ("unknown institution", {}, {"institution": "JC999999-0001"}, "JC999999-0001"),
    ],
)
def test_a_register_step_the_province_cannot_take_is_refused(
    client, db, city, name, changes, content, says
):
    item = _entry(db, city.institution, NUMBER)
    step = _register(city, **changes)
    if content is None:
        del step["content"]
    else:
        step["content"] |= content
    body = city.post(client, [step]).json()
    assert body["outcomes"] == {"duplicate": 0, "refused": 1}, (name, body)
    assert says in json.dumps(body["refused"], ensure_ascii=False), (name, body["refused"])
    assert _got(db, item).origin is None


@pytest.mark.sqlite
def test_the_nation_names_the_citys_entry_over_the_provinces(client, db, settings, factory):
    province = Province(db, settings, factory)
    item = _entry(db, province.institution, NUMBER)
    data = {"nonconformity": 7, "test_record": 2, "number": NUMBER, "institution": 1,
            "project": None, "found_by": "lab", "source": "record", "item": "0101",
            "at": utcnow().isoformat()}  # fmt: skip
    content = {"institution": province.institution.code}
    own = province.log.append(nc_facts.REGISTER, data) | {"content": content}
    assert province.post(client, [own]).json()["outcomes"]["rebuilt"] == 1
    assert _got(db, item).origin == "江西省检测监管平台"
    leaf = province.city_leaf(nc_facts.REGISTER, data | {"found_by": "both"})
    assert province.post(client, [province.relay(leaf, content)]).json()["outcomes"]["rebuilt"] == 1
    got = _got(db, item)
    assert (got.origin, got.origin_region, got.origin_found_by) == (CITY, "360400", "both")
    # a later step of the province's own entry does not take the city's place
    again = province.log.append(nc_facts.LINK, data) | {"content": content}
    assert province.post(client, [again]).json()["outcomes"]["recorded"] == 1
    assert _got(db, item).origin == CITY


def test_the_city_names_the_institution_beside_its_register_entry(db, factory):
    inst = factory.institution(region_code="360403")
    item = _entry(db, inst, NUMBER)
    assert nc_facts.named(db, 0, {"nonconformity": item.id}).content == {"institution": inst.code}
    assert nc_facts.named(db, 0, {"nonconformity": 10**9}) is None
