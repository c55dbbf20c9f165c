"""The alert list as a list (core.listing): sort, page numbers, count, one status, and its
export with the same filters, scoped, audited, in the background when large."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from jcjg.alerts.lists import ALERTS
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core import listing
from jcjg.core.later import reading_session as reading
from tests.alerts.test_api import world  # noqa: F401 - the fixture
from tests.factories import login
from tests.lists import column, sheet, unshown_reads


def test_the_alert_list_exports_its_filtered_rows(browser_client, factory, world, db):  # noqa: F811
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    rows = sheet(browser_client.get("/alerts?status=all&format=xlsx"))
    assert rows[0] == ALERTS.header() == ["严重程度", "规则", "对象", "检测机构", "行政区划",
                                          "首次发现", "最近发现", "状态"]  # fmt: skip
    assert sorted(column(rows, "对象")) == ["九江检测", "南昌检测", "已恢复的检测机构"]
    page = browser_client.get("/alerts?status=all")
    assert "共 3 条" in page.text.split('data-testid="list-count"')[1]
    assert set(column(rows, "状态")) == {"待确认", "已自动消除"}  # one status, in Chinese
    assert "江西省南昌市" in "".join(column(rows, "行政区划"))  # names, not codes

    # the filter excludes, as on the page; the count is the page's
    jiujiang = sheet(browser_client.get("/alerts?status=all&region_code=360403&format=xlsx"))
    assert sorted(column(jiujiang, "对象")) == ["九江检测", "已恢复的检测机构"]
    open_only = sheet(browser_client.get("/alerts?region_code=360403&format=xlsx"))
    assert column(open_only, "对象") == ["九江检测"]

    # sorted as asked
    ascending = sheet(browser_client.get("/alerts?status=all&sort=subject&order=asc&format=xlsx"))
    assert column(ascending, "对象") == sorted(column(ascending, "对象"))

    # audited, with what was asked
    logged = db.scalars(
        select(AuditLog).where(AuditLog.action == "export").order_by(AuditLog.id)
    ).all()
    assert len(logged) == 4
    assert logged[-1].detail.startswith("导出预警（3 条）")
    assert "sort=subject" in logged[-1].detail
    assert logged[-1].user_id == province.id


def test_another_scope_never_appears_in_an_export(browser_client, factory, world):  # noqa: F811
    jj_city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, jj_city.username)
    rows = sheet(browser_client.get("/alerts?status=all&format=xlsx"))
    assert "南昌检测" not in column(rows, "对象")
    assert len(rows) == 3  # the header and Jiujiang's two


def test_bad_sort_and_format_are_clear_bad_requests(browser_client, factory, world):  # noqa: F811
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    headers = {"accept": "application/json"}
    for query, words in (
        ("sort=rule", "不能按此列排序"),  # a column that does not sort
        ("sort=drop_table", "不能按此列排序"),
        ("format=pdf", "请求参数不正确"),
        ("order=sideways", "请求参数不正确"),
        ("region_code=360102x&format=xlsx", "行政区划代码应为 6 位数字"),
    ):
        answer = browser_client.get(f"/alerts?{query}", headers=headers)
        assert answer.status_code == 400, query
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert words in answer.json()["detail"], query
        page = browser_client.get(f"/alerts?{query}")  # a browser: the error page, in Chinese
        assert page.status_code == 400, query
        assert words in page.text, query


def test_headers_sort_and_keep_the_filters(browser_client, factory, world):  # noqa: F811
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get("/alerts?status=all&limit=1")
    link = page.text.split('data-testid="sort-subject"')[0].rsplit('href="', 1)[1].split('"')[0]
    assert "status=all" in link
    assert "sort=subject" in link
    assert "order=desc" in link
    assert "offset" not in link  # sorting starts at the first page
    # page numbers, keeping the filters and the sort
    sorted_page = browser_client.get("/alerts?status=all&limit=1&sort=subject&order=asc")
    pager = sorted_page.text.split('aria-label="分页"')[1].split("</nav>")[0]
    assert 'aria-current="page">1<' in pager
    assert "status=all&amp;sort=subject&amp;order=asc&amp;offset=2&amp;limit=1" in pager  # page 3
    assert 'aria-sort="ascending"' in sorted_page.text
    table = sorted_page.text.split('data-testid="alerts-table"')[1]
    assert "九江检测" in table  # 九 sorts first
    second = browser_client.get("/alerts?status=all&limit=1&sort=subject&order=asc&offset=1")
    assert "南昌检测" in second.text.split('data-testid="alerts-table"')[1]


def test_a_large_export_runs_in_the_background(
    browser_client,
    factory,
    world,  # noqa: F811
    app,
    monkeypatch,
):
    app.state.settings.list_export_background_above = 1
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    sessions = []  # it only reads: no write lock held for the whole export (issue 47)
    monkeypatch.setattr(listing, "reading_session", lambda f: sessions.append(1) or reading(f))
    answer = browser_client.get("/alerts?status=all&format=xlsx")
    assert sessions == [1]
    assert answer.status_code == 303
    progress_url = answer.headers["location"]
    assert progress_url.startswith("/exports/")
    progress = browser_client.get(progress_url)
    assert progress.status_code == 200
    assert "已导出 3 条" in progress.text
    rows = sheet(browser_client.get(progress_url + "/file"))
    assert len(rows) == 4
    assert rows[0] == ALERTS.header()
    # someone else's export is not theirs to see
    other = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    with TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as stranger:
        login(stranger, other.username)
        assert stranger.get(progress_url).status_code == 404
        assert stranger.get(progress_url + "/file").status_code == 404


def test_old_background_exports_are_removed(browser_client, factory, world, app):  # noqa: F811
    import datetime as dt
    import os

    from jcjg.core import listing
    from jcjg.core.db import utcnow

    settings = app.state.settings
    settings.list_export_background_above = 1
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    old = browser_client.get("/alerts?status=all&format=xlsx").headers["location"]
    new = browser_client.get("/alerts?format=xlsx").headers["location"]
    folder = listing.exports_dir(settings) / old.rsplit("/", 1)[1]
    two_days_ago = (utcnow() - dt.timedelta(days=2)).timestamp()
    os.utime(folder / "state.json", (two_days_ago, two_days_ago))
    assert listing.remove_old_exports(settings, utcnow()) == 1
    assert browser_client.get(old).status_code == 404  # gone, said plainly
    assert browser_client.get(new).status_code == 200  # a recent one stays


def test_withdrawn_alerts_are_listed_when_asked_for_and_never_as_findings(
    browser_client,
    client,
    factory,
    world,  # noqa: F811
    db,
):
    """Issue 40: an alert withdrawn while a registry was still arriving is not a finding (not
    in ``all``), but an auditor finds it under its own status, on the page and the API."""
    reason = "登记信息尚未报送完整时出现、随后消除，不作为发现"
    withdrawn = factory.alert(world["jj"], subject="撤回的预警", status="withdrawn",
                              close_reason=reason)  # fmt: skip
    db.commit()
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get("/alerts?status=withdrawn")
    assert page.status_code == 200
    results = page.text.split('data-testid="list-count"')[1]
    assert "共 1 条" in results
    assert "撤回的预警" in results
    assert "已撤回" in results
    assert "撤回的预警" not in browser_client.get("/alerts?status=all").text
    rows = sheet(browser_client.get("/alerts?status=withdrawn&format=xlsx"))
    assert column(rows, "状态") == ["已撤回"]
    headers = {"Authorization": f"Bearer {factory.token(province)}"}
    listed = client.get("/api/v1/alerts", params={"status": "withdrawn"}, headers=headers)
    assert [a["id"] for a in listed.json()["items"]] == [withdrawn.id]
    every = client.get("/api/v1/alerts", params={"status": "all"}, headers=headers).json()
    assert withdrawn.id not in {a["id"] for a in every["items"]}


def test_the_total_is_the_counts_of_the_rules_shown(browser_client, factory, world, db):  # noqa: F811
    """The list's total is added up from the counts by rule the page shows beside it (one
    statement fewer a visit): every rule's alerts without a rule chosen, that rule's with one,
    none for a rule with no alert; within the reader's scope and filters alike."""
    for n in range(2):
        factory.alert(world["jj"], subject=f"校准过期 {n}")
    factory.alert(world["nc"], subject="南昌的校准过期")
    db.commit()
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)

    def total(query: str) -> int:
        page = browser_client.get(f"/alerts?{query}")
        assert page.status_code == 200
        return int(page.text.split('data-testid="list-count"')[1].split("共")[1].split("条")[0])

    assert total("status=all") == 6  # world's three and three new
    assert total("status=all&rule_id=calibration_expired") == 3
    assert total("status=all&rule_id=test_suspended") == 3
    assert total("status=all&rule_id=no_such_rule") == 0
    assert total("status=all&rule_id=calibration_expired&region_code=360403") == 2
    jj_city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    browser_client.cookies.clear()
    login(browser_client, jj_city.username)
    assert total("rule_id=calibration_expired") == 2  # open ones, Jiujiang's only
    assert total("") == 3


