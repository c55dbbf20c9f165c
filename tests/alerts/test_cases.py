"""Handling an alert (issue 9, workflow): a station confirms it and orders rectification, the
institution answers with evidence, the station closes it; dismissals need a reason; overdue
cases go a level up once a day; every step is audited and notarised; nobody acts outside
their role or sees another institution's case."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from jcjg.alerts import cases
from jcjg.alerts.choices import CaseAction, CaseStatus
from jcjg.alerts.models import Alert, Case, CaseEvent
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.jobs import registered, run_job
from jcjg.core.workdays import beijing_date, beijing_midnight
from jcjg.ledger.models import LedgerLeaf
from jcjg.tenancy.models import Institution
from tests.factories import login, page_csrf

HTML = {"accept": "text/html"}
PDF = b"%PDF-1.7\n% rectification report\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def alert(db, factory) -> Alert:
    row = factory.alert(factory.institution(region_code="360403", name="九江督办测试检测站"))
    db.commit()
    return row


def _user(factory, role: Role, **scope):
    return factory.user(role, **scope).username


def _post(client, alert: Alert, **fields):
    files = fields.pop("files", None)
    data = {"csrf_token": page_csrf(client, f"/alerts/{alert.id}"), **fields}
    return client.post(f"/alerts/{alert.id}/case", data=data, files=files, headers=HTML,
                       follow_redirects=False)  # fmt: skip


def _status(db, alert: Alert) -> str:
    db.expire_all()
    case = db.scalars(select(Case).where(Case.alert_id == alert.id)).first()
    return case.status if case else "new"


def test_confirm_order_answer_close(browser_client, db, factory, alert, settings):
    lab_id = alert.institution_id
    station = _user(factory, Role.STATION, region_code="360400")
    staff = _user(factory, Role.INSTITUTION_STAFF, institution=db.get(Institution, lab_id))
    leaves = db.scalar(select(func.count()).select_from(LedgerLeaf))
    login(browser_client, station)
    _station_confirms_and_orders(browser_client, db, alert)
    browser_client.cookies.clear()

    login(browser_client, staff)
    event = _lab_answers_with_evidence(browser_client, db, alert)
    browser_client.cookies.clear()
    other = factory.institution(region_code="360403")
    login(browser_client, _user(factory, Role.INSTITUTION_STAFF, institution=other))
    evidence_url = f"/alerts/{alert.id}/case/evidence/{event.evidence[0]['sha256']}"
    assert browser_client.get(evidence_url).status_code == 404  # another lab's case
    browser_client.cookies.clear()

    login(browser_client, station)
    closed = _post(browser_client, alert, action="close", note="复核通过")
    assert closed.status_code == 303
    assert closed.headers["location"] == f"/alerts/{alert.id}?done=close#case"
    assert _status(db, alert) == "closed"
    page = browser_client.get(f"/alerts/{alert.id}?done=close", headers=HTML).text
    assert "已办结。" in page.split('data-testid="case-done"')[1].split("</p>")[0]
    history = page.split('data-testid="case-history"', 1)[1].split("</ol>", 1)[0]
    assert [a.value for a in (CaseAction.CONFIRM, CaseAction.REQUIRE, CaseAction.RECTIFY,
                              CaseAction.CLOSE)] == [
        part.split('"', 1)[0] for part in history.split('data-action="')[1:]
    ]  # fmt: skip
    assert "检定证书.pdf" in history
    assert "存证第" in history
    unknown = browser_client.get(f"/alerts/{alert.id}?done=nonsense", headers=HTML).text
    assert 'data-testid="case-done"' not in unknown
    _every_step_notarised_and_audited(db, alert, leaves)


def _station_confirms_and_orders(client, db, alert: Alert) -> None:
    page = client.get(f"/alerts/{alert.id}", headers=HTML).text
    assert 'data-status="new"' in page
    assert 'value="confirm"' in page
    assert 'value="rectify"' not in page  # the institution's step
    assert 'data-testid="case-done"' not in page
    assert _post(client, alert, action="confirm", note="已核实").status_code == 303
    assert _status(db, alert) == "confirmed"
    deadline = (beijing_date(utcnow()) + dt.timedelta(days=10)).isoformat()
    ordered = _post(client, alert, action="require", deadline=deadline,
                    responsible="九江督办测试检测站", note="送检定并停用该设备")  # fmt: skip
    assert ordered.status_code == 303
    assert _status(db, alert) == "rectifying"


def _lab_answers_with_evidence(client, db, alert: Alert) -> CaseEvent:
    """The institution's answer with two files; the files are served to it, and no other."""
    page = client.get(f"/alerts/{alert.id}", headers=HTML).text
    assert 'value="rectify"' in page
    assert 'value="close"' not in page
    answered = _post(client, alert, action="rectify", note="已送检并取得新的检定证书",
                     files=[("evidence", ("检定证书.pdf", PDF, "application/pdf")),
                            ("evidence", ("设备照片.png", PNG, "image/png"))])  # fmt: skip
    assert answered.status_code == 303, answered.text
    assert _status(db, alert) == "rectified"
    (event,) = db.scalars(select(CaseEvent).where(CaseEvent.action == "rectify")).all()
    assert [e["name"] for e in event.evidence] == ["检定证书.pdf", "设备照片.png"]
    pdf = client.get(f"/alerts/{alert.id}/case/evidence/{event.evidence[0]['sha256']}")
    assert pdf.status_code == 200
    assert pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["x-content-type-options"] == "nosniff"
    # a file the case never had is not served, whatever is in the blob store
    assert client.get(f"/alerts/{alert.id}/case/evidence/{'0' * 64}").status_code == 404
    return event


