# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""A city's rectification orders rebuilt on its province (docs/networking.md, "A child's
facts"): the city's steps (issue, answer, close, publish) go up with what their entries do not
hold (the institution's code, the texts, the evidence's particulars and files); the province
takes each step on its copy, keeps it as the city's, shows it publicly when the city published
it, and refuses what it cannot take, leaving nothing."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from jcjg.auth.choices import Role
from jcjg.exchange.models import ExchangeFile
from jcjg.networking.models import Forwarded
from jcjg.rectification.models import RectificationEvent, RectificationOrder
from tests.factories import login, page_csrf
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base  # the cursor's start
from tests.networking.test_forwards import Setup
from tests.rectification.conftest import World
from tests.rectification.conftest import world as world  # the city's orders
from tests.rectification.test_orders import PDF, _answer, _as, _issue, _order, _step

HTML = {"accept": "text/html"}


def _city_takes_every_step(client, db, world: World) -> tuple[RectificationOrder, list[dict]]:
    """The city's station issues, the lab answers with a PDF, the station closes and publishes;
    what the city's forwarder sends of them."""
    _as(client, world.station)
    assert _issue(client, world).status_code == 303
    order = _order(db)
    _as(client, world.staff)
    assert _answer(client, order.id, "已补传 12 份报告", name="补传清单.pdf").status_code == 303
    _as(client, world.station)
    assert _step(client, order.id, action="close", note="复核通过").status_code == 303
    assert _step(client, order.id, action="publish", note="已整改到位").status_code == 303
    upstream = Upstream()
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"]]
    steps = [i for i in items if _envelope(i)["entry_type"].startswith("rectification_order:")]
    sha = _order(db).answer_evidence[0]["sha256"]
    assert sha in upstream.blobs  # the evidence went up before the forward
    return _order(db), steps


def _uploaded(db, city: Setup, *hashes: str) -> None:
    """The files as the child uploaded them to the province (its exchange client's)."""
    for sha in hashes:
        db.add(ExchangeFile(sha256=sha, size=10, client_id=city.child.client_id,
                            region_code=city.child.region_code))  # fmt: skip
    db.commit()


def _envelope(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(item["entry"]))


def _waits_for_its_files(http, db, city: Setup, steps: list[dict], sha: str) -> None:
    """The evidence not uploaded by this child: the whole forward waits for it (422, missing);
    the child then sends the same leaves again, once uploaded."""
    envelope = _envelope(steps[0])
    early = [city.log.append(envelope["entry_type"], envelope["data"]) | {
        "content": steps[0]["content"]}]  # fmt: skip
    answered = _envelope(steps[1])
    early.append(city.log.append(answered["entry_type"], answered["data"]) | {
        "content": steps[1]["content"]})  # fmt: skip
    waiting = city.post(http, early)
    assert waiting.status_code == 422, waiting.text
    assert waiting.json()["missing"] == [sha]
    assert db.scalar(select(func.count()).select_from(RectificationOrder)) == 0
    city.log.entries.clear()


@pytest.mark.sqlite
def test_the_citys_order_and_its_steps_are_the_provinces_too(
    browser_client, db, settings, factory, world
):
    order, steps = _city_takes_every_step(browser_client, db, world)
    assert [_envelope(i)["entry_type"].split(":")[1] for i in steps] == [
        "issue", "answer", "close", "publish",
    ]  # fmt: skip
    issue = steps[0]["content"]
    assert (issue["institution"], issue["actor"]) == (world.lab.code, "九江站张三")
    assert issue["findings"].startswith("2026 年 10 月有 12 份报告未按时上传")
    assert [f["name"] for f in steps[1]["content"]["evidence"]] == ["补传清单.pdf"]
    number = order.number
    # the same database plays the province now: the city's own rows go
    db.execute(delete(RectificationEvent).where(RectificationEvent.order_id == order.id))
    db.execute(delete(RectificationOrder).where(RectificationOrder.id == order.id))
    db.commit()
    city = Setup(db, settings, factory)
    items = []
    _waits_for_its_files(browser_client, db, city, steps, order.answer_evidence[0]["sha256"])
    _uploaded(db, city, order.answer_evidence[0]["sha256"])
    for step in steps:
        envelope = _envelope(step)
        item = city.log.append(envelope["entry_type"], envelope["data"])
        items.append(item | {"content": step["content"]})
    answer = city.post(browser_client, items)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 4}, answer.text
    got = _order(db)
    assert (got.number, got.origin, got.institution_id, got.region_code) == (
        number, "九江市检测监管平台", world.lab.id, "360400",
    )  # fmt: skip
    assert (got.status, got.is_public, got.answer) == ("closed", True, "已补传 12 份报告")
    assert got.alert_ids == [] and got.nonconformity_ids == []  # the city's, kept there
    assert [f["name"] for f in got.answer_evidence] == ["补传清单.pdf"]
    events = db.scalars(select(RectificationEvent).where(RectificationEvent.order_id == got.id)
                        .order_by(RectificationEvent.id)).all()  # fmt: skip
    assert [(e.action, e.actor_name) for e in events] == [
        ("issue", "九江站张三"), ("answer", "检测员李四"), ("close", "九江站张三"),
        ("publish", "九江站张三"),
    ]  # fmt: skip
    # sent again (at-least-once): nothing doubles
    again = [city.log.append(_envelope(s)["entry_type"], _envelope(s)["data"]) | {
        "content": s["content"]} for s in steps]  # fmt: skip
    assert city.post(browser_client, again).json()["outcomes"]["rebuilt"] == 4
    assert db.scalar(select(func.count()).select_from(RectificationEvent).where(
        RectificationEvent.order_id == got.id)) == 4  # fmt: skip
    # the province reads it as the city's, publicly too, and cannot act on it
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    browser_client.cookies.clear()
    login(browser_client, province.username)
    page = browser_client.get(f"/rectification-orders/{got.id}", headers=HTML).text
    assert "由下级平台“九江市检测监管平台”报送" in page and 'value="unpublish"' not in page
    evidence = browser_client.get(f"/rectification-orders/{got.id}/evidence/"
                                  f"{got.answer_evidence[0]['sha256']}")  # fmt: skip
    assert (evidence.status_code, evidence.content) == (200, PDF)
    refused = browser_client.post(
        f"/rectification-orders/{got.id}",
        data={"csrf_token": page_csrf(browser_client, "/rectification-orders"),
              "action": "unpublish", "note": "试撤"},
        headers=HTML, follow_redirects=False,
    )  # fmt: skip
    assert refused.status_code == 403
    assert "只能在该平台办理" in refused.text
    assert _order(db).is_public
    browser_client.cookies.clear()
    public = browser_client.get("/public/rectification-orders", headers=HTML).text
    assert number in public