def test_the_alert_list_reads_only_the_columns_it_shows(browser_client, factory, world, db):  # noqa: F811
    """Issue 44: a page of alerts reads what its rows show, not each alert's facts
    (ListView.shown); open, closed and handled alerts alike."""
    login(browser_client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    page = browser_client.get("/alerts?status=all", headers={"accept": "text/html"}).text
    assert "九江检测" in page
    assert "已恢复的检测机构" in page
    assert unshown_reads(browser_client, db, "/alerts?status=all", ALERTS) == set()


def test_a_page_asked_with_a_bad_parameter_names_no_key(browser_client, factory, world):  # noqa: F811
    """A list page asked with a parameter it cannot read (a huge id) answers 400 in Chinese,
    the message without the parameter's key; an API client still gets the key."""
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, province.username)
    page = browser_client.get("/testing/records?institution=99999999999999999999")
    assert page.status_code == 400
    assert "请求参数不正确" in page.text
    assert "应为编号" in page.text
    assert "query." not in page.text
    assert "institution" not in page.text.split("<main", 1)[-1]
    assert "检测机构：" in page.text  # the filter named as its form names it
    assert "提交的内容" not in page.text
    paged = browser_client.get("/alerts?page=abc")
    assert paged.status_code == 400
    assert "页码：" in paged.text
    assert "query." not in paged.text
    answer = browser_client.get(
        "/testing/records?institution=99999999999999999999", headers={"accept": "application/json"}
    )
    assert answer.status_code == 400
    assert "query.institution" in answer.json()["detail"]
    assert answer.json()["errors"][0]["field"] == "query.institution"
