"""The alerts API and pages: scoped reading, filters, rules and thresholds per region."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from jcjg.alerts.engine import ON_WRITE_KEY, run_rule
from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from tests.factories import login, page_csrf

NOW = dt.datetime(2026, 6, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture
def world(db, factory, suspended):
    """A suspended institution in Jiujiang (九江, 360403) and one in Nanchang (南昌, 360102),
    each with its open alert, and a closed alert of an institution that recovered."""
    db.info[ON_WRITE_KEY] = False
    jj = factory.institution(region_code="360403", name="九江检测")
    nc = factory.institution(region_code="360102", name="南昌检测")
    ok = factory.institution(region_code="360403", name="已恢复的检测机构")
    for inst in (jj, nc, ok):
        inst.status = "suspended"
        inst.updated_at = NOW
    db.flush()
    run_rule(db, "test_suspended", now=NOW)
    ok.status = "active"
    db.flush()
    run_rule(db, "test_suspended", now=NOW + dt.timedelta(days=1))
    db.commit()
    alerts = {a.institution_id: a for a in db.scalars(select(Alert))}
    return {"jj": jj, "nc": nc, "ok": ok, "alerts": alerts}


def _get(client, factory, user, url, **params):
    headers = {"Authorization": f"Bearer {factory.token(user)}"}
    return client.get(url, params=params, headers=headers)


def _subjects(response):
    assert response.status_code == 200, response.text
    return sorted(item["subject_repr"] for item in response.json()["items"])


def test_each_account_sees_the_alerts_of_its_scope(client, factory, world):
    jj_admin = factory.user(Role.INSTITUTION_ADMIN, institution=world["jj"])
    nc_city = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    other_province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="440000")

    assert _subjects(_get(client, factory, jj_admin, "/api/v1/alerts")) == ["九江检测"]
    assert _subjects(_get(client, factory, nc_city, "/api/v1/alerts")) == ["南昌检测"]
    assert _subjects(_get(client, factory, province, "/api/v1/alerts")) == ["九江检测", "南昌检测"]
    assert _subjects(_get(client, factory, other_province, "/api/v1/alerts")) == []

    jj_alert = world["alerts"][world["jj"].id]
    assert _get(client, factory, nc_city, f"/api/v1/alerts/{jj_alert.id}").status_code == 404
    detail = _get(client, factory, jj_admin, f"/api/v1/alerts/{jj_alert.id}").json()
    assert detail["rule_title"] == "测试：检测机构被暂停"
    assert (detail["severity_label"], detail["status_label"]) == ("警告", "未处理")
    assert detail["facts"] == {"status": "suspended", "days": 1, "grace_days": 0}
    assert "key" not in detail
    anonymous = client.get("/api/v1/alerts")
    assert anonymous.status_code == 401
    assert client.get(f"/api/v1/alerts/{jj_alert.id}").status_code == 401


def test_alerts_can_be_filtered(client, factory, world):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    url = "/api/v1/alerts"
    assert _subjects(_get(client, factory, province, url, status="closed")) == ["已恢复的检测机构"]
    assert len(_subjects(_get(client, factory, province, url, status="all"))) == 3
    assert _subjects(_get(client, factory, province, url, region_code="360400")) == ["九江检测"]
    inst = world["nc"].id
    assert _subjects(_get(client, factory, province, url, institution_id=inst)) == ["南昌检测"]
    assert _subjects(_get(client, factory, province, url, rule_id="other_rule")) == []
    page = _get(client, factory, province, url, limit=1)
    assert (page.json()["total"], len(page.json()["items"])) == (2, 1)
    bad = _get(client, factory, province, url, region_code="36")
    assert bad.status_code == 400
    assert _get(client, factory, province, url, status="gone").status_code == 400


def test_alerts_filter_by_age_severity_and_project(client, browser_client, db, factory, world):
    """Age counts back from now to when the alert was first seen; the page and the API agree,
    and the links of the counts and the pager keep every filter."""
    from jcjg.core.db import utcnow

    jj, nc = world["alerts"][world["jj"].id], world["alerts"][world["nc"].id]
    project = factory.project(region_code="360403", name="九江学校工程")
    jj.first_seen_at = utcnow() - dt.timedelta(days=2)
    jj.project_id = project.id
    nc.first_seen_at = utcnow() - dt.timedelta(days=40)
    db.commit()
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    url = "/api/v1/alerts"
    expected = {
        "new1": [], "new7": ["九江检测"], "new30": ["九江检测"], "old7": ["南昌检测"],
        "old30": ["南昌检测"], "old90": [],
    }  # fmt: skip
    for age, subjects in expected.items():
        assert _subjects(_get(client, factory, province, url, age=age)) == subjects, age
    assert _subjects(_get(client, factory, province, url, project_id=project.id)) == ["九江检测"]
    assert len(_subjects(_get(client, factory, province, url, severity="warning"))) == 2
    assert _subjects(_get(client, factory, province, url, severity="critical")) == []
    too_big = {"project_id": 99999999999}  # beyond an id column: refused, not a database error
    for bad in ({"age": "old8"}, {"severity": "grave"}, {"project_id": "x"}, too_big):
        assert _get(client, factory, province, url, **bad).status_code == 400, bad

    login(browser_client, province.username)
    page = browser_client.get("/alerts?age=old7&severity=warning")
    table = page.text.split('data-testid="alerts-table"')[1]
    assert ("南昌检测" in table, "九江检测" in table) == (True, False)
    assert 'data-testid="rule-counts"' not in page.text  # the rules are at /alerts/rules
    export = page.text.split('data-testid="export-xlsx"')[0].rsplit("<a", 1)[1]
    assert "age=old7" in export
    assert "format=xlsx" in export
    assert '<option value="old7" selected>' in page.text
    by_project = browser_client.get(f"/alerts?project_id={project.id}")
    assert f'<option value="{project.id}" selected>九江学校工程</option>' in by_project.text
    table = by_project.text.split('data-testid="alerts-table"')[1]
    assert ("九江检测" in table, "南昌检测" in table) == (True, False)
    for typo in ("abc", "99999999999"):
        page = browser_client.get(f"/alerts?project_id={typo}")
        assert (page.status_code, "请选择工程项目" in page.text) == (200, True)
    assert browser_client.get("/alerts?age=forever").status_code == 400


def test_rules_list_their_thresholds_in_force_where_the_account_is(client, db, factory, suspended):
    db.add(RuleThreshold(rule_id="test_suspended", region_code="360000", key="grace_days", value=7))
    db.add(
        RuleThreshold(rule_id="test_suspended", region_code="360400", key="grace_days", value=14)
    )
    db.commit()
    jj_city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    nc_city = factory.user(Role.CITY_AUTHORITY, region_code="360100")

    [rule] = _get(client, factory, jj_city, "/api/v1/rules").json()
    assert (rule["id"], rule["clause"], rule["severity"]) == (
        "test_suspended",
        "000 4.1.3",
        "warning",
    )
    assert (rule["defaults"], rule["thresholds"]) == ({"grace_days": 0}, {"grace_days": 14})
    assert rule["labels"] == {"grace_days": "宽限天数"}
    assert [(o["region_code"], o["value"]) for o in rule["overrides"]] == [
        ("360000", 7),
        ("360400", 14),
    ]
    [rule] = _get(client, factory, nc_city, "/api/v1/rules").json()
    assert rule["thresholds"] == {"grace_days": 7}
    county = _get(client, factory, jj_city, "/api/v1/rules", region_code="360403").json()
    assert county[0]["thresholds"] == {"grace_days": 14}
    outside = _get(client, factory, nc_city, "/api/v1/rules", region_code="360403")
    assert outside.status_code == 404


def _put(client, factory, user, rule_id, region, body):
    headers = {"Authorization": f"Bearer {factory.token(user)}"}
    return client.put(f"/api/v1/rules/{rule_id}/thresholds/{region}", json=body, headers=headers)


def test_thresholds_are_set_per_region_audited_and_applied_at_once(client, db, factory, world):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    jj_alert = world["alerts"][world["jj"].id]

    response = _put(client, factory, province, "test_suspended", "360400", {"grace_days": 3650})

    assert response.status_code == 200, response.text
    assert response.json()["thresholds"] == {"grace_days": 3650}
    db.expire_all()
    assert db.get(Alert, jj_alert.id).status == "closed"  # re-checked with the new threshold
    assert db.get(Alert, world["alerts"][world["nc"].id].id).status == "open"  # not in 360400
    change = db.scalars(
        select(AuditLog).where(AuditLog.object_type == "rule_threshold").order_by(AuditLog.id)
    ).all()
    assert [(c.action, c.after["value"], c.region_code) for c in change] == [
        ("create", 3650.0, "360400")
    ]

    assert _put(client, factory, province, "test_suspended", "360400", {"grace_days": 3651}).json()[
        "thresholds"
    ] == {"grace_days": 3651}
    cleared = _put(client, factory, province, "test_suspended", "360400", {})
    assert cleared.json()["thresholds"] == {"grace_days": 0}
    assert cleared.json()["overrides"] == []
    assert db.scalars(select(RuleThreshold)).all() == []
    db.expire_all()
    reopened = db.scalars(
        select(Alert).where(Alert.institution_id == world["jj"].id, Alert.status == "open")
    ).one()
    assert reopened.id != jj_alert.id  # a new occurrence


BAD_THRESHOLDS = [
    ({"grace": 3}, "body.grace", "没有这个阈值项（可设：grace_days）"),
    ({"grace_days": "3"}, "body.grace_days", "应为数字"),
    ({"grace_days": True}, "body.grace_days", "应为数字"),
    ({"grace_days": None}, "body.grace_days", "应为数字"),
    ({"grace_days": 2.5}, "body.grace_days", "应为整数"),
    ({"grace_days": -1}, "body.grace_days", "不能为负数"),
    ([1, 2], "body", "应为 JSON 对象"),
]


def test_bad_thresholds_are_refused_field_by_field(client, db, factory, suspended):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    for body, field, message in BAD_THRESHOLDS:
        response = _put(client, factory, province, "test_suspended", "360400", body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert problem["type"] == "/problems/validation"
        errors = [{"field": e["field"], "message": e["message"]} for e in problem["errors"]]
        assert {"field": field, "message": message} in errors, body
    assert db.scalars(select(RuleThreshold)).all() == []


def test_thresholds_only_within_scope_and_with_the_permission(client, factory, suspended):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    body = {"grace_days": 3}
    assert _put(client, factory, province, "test_suspended", "440100", body).status_code == 404
    assert _put(client, factory, province, "test_suspended", "369999", body).status_code == 404
    assert _put(client, factory, province, "test_suspended", "abc", body).status_code == 404
    assert _put(client, factory, province, "no_such_rule", "360400", body).status_code == 404
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    refused = _put(client, factory, city, "test_suspended", "360400", body)
    assert (refused.status_code, refused.json()["type"]) == (403, "/problems/forbidden")
    lab = factory.user(Role.INSTITUTION_ADMIN)
    assert _put(client, factory, lab, "test_suspended", "360400", body).status_code == 403
    assert (
        client.put("/api/v1/rules/test_suspended/thresholds/360400", json=body).status_code == 401
    )


# --- pages -------------------------------------------------------------------------------------


def test_the_alerts_page_lists_counts_and_filters_within_scope(browser_client, factory, world):
    jj_city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, jj_city.username)
    page = browser_client.get("/alerts")
    assert page.status_code == 200
    table = page.text.split('data-testid="alerts-table"')[1]
    assert "九江检测" in table
    assert "南昌检测" not in page.text  # another city's
    assert "已恢复的检测机构" not in table  # closed
    assert "测试：检测机构被暂停" in page.text
    assert 'data-testid="rule-counts"' not in page.text  # the rules are at /alerts/rules
    assert 'href="/alerts/rules"' in page.text
    assert "江西省九江市浔阳区</td>" in table
    assert ">360403<" not in table
    assert '<option value="360403" >江西省九江市浔阳区</option>' in page.text  # the filter's menu
    assert 'value="360102"' not in page.text  # another city's region is not offered
    outside = browser_client.get("/alerts?region_code=360102")
    assert "不在当前账号的数据范围内" in outside.text.split('data-testid="region-filter"')[1]
    assert "九江检测" not in outside.text.split('data-testid="alerts-table"')[1]
    closed = browser_client.get("/alerts?status=closed&region_code=360403")
    assert "已恢复的检测机构" in closed.text
    assert "九江检测" not in closed.text.split('data-testid="alerts-table"')[1]
    typo = browser_client.get("/alerts?region_code=36x")
    assert typo.status_code == 200
    assert "行政区划代码应为 6 位数字" in typo.text

    alert = world["alerts"][world["jj"].id]
    detail = browser_client.get(f"/alerts/{alert.id}")
    assert detail.status_code == 200
    assert "宽限天数" in detail.text  # facts with the rule's Chinese labels
    assert (
        "依据《建设工程检测监管信息服务平台技术标准》（中国工程建设标准化协会，征求意见稿）4.1.3"
        in re.sub(r"<[^>]+>", "", detail.text)  # citations are links
    )
    assert "九江检测" in detail.text
    other = world["alerts"][world["nc"].id]
    assert browser_client.get(f"/alerts/{other.id}").status_code == 404


HX = {"HX-Request": "true"}


def test_the_alerts_page_answers_htmx_with_its_results_alone(browser_client, factory, world):
    """The filters and the pager ask with htmx for the results region only (and the filter
    form, out of band); a plain request, or htmx restoring a page of its history, gets the
    whole page. Both answer to the same filters."""
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    query = "/alerts?status=all&region_code=360403&limit=1"

    page = browser_client.get(query)
    assert page.status_code == 200
    assert page.text.lstrip().startswith("<!doctype html>")
    assert 'id="list-filters"' in page.text
    assert "hx-swap-oob" not in page.text
    assert "HX-Request" in page.headers["vary"]

    part = browser_client.get(query, headers=HX)
    assert part.status_code == 200
    assert "HX-Request" in part.headers["vary"]
    assert part.text.lstrip().startswith('<div id="list-results"')
    assert "<html" not in part.text
    assert "<nav" in part.text  # the pager, and nothing of the page around the list
    assert 'data-testid="logout"' not in part.text
    results = part.text.split('<form method="get" action="/alerts" id="list-filters"')[0]
    # the same filters: both alerts of 360403 (one open, one closed), one a page
    assert 'data-testid="alerts-table"' in results
    assert "第 1 / 2 页，共 2 条" in results
    assert "南昌检测" not in results
    full_results = page.text.split('id="list-results"')[1]
    assert results.count("<tr>") == full_results.count("<tr>")
    # the pager's next page keeps the filters and swaps the results again
    nxt = results.split(">下一页</a>")[0].rsplit("<a ", 1)[1]
    assert 'hx-target="#list-results"' in nxt
    assert 'hx-push-url="true"' in nxt
    href = nxt.split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert "status=all" in href
    assert "region_code=360403" in href
    assert "offset=1" in href
    second = browser_client.get(href, headers=HX)
    assert "第 2 / 2 页，共 2 条" in second.text
    # the filter form comes out of band, showing what was asked
    form = part.text.split('id="list-filters"')[1].split("</form>")[0]
    assert 'hx-swap-oob="true"' in form
    assert 'value="360403"' in form
    assert '<option value="all" selected>' in form

    restore = browser_client.get(query, headers=HX | {"HX-History-Restore-Request": "true"})
    assert restore.text.lstrip().startswith("<!doctype html>")


def test_filter_errors_come_back_with_the_htmx_answer(browser_client, factory, world):
    jj_city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, jj_city.username)
    part = browser_client.get("/alerts?region_code=36x", headers=HX)
    assert part.status_code == 200
    form = part.text.split('id="list-filters"')[1].split("</form>")[0]
    assert "行政区划代码应为 6 位数字" in form
    assert 'aria-invalid="true"' in form
    results = part.text.split('id="list-filters"')[0]
    assert "九江检测" in results  # the bad filter is left out, the others apply


def test_the_menu_links_the_alerts_for_those_who_may_read_them(browser_client, factory):
    staff = factory.user(Role.INSTITUTION_STAFF)
    login(browser_client, staff.username)
    assert 'href="/alerts"' in browser_client.get("/").text
    browser_client.cookies.clear()
    witness = factory.user(Role.WITNESS)
    login(browser_client, witness.username)
    assert 'href="/alerts"' not in browser_client.get("/").text
    assert browser_client.get("/alerts").status_code == 403


def test_the_rules_page_sets_thresholds_for_those_allowed(browser_client, db, factory, world):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get("/alerts/rules?region_code=360400")
    assert page.status_code == 200
    assert "测试：检测机构被暂停" in page.text
    assert 'action="/alerts/rules/test_suspended/thresholds"' in page.text
    csrf = page_csrf(browser_client, "/alerts/rules")
    url = "/alerts/rules/test_suspended/thresholds"

    bad = browser_client.post(
        url, data={"csrf_token": csrf, "region_code": "360400", "t_grace_days": "三十"}
    )
    assert bad.status_code == 422
    assert "应为数字" in bad.text
    assert 'value="三十"' in bad.text
    assert db.scalars(select(RuleThreshold)).all() == []

    good = browser_client.post(
        url, data={"csrf_token": csrf, "region_code": "360400", "t_grace_days": "30"}
    )
    assert good.status_code == 303
    assert good.headers["location"].startswith(
        "/alerts/rules?region_code=360400&saved=test_suspended"
    )
    shown = browser_client.get(good.headers["location"])
    assert "阈值已保存" in shown.text
    assert "<strong>30</strong>" in shown.text
    [row] = db.scalars(select(RuleThreshold)).all()
    assert (row.region_code, row.key, row.value) == ("360400", "grace_days", 30.0)

    outside = browser_client.post(
        url, data={"csrf_token": csrf, "region_code": "440100", "t_grace_days": "1"}
    )
    assert outside.status_code == 404


def test_the_rules_page_has_no_form_without_the_permission(browser_client, factory, suspended):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, city.username)
    page = browser_client.get("/alerts/rules")
    assert page.status_code == 200
    assert "测试：检测机构被暂停" in page.text
    assert "/thresholds" not in page.text
    assert browser_client.get("/alerts/rules?region_code=360100").status_code == 404


def test_the_alert_page_shows_any_facts_readably(browser_client, db, factory, world):
    alert = world["alerts"][world["jj"].id]
    alert.facts = {
        "是否检测人员": False,
        "可从事的专项": ["主体结构", "钢结构"],
        "不足": {"检测人员（人）": {"实有": 3, "要求": 5}},
        "备注": None,
    }
    db.commit()
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(browser_client, admin.username)
    page = browser_client.get(f"/alerts/{alert.id}")
    table = page.text.split('data-testid="facts-table"')[1]
    assert "<td>否</td>" in table
    assert "主体结构、钢结构" in table
    assert "<li>检测人员（人）：<ul><li>实有：3</li><li>要求：5</li></ul></li>" in table
    assert "<td>—</td>" in table
