"""The catalogue's life (issue 43): a published data set edited, re-graded and withdrawn, each
asked for by one officer and approved by another, kept with what it was and became and
audited; a stricter grade takes back the subscriptions that no longer qualify, a withdrawn
set refuses queries, packages, applications and subscriptions in Chinese. On both
databases."""

from __future__ import annotations

import re
from typing import Any

import httpx2  # the test client's (starlette's TestClient is an httpx2.Client)
import pytest
from sqlalchemy import func, select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.governance import sharing
from jcjg.governance.models import DataSet, DataSetChange, Delivery, Subscription
from tests.factories import login, page_csrf
from tests.governance.test_sharing import HTML, _post, _set_up
from tests.governance.test_sharing_access import BASE, PLATFORM, _docs, _key, _problem, _staff
from tests.lists import column, sheet


def _officer(client, factory) -> Any:
    """Another province officer, logged in: the one who asks for the changes."""
    officer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    client.cookies.clear()
    login(client, officer.username)
    return officer


def _as(client, user) -> None:
    client.cookies.clear()
    login(client, user.username)


def _ask(client, data_set: DataSet, **form: Any):
    page = f"/governance/sharing/data-sets/{data_set.id}"
    csrf = page_csrf(client, page)
    return _post(client, f"{page}/changes", csrf, **form)


def _decide(client, change: DataSetChange, decision: str, note: str = ""):
    csrf = page_csrf(client, f"/governance/sharing/data-sets/{change.data_set_id}")
    return _post(
        client,
        f"/governance/sharing/changes/{change.id}/decision",
        csrf,
        decision=decision,
        note=note,
    )


def _latest(db) -> DataSetChange:
    db.expire_all()
    return db.scalars(select(DataSetChange).order_by(DataSetChange.id.desc())).first()


def _querier(client, key_id, private):
    signed_get = _docs("signed_get")["signed_get"]

    def get(path: str = f"{BASE}/staff/records"):
        url = PLATFORM + path
        return client.get(url, headers=signed_get(key_id, private, url))

    return get


def test_a_regrade_to_conditional_asks_for_approval_again(client, db, settings, factory):
    consumer, reviewer = _set_up(client, db, factory, "")
    key_id, private = _key(client, consumer)
    get = _querier(client, key_id, private)
    data_set = db.scalar(select(DataSet).where(DataSet.code == "staff"))
    officer = _officer(client, factory)
    asked = _ask(client, data_set, kind="regrade", grade="conditional", reason="含个人信息")
    assert asked.status_code == 303, asked.text[:300]
    change = _latest(db)
    assert (change.kind, change.status) == ("regrade", "pending")
    assert (change.before, change.after) == ({"grade": "public"}, {"grade": "conditional"})
    assert change.requested_by_id == officer.id
    # nothing changes until another officer approves: the set is still public and open
    assert db.get(DataSet, data_set.id).grade == "public"
    assert _ask(client, data_set, kind="withdraw", reason="另一项").status_code == 409
    assert _decide(client, change, "approve").status_code == 403  # who asked may not decide
    client.cookies.clear()
    assert get().status_code == 200
    _as(client, reviewer)
    page = client.get(f"/governance/sharing/data-sets/{data_set.id}", headers=HTML)
    assert 'data-testid="change-pending"' in page.text
    assert "生效的订阅转为待审核" in page.text
    assert _decide(client, change, "approve", "同意").status_code == 303
    change = _latest(db)
    assert (change.status, change.decided_by_id, change.effects) == (
        "applied",
        reviewer.id,
        {"pending": 1},
    )
    assert db.get(DataSet, data_set.id).grade == "conditional"
    # the set's page keeps the change in its history, in words
    shown = client.get(f"/governance/sharing/data-sets/{data_set.id}", headers=HTML).text
    history = shown.split('data-testid="data-set-history"', 1)[1].split("</table>", 1)[0]
    assert all(w in history for w in ("调整共享级别", "共享级别：有条件共享", "含个人信息", "同意"))
    subscription = db.scalar(select(Subscription))
    assert subscription.status == "pending"
    assert subscription.requested_by_id is None  # any officer may approve it again
    assert "须经审核同意" in subscription.decision_note
    client.cookies.clear()
    body = _problem(get(), 403, "/problems/sharing-pending")
    assert "审核" in body["detail"]
    # approved again: open again
    _as(client, reviewer)
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    approved = _post(
        client,
        f"/governance/sharing/subscriptions/{subscription.id}/decision",
        csrf,
        decision="approve",
        note="",
    )
    assert approved.status_code == 303
    client.cookies.clear()
    assert get().status_code == 200
    # each write audited: the change asked for and decided, the set, the subscription
    audited = db.execute(
        select(AuditLog.object_type, AuditLog.action).where(
            AuditLog.object_type.in_(("data_set_change", "data_set", "share_subscription"))
        )
    ).all()
    assert ("data_set_change", "create") in audited
    assert ("data_set_change", "update") in audited
    assert ("data_set", "update") in audited
    decided = db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "data_set_change", AuditLog.action == "update"
        )
    ).first()
    assert decided.before["status"] == "pending"
    assert decided.after["status"] == "applied"
    assert decided.user_id == reviewer.id


