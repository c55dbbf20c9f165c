"""The home pages per role (authority, institution, party unit): every number on them equals a
count written here in plain SQL (no ``restrict``, no service code), another region's data is
never counted, each number links to the list behind it, and the ECharts payload carries the
same numbers as the tables."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import Date, bindparam, text

from jcjg.alerts.service import rule_title
from jcjg.auth.choices import Role
from jcjg.core.db import UTCDateTime
from jcjg.core.workdays import beijing_date, beijing_midnight
from tests.factories import login
from tests.home.conftest import World, add_alert

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

HTML = {"accept": "text/html"}
DAY = dt.timedelta(days=1)
SEVERITIES = ["critical", "warning", "info"]


# --- reading the page --------------------------------------------------------------------------


def numbers(page: str) -> dict[str, tuple[int, str]]:
    """``data-stat`` -> (value, link or "") of every number on the page."""
    out = {}
    for link, key, count in re.findall(
        r'(?:href="([^"]*)" )?data-stat="([^"]+)" data-count="(\d+)"', page
    ):
        assert key not in out, f"{key} twice"
        out[key] = (int(count), html.unescape(link))
    return out


def charts(page: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="home-charts">(.*?)</script>', page)
    assert found, "no chart data on the page"
    return json.loads(found.group(1))


def home(client, username: str) -> str:
    client.cookies.clear()
    login(client, username)
    page = client.get("/", headers=HTML)
    assert page.status_code == 200
    return page.text


# --- the SQL of the tests ----------------------------------------------------------------------


def q(db, sql: str, **params: Any) -> list[Any]:
    stmt = text(sql)
    for name, value in params.items():
        if isinstance(value, dt.datetime):
            stmt = stmt.bindparams(bindparam(name, type_=UTCDateTime()))
        elif isinstance(value, dt.date):  # not sqlite3's default adapter (deprecated in 3.12)
            stmt = stmt.bindparams(bindparam(name, type_=Date()))
    return list(db.execute(stmt, params).all())


def scalar(db, sql: str, **params: Any) -> int:
    return int(q(db, sql, **params)[0][0])


def open_alerts_by_rule(db, prefix: str) -> dict[str, int]:
    rows = q(db, "SELECT rule_id, count(*) FROM alert WHERE status = 'open' "
                 "AND region_code LIKE :p GROUP BY rule_id", p=prefix + "%")  # fmt: skip
    return {r: int(n) for r, n in rows}


def raised_per_day(db, prefix: str, today: dt.date) -> dict[tuple[str, str], int]:
    stmt = text("SELECT first_seen_at, severity FROM alert WHERE region_code LIKE :p").columns(
        first_seen_at=UTCDateTime()
    )
    out: Counter[tuple[str, str]] = Counter()
    for seen, severity in db.execute(stmt, {"p": prefix + "%"}):
        day = beijing_date(seen)
        if today - 29 * DAY <= day <= today:
            out[(day.isoformat(), severity)] += 1
    return dict(out)


def nc_count(db, prefix: str, where: str, **params: Any) -> int:
    return scalar(db, f"SELECT count(*) FROM nonconformity WHERE region_code LIKE :p AND {where}",
                  p=prefix + "%", **params)  # fmt: skip


def nc_numbers(db, prefix: str, today: dt.date) -> dict[str, tuple[int, str]]:
    """The register's panel: (count, link) by key."""
    since = today - 29 * DAY
    recent = nc_count(db, prefix, "found_at >= :s", s=beijing_midnight(since))
    return {
        "nc:open": (nc_count(db, prefix, "status = 'open'"), "/nonconformities?status=open"),
        "nc:handling": (
            nc_count(db, prefix, "status = 'handling'"),
            "/nonconformities?status=handling",
        ),
        "nc:recent": (recent, f"/nonconformities?since={since}"),
    }


def waiting(page: str) -> dict[str, tuple[int, str]]:
    """The cards of 待办与督办: title -> (count, link)."""
    found = re.findall(
        r'<a class="stat[^"]*" href="([^"]+)" data-testid="handling-\d+" data-count="(\d+)">'
        r'<span class="muted">([^<]+)</span>',
        page,
    )
    return {title: (int(n), html.unescape(link)) for link, n, title in found}


