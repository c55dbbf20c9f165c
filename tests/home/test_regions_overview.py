"""The region view (/regions/overview): institutions and projects counted by city and county
within the reader's scope only (another region's never counted), the projects' sites as
longitude/latitude points, and the page in the regulators' menu and no one else's."""

from __future__ import annotations

import json
import re

from jcjg.auth.choices import Role
from tests.factories import login


def _world(factory):
    """Two labs and a project in 濂溪区, a lab at 九江市's own code, and in 南昌 a lab and a
    project the 九江 readers must never count."""
    for _ in range(2):
        factory.institution(region_code="360402")
    factory.institution(region_code="360400")
    factory.institution(region_code="360102", name="南昌外地检测站")
    here = factory.project(region_code="360402", name="濂溪工地", site_longitude=116.0021)
    factory.project(region_code="360403", name="浔阳无坐标", site_latitude=None)
    factory.project(region_code="360102", name="南昌工地", site_longitude=115.85,
                    site_latitude=28.68)  # fmt: skip
    factory.db.commit()
    return here


def _rows(html: str) -> dict[str, list[str]]:
    body = re.search(r'data-testid="areas-table">(.*?)</table>', html, re.S).group(1)
    return {
        re.sub(r"<[^>]+>", "", cells[0]): cells[1:]
        for cells in (
            re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
            for row in re.findall(r"<tr data-code[^>]*>(.*?)</tr>", body, re.S)
        )
    }


def _data(html: str) -> dict:
    return json.loads(re.search(r'id="regions-data">(.*?)</script>', html, re.S).group(1))


def test_a_city_counts_its_own_counties_only(browser_client, factory):
    here = _world(factory)
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    page = browser_client.get("/regions/overview")
    assert page.status_code == 200
    html = page.text
    assert re.search(r'data-testid="total-institutions">3<', html)
    assert re.search(r'data-testid="total-projects">2<', html)
    rows = _rows(html)
    assert rows["濂溪区"] == ["2", "1"]
    assert rows["本级"] == ["1", "0"]  # registered at 九江市's own code
    assert rows["浔阳区"] == ["0", "1"]
    assert "南昌" not in html
    data = _data(html)
    assert sum(n["value"] for n in data["institutions"]) == 3
    assert data["sites"] == [[116.0021, 29.7112, "濂溪工地", f"/projects/{here.id}"]]
    assert "另有 1 个工程项目未登记位置" in html


def test_a_province_sees_its_cities_and_their_counties(browser_client, factory):
    _world(factory)
    login(browser_client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    html = browser_client.get("/regions/overview").text
    rows = _rows(html)
    assert rows["九江市 › 濂溪区"] == ["2", "1"]
    assert rows["九江市 › 本级"] == ["1", "0"]
    assert rows["南昌市 › 东湖区"] == ["1", "1"]
    tree = {n["name"]: n for n in _data(html)["institutions"]}
    assert tree["九江市"]["value"] == 3
    assert {c["name"] for c in tree["九江市"]["children"]} == {"濂溪区", "本级"}
    assert len(_data(html)["sites"]) == 2


def test_another_region_s_station_counts_nothing_of_this_one(browser_client, factory):
    _world(factory)
    login(browser_client, factory.user(Role.STATION, region_code="360403").username)
    html = browser_client.get("/regions/overview").text
    assert re.search(r'data-testid="total-institutions">0<', html)
    assert re.search(r'data-testid="total-projects">1<', html)
    assert "濂溪" not in html


def test_the_region_view_is_in_the_regulators_menu_only(browser_client, factory):
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    assert 'href="/regions/overview"' in browser_client.get("/inbox").text
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert 'href="/regions/overview"' not in browser_client.get("/inbox").text
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.INSTITUTION_STAFF).username)
    assert browser_client.get("/regions/overview").status_code == 403
