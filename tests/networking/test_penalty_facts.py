# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""A city's penalty decisions rebuilt on its province (docs/networking.md, "A child's facts"):
the city forwards ``penalty:decide`` and ``penalty:correct`` with the facts and names its entries
hold only as digests; the province keeps the decision as the city's, checks the content against
the digests, follows corrections, and refuses what it cannot take, leaving nothing."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.ledger.canonical import canonical_json
from jcjg.networking import forward
from jcjg.networking.models import Forwarded
from jcjg.penalties import facts as penalty_facts
from jcjg.penalties import service
from jcjg.penalties.models import Penalty
from jcjg.registry.models import Person
from tests.factories import login
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base
from tests.networking.test_forwards import Setup

NUMBER = "浔建罚字〔2026〕第 7 号"
SALT = "5a1f" * 8  # a decision's salt of its names' digest


@pytest.fixture
def city(db, settings, factory) -> Setup:
    return Setup(db, settings, factory)


def decision(db, inst, **changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A decision's entry as the city notarises it, and the content the city sends beside it."""
    today = beijing_date(utcnow())
    row = Penalty(
        number=NUMBER, institution_id=inst.id, region_code=inst.region_code,
        issuer_region_code="360400", issuer="九江市住房和城乡建设局", person_ids=[],
        person_names=["李四"], basis_code="jz57", basis_article="第三十条",
        facts="出具虚假检测报告。", kind="fine", amount=Decimal("30000.00"), decided_on=today,
        public_from=today, public_until=today + dt.timedelta(days=90), persons_salt=SALT,
    )  # fmt: skip
    for key, value in changes.items():
        setattr(row, key, value)
    entry = service.ledger_entry(db, row)
    content = {"facts": row.facts, "persons": row.person_names, "issuer": row.issuer}
    return entry, content | ({"salt": row.persons_salt} if row.persons_salt else {})


def fact(city: Setup, entry_type: str, data: Any, content: Any = None) -> dict[str, Any]:
    item = city.log.append(entry_type, data)
    if content is not None:
        item["content"] = content
    return item


def _penalty(db) -> Penalty | None:
    db.expire_all()
    return db.scalar(select(Penalty).where(Penalty.number == NUMBER))


@pytest.mark.sqlite
def test_a_citys_decision_is_the_provinces_too_and_follows_its_correction(
    client, db, city, factory
):
    inst = city.institution
    person = Person(institution_id=inst.id, region_code=inst.region_code, name="李四",
                    id_number="360403199001011234", key_role="technical_director")  # fmt: skip
    db.add(person)
    db.commit()
    entry, content = decision(db, inst)
    answer = city.post(client, [fact(city, service.DECIDE_TYPE, entry, content)])
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}
    got = _penalty(db)
    assert got is not None
    assert (got.institution_id, got.region_code, got.issuer_region_code, got.origin) == (
        inst.id, "360403", "360400", "九江市检测监管平台",
    )  # fmt: skip
    assert (got.facts, got.person_names, got.person_ids, got.issuer) == (
        "出具虚假检测报告。", ["李四"], [person.id], "九江市住房和城乡建设局",
    )  # fmt: skip
    assert (got.kind, got.amount, got.basis_code, got.basis_article) == (
        "fine", Decimal("30000.00"), "jz57", "第三十条",
    )  # fmt: skip
    # sent again (the forward is at-least-once): still one decision
    assert city.post(client, [fact(city, service.DECIDE_TYPE, entry, content)]).status_code == 200
    assert db.scalar(select(func.count()).select_from(Penalty)) == 1
    # the city corrects it: the province's copy follows
    corrected, new = decision(db, inst, facts="出具虚假检测报告两份。", amount=Decimal("50000.00"))
    done = city.post(
        client, [fact(city, service.CORRECT_TYPE, corrected | {"reason": "金额有误"}, new)]
    )
    assert done.json()["outcomes"]["rebuilt"] == 1, done.text
    got = _penalty(db)
    assert (got.facts, got.amount) == ("出具虚假检测报告两份。", Decimal("50000.00"))
    # the province reads it as the city's, and cannot correct it
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    headers = {"Authorization": f"Bearer {factory.token(province)}"}
    read = client.get(f"/api/v1/penalties/{got.id}", headers=headers)
    assert read.json()["origin"] == "九江市检测监管平台"
    refused = client.patch(
        f"/api/v1/penalties/{got.id}", json={"amount": "1.00", "reason": "试改"}, headers=headers
    )
    assert refused.status_code == 403
    assert "只能在该平台更正" in refused.json()["detail"]
    login(client, province.username)
    page = client.get(f"/penalties/{got.id}")
    assert "由下级平台“九江市检测监管平台”报送" in page.text and "penalty-edit" not in page.text


