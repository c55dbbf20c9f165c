"""Totals and pages of long lists (core.pagination): exact counts up to ESTIMATE_ABOVE, the
planner's estimate beyond on PostgreSQL (exact on SQLite); keyset pages that give the rows
offset pages give, forwards and back, in an order of one direction and a mixed one; the pager's
links, a list's "约 N 条" and the alert list's exact total."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import event, select, text

from jcjg.alerts.models import Alert
from jcjg.alerts.service import ALERT_ORDER, search_stmt
from jcjg.auth.choices import Role
from jcjg.core import pagination
from jcjg.core.db import utcnow
from jcjg.core.pagination import Key, Order, PageParams, count_total, paginate
from tests.conftest import BACKEND
from tests.factories import login

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

HTML = {"accept": "text/html"}
BY_TIME = Order(
    (Key(Alert.last_seen_at, lambda a: a.last_seen_at), Key(Alert.id, lambda a: a.id)),
    (utcnow(), 0),
)


@pytest.fixture
def alerts(factory):
    """25 open alerts of one institution: three severities, last seen in clusters of equal
    times (ties the id breaks)."""
    institution = factory.institution("360403")
    start = utcnow() - dt.timedelta(days=3)
    made = [
        factory.alert(
            institution,
            severity=("info", "warning", "critical")[n % 3],
            last_seen_at=start + dt.timedelta(minutes=n // 4),
        )
        for n in range(25)
    ]
    factory.db.commit()
    return institution, made


def _walk(db, stmt, order: Order, limit: int) -> list[list[int]]:
    """Every page, following the next links from the first."""
    pages, params = [], PageParams(limit=limit)
    while True:
        paged = paginate(db, stmt, params, order)
        pages.append([a.id for a in paged.rows])
        if paged.next is None:
            return pages
        params = PageParams(**_params(paged.next, limit))


@pytest.mark.parametrize("order", [BY_TIME, ALERT_ORDER], ids=["one_direction", "mixed"])
def test_keyset_pages_give_the_rows_offset_pages_give(db, alerts, monkeypatch, order):
    monkeypatch.setattr(pagination, "KEYSET_FROM", 8)  # pages from the third on by keyset
    stmt = select(Alert).where(Alert.institution_id == alerts[0].id)
    everything = [a.id for a in db.scalars(stmt.order_by(*order.clauses()))]
    assert len(everything) == 25
    pages = _walk(db, stmt, order, 4)
    assert [i for page in pages for i in page] == everything
    assert [len(p) for p in pages] == [4, 4, 4, 4, 4, 4, 1]
    # and back: from the last page, each page's previous link gives the page before it
    back, paged = [], paginate(db, stmt, PageParams(limit=4, offset=24), order)
    while True:
        back.append([a.id for a in paged.rows])
        if paged.previous is None:
            break
        paged = paginate(db, stmt, PageParams(**_params(paged.previous, 4)), order)
    assert back[::-1] == pages
    assert paged.number == 1
    # a cursor past the last row: an empty last page; before the first: the first page
    after_last = PageParams(limit=4, after=order.cursor(db.get(Alert, everything[-1])), number=8)
    assert paginate(db, stmt, after_last, order).rows == []
    before = PageParams(limit=4, before=order.cursor(db.get(Alert, everything[4])), number=5)
    first = paginate(db, stmt, before, order)
    assert [a.id for a in first.rows] == pages[0]
    assert (first.number, first.previous) == (1, None)  # nothing before it


def test_the_pager_turns_to_cursors_beyond_keyset_from(db, alerts, monkeypatch):
    monkeypatch.setattr(pagination, "KEYSET_FROM", 8)
    stmt = select(Alert).where(Alert.institution_id == alerts[0].id)
    second = paginate(db, stmt, PageParams(limit=4, offset=4), BY_TIME)
    assert second.previous == "offset=0&limit=4"
    assert second.next is not None
    assert second.next.startswith("after=")
    assert second.next.endswith("&page=3&limit=4")
    assert re.fullmatch(pagination.CURSOR_PATTERN, dict(parse_qsl(second.next))["after"])
    third = paginate(db, stmt, PageParams(**_params(second.next, 4)), BY_TIME)
    assert third.number == 3
    assert third.previous == "offset=4&limit=4"
    fourth = paginate(db, stmt, PageParams(**_params(third.next, 4)), BY_TIME)
    assert fourth.previous is not None
    assert fourth.previous.startswith("before=")


def _params(query: str, limit: int) -> dict[str, object]:
    found = dict(parse_qsl(query))
    return {"limit": limit, "offset": int(found.get("offset", 0)), "after": found.get("after"),
            "before": found.get("before"),
            "number": int(found["page"]) if "page" in found else None}  # fmt: skip


def _sql_open_alerts(db, institution_id: int) -> int:
    sql = "SELECT COUNT(*) FROM alert WHERE status = 'open' AND institution_id = :i"
    return int(db.execute(text(sql), {"i": institution_id}).scalar_one())


def test_a_total_within_estimate_above_is_exact(db, alerts):
    stmt = search_stmt().where(Alert.institution_id == alerts[0].id)
    total = count_total(db, stmt)
    assert total.exact
    assert int(total) == _sql_open_alerts(db, alerts[0].id) == 25
    assert str(total) == "25"


def test_a_total_beyond_estimate_above_is_estimated_on_postgresql(db, alerts, monkeypatch):
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 10)
    stmt = search_stmt().where(Alert.institution_id == alerts[0].id)
    total = count_total(db, stmt)
    if BACKEND == "postgresql":  # counted no further than 11 rows: the planner's guess
        assert not total.exact
        assert int(total) >= 11
        assert str(total).startswith("约 ")
    else:  # SQLite, the small embedded database: counted
        assert total.exact
        assert int(total) == _sql_open_alerts(db, alerts[0].id)


@pytest.mark.skipif(BACKEND != "postgresql", reason="SQLite counts every list exactly")
def test_a_list_found_long_is_estimated_without_counting_again(db, factory, alerts,
                                                               monkeypatch):  # fmt: skip
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 10)
    few = factory.institution("360403")
    for _ in range(3):
        factory.alert(few)
    db.commit()
    stmt = search_stmt().where(Alert.institution_id == alerts[0].id)
    counts: list[str] = []

    def seen(conn, cursor, statement, *_):
        if "count(" in statement.lower():
            counts.append(statement)

    engine = db.get_bind().engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        first, second = count_total(db, stmt), count_total(db, stmt)
        other = count_total(db, search_stmt().where(Alert.institution_id == few.id))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert not first.exact
    assert not second.exact
    assert len(counts) == 2  # the first list and the other one; not the first again
    assert other.exact
    assert int(other) == 3


def test_the_alert_list_shows_the_estimate_or_the_count(browser_client, db, factory, alerts,
                                                        monkeypatch):  # fmt: skip
    authority = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, authority.username)
    page = browser_client.get("/alerts?limit=10", headers=HTML).text
    assert "第 1 / 3 页，共 25 条" in page
    monkeypatch.setattr(pagination, "ESTIMATE_ABOVE", 10)
    # the alert list adds its total up from its counts by rule: exact however long
    page = browser_client.get("/alerts?limit=10", headers=HTML).text
    assert "第 1 / 3 页，共 25 条" in page
    # a list that counts its rows: estimated beyond ESTIMATE_ABOVE on PostgreSQL
    for n in range(12):
        factory.project(region_code="360403", name=f"估算工程{n}")
    db.commit()
    page = browser_client.get("/projects?limit=5&q=估算工程", headers=HTML).text
    if BACKEND == "postgresql":
        assert re.search(r"第 1 / 约 \d+ 页，共 约 [\d,]+ 条", page), page
    else:
        assert "第 1 / 3 页，共 12 条" in page
    monkeypatch.setattr(pagination, "KEYSET_FROM", 10)
    second = browser_client.get("/alerts?limit=10&offset=10", headers=HTML).text
    following = re.search(r'href="(/alerts\?[^"]*after=[^"]+)"', second)
    assert following, second
    third = browser_client.get(following.group(1).replace("&amp;", "&"), headers=HTML)
    assert third.status_code == 200
    shown = re.findall(r'href="/alerts/(\d+)"', third.text)
    expected = [a.id for a in db.scalars(search_stmt().where(
        Alert.institution_id == alerts[0].id).offset(20).limit(10))]  # fmt: skip
    assert [int(i) for i in dict.fromkeys(shown)] == expected
    assert "第 3 / " in third.text
