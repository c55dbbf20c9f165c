"""The region view (/regions/overview): institutions and projects counted by city and county
within the reader's scope only (another region's never counted), the projects' sites as
longitude/latitude points, and the page in the regulators' menu and no one else's."""

from __future__ import annotations

import json
import re

from sqlalchemy import select

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


# --- the map (issue 48 item 5) --------------------------------------------------------------


def _boundaries(factory, approval: str = "") -> None:
    """The demo's schematic Jiangxi, as ``jcjg demo load`` loads it; with ``approval``, the
    same shapes as an approved edition."""
    from jcjg.regions import boundaries
    from tests.regions.test_boundaries import demo_body

    body = demo_body()
    if approval:
        body["edition"] |= {"code": "approved", "approval": approval}
    boundaries.load(factory.db, boundaries.parse(json.dumps(body)))
    factory.db.commit()


def test_the_map_counts_each_city_as_the_table_does(browser_client, factory):
    from jcjg.alerts.models import Alert

    here = _world(factory)
    _boundaries(factory)
    lab = factory.institution(region_code="360402")
    factory.alert(lab, project_id=here.id)  # drawn at its project's site
    factory.alert(factory.institution(region_code="360102"))
    factory.alert(lab, status="closed")  # not open: not counted
    factory.db.commit()
    login(browser_client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    html = browser_client.get("/regions/overview").text
    drawn = _data(html)["map"]
    areas = {a["name"]: a for a in drawn["areas"]}
    assert len(areas) == 11
    assert len(drawn["geojson"]["features"]) == 11
    assert (areas["九江市"]["institutions"], areas["九江市"]["projects"]) == (4, 2)
    assert (areas["南昌市"]["institutions"], areas["南昌市"]["projects"]) == (2, 1)
    opened = factory.db.scalars(
        select(Alert).where(Alert.status == "open", Alert.region_code.like("36%"))
    ).all()
    assert areas["九江市"]["alerts"] + areas["南昌市"]["alerts"] == len(opened) == 2
    assert areas["赣州市"] == areas["赣州市"] | {"institutions": 0, "projects": 0, "alerts": 0}
    assert areas["九江市"]["href"] == "/regions/overview?code=360400"
    assert [s[3] for s in drawn["spots"]] == [f"/alerts/{a.id}" for a in opened if a.project_id]
    assert [m[1] for m in drawn["measures"]] == ["检测机构", "工程项目", "未处理预警"]
    # each institution marked at its county's label point, two of one county on a small ring
    marks = {m[3]: m for m in drawn["labs"]}
    assert f"/institutions/{lab.id}" in marks
    assert len(drawn["labs"]) == 6  # _world's four, ``lab`` and Nanchang's second
    assert all(115.0 < m[0] < 117.5 and 28.0 < m[1] < 30.5 for m in drawn["labs"])
    assert "示意图：边界数据未注明审图号" in html
    assert 'data-plot="map"' in html
    assert 'data-plot="sites"' not in html


def test_an_approved_edition_prints_its_number(browser_client, factory):
    _world(factory)
    _boundaries(factory, approval="赣S(2026)001号")
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    html = browser_client.get("/regions/overview").text
    assert "审图号：赣S(2026)001号" in html
    assert "示意图" not in html
    counties = {a["name"] for a in _data(html)["map"]["areas"]}
    assert {"濂溪区", "浔阳区", "柴桑区", "庐山市"} <= counties


def test_going_down_counts_that_region_only(browser_client, factory):
    _world(factory)
    _boundaries(factory)
    login(browser_client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    html = browser_client.get("/regions/overview?code=360400").text
    assert re.search(r'data-testid="total-institutions">3<', html)
    assert re.search(r'data-testid="total-projects">2<', html)
    assert "南昌" not in html
    trail = re.search(r'data-testid="region-trail">(.*?)</p>', html, re.S).group(1)
    assert '<a href="/regions/overview?code=360000">江西省</a>' in trail
    assert "<strong>九江市</strong>" in trail
    county = browser_client.get("/regions/overview?code=360402").text  # nothing below to draw
    assert re.search(r'data-testid="total-institutions">2<', county)
    assert 'data-plot="map"' not in county
    assert 'data-plot="sites"' in county


def test_a_region_outside_the_scope_or_malformed_is_refused(browser_client, factory):
    _world(factory)
    login(browser_client, factory.user(Role.CITY_AUTHORITY, region_code="360400").username)
    assert browser_client.get("/regions/overview?code=360100").status_code == 404  # 南昌
    assert browser_client.get("/regions/overview?code=369999").status_code == 404
    for bad in ("abc", "3604000", "36040%00", "99999999999999999999"):
        refused = browser_client.get(f"/regions/overview?code={bad}")
        # a malformed query (400), a NUL refused by the address check before it (422)
        assert refused.status_code in (400, 422), bad
        assert "江西省" not in refused.text, bad
    assert browser_client.get("/regions/overview?code=360400").status_code == 200


def test_the_nation_gets_no_map_of_one_province(browser_client, factory):
    _world(factory)
    _boundaries(factory)
    login(browser_client, factory.user(Role.PLATFORM_ADMIN, region_code=None).username)
    html = browser_client.get("/regions/overview").text
    assert "map" not in _data(html)  # 1 of 34 provinces drawn: the plain plot instead
    assert 'data-plot="sites"' in html
    assert 'data-plot="map"' in browser_client.get("/regions/overview?code=360000").text
