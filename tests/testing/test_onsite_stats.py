"""Statistics of on-site test records (/testing/onsite/stats): counts by institution, project,
item and month, checked against SQL written here; each number links to the on-site records it
counts; the reader's scope (a lab sees only its own, a region filter only within the scope);
bad filters refused in Chinese; the same figures as an audited .xlsx."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, text

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.testing.models import OnSiteRecord
from tests.exchange.conftest import make_lims
from tests.factories import login
from tests.testing.test_onsite import _start_in, plan, record

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

HTML = {"accept": "text/html"}
OFF_SITE = {"latitude": 29.80, "longitude": 116.0022}  # 10 km north of the factory's site


def _table(html: str) -> dict[str, list[int]]:
    """Row key -> its numbers (records, with plan, without plan, late, outside, unlocated,
    flagged)."""
    rows = {}
    for key, body in re.findall(r'<tr data-key="([^"]*)"[^>]*>(.*?)</tr>', html, re.S):
        rows[key] = [int(n) for n in re.findall(r'class="num"[^>]*>(?:<a [^>]*>)?(\d+)', body)]
    return rows


def _listed(client, html: str, key: str, marker: str = "") -> list[str]:
    """Follow a row's link (the records', or the one whose query has ``marker``): the numbers
    of the on-site records the list shows."""
    row = re.search(rf'<tr data-key="{re.escape(key)}"[^>]*>(.*?)</tr>', html, re.S).group(1)
    links = [h.replace("&amp;", "&") for h in re.findall(r'<a href="([^"]+)"', row)]
    href = next(h for h in links if marker in h) if marker else links[0]
    page = client.get(href, headers=HTML)
    assert page.status_code == 200, href
    return re.findall(r'<a href="/testing/onsite/records/\d+"><code>([^<]+)</code>', page.text)


def _sql_counts(db, group: str) -> dict[str, list[int]]:
    """The same figures in plain SQL (no code shared with the page)."""
    rows = db.execute(
        text(
            f"SELECT {group} AS k, COUNT(*),"
            " SUM(CASE WHEN plan_id IS NOT NULL THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN plan_id IS NULL THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN EXISTS (SELECT 1 FROM alert a WHERE a.subject_type = 'onsite_record'"
            "   AND a.subject_id = CAST(r.id AS VARCHAR(20)) AND a.rule_id = 'onsite_late_upload')"
            "   THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN distance_m > 0 THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN distance_m IS NULL THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN EXISTS (SELECT 1 FROM alert a WHERE a.subject_type = 'onsite_record'"
            "   AND a.subject_id = CAST(r.id AS VARCHAR(20)) AND a.status = 'open')"
            "   THEN 1 ELSE 0 END)"
            f" FROM onsite_record r GROUP BY {group}"
        )
    ).all()
    return {"" if k is None else str(k): [int(v) for v in values] for k, *values in rows}


@pytest.fixture
def onsite(client, db, settings, factory, lab):
    """The lab (九江, 360403): four records on one project, two with a plan (one of them sent
    30 hours after the work), one without a plan done off the site, one without a position;
    another lab (360402): one record with a plan, on the site."""
    other = make_lims(db, settings, factory, institution=factory.institution("360402"))
    project = factory.project()
    db.commit()
    now = dt.datetime.now(dt.UTC)
    sends = [
        (lab, "onsite_plan", plan(lab, project, "FA-1", _start_in(5))),
        (lab, "onsite_record", record(lab, project, "JL-PLAN", "FA-1")),
        (lab, "onsite_record", record(
            lab, project, "JL-LATE", "FA-1", started_at=(now - dt.timedelta(hours=33)).isoformat(),
            ended_at=(now - dt.timedelta(hours=30)).isoformat())),
        (lab, "onsite_record", record(lab, project, "JL-OFF", None, **OFF_SITE)),
        (lab, "onsite_record", record(lab, project, "JL-BLIND", None, latitude=None,
                                      longitude=None)),
        (other, "onsite_plan", plan(other, project, "FB-1", _start_in(5))),
        (other, "onsite_record", record(other, project, "JB-PLAN", "FB-1")),
    ]  # fmt: skip
    for lims, kind, payload in sends:
        response = lims.post(client, kind, payload)
        assert response.status_code == 200, response.text
    db.expire_all()
    return lab, other, project


def test_counts_by_institution_match_sql_and_link_to_the_records(
    browser_client, db, onsite, authority
):
    lab, other, _project = onsite
    login(browser_client, authority.username)
    page = browser_client.get("/testing/onsite/stats", headers=HTML)
    assert page.status_code == 200
    table = _table(page.text)
    assert {k: v for k, v in table.items() if k != "total"} == _sql_counts(db, "institution_id")
    key = str(lab.institution.id)
    records, with_plan, without_plan, late, outside, unlocated, _flagged = table[key]
    assert (records, with_plan, without_plan, late, outside, unlocated) == (4, 2, 2, 1, 1, 1)
    assert table[str(other.institution.id)][:6] == [1, 1, 0, 0, 0, 0]
    assert table["total"][:3] == [5, 3, 2]
    html = page.text
    assert sorted(_listed(browser_client, html, key)) == [
        "JL-BLIND", "JL-LATE", "JL-OFF", "JL-PLAN"]  # fmt: skip
    assert sorted(_listed(browser_client, html, key, "plan=without")) == ["JL-BLIND", "JL-OFF"]
    assert sorted(_listed(browser_client, html, key, "plan=with")) == ["JL-LATE", "JL-PLAN"]
    assert _listed(browser_client, html, key, "late=true") == ["JL-LATE"]
    assert _listed(browser_client, html, key, "outside=true") == ["JL-OFF"]
    assert _listed(browser_client, html, key, "unlocated=true") == ["JL-BLIND"]
    assert len(_listed(browser_client, html, "total", "plan=without")) == 2
    # the list says what it is narrowed to, to undo
    narrowed = browser_client.get(
        f"/testing/onsite?show=records&institution={key}&late=true", headers=HTML
    ).text
    assert f"检测机构：{lab.institution.name}" in narrowed
    assert "上传超时" in narrowed


@pytest.mark.parametrize(
    ("by", "group"),
    [("project", "project_id"), ("item", "item_code")],
)
def test_counts_by_project_and_item_match_sql(browser_client, db, onsite, authority, by, group):
    login(browser_client, authority.username)
    page = browser_client.get(f"/testing/onsite/stats?by={by}", headers=HTML)
    assert page.status_code == 200
    table = _table(page.text)
    assert {k: v for k, v in table.items() if k != "total"} == _sql_counts(db, group)


def test_counts_by_beijing_month_and_narrowed(browser_client, db, onsite, authority):
    lab, _other, _project = onsite
    beijing = dt.timezone(dt.timedelta(hours=8))
    months: dict[str, int] = {}
    for r in db.scalars(select(OnSiteRecord)):
        month = r.started_at.astimezone(beijing).strftime("%Y-%m")
        months[month] = months.get(month, 0) + 1
    login(browser_client, authority.username)
    html = browser_client.get("/testing/onsite/stats?by=month", headers=HTML).text
    table = _table(html)
    assert {k: v[0] for k, v in table.items() if k != "total"} == months
    month = max(months)
    assert len(_listed(browser_client, html, month)) == months[month]
    # the region's county, one item, a day range: the lab's records only
    today = dt.datetime.now(beijing).date()
    since = (today - dt.timedelta(days=3)).isoformat()
    narrowed = browser_client.get(
        f"/testing/onsite/stats?region=360403&item=0203&since={since}&until={today}", headers=HTML
    ).text
    assert set(_table(narrowed)) == {str(lab.institution.id), "total"}
    assert "统计范围：" in narrowed
    future = (today + dt.timedelta(days=2)).isoformat()
    empty = browser_client.get(f"/testing/onsite/stats?since={future}", headers=HTML).text
    assert "没有现场检测记录。" in empty


def test_a_lab_counts_only_its_own_and_bad_filters_are_refused_in_chinese(
    browser_client, factory, onsite, authority
):
    lab, other, _project = onsite
    staff = factory.user(Role.INSTITUTION_STAFF, institution=other.institution)
    login(browser_client, staff.username)
    page = browser_client.get("/testing/onsite/stats", headers=HTML).text
    assert set(_table(page)) == {str(other.institution.id), "total"}
    assert lab.institution.name not in page
    assert _table(page)["total"][0] == 1
    # asking for the other lab's records counts nothing
    theirs = browser_client.get(
        f"/testing/onsite/stats?institution={lab.institution.id}", headers=HTML
    ).text
    assert set(_table(theirs)) == set()
    browser_client.cookies.clear()
    login(browser_client, authority.username)
    for bad, words in (
        ("by=lab", "统计分组“lab”不正确"),
        ("since=yesterday", "开始日期“yesterday”不是日期"),
        ("until=2026-13-01", "截止日期“2026-13-01”不是日期"),
        ("until=9999-12-31", "截止日期 9999-12-31 应在 2000 至 2100 年之间"),
        ("since=0001-01-01", "开始日期 0001-01-01 应在 2000 至 2100 年之间"),
        ("since=2026-11-02&until=2026-11-01", "开始日期晚于截止日期"),
        ("institution=x", "检测机构“x”不存在"),
        ("institution=0", "检测机构“0”不存在"),
        ("region=36", "行政区划代码“36”应为 6 位数字"),
        ("region=360100", "行政区划 360100 不在当前账号的数据范围内"),
        ("item=%3Cb%3E", "检测项目代码“<b>”不正确"),
        ("format=pdf", "导出格式“pdf”不正确"),
    ):
        response = browser_client.get(f"/testing/onsite/stats?{bad}", headers=HTML)
        assert response.status_code == 400, bad
        assert words in response.text.replace("&lt;", "<").replace("&gt;", ">"), bad
    refused = browser_client.get("/testing/onsite?show=records&region=360100", headers=HTML)
    assert refused.status_code == 400
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert browser_client.get("/testing/onsite/stats", headers=HTML).status_code == 403
    assert browser_client.get("/testing/onsite/stats?format=xlsx").status_code == 403


def test_the_same_figures_as_xlsx_audited(browser_client, db, onsite, authority):
    lab, _other, _project = onsite
    login(browser_client, authority.username)
    page = browser_client.get("/testing/onsite/stats", headers=HTML).text
    assert 'href="/testing/onsite/stats?by=institution&amp;format=xlsx"' in page
    response = browser_client.get("/testing/onsite/stats?format=xlsx")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    book = load_workbook(io.BytesIO(response.content))
    rows = [
        ["" if c is None else str(c) for c in r] for r in book.active.iter_rows(values_only=True)
    ]
    assert rows[0] == ["检测机构", "记录", "有方案", "无方案", "上传超时", "场外检测", "无定位",
                       "有预警", "无方案率", "上传超时率", "场外检测率"]  # fmt: skip
    mine = {r[0]: r for r in rows[1:]}[lab.institution.name]
    assert mine[1:7] == ["4", "2", "2", "1", "1", "1"]
    assert mine[8:] == ["50.0%", "25.0%", "25.0%"]
    assert rows[-1][:2] == ["合计", "5"]
    assert len(rows) == 1 + len(_table(page))
    logged = db.scalars(select(AuditLog).where(AuditLog.action == "export")).all()
    assert len(logged) == 1
    assert "导出现场检测统计（按检测机构，2 行）" in logged[0].detail


def test_the_menu_offers_it_beside_the_machine_statistics(browser_client, authority):
    login(browser_client, authority.username)
    home = browser_client.get("/", headers=HTML).text
    assert 'href="/testing/onsite/stats"' in home
    assert home.index('href="/testing/stats"') < home.index('href="/testing/onsite/stats"')