def findings(db, prefix: str, today: dt.date) -> dict[int, tuple[int, int]]:
    alerts = dict(q(db, "SELECT institution_id, count(*) FROM alert WHERE status = 'open' "
                        "AND institution_id IS NOT NULL AND region_code LIKE :p "
                        "GROUP BY institution_id", p=prefix + "%"))  # fmt: skip
    since = beijing_midnight(today - 89 * DAY)
    ncs = dict(q(db, "SELECT institution_id, count(*) FROM nonconformity "
                     "WHERE found_at >= :s AND region_code LIKE :p GROUP BY institution_id",
                 s=since, p=prefix + "%"))  # fmt: skip
    return {int(i): (int(alerts.get(i, 0)), int(ncs.get(i, 0))) for i in set(alerts) | set(ncs)}


def uploads(db, prefix: str, today: dt.date) -> dict[int, int]:
    rows = q(db, "SELECT m.institution_id, count(*) FROM exchange_message m "
                 "JOIN institution i ON i.id = m.institution_id WHERE i.region_code LIKE :p "
                 "AND m.received_at >= :a AND m.received_at < :b GROUP BY m.institution_id",
             p=prefix + "%", a=beijing_midnight(today),
             b=beijing_midnight(today + DAY))  # fmt: skip
    return {int(i): int(n) for i, n in rows}


def in_region(db, table: str, code: str, where: str = "1 = 1") -> int:
    return scalar(db, f"SELECT count(*) FROM {table} WHERE region_code LIKE :p AND {where}",
                  p=code + "%")  # fmt: skip


# --- an authority ------------------------------------------------------------------------------


def check_authority(db, client, w: World, who: str, prefix: str) -> dict[str, tuple[int, str]]:
    """Every number of an authority's home against the SQL above, for region ``prefix``."""
    page = home(client, w.users[who].username)
    got = numbers(page)
    data = charts(page)
    today = w.today

    by_rule = open_alerts_by_rule(db, prefix)
    ranked = sorted(by_rule.items(), key=lambda r: (-r[1], r[0]))
    for rule, n in by_rule.items():
        assert got[f"rule:{rule}"] == (n, f"/alerts?rule_id={rule}"), rule
    assert [k for k in got if k.startswith("rule:")] == [f"rule:{r}" for r, _ in ranked]
    assert data["rules"]["values"] == [n for _, n in ranked]
    assert data["rules"]["labels"] == [rule_title(r) for r, _ in ranked]

    per_day = raised_per_day(db, prefix, today)
    days = [today - (29 - i) * DAY for i in range(30)]
    assert data["trend"]["dates"] == [d.isoformat() for d in days]
    for series in data["trend"]["series"]:
        expected = [per_day.get((d.isoformat(), series["key"]), 0) for d in days]
        assert series["values"] == expected, series["key"]
        for d, n in zip(days, expected, strict=True):
            assert got[f"trend:{d}:{series['key']}"][0] == n
    assert [s["key"] for s in data["trend"]["series"]] == SEVERITIES
    assert got["trend:total"][0] == sum(per_day.values())

    for key, expected in nc_numbers(db, prefix, today).items():
        assert got[key] == expected, key
    cards = waiting(page)  # not closed and overdue: in 待办与督办, for every reader of the register
    assert cards["不合格结果未闭环"] == (
        nc_count(db, prefix, "status <> 'closed'"),
        "/nonconformities?status=unclosed",
    )
    assert cards["不合格结果逾期"] == (
        nc_count(db, prefix, "status <> 'closed' AND deadline < :d", d=today),
        "/nonconformities?status=overdue")  # fmt: skip

    found = findings(db, prefix, today)
    top = sorted(found.items(), key=lambda r: (-sum(r[1]), name_of(db, r[0]), r[0]))[:10]
    assert data["top"]["alerts"] == [a for _, (a, _) in top]
    assert data["top"]["nonconformities"] == [n for _, (_, n) in top]
    assert data["top"]["labels"] == [name_of(db, i) for i, _ in top]
    since = (today - 89 * DAY).isoformat()
    for i, (a, n) in top:
        assert got[f"top:{i}:alerts"] == (a, f"/alerts?institution_id={i}")
        assert got[f"top:{i}:nc"] == (n, f"/nonconformities?institution_id={i}&since={since}")

    sent = uploads(db, prefix, today)
    assert {int(k.split(":")[1]): v for k, (v, _) in got.items()
            if k.startswith("uploads:") and k != "uploads:total"} == sent  # fmt: skip
    assert got["uploads:total"][0] == sum(sent.values())
    assert sorted(data["uploads"]["values"], reverse=True) == data["uploads"]["values"]
    assert sum(data["uploads"]["values"]) == sum(sent.values())
    return got


