"""The region tree: the shipped GB/T 2260 table, code rules, loading, the API and the page."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from jcjg.core.errors import NotFound
from jcjg.core.regioncodes import (
    RegionLevel,
    in_subtree,
    is_valid_code,
    level_of,
    parent_candidates,
    scope_prefix,
)
from jcjg.regions import editions, service
from jcjg.regions.models import Region
from tests.factories import Factory, login

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def table() -> dict[str, str]:
    """The shipped edition as ``{code: name}``."""
    [shipped] = editions.shipped()
    return {code: entry.name for code, entry in shipped.entries.items()}


# --- the data file -----------------------------------------------------------------------------


def test_data_file_is_complete(table: dict[str, str]) -> None:
    assert len(table) > 3000
    levels = {level: 0 for level in RegionLevel}
    for code in table:
        levels[level_of(code)] += 1
    assert levels[RegionLevel.PROVINCE] == 34  # 31 on the mainland, Taiwan, Hong Kong, Macao
    assert levels[RegionLevel.CITY] > 300
    assert levels[RegionLevel.COUNTY] > 2500


def test_every_code_in_the_data_file_is_valid_and_named(table: dict[str, str]) -> None:
    assert [c for c in table if not is_valid_code(c)] == []
    assert [c for c, name in table.items() if not name.strip()] == []


def test_every_region_below_a_province_has_a_parent(table: dict[str, str]) -> None:
    orphans = [
        code
        for code in table
        if level_of(code) is not RegionLevel.PROVINCE
        and not any(p in table for p in parent_candidates(code))
    ]
    assert orphans == []


def test_known_chain_jiangxi_jiujiang_lianxi(table: dict[str, str]) -> None:
    assert (table["360000"], table["360400"], table["360402"]) == ("江西省", "九江市", "濂溪区")
    assert parent_candidates("360402") == ["360400", "360000"]
    assert parent_candidates("360400") == ["360000"]
    assert parent_candidates("360000") == []
    assert table["110000"] == "北京市"


# --- code rules --------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["110000", "360000", "360400", "360402", "820000", "659001"])
def test_valid_codes(code: str) -> None:
    assert is_valid_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "36040",  # five digits
        "3604021",  # seven
        "",
        "36040a",
        "ABCDEF",
        "000000",
        "036040",  # leading zero
        "100000",  # below the province range 11-82
        "990000",  # above it
        "830000",
        " 360400",
        "360400\n",
        "３６０４００",  # full-width digits
        "3６0400",
    ],
)
def test_invalid_codes(code: str) -> None:
    assert not is_valid_code(code)


@pytest.mark.parametrize(
    ("code", "level", "prefix"),
    [
        ("360000", RegionLevel.PROVINCE, "36"),
        ("360400", RegionLevel.CITY, "3604"),
        ("360402", RegionLevel.COUNTY, "360402"),
        ("110101", RegionLevel.COUNTY, "110101"),  # a district directly under a municipality
    ],
)
def test_level_and_scope_prefix(code: str, level: RegionLevel, prefix: str) -> None:
    assert level_of(code) is level
    assert scope_prefix(code) == prefix


@pytest.mark.parametrize(
    ("code", "root", "inside"),
    [
        ("360402", "360000", True),
        ("360402", "360400", True),
        ("360402", "360402", True),  # itself
        ("360400", "360400", True),
        ("360400", "360000", True),
        ("360102", "360400", False),  # Nanchang is not in Jiujiang
        ("360400", "360402", False),  # a parent is not in its child's subtree
        ("360000", "360400", False),
        ("440300", "360000", False),
        ("360402", "440000", False),
    ],
)
def test_in_subtree(code: str, root: str, inside: bool) -> None:
    assert in_subtree(code, root) is inside


def test_level_labels_are_chinese() -> None:
    assert [level.label for level in RegionLevel] == ["省级", "市级", "县级"]


# --- loading and reading -----------------------------------------------------------------------


def test_the_upgrade_loaded_the_whole_shipped_edition(db: Session, table: dict[str, str]) -> None:
    # the session database is built by refdata.upgrade, as `jcjg db upgrade` builds one
    current = select(Region.code, Region.name).where(Region.valid_to_id.is_(None))
    held = {code: name for code, name in db.execute(current)}
    assert held == table
    district = db.get_one(Region, "110101")
    assert (district.name, district.level, district.parent_code) == ("东城区", "county", "110000")
    assert service.full_name(db=db, code="110101") == "北京市东城区"


def test_loaded_tree_links_parents(db: Session) -> None:
    lianxi = db.get_one(Region, "360402")
    assert (lianxi.name, lianxi.level, lianxi.parent_code) == ("濂溪区", "county", "360400")
    jiujiang = db.get_one(Region, "360400")
    assert (jiujiang.level, jiujiang.parent_code) == ("city", "360000")
    assert db.get_one(Region, "360000").parent_code is None
    assert [r.code for r in service.ancestors(db=db, region=lianxi)] == ["360000", "360400"]
    assert service.full_name(db=db, code="360402") == "江西省九江市濂溪区"
    shown = [service.display_name(db=db, code=c) for c in ("360402", "369999", "36x", None)]
    assert shown == ["江西省九江市濂溪区", "369999", "36x", ""]  # unknown: the code as given
    assert "360402" in [r.code for r in service.children(db=db, code="360400")]
    assert service.count_in_subtree(db=db, code="360400") == 1 + len(
        service.children(db=db, code="360400")
    )


def test_display_names_read_a_query_per_level(db: Session) -> None:
    """A filter's or a list's regions are named together: the codes, then the regions above
    them, a query each, not two queries per code; the names as one code at a time gives."""
    codes = ["360402", "360403", "360102", "360400", "369999", "36x", None]
    statements: list[str] = []

    def seen(conn, cursor, statement, *args) -> None:
        statements.append(statement)

    engine = db.get_bind()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        named = service.display_names(db=db, codes=codes)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    selects = [s for s in statements if s.startswith("SELECT")]
    assert len(selects) <= 3 + 1  # counties, cities, the province; the unknown 369999 looked up
    db.expunge_all()
    assert named == {c: service.display_name(db=db, code=c) for c in codes if c}
    assert named["360102"] == "江西省南昌市东湖区"
    assert named["36x"] == "36x"  # unknown: the code as given


@pytest.mark.parametrize("code", ["360499", "abc", "990000", ""])
def test_get_unknown_or_malformed_code_is_not_found(db: Session, code: str) -> None:
    with pytest.raises(NotFound, match="不存在"):
        service.get(db=db, code=code)


# --- the JSON API ------------------------------------------------------------------------------


@pytest.fixture
def api(client: TestClient, factory: Factory) -> TestClient:
    """The JSON client with a bearer token of an ordinary (county-level) user."""
    from jcjg.auth.choices import Role

    user = factory.user(Role.STATION, region_code="360402")
    client.headers["authorization"] = f"Bearer {factory.token(user)}"
    return client


def test_api_lists_provinces(api: TestClient) -> None:
    response = api.get("/api/v1/regions")
    assert response.status_code == 200
    provinces = {r["code"]: r for r in response.json()}
    assert {"360000", "440000"} <= provinces.keys()
    assert provinces["360000"] == {
        "code": "360000",
        "name": "江西省",
        "level": "province",
        "parent_code": None,
        "current": True,
        "replaced_by": [],
    }
    assert len(provinces) == 34  # the whole country, loaded with the schema
    assert all(r["level"] == "province" and r["parent_code"] is None for r in provinces.values())


def test_api_shows_a_region_with_its_children(api: TestClient) -> None:
    response = api.get("/api/v1/regions/360400")
    assert response.status_code == 200
    body = response.json()
    assert (body["code"], body["name"], body["level"]) == ("360400", "九江市", "city")
    assert body["parent_code"] == "360000"
    assert body["full_name"] == "江西省九江市"
    children = {c["code"]: c["name"] for c in body["children"]}
    assert children["360402"] == "濂溪区"
    assert all(code.startswith("3604") for code in children)


def test_api_county_has_no_children(api: TestClient) -> None:
    body = api.get("/api/v1/regions/360402").json()
    assert body["full_name"] == "江西省九江市濂溪区"
    assert body["children"] == []


@pytest.mark.parametrize("code", ["360499", "990000", "abcdef", "36040"])
def test_api_unknown_or_malformed_code_is_404_problem(api: TestClient, code: str) -> None:
    response = api.get(f"/api/v1/regions/{code}")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    problem = response.json()
    assert problem["type"] == "/problems/not-found"
    assert problem["status"] == 404
    assert code in problem["detail"]


@pytest.mark.parametrize("path", ["/api/v1/regions", "/api/v1/regions/360400"])
def test_api_refuses_anonymous(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["type"] == "/problems/unauthenticated"


def test_api_refuses_a_bad_token(client: TestClient) -> None:
    response = client.get("/api/v1/regions", headers={"authorization": "Bearer jcjg_nonsense"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


# --- the page ----------------------------------------------------------------------------------


def test_page_lists_the_districts_of_a_city(browser_client: TestClient, factory: Factory) -> None:
    login(browser_client, factory.user().username)
    page = browser_client.get("/regions?code=360400")
    assert page.status_code == 200
    assert "濂溪区" in page.text
    assert 'href="/regions?code=360402"' in page.text
    assert "江西省" in page.text  # the breadcrumb


def test_page_without_code_lists_provinces(browser_client: TestClient, factory: Factory) -> None:
    login(browser_client, factory.user().username)
    page = browser_client.get("/regions")
    assert page.status_code == 200
    assert "江西省" in page.text
    assert "广东省" in page.text


def test_page_unknown_code_is_404(browser_client: TestClient, factory: Factory) -> None:
    login(browser_client, factory.user().username)
    page = browser_client.get("/regions?code=360499")
    assert page.status_code == 404
    assert "360499" in page.text


def test_page_sends_anonymous_visitors_to_login(browser_client: TestClient) -> None:
    response = browser_client.get("/regions?code=360400")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/regions")
