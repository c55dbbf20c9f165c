"""Rectification orders (002 articles 17-18): a station orders an institution to rectify,
citing an alert and a nonconformity, from the alert's page; the institution answers with
evidence; the station returns the answer, closes the order and publishes it; every step is
notarised, audited and told to the other side; refused steps write nothing; the public list
shows only published orders and nothing personal, without login."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING, beijing_date
from jcjg.ledger.models import LedgerLeaf
from jcjg.notify.models import Notification
from jcjg.rectification.models import RectificationEvent, RectificationOrder
from tests.factories import login, page_csrf
from tests.rectification.conftest import World

HTML = {"accept": "text/html"}
PDF = b"%PDF-1.7\n% rectification answer\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def _in(days: int) -> str:
    return (beijing_date(utcnow()) + dt.timedelta(days=days)).isoformat()


def _issue(client, world: World, **fields):
    data = {
        "csrf_token": page_csrf(client, "/rectification-orders"),
        "institution_id": str(world.lab.id),
        "grounds": ["not_uploaded", "report_mismatch"],
        "findings": "2026 年 10 月有 12 份报告未按时上传，其中 2 份与上传信息不符。",
        "requirement": "补传全部报告，核对并说明不符原因，完善上传制度。",
        "deadline": _in(15),
        "alert_ids": [str(world.alert.id)],
        "nonconformity_ids": [str(world.nonconformity.id)],
    } | fields
    return client.post("/rectification-orders/new", data=data, headers=HTML,
                       follow_redirects=False)  # fmt: skip


def _step(client, order_id: int, **fields):
    files = fields.pop("files", None)
    data = {"csrf_token": page_csrf(client, "/rectification-orders"), **fields}
    return client.post(f"/rectification-orders/{order_id}", data=data, files=files,
                       headers=HTML, follow_redirects=False)  # fmt: skip


def _answer(client, order_id: int, note: str, name: str = "a.pdf"):
    return _step(client, order_id, action="answer", note=note,
                 files=[("evidence", (name, PDF, "application/pdf"))])  # fmt: skip


def _status(client, url: str) -> int:
    return client.get(url, headers=HTML).status_code


def _as(client, user) -> None:
    client.cookies.clear()
    login(client, user.username)


def _order(db) -> RectificationOrder:
    db.expire_all()
    return db.scalars(select(RectificationOrder).order_by(RectificationOrder.id.desc())).first()


def _count(db, model) -> int:
    stmt = select(func.count()).select_from(model)
    if model is AuditLog:  # logins and denials are audited too: only the orders' rows
        stmt = stmt.where(AuditLog.object_type == "rectification_order")
    return int(db.scalar(stmt) or 0)


def _told(db, user) -> list[Notification]:
    return list(db.scalars(select(Notification).where(Notification.user_id == user.id)
                           .order_by(Notification.id)))  # fmt: skip


def test_issue_answer_return_close_publish(browser_client, db, world):
    leaves = _count(db, LedgerLeaf)
    _as(browser_client, world.station)
    order = _station_issues_from_the_alert(browser_client, db, world)
    _as(browser_client, world.staff)
    sha = _institution_answers(browser_client, db, world, order.id)

    _as(browser_client, world.station)
    assert browser_client.get(f"/rectification-orders/{order.id}/evidence/{sha}").status_code == 200
    returned = _step(browser_client, order.id, action="return", note="未说明不符原因",
                     deadline=_in(20))  # fmt: skip
    assert returned.status_code == 303
    order = _order(db)
    assert (order.status, order.deadline.isoformat()) == ("issued", _in(20))
    assert _told(db, world.staff)[-1].title.startswith("整改答复被退回")

    _as(browser_client, world.staff)
    again = _step(browser_client, order.id, action="answer", note="补充说明：系统时钟错误所致",
                  files=[("evidence", ("说明.pdf", PDF + b"2", "application/pdf"))])  # fmt: skip
    assert again.status_code == 303

    _as(browser_client, world.station)
    assert _step(browser_client, order.id, action="close", note="复核通过").status_code == 303
    assert _step(browser_client, order.id, action="publish", note="已整改到位").status_code == 303
    order = _order(db)
    assert (order.status, order.is_public) == ("closed", True)
    assert order.closed_at is not None
    assert order.published_at is not None
    page = browser_client.get(f"/rectification-orders/{order.id}", headers=HTML).text
    history = page.split('data-testid="order-history"', 1)[1].split("</ol>", 1)[0]
    steps = re.findall(r'data-action="(\w+)"', history)
    assert steps == ["issue", "answer", "return", "answer", "close", "publish"]
    assert "补传清单.pdf" in history  # the returned answer's files too
    assert "说明.pdf" in history
    assert "存证第" in history
    assert f'href="/public/rectification-orders/{order.number}"' in page
    _every_step_notarised_and_audited(db, order, steps, leaves)
    kinds = [n.title.split("：")[0] for n in _told(db, world.staff)]
    assert kinds == [
        "整改通知",
        "整改答复被退回，请重新整改",
        "整改通知已办结",
        "整改记录已在网站公布",
    ]


def _station_issues_from_the_alert(client, db, world: World) -> RectificationOrder:
    """The alert's page links the form, which cites the alert; the order is numbered in the
    station's region and told to the institution's staff, nobody else's."""
    alert_page = client.get(f"/alerts/{world.alert.id}", headers=HTML).text
    link = f"/rectification-orders/new?institution_id={world.lab.id}&alert_id={world.alert.id}"
    assert link in alert_page
    form = client.get(link, headers=HTML)
    assert form.status_code == 200
    assert world.lab.name in form.text
    assert f'name="alert_ids" value="{world.alert.id}" checked' in form.text
    assert f'name="nonconformity_ids" value="{world.nonconformity.id}"' in form.text
    assert "采取非法手段改变原始数据录入途径" in form.text  # the six grounds of article 17
    issued = _issue(client, world)
    assert issued.status_code == 303, issued.text
    order = _order(db)
    assert issued.headers["location"] == f"/rectification-orders/{order.id}?done=issue"
    year = utcnow().astimezone(BEIJING).year
    assert order.number == f"ZG360400{year}0001"
    assert (order.status, order.region_code, order.institution_id) == (
        "issued", "360400", world.lab.id,
    )  # fmt: skip
    assert order.grounds == ["not_uploaded", "report_mismatch"]
    assert order.alert_ids == [world.alert.id]
    assert order.nonconformity_ids == [world.nonconformity.id]
    assert order.issued_by == world.station.id
    (told,) = _told(db, world.staff)
    assert told.kind == "rectification"
    assert order.number in told.title
    assert told.link == f"/rectification-orders/{order.id}"
    assert f"整改期限 {order.deadline}" in told.body
    assert _told(db, world.other_staff) == []
    page = client.get(f"/rectification-orders/{order.id}", headers=HTML).text
    assert f'href="/alerts/{world.alert.id}"' in page
    assert f'href="/nonconformities/{world.nonconformity.id}"' in page
    assert "第十七条第（四）项" in page
    assert 'value="answer"' not in page  # the institution's step
    assert 'value="publish"' in page
    return order