def name_of(db, institution_id: int) -> str:
    return q(db, "SELECT name FROM institution WHERE id = :i", i=institution_id)[0][0]


def check_regions(db, got, data, children: list[str], prefix: str) -> None:
    """Per child region: open alerts, nonconformities not closed, institutions; and the rest."""
    for code in children:
        p = prefix_of(code)
        expected = (
            in_region(db, "alert", p, "status = 'open'"),
            in_region(db, "nonconformity", p, "status <> 'closed'"),
            in_region(db, "institution", p),
        )
        if not any(expected):  # a region with nothing is named in the folded line, not a row
            assert f"region:{code}:alerts" not in got
            got.update({f"region:{code}:{k}": (0, "") for k in ("alerts", "nc", "institutions")})
            continue
        assert got[f"region:{code}:alerts"] == (expected[0], f"/alerts?region_code={code}")
        assert got[f"region:{code}:nc"] == (
            expected[1],
            f"/nonconformities?region_code={code}&status=unclosed",
        )
        assert got[f"region:{code}:institutions"] == (
            expected[2],
            f"/registry/institutions?region_code={code}",
        )
    # what no child holds (the region's own code): the last row, so that the rows add up
    for kind, table, where in (("alerts", "alert", "status = 'open'"),
                               ("nc", "nonconformity", "status <> 'closed'"),
                               ("institutions", "institution", "1 = 1")):  # fmt: skip
        listed = sum(got[f"region:{c}:{kind}"][0] for c in children)
        rest = got.get(f"region:rest:{kind}", (0, ""))[0]
        assert listed + rest == in_region(db, table, prefix, where), kind
    # the chart: the rows with something to show, with the table's numbers
    drawn = [
        c
        for c in [*children, "rest"]
        if any(
            got.get(f"region:{c}:{kind}", (0, ""))[0] for kind in ("alerts", "nc", "institutions")
        )
    ]
    assert [c or "rest" for c in data["regions"]["codes"]] == drawn
    for kind, series in (
        ("alerts", "alerts"),
        ("nc", "nonconformities"),
        ("institutions", "institutions"),
    ):
        assert data["regions"][series] == [got[f"region:{c}:{kind}"][0] for c in drawn]


def child_codes(db, parent: str | None) -> list[str]:
    if parent is None:
        return [c for (c,) in q(db, "SELECT code FROM region WHERE parent_code IS NULL "
                                    "ORDER BY code")]  # fmt: skip
    return [c for (c,) in q(db, "SELECT code FROM region WHERE parent_code = :p ORDER BY code",
                            p=parent)]  # fmt: skip


def prefix_of(code: str) -> str:
    """360000 -> 36, 360400 -> 3604, 360403 -> 360403."""
    return code[:2] if code.endswith("0000") else code[:4] if code.endswith("00") else code


@pytest.mark.parametrize("who", ["station", "city"])
def test_a_city_authority_home_matches_sql(browser_client, db, world, who):
    got = check_authority(db, browser_client, world, who, "3604")
    page = browser_client.get("/", headers=HTML).text
    check_regions(db, got, charts(page), child_codes(db, "360400"), "3604")
    # what was seeded, to be sure the SQL above counts what it should
    x, lx, nanchang = (world.labs[k].id for k in ("xunyang", "lianxi", "nanchang"))
    assert got["rule:calibration_expired"][0] == 4  # not Nanchang's
    assert got["rule:client_silent"][0] == 1  # no institution, the city's region
    assert got[f"top:{x}:alerts"][0] == 7
    assert got[f"top:{x}:nc"][0] == 4  # the one found 120 days ago left out
    assert got[f"uploads:{x}"][0] == 2  # now and today's midnight, not yesterday's last second
    assert got[f"uploads:{lx}"][0] == 2
    assert waiting(page)["不合格结果逾期"][0] == 3
    assert got["nc:recent"][0] == 7  # all but the one found 120 days ago (and Nanchang's)
    assert got["region:rest:alerts"][0] == 2  # the city-level lab and the platform alert
    assert got["region:rest:institutions"][0] == 1
    assert got["region:360403:alerts"] == (7, "/alerts?region_code=360403")
    assert not [k for k in got if k.startswith((f"top:{nanchang}:", f"uploads:{nanchang}"))]
    assert "南昌首页检测有限公司" not in page
    trend = {s["key"]: s["values"] for s in charts(page)["trend"]["series"]}
    assert trend["critical"][-1] == 1  # at today's first moment
    assert trend["warning"][-1] == 1  # now; the one a second before midnight is yesterday's
    assert trend["warning"][-2] == 3  # that one, Lianxi's and the platform's
    assert trend["info"][0] == 1  # the window's first moment counts, the second before not