def test_restricted_and_withdrawn_sets_suspend_and_refuse(client, db, settings, factory):
    consumer, reviewer = _set_up(client, db, factory, "http://127.0.0.1:9/unused")
    key_id, private = _key(client, consumer)
    get = _querier(client, key_id, private)
    data_set = db.scalar(select(DataSet).where(DataSet.code == "staff"))
    _staff(client, db, settings, factory, 1)  # one delivery waiting
    officer = _officer(client, factory)
    assert _ask(client, data_set, kind="regrade", grade="restricted", reason="涉密").status_code
    _as(client, reviewer)
    assert _decide(client, _latest(db), "approve").status_code == 303
    assert _latest(db).effects == {"suspended": 1}
    assert db.scalar(select(Subscription.status)) == "suspended"
    assert sharing.deliver_due(db, settings) == (0, 0)  # held, not sent
    client.cookies.clear()
    _problem(get(), 403, "/problems/sharing-restricted")
    # a looser grade leaves the suspended subscriptions as they are
    _as(client, officer)
    assert _ask(client, data_set, kind="regrade", grade="public", reason="解密").status_code
    _as(client, reviewer)
    assert _decide(client, _latest(db), "approve").status_code == 303
    assert _latest(db).effects == {}
    assert db.scalar(select(Subscription.status)) == "suspended"
    client.cookies.clear()
    body = _problem(get(), 403, "/problems/sharing-pending")
    assert "中止" in body["detail"]
    # withdrawn: out of the catalogue, every way in refused with a clear Chinese problem
    _as(client, officer)
    assert _ask(client, data_set, kind="withdraw", reason="数据来源停用").status_code == 303
    _as(client, reviewer)
    assert _decide(client, _latest(db), "approve").status_code == 303
    db.expire_all()
    assert db.get(DataSet, data_set.id).status == "withdrawn"
    client.cookies.clear()
    for answer in (
        get(),
        get(f"{BASE}/staff/package?received_from=2026-01-01&received_to=2026-01-02"),
    ):
        body = _problem(answer, 410, "/problems/sharing-withdrawn")
        assert "检测人员" in body["detail"]
        assert "撤销" in body["detail"]
    apply_for = _docs("apply_for")["apply_for"]
    with pytest.raises(httpx2.HTTPStatusError) as refused:
        apply_for(client, PLATFORM, key_id, private, "staff", "保函审核")
    _problem(refused.value.response, 410, "/problems/sharing-withdrawn")
    catalogue = get(BASE).json()
    assert catalogue["items"] == []
    _closed_on_the_pages(client, db, reviewer, consumer, data_set)