def _every_step_notarised_and_audited(db, alert: Alert, leaves: int) -> None:
    db.expire_all()
    case = db.scalars(select(Case).where(Case.alert_id == alert.id)).one()
    types = list(db.scalars(select(LedgerLeaf.entry_type).order_by(LedgerLeaf.leaf_index)))
    assert types[leaves:] == ["case:confirm", "case:require", "case:rectify", "case:close"]
    audited = db.scalars(
        select(AuditLog).where(AuditLog.object_type == "alert_case",
                               AuditLog.object_id == str(case.id)).order_by(AuditLog.id)
    ).all()  # fmt: skip
    assert [a.after["status"] for a in audited] == [
        "confirmed",
        "rectifying",
        "rectified",
        "closed",
    ]
    assert case.closed_at is not None


def test_bad_steps_are_refused_and_leave_nothing(browser_client, db, factory, alert):
    login(browser_client, _user(factory, Role.STATION, region_code="360400"))
    refused = _post(browser_client, alert, action="dismiss", note="  ")
    assert refused.status_code == 422
    assert "请写明理由" in refused.text
    yesterday = (beijing_date(utcnow()) - dt.timedelta(days=1)).isoformat()
    late = _post(browser_client, alert, action="require", deadline=yesterday, responsible="某")
    assert late.status_code == 422
    assert "整改期限应晚于今天" in late.text
    garbled = _post(browser_client, alert, action="require", deadline="明天", responsible="某")
    assert garbled.status_code == 422
    assert "整改期限应为日期" in garbled.text
    assert _post(browser_client, alert, action="fly").status_code in (400, 422)
    assert _post(browser_client, alert, action="close").status_code == 409  # not confirmed
    assert _post(browser_client, alert, action="rectify", note="x").status_code == 403
    assert db.scalar(select(func.count()).select_from(Case)) == 0
    assert db.scalar(select(func.count()).select_from(CaseEvent)) == 0
    deadline = (beijing_date(utcnow()) + dt.timedelta(days=5)).isoformat()
    stranger = _post(browser_client, alert, action="require", deadline=deadline,
                     responsible="检测站")  # fmt: skip
    assert stranger.status_code == 422
    assert "责任单位须为本预警的检测机构或工程参建单位" in stranger.text
    assert _post(browser_client, alert, action="require", deadline=deadline,
                 responsible="九江督办测试检测站").status_code == 303  # fmt: skip
    browser_client.cookies.clear()
    lab = db.get(Institution, alert.institution_id)
    login(browser_client, _user(factory, Role.INSTITUTION_STAFF, institution=lab))
    assert _post(browser_client, alert, action="confirm").status_code == 403
    no_files = _post(browser_client, alert, action="rectify", note="已整改")
    assert no_files.status_code == 422
    assert "请上传整改证明材料" in no_files.text
    wrong = _post(browser_client, alert, action="rectify", note="已整改",
                  files=[("evidence", ("a.txt", b"just text", "text/plain"))])  # fmt: skip
    assert wrong.status_code == 422
    assert "不是 PDF、JPEG 或 PNG" in wrong.text
    assert _status(db, alert) == "rectifying"
    assert db.scalar(select(func.count()).select_from(CaseEvent)) == 1