def test_a_province_and_the_platform_see_their_whole_scope(browser_client, db, world):
    got = check_authority(db, browser_client, world, "province", "36")
    page = browser_client.get("/", headers=HTML).text
    check_regions(db, got, charts(page), child_codes(db, "360000"), "36")
    assert got["region:360100:alerts"] == (2, "/alerts?region_code=360100")
    assert got["region:360400:alerts"][0] == 11
    assert "region:rest:alerts" not in got  # everything lies in some city
    nanchang = world.labs["nanchang"].id
    assert got[f"uploads:{nanchang}"][0] == 3
    got = check_authority(db, browser_client, world, "admin", "")
    page = browser_client.get("/", headers=HTML).text
    check_regions(db, got, charts(page), child_codes(db, None), "")


def test_a_county_station_sees_its_county_only(browser_client, db, world):
    got = check_authority(db, browser_client, world, "county", "360403")
    assert got["region:360403:alerts"][0] == 7  # its one row: the county itself
    assert not [k for k in got if k.startswith("region:") and "360403" not in k]
    lianxi = world.labs["lianxi"].id
    assert f"uploads:{lianxi}" not in got
    assert f"top:{lianxi}:alerts" not in got


def test_the_links_land_on_lists_of_the_same_count(browser_client, db, world):
    got = check_authority(db, browser_client, world, "station", "3604")
    lab = world.labs["xunyang"].id
    page = browser_client.get("/", headers=HTML).text
    for title in ("不合格结果未闭环", "不合格结果逾期"):
        got[title] = waiting(page)[title]
    keys = ["rule:calibration_expired", "不合格结果逾期", "不合格结果未闭环", "nc:handling",
            "nc:recent",
            "region:360403:alerts", "region:360402:nc", "region:360403:institutions",
            f"top:{lab}:alerts", f"top:{lab}:nc"]  # fmt: skip
    for key in keys:
        value, link = got[key]
        listed = browser_client.get(link, headers=HTML)
        assert listed.status_code == 200, link
        assert f"共 {value} 条" in listed.text, (key, link)


# --- an institution ----------------------------------------------------------------------------


def test_an_institution_sees_its_cases_by_deadline_and_its_nonconformities(
    browser_client, db, world
):
    page = home(browser_client, world.users["staff"].username)
    lab = world.labs["xunyang"].id
    cases = [i for (i,) in q(db, "SELECT id FROM alert_case WHERE institution_id = :i AND status "
                                 "IN ('confirmed', 'rectifying', 'rectified') "
                                 "ORDER BY deadline IS NULL, deadline, id", i=lab)]  # fmt: skip
    shown = [int(i) for i in re.findall(r'<tr data-case="(\d+)">', page)]
    assert shown == cases
    c = world.cases
    assert shown == [c["late"].id, c["answered"].id, c["soon"].id, c["confirmed"].id]
    assert numbers(page)["cases:open"][0] == 4
    late_row = page.split(f'<tr data-case="{c["late"].id}">')[1].split("</tr>")[0]
    assert "overdue" in late_row
    assert "逾期" in late_row
    assert f'href="/alerts/{c["late"].alert_id}"' in late_row
    soon_row = page.split(f'<tr data-case="{c["soon"].id}">')[1].split("</tr>")[0]
    assert "逾期" not in soon_row
    ncs = [i for (i,) in q(db, "SELECT id FROM nonconformity WHERE institution_id = :i "
                               "AND status <> 'closed' ORDER BY deadline, id", i=lab)]  # fmt: skip
    assert [int(i) for i in re.findall(r'<tr data-nc="(\d+)">', page)] == ncs
    assert len(ncs) == 4
    assert f'href="/nonconformities/{world.ncs["x_open_late"].id}"' in page
    assert "濂溪首页检测中心" not in page
    assert "首页设备 8" not in page
    # the numbers of 待办与督办 agree with the rows
    found = re.findall(r'data-count="(\d+)"><span class="muted">([^<]+)</span>', page)
    assert {title: int(n) for n, title in found}["不合格结果未闭环"] == len(ncs)