def _closed_on_the_pages(client, db, reviewer, consumer, data_set) -> None:
    """A withdrawn set is not subscribed, published or changed again; its page says so."""
    _as(client, reviewer)
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    again = _post(
        client,
        f"/governance/sharing/consumers/{consumer.id}/subscriptions",
        csrf,
        data_set_id=str(data_set.id),
    )
    assert again.status_code == 422
    assert "已撤销" in again.text
    publish = _post(client, f"/governance/sharing/data-sets/{data_set.id}/publish", csrf)
    assert publish.status_code == 409
    assert _ask(client, data_set, kind="edit", name="x", reason="y").status_code == 409
    page = client.get(f"/governance/sharing/data-sets/{data_set.id}", headers=HTML)
    assert 'data-testid="change-edit"' not in page.text
    assert "已撤销" in page.text
    assert "中止 1 个订阅" in page.text
    assert db.scalar(select(func.count()).select_from(Delivery)) == 1  # kept, not sent


def test_an_edit_is_applied_and_bad_changes_are_refused(client, db, settings, factory):
    consumer, reviewer = _set_up(client, db, factory, "")
    key_id, private = _key(client, consumer)
    get = _querier(client, key_id, private)
    data_set = db.scalar(select(DataSet).where(DataSet.code == "staff"))
    officer = _officer(client, factory)
    same = {"name": data_set.name, "category": data_set.category, "description": ""}
    for form, field in (
        ({"kind": "rename", "reason": "x"}, "kind"),
        ({"kind": "regrade", "grade": "public"}, "reason"),
        ({"kind": "regrade", "grade": "public", "reason": "x"}, "grade"),
        ({"kind": "regrade", "grade": "secret", "reason": "x"}, "grade"),
        ({"kind": "edit", "reason": "x", **same}, "description"),
        ({"kind": "edit", "reason": "x", **same, "name": ""}, "name"),
        ({"kind": "edit", "reason": "x", **same, "description": "长" * 2001}, "description"),
        ({"kind": "withdraw", "reason": "a\x00b"}, "reason"),
        ({"kind": "edit", "reason": "x", **same, "name": "a\nb"}, "name"),
    ):
        csrf = page_csrf(client, f"/governance/sharing/data-sets/{data_set.id}")
        answer = client.post(
            f"/governance/sharing/data-sets/{data_set.id}/changes",
            data={"csrf_token": csrf, **form},
            headers={"accept": "application/json"},
        )
        body = _problem(answer, 422, "/problems/validation")
        assert field in [e["field"] for e in body["errors"]], (form, body)
        assert all(re.search(r"[\u4e00-\u9fff]", e["message"]) for e in body["errors"]), body
    assert db.scalar(select(func.count()).select_from(DataSetChange)) == 0
    asked = _ask(
        client,
        data_set,
        kind="edit",
        reason="说明用途",
        **{**same, "description": "在岗检测人员，身份证号与手机号脱敏"},
    )
    assert asked.status_code == 303
    change = _latest(db)
    assert change.before == {"description": ""}
    assert change.after == {"description": "在岗检测人员，身份证号与手机号脱敏"}
    # a lab user may not ask or decide; a missing set or change is 404
    lab = factory.user(Role.INSTITUTION_ADMIN, institution=factory.institution())
    _as(client, lab)
    csrf = page_csrf(client, "/")
    assert (
        _post(client, f"/governance/sharing/data-sets/{data_set.id}/changes", csrf).status_code
        == 403
    )
    assert (
        _post(client, f"/governance/sharing/changes/{change.id}/decision", csrf).status_code == 403
    )
    _as(client, reviewer)
    csrf = page_csrf(client, "/governance/sharing")
    assert _post(client, "/governance/sharing/data-sets/987654/changes", csrf).status_code == 404
    missing = "/governance/sharing/changes/987654/decision"
    assert _post(client, missing, csrf, decision="approve").status_code == 404
    assert client.get("/governance/sharing/data-sets/987654", headers=HTML).status_code == 404
    # refused without a reason: 422; with one, the set stays as it was
    assert _decide(client, change, "reject").status_code == 422
    assert _decide(client, change, "reject", "说明不够具体").status_code == 303
    assert db.get(DataSet, data_set.id).description == ""
    assert _decide(client, change, "approve").status_code == 409  # decided already
    _as(client, officer)
    description = "在岗检测人员名册，身份证号与手机号脱敏"
    asked = _ask(
        client, data_set, kind="edit", reason="说明用途", **{**same, "description": description}
    )
    assert asked.status_code == 303
    _as(client, reviewer)
    assert _decide(client, _latest(db), "approve").status_code == 303
    db.expire_all()
    assert db.get(DataSet, data_set.id).description == description
    client.cookies.clear()
    catalogue = get(BASE).json()
    assert catalogue["items"][0]["description"] == description
    # a draft set cannot be changed (it is edited before publishing)
    draft = DataSet(code="draft_set", name="草稿", message_type="registry.staff", grade="public")
    db.add(draft)
    db.commit()
    _as(client, officer)
    answer = _ask(client, draft, kind="withdraw", reason="x")
    assert answer.status_code == 409