def _institution_answers(client, db, world: World, order_id: int) -> str:
    """The answer with two files, told to the station and the city; the files served to the
    institution. Returns the first file's SHA-256."""
    page = client.get(f"/rectification-orders/{order_id}", headers=HTML).text
    assert 'value="answer"' in page
    assert 'value="close"' not in page
    answered = _step(client, order_id, action="answer", note="已补传 12 份报告并说明原因",
                     files=[("evidence", ("补传清单.pdf", PDF, "application/pdf")),
                            ("evidence", ("制度照片.png", PNG, "image/png"))])  # fmt: skip
    assert answered.status_code == 303, answered.text
    order = _order(db)
    assert order.status == "answered"
    assert [f["name"] for f in order.answer_evidence] == ["补传清单.pdf", "制度照片.png"]
    assert order.answered_by == world.staff.id
    assert [n.title.split("：")[0] for n in _told(db, world.station)] == ["整改答复待复核"]
    assert len(_told(db, world.city)) == 1  # the issuing region's authorities
    sha = order.answer_evidence[0]["sha256"]
    pdf = client.get(f"/rectification-orders/{order_id}/evidence/{sha}")
    assert (pdf.status_code, pdf.content) == (200, PDF)
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-content-type-options"] == "nosniff"
    assert _status(client, f"/rectification-orders/{order_id}/evidence/{'0' * 64}") == 404
    return sha