# --- a party unit ------------------------------------------------------------------------------


def test_a_party_unit_sees_its_projects_nonconformities(browser_client, db, world):
    page = home(browser_client, world.users["party"].username)
    got = numbers(page)
    mine = [world.projects["bridge"].id, world.projects["school"].id]
    for p in mine:
        unclosed = scalar(db, "SELECT count(*) FROM nonconformity WHERE project_id = :p "
                              "AND status <> 'closed'", p=p)  # fmt: skip
        overdue = scalar(db, "SELECT count(*) FROM nonconformity WHERE project_id = :p "
                             "AND status <> 'closed' AND deadline < :d",
                         p=p, d=world.today)  # fmt: skip
        assert got[f"project:{p}:unclosed"] == (
            unclosed,
            f"/nonconformities?project_id={p}&status=unclosed",
        )
        assert got[f"project:{p}:overdue"] == (
            overdue,
            f"/nonconformities?project_id={p}&status=overdue",
        )
        listed = browser_client.get(got[f"project:{p}:unclosed"][1], headers=HTML).text
        assert f"共 {unclosed} 条" in listed
    bridge = world.projects["bridge"].id
    assert got[f"project:{bridge}:unclosed"][0] == 2
    assert got[f"project:{bridge}:overdue"][0] == 1
    rows = [int(i) for i in re.findall(r'<tr data-nc="(\d+)">', page)]
    expected = [i for (i,) in q(db, "SELECT id FROM nonconformity WHERE project_id IN (:a, :b) "
                                    "AND status <> 'closed' ORDER BY deadline, id",
                                a=mine[0], b=mine[1])]  # fmt: skip
    assert rows == expected
    assert world.ncs["lx_other"].id not in rows  # a project of someone else
    assert "浔阳江大桥" in page
    assert "濂溪他人工程" not in page
    assert "home-charts" not in page  # no charts for a party


def test_accounts_without_a_dashboard_see_the_functions(browser_client, world, factory):
    witness = factory.user(Role.WITNESS)
    page = home(browser_client, witness.username)
    assert 'data-testid="dashboard"' not in page
    assert "您现在可以" in page
    # a witness's first function is the phone pages' work, where the login also lands
    functions = page.split('<ul class="functions">', 1)[1]
    assert functions.split("<li>", 2)[1].startswith('<a href="/m">取样见证</a>')


# --- figures kept for a while ------------------------------------------------------------------


def test_a_scopes_figures_are_kept_and_say_when_they_were_counted(browser_client, db, world):
    """With JCJG_PAGE_FIGURES_SECONDS, the figures of a scope are counted once in that time
    (the page says when); counted again, they show what changed."""
    figures = browser_client.app.state.figures
    figures.seconds = 60
    try:
        page = home(browser_client, world.users["city"].username)
        assert "统计于" in page
        assert "至多每 60 秒更新一次" in page
        before = numbers(page)
        waiting_before = waiting(page)["不合格结果逾期"][0]
        add_alert(db, world.labs["xunyang"], 900, rule="calibration_expired",
                  severity="warning", seen=world.now)  # fmt: skip
        world.ncs["x_open_late"].status = "closed"  # one of the late ones, closed
        db.commit()
        kept = home(browser_client, world.users["city"].username)
        assert numbers(kept)["rule:calibration_expired"] == before["rule:calibration_expired"]
        assert waiting(kept)["不合格结果逾期"][0] == waiting_before
        figures.clear()
        page = home(browser_client, world.users["city"].username)
        assert numbers(page)["rule:calibration_expired"][0] == (
            before["rule:calibration_expired"][0] + 1
        )
        assert waiting(page)["不合格结果逾期"][0] == waiting_before - 1
    finally:
        figures.seconds = 0
        figures.clear()