@pytest.mark.sqlite
def test_a_decision_corrected_before_it_went_up_takes_its_content_from_the_correction(
    client, db, city
):
    entry, _ = decision(db, city.institution)
    corrected, content = decision(db, city.institution, facts="出具虚假检测报告两份。")
    first = fact(city, service.DECIDE_TYPE, entry)  # the city no longer holds what it notarised
    second = fact(city, service.CORRECT_TYPE, corrected | {"reason": "事实有误"}, content)
    assert city.post(client, [first, second]).json()["outcomes"]["rebuilt"] == 2
    assert (_penalty(db).facts, _penalty(db).persons_salt) == ("出具虚假检测报告两份。", SALT)


@pytest.mark.sqlite
def test_a_decision_notarised_before_salts_is_taken_with_its_unsalted_digest(client, db, city):
    entry, content = decision(db, city.institution, persons_salt=None)
    assert "salt" not in content
    unsalted = hashlib.sha256(json.dumps(["李四"], ensure_ascii=False).encode()).hexdigest()
    assert entry["persons_sha256"] == unsalted
    answer = city.post(client, [fact(city, service.DECIDE_TYPE, entry, content)]).json()
    assert answer["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer
    assert (_penalty(db).person_names, _penalty(db).persons_salt) == (["李四"], None)


def _bad(db, city, other) -> list[tuple[str, str, Any, Any, str]]:
    entry, content = decision(db, city.institution)
    elsewhere, _ = decision(db, other)
    return [
        ("content not the digests", service.DECIDE_TYPE, entry, content | {"facts": "另一事实。"},
         "与存证的摘要不符"),
        ("names not the digest", service.DECIDE_TYPE, entry, content | {"persons": ["王五"]},
         "与存证的摘要不符"),
        ("another salt", service.DECIDE_TYPE, entry, content | {"salt": "0" * 32},
         "与存证的摘要不符"),
        ("no salt", service.DECIDE_TYPE, entry, {k: v for k, v in content.items() if k != "salt"},
         "与存证的摘要不符"),
        ("a malformed salt", service.DECIDE_TYPE, entry, content | {"salt": "ABC"},
         "content.salt"),
        ("institution elsewhere", service.DECIDE_TYPE, elsewhere, None, "不在该下级平台辖区内"),
        ("institution unknown", service.DECIDE_TYPE, entry | {"institution": "JC360403-9999"},
         None, "不存在"),
        ("issuer elsewhere", service.DECIDE_TYPE, entry | {"issuer_region": "360100"}, None,
         "不在该下级平台辖区内"),
        ("kind unknown", service.DECIDE_TYPE, entry | {"kind": "death"}, None, "kind"),
        ("fine without amount", service.DECIDE_TYPE, entry | {"amount": None}, None,
         "罚款须填写金额"),
        ("amount of the wrong type", service.DECIDE_TYPE, entry | {"amount": ["1"]}, None,
         "amount"),
        ("control character", service.DECIDE_TYPE, entry | {"number": "浔建\x00罚字"}, None,
         "number"),
        ("content with a control character", service.DECIDE_TYPE, entry,
         content | {"issuer": "九江\x07市"}, "content.issuer"),
        ("content of the wrong type", service.DECIDE_TYPE, entry, content | {"persons": "李四"},
         "content.persons"),
        ("a name too long", service.DECIDE_TYPE, entry, content | {"persons": ["李" * 51]},
         "content.persons"),
        ("basis code too long", service.DECIDE_TYPE, entry | {"basis": "J" * 17 + " 第一条"},
         None, "basis"),
        ("huge date", service.DECIDE_TYPE, entry | {"decided_on": "99999-01-01"}, None,
         "decided_on"),
        ("correction of a decision not sent", service.CORRECT_TYPE, entry, content, "无从更正"),
        ("not an object", service.DECIDE_TYPE, [NUMBER], None, "JSON 对象"),
    ]  # fmt: skip


@pytest.mark.sqlite
def test_a_decision_the_province_cannot_take_is_refused_and_leaves_nothing(
    client, db, city, factory
):
    other = factory.institution(region_code="360102")
    db.commit()
    for name, entry_type, data, content, says in _bad(db, city, other):
        item = fact(city, entry_type, data, content)
        after = city.log.append("video_clip:export", {"clip": "YP-0001"})
        answer = city.post(client, [item, after])
        assert answer.status_code == 200, (name, answer.text)
        body = answer.json()
        assert body["outcomes"] == {"duplicate": 0, "recorded": 1, "refused": 1}, name
        assert says in json.dumps(body["refused"], ensure_ascii=False), (name, body["refused"])
        assert db.scalar(select(func.count()).select_from(Penalty)) == 0, name
        assert db.scalar(select(Forwarded.outcome).where(
            Forwarded.origin_index == item["index"])) == "refused", name  # fmt: skip


@pytest.mark.sqlite
def test_a_number_the_province_holds_for_another_decision_is_refused(client, db, city, factory):
    from tests.penalties.helpers import make_penalty

    make_penalty(factory, city.institution, number=NUMBER)  # recorded here by the province
    db.commit()
    entry, content = decision(db, city.institution)
    answer = city.post(client, [fact(city, service.DECIDE_TYPE, entry, content)]).json()
    assert answer["outcomes"]["refused"] == 1
    assert answer["refused"][0]["status"] == 409
    db.expire_all()
    assert _penalty(db).origin is None and _penalty(db).facts == "出具虚假检测报告。"


# --- the city's side ------------------------------------------------------------------------


@pytest.mark.sqlite
def test_the_city_sends_the_content_beside_its_entries_only_while_they_match(
    client, db, factory, base
):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    inst = factory.institution(region_code="360403")
    db.commit()
    headers = {"Authorization": f"Bearer {factory.token(city)}"}
    today = beijing_date(utcnow()).isoformat()
    body = {
        "number": NUMBER, "institution_id": inst.id, "basis_code": "jz57",
        "basis_article": "第三十条", "facts": "出具虚假检测报告。", "kind": "warning",
        "decided_on": today, "public_from": today, "public_until": today,
    }  # fmt: skip
    made = client.post("/api/v1/penalties", json=body, headers=headers)
    assert made.status_code == 201, made.text
    upstream = Upstream()
    _pass(client, upstream)
    (item,) = [i for f in upstream.forwards for i in f["items"] if "content" in i]
    salt = item["content"].pop("salt")
    assert item["content"] == {
        "facts": "出具虚假检测报告。", "persons": [], "issuer": made.json()["issuer"],
    }  # fmt: skip
    # the names' digest is salted with the decision's own salt: not the digest of the names
    entry = json.loads(base64.b64decode(item["entry"]))["data"]
    assert re.fullmatch(r"[0-9a-f]{32}", salt)
    assert (
        entry["persons_sha256"]
        == hashlib.sha256(canonical_json({"persons": [], "salt": salt})).hexdigest()
    )
    assert entry["persons_sha256"] != hashlib.sha256(b"[]").hexdigest()
    assert "salt" not in entry and salt not in json.dumps(entry)
    # corrected, then forwarded (again from the decision's leaf): the decision's leaf goes
    # without content, the correction's with it
    forward.cursor(db).position = base
    db.commit()
    penalty_id = made.json()["id"]
    again = client.patch(f"/api/v1/penalties/{penalty_id}",
                         json={"facts": "出具虚假检测报告两份。", "reason": "事实有误"},
                         headers=headers)  # fmt: skip
    assert again.status_code == 200, again.text
    db.expire_all()
    penalty = db.get(Penalty, penalty_id)
    upstream = Upstream()
    _pass(client, upstream)
    sent = [i for f in upstream.forwards for i in f["items"]]
    types = [json.loads(base64.b64decode(i["entry"]))["entry_type"] for i in sent]
    assert types.count(service.DECIDE_TYPE) == types.count(service.CORRECT_TYPE) == 1
    assert [i.get("content", {}).get("facts") for i, t in zip(sent, types, strict=True)
            if t.startswith("penalty:")] == [None, "出具虚假检测报告两份。"]  # fmt: skip
    db.expire_all()
    penalty = db.get(Penalty, penalty_id)
    assert (
        penalty_facts.content(db, 0, service.ledger_entry(db, penalty) | {"number": "无此号"})
        is None
    )