def test_the_change_list_filters_counts_and_exports(client, db, settings, factory):
    _consumer, reviewer = _set_up(client, db, factory, "")
    data_set = db.scalar(select(DataSet).where(DataSet.code == "staff"))
    _officer(client, factory)
    assert _ask(client, data_set, kind="regrade", grade="conditional", reason="甲").status_code
    _as(client, reviewer)
    assert _decide(client, _latest(db), "reject", "暂不调整").status_code == 303
    _officer(client, factory)
    assert _ask(client, data_set, kind="withdraw", reason="乙").status_code == 303
    _as(client, reviewer)
    page = client.get("/governance/sharing/changes", headers=HTML)
    assert page.status_code == 200
    assert "共 2 条" in page.text
    assert "调整共享级别" in page.text
    assert "共享级别：有条件共享" in page.text
    assert not re.search(r">\s*(regrade|withdraw|pending|conditional)\s*<", page.text)
    shown = client.get("/governance/sharing/changes?kind=withdraw", headers=HTML)
    assert "共 1 条" in shown.text
    assert "共享级别：有条件共享" not in shown.text
    shown = client.get("/governance/sharing/changes?status=rejected", headers=HTML)
    assert "共 1 条" in shown.text
    assert "暂不调整" in shown.text
    shown = client.get(f"/governance/sharing/changes?data_set_id={data_set.id}", headers=HTML)
    assert "共 2 条" in shown.text
    rows = sheet(client.get("/governance/sharing/changes?format=xlsx&kind=regrade"))
    assert column(rows, "变更类别") == ["调整共享级别"]
    assert column(rows, "状态") == ["未批准"]
    assert column(rows, "变更后") == ["共享级别：有条件共享"]
    for order in ("asc", "desc"):
        assert (
            client.get(f"/governance/sharing/changes?sort=created_at&order={order}").status_code
            == 200
        )
    assert client.get("/governance/sharing/changes?sort=reason").status_code == 400
    assert client.get("/governance/sharing/changes?kind=x").status_code in (400, 422)
    assert client.get("/governance/sharing/changes?status=%00").status_code in (400, 422)
    # the catalogue filters by status, links each set to its page
    listed = client.get("/governance/sharing?status=published", headers=HTML)
    assert f'href="/governance/sharing/data-sets/{data_set.id}"' in listed.text
    assert "共 1 条" in listed.text
    assert "共 0 条" in client.get("/governance/sharing?status=withdrawn", headers=HTML).text
    rows = sheet(client.get("/governance/sharing?format=xlsx"))
    assert column(rows, "状态") == ["已发布"]
    # a city officer reads the list; it has no forms for it
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    _as(client, city)
    assert client.get("/governance/sharing/changes", headers=HTML).status_code == 200
    page = client.get(f"/governance/sharing/data-sets/{data_set.id}", headers=HTML)
    assert 'data-testid="change-decision"' not in page.text