def _every_step_notarised_and_audited(db, order, steps: list[str], leaves: int) -> None:
    db.expire_all()
    types = list(db.scalars(select(LedgerLeaf.entry_type).order_by(LedgerLeaf.leaf_index)))
    assert types[leaves:] == [f"rectification_order:{s}" for s in steps]
    events = db.scalars(select(RectificationEvent).where(RectificationEvent.order_id == order.id)
                        .order_by(RectificationEvent.id)).all()  # fmt: skip
    assert all(e.ledger_index is not None for e in events)
    assert order.ledger_index == events[0].ledger_index
    audited = db.scalars(
        select(AuditLog).where(AuditLog.object_type == "rectification_order",
                               AuditLog.object_id == str(order.id)).order_by(AuditLog.id)
    ).all()  # fmt: skip
    assert [a.after["status"] for a in audited] == [
        "issued", "answered", "issued", "answered", "closed", "closed",
    ]  # fmt: skip
    assert [a.action for a in audited][:2] == ["create", "update"]
    assert audited[-1].after["is_public"] is True


def test_numbers_run_per_region_and_year(browser_client, db, world, factory):
    _as(browser_client, world.station)
    assert _issue(browser_client, world).status_code == 303
    assert _issue(browser_client, world, alert_ids=[], nonconformity_ids=[]).status_code == 303
    year = utcnow().astimezone(BEIJING).year
    assert _order(db).number == f"ZG360400{year}0002"
    _as(browser_client, factory.user(Role.STATION, region_code="360403"))  # the county's
    assert _issue(browser_client, world, alert_ids=[], nonconformity_ids=[]).status_code == 303
    assert _order(db).number == f"ZG360403{year}0001"
    assert _order(db).region_code == "360403"


def _nothing_written(db, before: dict) -> None:
    db.expire_all()
    now = {m: _count(db, m) for m in before}
    assert now == before


def test_refused_issues_write_nothing(browser_client, db, world, factory):
    counted = (RectificationOrder, RectificationEvent, LedgerLeaf, Notification, AuditLog)
    before = {m: _count(db, m) for m in counted}
    _as(browser_client, world.staff)
    assert browser_client.get("/rectification-orders/new", headers=HTML).status_code == 403
    assert _issue(browser_client, world).status_code == 403
    _as(browser_client, factory.user(Role.AUDITOR, region_code="360400"))
    assert browser_client.get("/rectification-orders", headers=HTML).status_code == 200
    assert _issue(browser_client, world).status_code == 403

    _as(browser_client, world.station)
    other, far = world.other_alert.id, world.far_alert.id  # another lab's; out of scope
    cases = [
        ({"grounds": []}, "请至少选择一项整改情形"),
        ({"grounds": ["not_uploaded", "bribery"]}, "整改情形不在可选的情形之内"),
        ({"findings": "  "}, "请写明查实的问题"),
        ({"requirement": ""}, "请写明整改要求"),
        ({"deadline": _in(-1)}, "整改期限应晚于今天"),
        ({"deadline": _in(0)}, "整改期限应晚于今天"),
        ({"deadline": ""}, "请给出整改期限"),
        ({"deadline": "下周五"}, "整改期限应为日期"),
        ({"deadline": _in(400)}, "整改期限不超过一年"),
        ({"alert_ids": [str(other)]}, f"预警 #{other} 不存在或不属于该检测机构"),
        ({"alert_ids": [str(far)]}, f"预警 #{far} 不存在或不属于该检测机构"),
        ({"alert_ids": ["99999999"]}, "预警 #99999999 不存在"),
        ({"alert_ids": ["abc"]}, "预警编号应为数字"),
        ({"alert_ids": ["9999999999"]}, "预警编号应为数字"),  # beyond an id column
        ({"alert_ids": ["1" * 30]}, "预警编号应为数字"),
        ({"nonconformity_ids": ["99999999"]}, "不合格结果 #99999999 不存在"),
        ({"institution_id": str(world.far_alert.institution_id)}, "请选择辖区内的检测机构"),
        ({"institution_id": ""}, "请选择辖区内的检测机构"),
    ]  # fmt: skip
    for fields, says in cases:
        refused = _issue(browser_client, world, **fields)
        assert refused.status_code == 422, (fields, refused.text[:300])
        assert says in refused.text, fields
        assert 'aria-invalid="true"' in refused.text
    # the re-rendered form keeps what was typed
    kept = _issue(browser_client, world, findings="")
    assert "补传全部报告" in kept.text
    assert 'value="report_mismatch" checked' in kept.text
    _nothing_written(db, before)
    # the form's prefill: an institution or an alert outside the station's scope is not found
    new = "/rectification-orders/new"
    assert _status(browser_client, f"{new}?institution_id={world.far_alert.institution_id}") == 404
    assert _status(browser_client, f"{new}?alert_id={far}") == 404
    assert _status(browser_client, f"{new}?alert_id=x") == 400


