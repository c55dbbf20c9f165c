"""A child's registry facts rebuilt on its parent (docs/networking.md, "A child's facts"): an
institution the city registers on its pages reaches the province as a fact of the city's log,
is registered there under the city's code, and the lab's forwarded messages apply there; its
status and name follow; a fact the province cannot take is refused and leaves nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Message
from jcjg.ledger.models import LedgerLeaf
from jcjg.networking.models import Forwarded
from jcjg.registry.codes import check_character
from jcjg.tenancy import facts
from jcjg.tenancy.models import Institution
from tests.exchange.conftest import apply_waiting
from tests.networking.helpers import CityLab
from tests.networking.test_forwards import LABS, Setup


def _credit(n: int, region: str = "360403") -> str:
    body = f"91{region}MA{n:07d}"[:17]
    return body + check_character(body)


def registered(code: str = "JC360403-0042", **changes: Any) -> dict[str, Any]:
    return {
        "code": code,
        "name": "九江长江建设工程检测有限公司",
        "credit_code": _credit(42),
        "region_code": "360403",
    } | changes


@pytest.fixture
def city(db, settings, factory) -> Setup:
    return Setup(db, settings, factory)


def _institution(db, code: str) -> Institution | None:
    db.expire_all()
    return db.scalar(select(Institution).where(Institution.code == code))


@pytest.mark.sqlite
def test_an_institution_registered_by_the_city_is_registered_here_and_its_lab_sends(
    client, db, city
):
    fact = city.log.append(facts.REGISTER, registered())
    lab = CityLab("JC360403-0042")
    labs = lab.signed(city.log, "registry.labs", LABS)
    answer = city.post(client, [fact, labs])
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 1, "stored": 1}
    assert answer.json()["refused"] == []
    inst = _institution(db, "JC360403-0042")
    assert inst is not None
    assert (inst.name, inst.credit_code, inst.region_code, inst.status) == (
        "九江长江建设工程检测有限公司", _credit(42), "360403", "active",
    )  # fmt: skip
    assert apply_waiting(client) == 1
    db.expire_all()
    sent = db.scalars(select(Message).where(Message.institution_id == inst.id)).one()
    assert sent.status == MessageStatus.APPLIED
    # the province had it already (typed in by hand, or sent twice): its name brought up to date
    renamed = city.log.append(facts.REGISTER, registered(name="九江长江检测有限公司"))
    assert city.post(client, [renamed]).json()["outcomes"]["rebuilt"] == 1
    assert _institution(db, "JC360403-0042").name == "九江长江检测有限公司"
    # the city suspends it, renames it
    suspended = city.log.append(facts.STATUS, {"code": "JC360403-0042", "status": "suspended"})
    update = city.log.append(
        facts.UPDATE,
        {"code": "JC360403-0042", "name": "九江长江检测股份有限公司", "credit_code": _credit(42)},
    )
    assert city.post(client, [suspended, update]).json()["outcomes"]["rebuilt"] == 2
    inst = _institution(db, "JC360403-0042")
    assert (inst.status, inst.name) == ("suspended", "九江长江检测股份有限公司")
    assert db.scalar(select(func.count()).select_from(Institution).where(
        Institution.code == "JC360403-0042")) == 1  # fmt: skip


BAD = [
    ("another region", registered(region_code="360102"), "不在下级平台"),
    ("unknown region", registered(region_code="369999"), "行政区划代码不存在"),
    ("code of another", registered(code="{other}"), "已登记为另一家机构"),
    ("credit code of another", registered(credit_code="{other_credit}"), "已被其他检测机构使用"),
    ("bad credit code", registered(credit_code="91360403MA0000042Y"), "统一社会信用代码无效"),
    ("control character", registered(name="检测\x00公司"), "不超过 200 个字符的文本"),
    ("too long", registered(name="检" * 201), "不超过 200 个字符的文本"),
    ("wrong type", registered(name=42), "不超过 200 个字符的文本"),
    ("no name", registered(name=""), "单位名称不能为空"),
    ("bad code", registered(code="JC 3604"), "机构编号"),
    ("not an object", ["JC360403-0042"], "JSON 对象"),
]


@pytest.mark.sqlite
@pytest.mark.parametrize(("data", "says"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_a_registration_this_platform_cannot_take_is_refused_and_leaves_nothing(
    client, db, city, data, says
):
    other = city.institution  # registered here (region 360403) by the province itself
    if isinstance(data, dict):
        data = {
            k: (other.code if v == "{other}" else other.credit_code if v == "{other_credit}"
                else v)
            for k, v in data.items()
        }  # fmt: skip
    before = db.scalar(select(func.count()).select_from(Institution))
    fact = city.log.append(facts.REGISTER, data)
    after = city.log.append("video_clip:export", {"clip": "YP-0001"})
    answer = city.post(client, [fact, after])
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["outcomes"] == {"duplicate": 0, "recorded": 1, "refused": 1}  # it goes on
    (refused,) = body["refused"]
    assert refused["index"] == fact["index"]
    assert says in json.dumps(refused, ensure_ascii=False), refused
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Institution)) == before
    assert db.scalar(select(Forwarded.outcome).where(
        Forwarded.origin_index == fact["index"])) == "refused"  # fmt: skip


@pytest.mark.sqlite
def test_status_and_name_of_an_institution_not_here_are_refused(client, db, city):
    status = city.log.append(facts.STATUS, {"code": "JC360403-0077", "status": "revoked"})
    wrong = city.log.append(facts.STATUS, {"code": city.institution.code, "status": "paused"})
    answer = city.post(client, [status, wrong]).json()
    assert answer["outcomes"]["refused"] == 2
    assert "不存在" in answer["refused"][0]["detail"]
    assert "不是允许的状态" in json.dumps(answer["refused"][1], ensure_ascii=False)
    db.expire_all()
    assert db.get(Institution, city.institution.id).status == "active"


@pytest.mark.sqlite
def test_the_citys_registry_changes_are_notarised_for_its_parent(client, db, factory):
    """On the child: registering an institution (page, API or `jcjg institutions create`), its
    status and a new name or credit code are leaves of its log, with the public particulars
    only; an edit of anything else is not."""
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    auth = {"Authorization": f"Bearer {factory.token(city)}"}

    def leaves() -> list[tuple[str, dict[str, Any]]]:
        db.expire_all()
        rows = db.scalars(select(LedgerLeaf).order_by(LedgerLeaf.leaf_index)).all()
        return [(r.entry_type, json.loads(r.entry)["data"]) for r in rows
                if r.entry_type.startswith("institution:")]  # fmt: skip

    made = client.post(
        "/api/v1/registry/institutions",
        json={"name": "九江长江检测有限公司", "credit_code": _credit(7), "region_code": "360403",
              "phone": "0792-8888888"},
        headers=auth,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    code, row_id = made.json()["code"], made.json()["id"]
    particulars = {"code": code, "name": "九江长江检测有限公司", "credit_code": _credit(7),
                   "region_code": "360403"}  # fmt: skip
    assert leaves() == [(facts.REGISTER, particulars)]  # no phone: public particulars only
    url = f"/api/v1/registry/institutions/{row_id}"
    assert client.patch(url, json={"postcode": "332000"}, headers=auth).status_code == 200
    assert len(leaves()) == 1  # not a particular the parent keeps
    assert (
        client.patch(url, json={"name": "九江长江检测股份有限公司"}, headers=auth).status_code
        == 200
    )
    assert client.post(url + "/status", json={"status": "suspended"}, headers=auth).json()[
        "status"] == "suspended"  # fmt: skip
    assert (
        client.post(url + "/status", json={"status": "suspended"}, headers=auth).status_code == 200
    )
    assert leaves()[1:] == [
        (
            facts.UPDATE,
            {"code": code, "name": "九江长江检测股份有限公司", "credit_code": _credit(7)},
        ),
        (facts.STATUS, {"code": code, "status": "suspended"}),
    ]  # the same status again is no change
