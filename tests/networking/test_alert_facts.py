# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""A city's alert handling rebuilt on its province (docs/networking.md, "A child's facts"): the
city's steps on an alert (confirm, require, the lab's answer with evidence, close) go up with
the alert as the city holds it and what the entries do not hold; the province keeps a copy of
the city's alert with its case as the city's, which only the city handles and its rules leave
alone. A nonconformity the city handles is handled on the province's own entry of the same
result. What the province cannot take is refused and leaves nothing."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from jcjg.alerts import engine
from jcjg.alerts.models import Alert, Case, CaseEvent
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.networking.models import Forwarded
from jcjg.nonconformity import facts as nc_facts
from jcjg.nonconformity.models import Nonconformity
from tests.alerts.test_cases import _lab_answers_with_evidence, _post, _station_confirms_and_orders
from tests.factories import login, page_csrf
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base  # the cursor's start
from tests.networking.test_forwards import Setup
from tests.networking.test_rectification_facts import _uploaded

HTML = {"accept": "text/html"}
CITY = "九江市检测监管平台"


def _envelope(item: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(item["entry"]))


def _city_handles_an_alert(client, db, factory) -> tuple[Alert, list[dict[str, Any]], str]:
    """The city's station confirms and orders, the lab answers with two files, the station
    closes; what the city's forwarder sends of those steps, and the evidence's first SHA-256."""
    lab = factory.institution(region_code="360403", name="九江督办测试检测站")
    alert = factory.alert(lab)
    station = factory.user(Role.STATION, region_code="360400")
    station.display_name = "九江站李四"
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab)
    db.commit()
    login(client, station.username)
    _station_confirms_and_orders(client, db, alert)
    client.cookies.clear()
    login(client, staff.username)
    event = _lab_answers_with_evidence(client, db, alert)
    client.cookies.clear()
    login(client, station.username)
    assert _post(client, alert, action="close", note="复核通过").status_code == 303
    client.cookies.clear()
    upstream = Upstream()
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"]]
    steps = [i for i in items if _envelope(i)["entry_type"].startswith("case:")]
    assert {e["sha256"] for e in event.evidence} <= upstream.blobs  # went up first
    return alert, steps, event.evidence[0]["sha256"]


@pytest.mark.sqlite
def test_the_citys_alert_and_its_handling_are_the_provinces_too(
    browser_client, db, settings, factory
):
    alert, steps, sha = _city_handles_an_alert(browser_client, db, factory)
    assert [_envelope(i)["entry_type"] for i in steps] == [
        "case:confirm", "case:require", "case:rectify", "case:close",
    ]  # fmt: skip
    sent = steps[0]["content"]
    lab_code = sent["alert"]["institution"]
    assert (sent["actor"], sent["note"], sent["alert"]["subject_repr"]) == (
        "九江站李四", "已核实", "压力试验机 YAW-2000",
    )  # fmt: skip
    assert [f["name"] for f in steps[2]["content"]["evidence"]] == ["检定证书.pdf", "设备照片.png"]
    # the same database plays the province now: the city's own case goes
    case_id = db.scalar(select(Case.id).where(Case.alert_id == alert.id))
    db.execute(delete(CaseEvent).where(CaseEvent.case_id == case_id))
    db.execute(delete(Case).where(Case.id == case_id))
    db.commit()
    city = Setup(db, settings, factory)
    _uploaded(db, city, *[f["sha256"] for f in steps[2]["content"]["evidence"]])
    items = []
    for step in steps:
        envelope = _envelope(step)
        items.append(city.log.append(envelope["entry_type"], envelope["data"]) | {
            "content": step["content"]})  # fmt: skip
    answer = city.post(browser_client, items)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 4}, answer.text
    db.expire_all()
    copy = db.scalar(select(Alert).where(Alert.origin == CITY))
    assert copy is not None and copy.id != alert.id
    assert (copy.rule_id, copy.institution_id, copy.region_code, copy.subject_id) == (
        "calibration_expired", alert.institution_id, "360403", None,
    )  # fmt: skip
    assert (copy.status, copy.facts, copy.origin_index) == ("open", {"过期天数": 12}, 3)
    case = db.scalar(select(Case).where(Case.alert_id == copy.id))
    assert (case.status, case.responsible) == ("closed", "九江督办测试检测站")
    events = db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)
                        .order_by(CaseEvent.id)).all()  # fmt: skip
    assert [(e.action, e.from_status, e.to_status, e.actor_id) for e in events] == [
        ("confirm", "new", "confirmed", None), ("require", "confirmed", "rectifying", None),
        ("rectify", "rectifying", "rectified", None), ("close", "rectified", "closed", None),
    ]  # fmt: skip
    # sent again (the forward is at-least-once): nothing more
    again = [city.log.append(_envelope(s)["entry_type"], _envelope(s)["data"])
             | {"content": s["content"]} for s in steps]  # fmt: skip
    assert city.post(browser_client, again).json()["outcomes"]["rebuilt"] == 4
    assert db.scalar(select(func.count()).select_from(CaseEvent)
                     .where(CaseEvent.case_id == case.id)) == 4  # fmt: skip
    # the province's rules leave it alone: a run on the lab neither closes nor refreshes it
    engine.run_rule(db, "calibration_expired", institution_ids=[alert.institution_id])
    db.commit()
    db.expire_all()
    assert db.get(Alert, copy.id).status == "open"
    # the province reads it as the city's, with the evidence, and cannot handle it
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    headers = {"Authorization": f"Bearer {factory.token(province)}"}
    assert browser_client.get(f"/api/v1/alerts/{copy.id}", headers=headers).json()[
        "origin"] == CITY  # fmt: skip
    login(browser_client, province.username)
    page = browser_client.get(f"/alerts/{copy.id}", headers=HTML).text
    assert f"由下级平台“{CITY}”发现并报送" in page and 'name="action"' not in page
    assert "九江站李四" in page and "检定证书.pdf" in page
    assert browser_client.get(f"/alerts/{copy.id}/case/evidence/{sha}").status_code == 200
    refused = browser_client.post(f"/alerts/{copy.id}/case", headers=HTML, data={
        "csrf_token": page_csrf(browser_client, f"/alerts/{copy.id}"), "action": "reopen",
        "note": "省里重开"})  # fmt: skip
    assert refused.status_code == 403
    assert "只能在该平台处理" in refused.text
    assert lab_code