def test_refused_steps_write_nothing(browser_client, db, world, factory):
    _as(browser_client, world.station)
    assert _issue(browser_client, world).status_code == 303
    order = _order(db)
    counted = (RectificationEvent, LedgerLeaf, Notification, AuditLog)
    before = {m: _count(db, m) for m in counted}

    # wrong state
    assert _step(browser_client, order.id, action="close").status_code == 409
    assert _step(browser_client, order.id, action="return", note="x",
                 deadline=_in(5)).status_code == 409  # fmt: skip
    assert _step(browser_client, order.id, action="unpublish", note="x").status_code == 409
    # wrong role: the station does not answer; the institution does not close or publish
    assert _step(browser_client, order.id, action="answer", note="x").status_code == 403
    assert _step(browser_client, order.id, action="fly").status_code == 422
    _as(browser_client, world.staff)
    for action in ("close", "publish", "return"):
        assert _step(browser_client, order.id, action=action, note="x").status_code == 403
    # missing or wrong evidence and answer
    no_files = _step(browser_client, order.id, action="answer", note="已整改")
    assert no_files.status_code == 422
    assert "请上传整改证明材料" in no_files.text
    wrong = _step(browser_client, order.id, action="answer", note="已整改",
                  files=[("evidence", ("a.txt", b"just text", "text/plain"))])  # fmt: skip
    assert wrong.status_code == 422
    assert "不是 PDF、JPEG 或 PNG" in wrong.text
    no_note = _step(browser_client, order.id, action="answer", note=" ",
                    files=[("evidence", ("a.pdf", PDF, "application/pdf"))])  # fmt: skip
    assert no_note.status_code == 422
    assert "请写明整改情况" in no_note.text
    # another institution, another city: not found
    _as(browser_client, world.other_staff)
    assert browser_client.get(f"/rectification-orders/{order.id}", headers=HTML).status_code == 404
    assert _step(browser_client, order.id, action="answer", note="x").status_code == 404
    assert "/rectification-orders/" not in browser_client.get(
        "/rectification-orders", headers=HTML).text.split("<tbody>", 1)[1]  # fmt: skip
    _as(browser_client, factory.user(Role.STATION, region_code="360100"))
    assert browser_client.get(f"/rectification-orders/{order.id}", headers=HTML).status_code == 404
    assert _step(browser_client, order.id, action="close").status_code == 404
    _as(browser_client, factory.user(Role.WITNESS))
    assert browser_client.get(f"/rectification-orders/{order.id}", headers=HTML).status_code == 403
    _nothing_written(db, before)
    assert _order(db).status == "issued"

    # answered: a return needs a reason and a deadline after today
    _as(browser_client, world.staff)
    assert _answer(browser_client, order.id, "已整改").status_code == 303
    assert _answer(browser_client, order.id, "再答").status_code == 409
    _as(browser_client, world.station)
    before = {m: _count(db, m) for m in counted}
    no_reason = _step(browser_client, order.id, action="return", note="", deadline=_in(5))
    assert no_reason.status_code == 422
    assert "请写明理由" in no_reason.text
    late = _step(browser_client, order.id, action="return", note="不足", deadline=_in(-2))
    assert late.status_code == 422
    assert "整改期限应晚于今天" in late.text
    assert _step(browser_client, order.id, action="publish", files=[
        ("evidence", ("a.pdf", PDF, "application/pdf"))]).status_code == 422  # fmt: skip
    _nothing_written(db, before)
    assert _order(db).status == "answered"