def test_other_institutions_and_roles_see_nothing(browser_client, db, factory, alert):
    other = factory.institution(region_code="360403")
    login(browser_client, _user(factory, Role.INSTITUTION_STAFF, institution=other))
    assert browser_client.get(f"/alerts/{alert.id}", headers=HTML).status_code == 404
    assert _post_raw(browser_client, alert, action="rectify").status_code == 404
    browser_client.cookies.clear()
    login(browser_client, _user(factory, Role.WITNESS))
    assert browser_client.get(f"/alerts/{alert.id}", headers=HTML).status_code == 403
    browser_client.cookies.clear()
    login(browser_client, _user(factory, Role.STATION, region_code="360100"))  # another city
    assert browser_client.get(f"/alerts/{alert.id}", headers=HTML).status_code == 404


def _post_raw(client, alert: Alert, **fields):
    data = {"csrf_token": page_csrf(client, "/"), **fields}
    return client.post(f"/alerts/{alert.id}/case", data=data, headers=HTML,
                       follow_redirects=False)  # fmt: skip


def _order(db, factory, alert: Alert, deadline: dt.date, now: dt.datetime) -> Case:
    from jcjg.auth.sessions import principal_for

    station = factory.user(Role.STATION, region_code="360400")
    principal = principal_for(db=db, user=station, settings=factory.settings)
    return cases.act(db=db, settings=factory.settings, principal=principal, alert=alert,
                     action=CaseAction.REQUIRE, now=now, deadline=deadline,
                     responsible=cases.responsible_choices(db, alert)[0])  # fmt: skip


def test_overdue_cases_go_up_a_level_once_a_day(db, factory, alert, session_factory):
    # noon in Beijing: an hour later is still the same Beijing day (the once-a-day check
    # below would otherwise see a new day when the suite runs between 23:00 and 24:00 there)
    today = beijing_date(utcnow())
    now = beijing_midnight(today) + dt.timedelta(hours=12)
    case = _order(db, factory, alert, today + dt.timedelta(days=2), now)
    db.commit()
    assert cases.escalate_overdue(db, now) == []  # not yet due
    late = now + dt.timedelta(days=3)
    assert cases.escalate_overdue(db, late) == [case]
    assert (case.escalated_to, case.escalation_level) == ("360400", 1)
    assert cases.escalate_overdue(db, late + dt.timedelta(hours=1)) == []  # once a day
    assert cases.escalate_overdue(db, late + dt.timedelta(days=1)) == [case]
    assert (case.escalated_to, case.escalation_level) == ("360000", 2)
    assert cases.escalate_overdue(db, late + dt.timedelta(days=2)) == []  # the top
    db.commit()
    events = db.scalars(select(CaseEvent).where(CaseEvent.action == "escalate")).all()
    assert len(events) == 2
    assert all(e.actor_name == "平台" and e.ledger_index is not None for e in events)
    assert "已过" in events[0].note
    assert case.status == CaseStatus.RECTIFYING.value


def test_the_escalation_job(db, factory, alert, session_factory):
    import jcjg.alerts.jobs  # noqa: F401  (registers the job)

    now = utcnow()
    case = _order(db, factory, alert, beijing_date(now) + dt.timedelta(days=1), now)
    case.deadline = beijing_date(now) - dt.timedelta(days=1)  # lapsed
    db.commit()
    run = run_job(session_factory, registered()["alerts.escalate"])
    assert run.status == "succeeded", run.log
    db.expire_all()
    assert db.get(Case, case.id).escalated_to == "360400"


@pytest.mark.parametrize(
    ("code", "up"),
    [("360403", "360400"), ("360400", "360000"), ("360000", None), (None, None), ("369999", None)],
)
def test_parent_region(db, code, up):
    """From the region table (which knows when a county has no city above it)."""
    assert cases.parent_region(db, code) == up