def _step(lab_code: str, **changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    now = utcnow()
    data = {
        "case": 7, "alert": 9, "rule": "calibration_expired", "subject": "equipment:3",
        "from": "new", "to": "confirmed", "deadline": None, "escalated_to": None,
        "evidence": [], "at": now.isoformat(),
    }  # fmt: skip
    content = {
        "alert": {"severity": "critical", "subject_type": "equipment",
                  "subject_repr": "压力试验机", "subject_number": "SB-01",
                  "institution": lab_code, "project": None, "region": "360403",
                  "facts": {"过期天数": 3}, "first_seen_at": now.isoformat(), "status": "open"},
        "actor": "九江站张三", "note": "已核实", "responsible": "", "evidence": [],
    }  # fmt: skip
    return data | changes, content


def _with(content: dict[str, Any], **alert: Any) -> dict[str, Any]:
    return content | {"alert": content["alert"] | alert}


def _bad(lab_code: str) -> list[tuple[str, str, Any, Any, str]]:
    data, content = _step(lab_code)
    sha = "a" * 64
    pdf = {"name": "a.pdf", "sha256": sha, "size": 10, "media_type": "application/pdf"}
    rectified = data | {"to": "rectified", "evidence": [sha]}
    confirm, rectify = "case:confirm", "case:rectify"
    return [
        ("no content", confirm, data, None, "缺少预警处理的内容"),
        ("institution unknown", confirm, data, _with(content, institution="JC360403-9999"),
         "不存在"),
        ("region elsewhere", confirm, data, _with(content, region="360102"),
         "不在该下级平台辖区内"),
        ("status unknown", confirm, data | {"to": "forgotten"}, content, "to"),
        ("time without zone", confirm, data | {"at": "2026-11-26T08:00:00"}, content, "时区"),
        ("control character", confirm, data, content | {"note": "已\x00核实"}, "content.note"),
        ("control character in the facts", confirm, data,
         _with(content, facts={"说明": "a\x07b"}), "content.alert.facts"),
        ("facts too large", confirm, data, _with(content, facts={"x": "长" * 3000}),
         "content.alert.facts"),
        ("wrong type", confirm, data | {"alert": "9"}, content, "alert"),
        ("evidence not the entry's", rectify, rectified,
         content | {"evidence": [pdf | {"sha256": "b" * 64}]}, "与存证的文件摘要不符"),
        ("evidence of another type", rectify, rectified,
         content | {"evidence": [pdf | {"media_type": "text/html"}]}, "content.evidence"),
        ("not an object", confirm, ["case"], content, "JSON 对象"),
    ]  # fmt: skip


@pytest.mark.sqlite
def test_a_step_the_province_cannot_take_is_refused_and_leaves_nothing(
    client, db, settings, factory
):
    city = Setup(db, settings, factory)
    _uploaded(db, city, "a" * 64, "b" * 64)
    for name, entry_type, data, content, says in _bad(city.institution.code):
        item = city.log.append(entry_type, data)
        if content is not None:
            item["content"] = content
        after = city.log.append("video_clip:export", {"clip": "YP-0001"})
        answer = city.post(client, [item, after])
        assert answer.status_code == 200, (name, answer.text)
        body = answer.json()
        assert body["outcomes"] == {"duplicate": 0, "recorded": 1, "refused": 1}, (name, body)
        assert says in json.dumps(body["refused"], ensure_ascii=False), (name, body["refused"])
        assert db.scalar(select(func.count()).select_from(Alert)) == 0, name
        assert db.scalar(select(func.count()).select_from(Case)) == 0, name
        assert db.scalar(select(Forwarded.outcome).where(
            Forwarded.origin_index == item["index"])) == "refused", name  # fmt: skip
    # a rule that differs from the one the child's alert was sent under
    data, content = _step(city.institution.code)
    first = city.log.append("case:confirm", data) | {"content": content}
    other = city.log.append(
        "case:close",
        data
        | {
            "rule": "unlicensed_work",
            "to": "closed",
            "at": (utcnow() + dt.timedelta(minutes=1)).isoformat(),
        },
    )
    answer = city.post(client, [first, other | {"content": content}]).json()
    assert answer["outcomes"]["rebuilt"] == 1 and answer["outcomes"]["refused"] == 1
    assert "与此前报送的不同" in json.dumps(answer["refused"], ensure_ascii=False)


# --- nonconformities -------------------------------------------------------------------------


def _entry(db, inst, number: str = "JL-2026-0031") -> Nonconformity:
    """The province's own entry of a result the lab reported (its message, forwarded)."""
    now = utcnow()
    item = Nonconformity(
        institution_id=inst.id, region_code=inst.region_code, source="reported", found_by="lab",
        material="混凝土", item_code="0101", reported_number=number, found_at=now,
        deadline=beijing_date(now) + dt.timedelta(days=15), status="open",
    )  # fmt: skip
    db.add(item)
    db.commit()
    return item


@pytest.mark.sqlite
def test_the_citys_handling_of_a_nonconformity_is_recorded_on_the_provinces_entry(
    browser_client, db, settings, factory
):
    city = Setup(db, settings, factory)
    item = _entry(db, city.institution)
    at = utcnow()
    handled = {"nonconformity": 41, "handling": "retest", "status": "handling",
               "at": at.isoformat()}  # fmt: skip
    content = {"institution": city.institution.code, "number": "JL-2026-0031",
               "note": "复检报告 FJ-2026-0008"}  # fmt: skip
    first = city.log.append(nc_facts.HANDLE, handled) | {"content": content}
    unknown = city.log.append(nc_facts.HANDLE, handled) | {
        "content": content | {"number": "JL-无此号"}}  # fmt: skip
    bare = city.log.append(nc_facts.CLOSE, handled | {"status": "closed"})
    answer = city.post(browser_client, [first, unknown, bare]).json()
    # a result the province does not hold yet is held (its lab's record may still come)
    assert answer["outcomes"] == {"duplicate": 0, "rebuilt": 1, "held": 1, "refused": 1}, answer
    assert [r["status"] for r in answer["refused"]] == [422]
    db.expire_all()
    got = db.get(Nonconformity, item.id)
    assert (got.handling, got.status, got.handling_note, got.handling_origin) == (
        "retest", "handling", "复检报告 FJ-2026-0008", CITY,
    )  # fmt: skip
    # the city closes it (its note no longer the first's: that entry goes without it)
    closed = handled | {"status": "closed", "at": (at + dt.timedelta(hours=1)).isoformat()}
    done = city.post(browser_client, [city.log.append(nc_facts.CLOSE, closed) | {
        "content": content | {"note": "复检合格，闭环"}}]).json()  # fmt: skip
    assert done["outcomes"]["rebuilt"] == 1
    db.expire_all()
    got = db.get(Nonconformity, item.id)
    assert (got.status, got.handling_note) == ("closed", "复检合格，闭环")
    assert got.closed_at is not None
    # only the city handles it now
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get(f"/nonconformities/{item.id}", headers=HTML).text
    assert f"由下级平台“{CITY}”处理并报送" in page and 'data-testid="nc-form"' not in page
    refused = browser_client.post(f"/nonconformities/{item.id}", headers=HTML, data={
        "csrf_token": page_csrf(browser_client, f"/nonconformities/{item.id}"),
        "handling": "other", "note": "省里改"})  # fmt: skip
    assert refused.status_code == 403


@pytest.mark.sqlite
def test_the_city_sends_a_handlings_note_only_while_it_is_the_latest(db, factory):
    inst = factory.institution(region_code="360403")
    item = _entry(db, inst)
    item.handling, item.handling_note, item.handled_at = "retest", "复检", utcnow()
    db.commit()
    data = {"nonconformity": item.id, "at": item.handled_at.isoformat()}
    exported = nc_facts.content(db, 0, data)
    assert exported is not None
    assert exported.content == {"institution": inst.code, "number": "JL-2026-0031",
                                "note": "复检"}  # fmt: skip
    older = nc_facts.content(db, 0, data | {"at": "2026-01-01T00:00:00+00:00"})
    assert older is not None and older.content["note"] is None