def test_the_list_filters_and_pages(browser_client, db, world, factory):
    _as(browser_client, world.station)
    for _ in range(3):
        assert _issue(browser_client, world, alert_ids=[], nonconformity_ids=[]).status_code == 303
    other = _issue(browser_client, world, institution_id=str(world.other_lab.id), alert_ids=[],
                   nonconformity_ids=[])  # fmt: skip
    assert other.status_code == 303
    first = db.scalars(select(RectificationOrder).order_by(RectificationOrder.id)).first()
    first.deadline = beijing_date(utcnow()) - dt.timedelta(days=1)  # lapsed
    db.commit()

    def listed(query: str) -> int:
        page = browser_client.get(f"/rectification-orders?{query}", headers=HTML)
        assert page.status_code == 200
        table = page.text.split('data-testid="orders-table"', 1)[1].split("</table>", 1)[0]
        return table.count('href="/rectification-orders/')

    assert listed("") == 4
    assert listed(f"institution_id={world.other_lab.id}") == 1
    assert listed("status=issued") == 4
    assert listed("status=closed") == 0
    assert listed("status=overdue") == 1
    assert listed("limit=2") == 2
    assert "第 2 / 2 页" in browser_client.get("/rectification-orders?limit=2&offset=2",
                                               headers=HTML).text  # fmt: skip
    assert browser_client.get("/rectification-orders?status=bogus", headers=HTML).status_code == 400
    assert browser_client.get("/rectification-orders?institution_id=x",
                              headers=HTML).status_code == 400  # fmt: skip
    _as(browser_client, world.staff)  # the institution sees its own only
    assert listed("") == 3


def test_the_public_list_shows_published_orders_only(client, browser_client, db, world):
    _as(browser_client, world.station)
    assert _issue(browser_client, world).status_code == 303
    private = _order(db)
    assert _issue(browser_client, world, findings="公开的问题：报告与上传信息不符",
                  requirement="公开的整改要求").status_code == 303  # fmt: skip
    public = _order(db)
    _as(browser_client, world.staff)
    answered = _answer(browser_client, public.id, "已核对全部报告并重新上传", "机密附件.pdf")
    assert answered.status_code == 303
    _as(browser_client, world.station)
    assert _step(browser_client, public.id, action="publish").status_code == 422  # an account
    assert _step(browser_client, public.id, action="publish",
                 note="该机构已重新核对并上传全部报告").status_code == 303  # fmt: skip
    browser_client.cookies.clear()

    page = client.get("/public/rectification-orders", headers=HTML)  # nobody logged in
    assert page.status_code == 200
    text = page.text
    assert public.number in text
    assert private.number not in text
    assert world.lab.name in text
    assert "公开的问题：报告与上传信息不符" in text
    assert "公开的整改要求" in text
    # the regulation and each ground's article by the regulation's title, not its code
    assert "依据《建设工程质量检测管理办法》（住房和城乡建设部令第57号）第三十三条" in re.sub(
        r"<[^>]+>", "", text
    )
    assert "002 第十七条" not in text
    assert "检测报告与上传至监管平台的信息不相符" in text
    assert "该机构已重新核对并上传全部报告" in text  # the authority's public account
    assert "已核对全部报告并重新上传" not in text  # not the institution's own answer
    assert "已答复待复核" in text
    people = (world.station, world.staff)
    for secret in ("机密附件.pdf", "/evidence/", f"/rectification-orders/{public.id}",
                   f"/alerts/{world.alert.id}", *[p.display_name for p in people],
                   *[p.username for p in people]):  # fmt: skip
        assert secret not in text, secret
    one = client.get(f"/public/rectification-orders/{public.number}", headers=HTML)
    assert one.status_code == 200
    assert public.number in one.text
    assert client.get(f"/public/rectification-orders/{private.number}",
                      headers=HTML).status_code == 404  # fmt: skip
    assert _status(client, "/public/rectification-orders/ZG<script>") in (400, 404)

    _as(browser_client, world.station)
    assert _step(browser_client, public.id, action="unpublish").status_code == 422  # a reason
    assert _step(browser_client, public.id, action="unpublish",
                 note="机构申请更正").status_code == 303  # fmt: skip
    assert public.number not in client.get("/public/rectification-orders", headers=HTML).text
    assert client.get(f"/public/rectification-orders/{public.number}",
                      headers=HTML).status_code == 404  # fmt: skip