def test_the_list_filters_by_handling(browser_client, db, factory, alert):
    now = utcnow()
    lab = db.get(Institution, alert.institution_id)
    second = factory.alert(lab, "万能试验机 WAW-600", severity="warning")
    case = _order(db, factory, alert, beijing_date(now) + dt.timedelta(days=1), now)
    case.deadline = beijing_date(now) - dt.timedelta(days=2)  # lapsed
    cases.escalate_overdue(db, now)
    db.commit()
    login(browser_client, _user(factory, Role.STATION, region_code="360400"))

    def listed(handling: str) -> set[str]:
        page = browser_client.get(f"/alerts?handling={handling}", headers=HTML)
        assert page.status_code == 200
        rows = page.text.split('data-testid="alerts-table"', 1)[1]
        return {s for s in ("压力试验机", "万能试验机") if s in rows}

    assert listed("") == {"压力试验机", "万能试验机"}
    assert listed("new") == {"万能试验机"}
    assert listed("rectifying") == {"压力试验机"}
    assert listed("overdue") == {"压力试验机"}
    assert listed("escalated") == {"压力试验机"}
    assert listed("closed") == set()
    page = browser_client.get("/alerts", headers=HTML).text
    assert "已升级督办" in page.split(f'data-testid="handling-{alert.id}"', 1)[1].split("</td>")[0]
    assert browser_client.get("/alerts?handling=bogus", headers=HTML).status_code == 400
    for handling, expected in (("new", [second.id]), ("overdue", [alert.id]), ("closed", [])):
        api = browser_client.get(f"/api/v1/alerts?handling={handling}")  # the same on the API
        assert [a["id"] for a in api.json()["items"]] == expected, handling
    assert browser_client.get("/api/v1/alerts?handling=bogus").status_code == 400


def test_bulk_confirm_and_dismiss_all_or_nothing(browser_client, db, factory, alert):
    lab = db.get(Institution, alert.institution_id)
    more = [factory.alert(lab, f"设备 {n}", severity="warning") for n in (2, 3)]
    outside = factory.alert(factory.institution(region_code="360102"), "南昌设备")
    db.commit()
    login(browser_client, _user(factory, Role.STATION, region_code="360400"))
    page = browser_client.get("/alerts", headers=HTML).text
    assert 'data-testid="bulk-form"' in page
    assert f'name="alert_id" value="{alert.id}" form="bulk"' in page
    token = page_csrf(browser_client, "/alerts")

    def bulk(ids, **fields):
        return browser_client.post("/alerts/bulk", headers=HTML, follow_redirects=False,
                                   data={"csrf_token": token, "alert_id": [str(i) for i in ids],
                                         **fields})  # fmt: skip

    # one out of scope: nothing written
    assert bulk([alert.id, outside.id], action="confirm").status_code == 404
    assert db.scalar(select(func.count()).select_from(Case)) == 0
    # a dismissal without its reason: nothing written
    assert bulk([alert.id, more[0].id], action="dismiss").status_code == 422
    assert bulk([], action="confirm").status_code == 422
    assert bulk([alert.id], action="close").status_code == 422  # not a bulk action
    assert db.scalar(select(func.count()).select_from(Case)) == 0
    done = bulk([alert.id, more[0].id], action="confirm", note="批量核实")
    assert done.status_code == 303
    assert [_status(db, a) for a in (alert, more[0], more[1])] == ["confirmed", "confirmed", "new"]
    # one already confirmed cannot be confirmed again: none of the two is
    assert bulk([more[1].id, alert.id], action="confirm").status_code == 409
    assert _status(db, more[1]) == "new"
    assert bulk([more[1].id], action="dismiss", note="重复登记的设备").status_code == 303
    assert _status(db, more[1]) == "dismissed"
    browser_client.cookies.clear()
    lab = db.get(Institution, alert.institution_id)
    login(browser_client, _user(factory, Role.INSTITUTION_STAFF, institution=lab))
    assert 'data-testid="bulk-form"' not in browser_client.get("/alerts", headers=HTML).text
    token = page_csrf(browser_client, "/alerts")
    assert bulk([more[0].id], action="dismiss", note="x").status_code == 403