def _issued(world: World, **changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    data = {
        "order": 7, "number": "ZG36040020260099", "institution": 3, "region": "360400",
        "grounds": ["not_uploaded"], "alerts": [5], "nonconformities": [], "from": None,
        "to": "issued", "deadline": "2026-12-31", "public": False, "evidence": [],
        "at": "2026-11-26T08:00:00+00:00",
    }  # fmt: skip
    content = {
        "institution": world.lab.code, "actor": "九江站张三", "note": "",
        "findings": "报告未按时上传。", "requirement": "补传全部报告。", "evidence": [],
    }  # fmt: skip
    return data | changes, content


def _bad(world: World) -> list[tuple[str, str, Any, Any, str]]:
    data, content = _issued(world)
    sha = "a" * 64
    pdf = {"name": "a.pdf", "sha256": sha, "size": 10, "media_type": "application/pdf"}
    answered = data | {"to": "answered", "from": "issued", "evidence": [sha]}
    issue, answer = "rectification_order:issue", "rectification_order:answer"
    return [
        ("no content", issue, data, None, "缺少整改通知的内容"),
        ("no findings", issue, data, content | {"findings": ""}, "查实的问题"),
        ("institution unknown", issue, data, content | {"institution": "JC360403-9999"},
         "不存在"),
        ("region elsewhere", issue, data | {"region": "360100"}, content, "不在该下级平台辖区内"),
        ("ground unknown", issue, data | {"grounds": ["bribery"]}, content, "grounds"),
        ("number malformed", issue, data | {"number": "ZG-1"}, content, "number"),
        ("time without zone", issue, data | {"at": "2026-11-26T08:00:00"}, content, "时区"),
        ("control character", issue, data, content | {"findings": "报告\x00未传"},
         "content.findings"),
        ("wrong type", issue, data | {"public": "yes"}, content, "public"),
        ("evidence not the entry's", answer, answered,
         content | {"evidence": [pdf | {"sha256": "b" * 64}]}, "与存证的文件摘要不符"),
        ("evidence of another type", answer, answered,
         content | {"evidence": [pdf | {"media_type": "text/html"}]}, "content.evidence"),
        ("evidence name with a control character", answer, answered,
         content | {"evidence": [pdf | {"name": "a\x00.pdf"}]}, "content.evidence"),
        ("step of an order not sent", answer, answered, content | {"evidence": [pdf]},
         "未由该下级平台报送"),
        ("not an object", issue, ["ZG36040020260099"], content, "JSON 对象"),
    ]  # fmt: skip


@pytest.mark.sqlite
def test_a_step_the_province_cannot_take_is_refused_and_leaves_nothing(
    client, db, settings, factory, world
):
    city = Setup(db, settings, factory)
    _uploaded(db, city, "a" * 64, "b" * 64)
    for name, entry_type, data, content, says in _bad(world):
        item = city.log.append(entry_type, data)
        if content is not None:
            item["content"] = content
        after = city.log.append("video_clip:export", {"clip": "YP-0001"})
        answer = city.post(client, [item, after])
        assert answer.status_code == 200, (name, answer.text)
        body = answer.json()
        assert body["outcomes"] == {"duplicate": 0, "recorded": 1, "refused": 1}, (name, body)
        assert says in json.dumps(body["refused"], ensure_ascii=False), (name, body["refused"])
        assert db.scalar(select(func.count()).select_from(RectificationOrder)) == 0, name
        assert db.scalar(select(Forwarded.outcome).where(
            Forwarded.origin_index == item["index"])) == "refused", name  # fmt: skip


@pytest.mark.sqlite
def test_a_number_the_province_uses_for_its_own_order_is_refused(
    browser_client, client, db, settings, factory, world
):
    _as(browser_client, world.station)
    assert _issue(browser_client, world).status_code == 303
    own = _order(db)
    city = Setup(db, settings, factory)
    data, content = _issued(world, number=own.number)
    item = city.log.append("rectification_order:issue", data) | {"content": content}
    answer = city.post(client, [item]).json()
    assert answer["outcomes"]["refused"] == 1
    assert answer["refused"][0]["status"] == 409
    assert _order(db).origin is None