def test_cited_items_show_only_to_those_who_see_them(browser_client, db, factory, world):
    """A platform administrator cites the lab's nonconformity; a station whose test data grant
    was withdrawn reads the order and sees that it is cited, by number, but not what it is."""
    from jcjg.auth.models import RoleGrant
    from tests.rectification.conftest import make_nonconformity

    elsewhere = make_nonconformity(db, world.lab, "JL-NC-FAR")
    db.add(RoleGrant(role=Role.STATION.value, permission="test_record:read", granted=False))
    db.commit()
    _as(browser_client, factory.user(Role.PLATFORM_ADMIN))
    assert _issue(browser_client, world, alert_ids=[],
                  nonconformity_ids=[str(elsewhere.id)]).status_code == 303  # fmt: skip
    order = _order(db)
    page = browser_client.get(f"/rectification-orders/{order.id}", headers=HTML).text
    cited = page.split('data-testid="order-nonconformities"')[1].split("</dd>")[0]
    assert "混凝土立方体抗压强度" in cited  # the administrator sees everything
    _as(browser_client, world.station)
    page = browser_client.get(f"/rectification-orders/{order.id}", headers=HTML)
    assert page.status_code == 200
    cited = page.text.split('data-testid="order-nonconformities"')[1].split("</dd>")[0]
    assert f"不合格结果 #{elsewhere.id}" in cited
    assert "混凝土立方体抗压强度" not in cited


def test_an_order_unanswered_past_its_deadline_raises_an_alert(browser_client, db, world):
    """``rectification_order_overdue`` fires the day after the deadline while the order waits
    for its answer, and no longer once it is answered."""
    from jcjg.alerts.engine import run_rule
    from jcjg.alerts.models import Alert

    _as(browser_client, world.station)
    assert _issue(browser_client, world, deadline=_in(3)).status_code == 303
    order = _order(db)
    after = dt.datetime.combine(order.deadline + dt.timedelta(days=1), dt.time(12), BEIJING)

    def fired(now: dt.datetime) -> list[Alert]:
        run_rule(db, "rectification_order_overdue", now=now)
        db.commit()
        return db.scalars(select(Alert).where(Alert.rule_id == "rectification_order_overdue",
                                              Alert.status == "open")).all()  # fmt: skip

    on_the_day = dt.datetime.combine(order.deadline, dt.time(12), BEIJING)
    assert fired(on_the_day) == []
    [alert] = fired(after)
    assert (alert.subject_id, alert.institution_id) == (str(order.id), world.lab.id)
    assert alert.facts["number"] == order.number
    assert alert.facts["days_over"] == 1
    _as(browser_client, world.staff)
    assert _answer(browser_client, order.id, "已完成整改").status_code == 303
    assert fired(after) == []
