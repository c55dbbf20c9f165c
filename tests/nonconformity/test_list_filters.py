"""The register's filters behind the home pages' numbers: not closed, overdue (not closed, past
the deadline on the Beijing day), by institution, region subtree, project and the Beijing day
found since; each count equal to SQL written here, within the reader's scope. And the
registry's institutions by region."""

from __future__ import annotations

import re

import pytest

from jcjg.core.workdays import beijing_date, beijing_midnight
from jcjg.nonconformity.lists import REGISTER
from tests.factories import login
from tests.home.conftest import DAY, World, build_world
from tests.home.test_dashboard import q, scalar
from tests.lists import unshown_reads

HTML = {"accept": "text/html"}


@pytest.fixture
def world(db, factory) -> World:
    return build_world(db, factory)


def listed(client, query: str) -> tuple[int, list[int]]:
    """The list's total and the ids of the rows on its first page."""
    page = client.get(f"/nonconformities?{query}&limit=100", headers=HTML)
    assert page.status_code == 200, page.text
    total = int(re.search(r"共 (\d+) 条", page.text).group(1))
    ids = [int(i) for i in re.findall(r'<a href="/nonconformities/(\d+)">', page.text)]
    return total, ids


def sql(db, where: str, **params) -> list[int]:
    return sorted(i for (i,) in q(db, f"SELECT id FROM nonconformity WHERE {where}", **params))


def test_the_filters_match_sql(browser_client, db, world):
    login(browser_client, world.users["station"].username)
    x, nc = world.labs["xunyang"].id, world.labs["nanchang"].id
    bridge = world.projects["bridge"].id
    since = world.today - 30 * DAY
    jj = "region_code LIKE '3604%'"
    cases = {
        "status=unclosed": sql(db, f"{jj} AND status <> 'closed'"),
        "status=overdue": sql(db, f"{jj} AND status <> 'closed' AND deadline < :d", d=world.today),
        "status=open": sql(db, f"{jj} AND status = 'open'"),
        f"institution_id={x}": sql(db, "institution_id = :i", i=x),
        f"institution_id={x}&status=overdue": sql(
            db, "institution_id = :i AND status <> 'closed' AND deadline < :d", i=x, d=world.today
        ),
        "region_code=360402": sql(db, "region_code LIKE '360402%'"),
        "region_code=360400&status=unclosed": sql(db, f"{jj} AND status <> 'closed'"),
        f"project_id={bridge}": sql(db, "project_id = :p", p=bridge),
        f"since={since}": sql(db, f"{jj} AND found_at >= :s", s=beijing_midnight(since)),
        f"institution_id={nc}": [],  # Nanchang's: not the station's
        "region_code=360100": [],
    }
    for query, expected in cases.items():
        total, ids = listed(browser_client, query)
        assert (total, sorted(ids)) == (len(expected), expected), query
    assert len(cases["status=overdue"]) == 3
    assert world.ncs["x_closed"].id not in cases[f"institution_id={x}&status=overdue"]
    # the filter stays on the tabs and says what the list shows
    page = browser_client.get(f"/nonconformities?institution_id={x}&status=overdue", headers=HTML)
    assert "仅显示 检测机构：浔阳首页检测有限公司" in page.text
    assert f'/nonconformities?by=region&status=overdue&institution_id={x}"' in page.text


def test_the_since_day_is_a_beijing_day(browser_client, db, world):
    login(browser_client, world.users["station"].username)
    day = beijing_date(world.ncs["x_handling"].found_at)  # 20 days ago
    on, after = listed(browser_client, f"since={day}"), listed(browser_client, f"since={day + DAY}")
    assert world.ncs["x_handling"].id in on[1]
    assert world.ncs["x_handling"].id not in after[1]
    assert on[0] == scalar(db, "SELECT count(*) FROM nonconformity WHERE region_code LIKE '3604%' "
                               "AND found_at >= :s", s=beijing_midnight(day))  # fmt: skip


@pytest.mark.parametrize(
    "query", ["status=late", "since=2026-13-01", "region_code=36040", "institution_id=x"]
)
def test_bad_filters_are_refused(browser_client, world, query):
    login(browser_client, world.users["station"].username)
    assert browser_client.get(f"/nonconformities?{query}", headers=HTML).status_code == 400


def test_a_party_filters_within_its_projects(browser_client, db, world):
    login(browser_client, world.users["party"].username)
    other = world.projects["other"].id  # not the party's
    assert listed(browser_client, f"project_id={other}") == (0, [])
    school = world.projects["school"].id
    assert listed(browser_client, f"project_id={school}&status=overdue") == (
        1, [world.ncs["lx_handling_late"].id])  # fmt: skip


def test_institutions_by_region(browser_client, db, world):
    login(browser_client, world.users["station"].username)
    page = browser_client.get("/registry/institutions?region_code=360403", headers=HTML).text
    expected = scalar(db, "SELECT count(*) FROM institution WHERE region_code LIKE '360403%'")
    assert f"共 {expected} 条" in page
    assert "浔阳首页检测有限公司" in page
    assert "濂溪首页检测中心" not in page
    assert "仅显示 行政区划：浔阳区及下辖" in page
    everything = browser_client.get("/registry/institutions?region_code=360000", headers=HTML)
    in_scope = scalar(db, "SELECT count(*) FROM institution WHERE region_code LIKE '3604%'")
    assert f"共 {in_scope} 条" in everything.text  # the scope still applies


def test_the_register_reads_only_the_columns_it_shows(browser_client, db, world):
    """Issue 44: a page of the register reads what its rows show, not the values found
    (ListView.shown); open, overdue, closed and reported rows alike."""
    login(browser_client, world.users["station"].username)
    total, ids = listed(browser_client, "status=")
    assert total >= 3
    assert world.ncs["x_closed"].id in ids
    assert unshown_reads(browser_client, db, "/nonconformities?limit=100", REGISTER) == set()