def test_no_step_is_chosen_for_the_handler(browser_client, db, factory, alert):
    """Issue 48 item 3: the page preselects no step (not even on a confirmed alert, where the
    first would be 排除); a step sent without one is answered on the page and changes nothing;
    each field says which steps it is for, and 责令整改 is told apart from 整改通知."""
    login(browser_client, _user(factory, Role.STATION, region_code="360400"))
    page = browser_client.get(f"/alerts/{alert.id}").text
    assert 'name="action" value="confirm" required>' in page
    assert " checked" not in page.split('data-testid="case-form"')[1].split("</form>")[0]
    assert 'data-shown-for="require"' in page  # 整改责任单位
    assert 'data-testid="require-or-order"' in page
    assert "下达整改通知" in page
    missing = _post(browser_client, alert, note="未选择操作")
    assert missing.status_code == 422
    assert "请选择处理操作" in missing.text
    assert _status(db, alert) == "new"
    assert _post(browser_client, alert, action="confirm").status_code == 303
    confirmed = browser_client.get(f"/alerts/{alert.id}").text
    form = confirmed.split('data-testid="case-form"')[1].split("</form>")[0]
    assert 'value="dismiss"' in form
    assert " checked" not in form
    assert 'data-shown-for="rectify"' not in form  # the station does not answer for the lab
    unknown = _post(browser_client, alert, action="approve")
    assert unknown.status_code == 422
    assert _status(db, alert) == "confirmed"


def test_the_responsible_party_is_picked_from_the_registry_and_the_project(
    browser_client, db, factory
):
    """整改责任单位 is one of the alert's institution (its registered name) and the project's
    parties, offered as a choice; another name is refused."""
    lab = factory.institution(region_code="360403", name="九江责任测试检测站")
    project = factory.project(region_code="360403", owner_unit="九江某房地产开发有限公司")
    row = factory.alert(
        lab, project_id=project.id, facts={"上传": "2026-11-02T15:40:56.829765+00:00"}
    )
    db.commit()
    assert cases.responsible_choices(db, row) == [
        "九江责任测试检测站", "九江某房地产开发有限公司", "测试施工单位", "测试监理单位",
    ]  # fmt: skip
    login(browser_client, _user(factory, Role.STATION, region_code="360400"))
    assert _post(browser_client, row, action="confirm", note="已核实").status_code == 303
    page = browser_client.get(f"/alerts/{row.id}", headers=HTML).text
    assert "2026-11-02 23:40:56" in page  # a fact's time in Beijing time, as people read it
    assert "+00:00" not in page
    picker = page.split('data-testid="responsible"')[1].split("</select>")[0]
    assert '<option value="九江责任测试检测站" selected>' in picker
    assert '<option value="测试施工单位">' in picker
    deadline = (beijing_date(utcnow()) + dt.timedelta(days=5)).isoformat()
    ordered = _post(browser_client, row, action="require", deadline=deadline,
                    responsible="测试施工单位", note="施工单位补做试块")  # fmt: skip
    assert ordered.status_code == 303
    db.expire_all()
    assert db.scalars(select(Case).where(Case.alert_id == row.id)).one().responsible == (
        "测试施工单位"
    )


def test_an_alert_of_no_institution_or_project_takes_its_responsible_party_written_out(
    browser_client, db, factory
):
    """An alert on a child platform or on the platform's operation has no registered party to
    choose: the handler writes it out."""
    row = factory.alert(factory.institution(region_code="360403"), institution_id=None,
                        region_code="360400")  # fmt: skip
    db.commit()
    assert cases.responsible_choices(db, row) == []
    login(browser_client, _user(factory, Role.STATION, region_code="360400"))
    assert _post(browser_client, row, action="confirm", note="已核实").status_code == 303
    page = browser_client.get(f"/alerts/{row.id}", headers=HTML).text
    assert '<input name="responsible"' in page
    deadline = (beijing_date(utcnow()) + dt.timedelta(days=5)).isoformat()
    ordered = _post(browser_client, row, action="require", deadline=deadline,
                    responsible="九江市数据中心运维组", note="恢复转发")  # fmt: skip
    assert ordered.status_code == 303
