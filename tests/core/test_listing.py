"""core.listing and the pager's page numbers: which pages are linked, what a sort asks for,
the links keeping the filters, CSV beyond a sheet's rows."""

from __future__ import annotations

import pytest

from jcjg.core import listing
from jcjg.core.errors import BadRequest
from jcjg.core.listing import Column, Listing, ListParams, ListView
from jcjg.core.pagination import KEYSET_FROM, PageParams
from jcjg.testing.lists import RECORDS
from tests.lists import column


@pytest.mark.parametrize(
    ("offset", "total", "expected"),
    [
        (0, 0, [1]),
        (0, 45, [1, 2, 3]),
        (0, 200, [1, 2, 3, None, 10]),
        (100, 200, [1, None, 4, 5, 6, 7, 8, None, 10]),
        (180, 200, [1, None, 8, 9, 10]),
    ],
)
def test_the_pager_links_the_first_the_last_and_those_around(offset, total, expected):
    assert PageParams(offset=offset, limit=20).numbers(total) == expected


def test_pages_beyond_the_offset_range_are_not_numbered():
    paging = PageParams(offset=0, limit=20)
    numbers = paging.numbers(1_000_000)
    assert numbers == [1, 2, 3]  # no last page: it is reached by the next links, not by offset
    deep = PageParams(offset=0, limit=20, number=500, after="1.2")
    assert max(n for n in deep.numbers(1_000_000) if n) <= KEYSET_FROM // 20


def test_a_sort_asks_for_a_sortable_column():
    order = RECORDS.order_for(ListParams(sort="number", order="asc"))
    assert order.offset_only
    assert [k.descending for k in order.keys] == [False, False]
    assert RECORDS.order_for(ListParams()) is RECORDS.order
    reverse = RECORDS.order_for(ListParams(order="asc"))
    assert [k.descending for k in reverse.keys] == [False, False]
    with pytest.raises(BadRequest, match="不能按此列排序"):
        RECORDS.order_for(ListParams(sort="alerts"))  # shown, but not sortable
    with pytest.raises(BadRequest, match="原始记录编号"):  # names those that are
        RECORDS.order_for(ListParams(sort="nothing"))


def test_the_links_keep_the_filters_and_the_sort():
    filters = {"q": "PG", "kind": "concrete_compression"}
    sorted_ = Listing(RECORDS, ListParams(sort="number", order="desc"), "/testing/records", filters)
    assert sorted_.sort_href("number") == (
        "/testing/records?q=PG&kind=concrete_compression&sort=number&order=asc"
    )  # sorted descending: the header turns it ascending
    assert sorted_.sort_href("ended_at").endswith("sort=ended_at&order=desc")
    assert sorted_.direction("number") == "descending"
    assert sorted_.direction("kind") is None
    assert sorted_.base == "/testing/records?q=PG&kind=concrete_compression&sort=number&order=desc&"
    assert sorted_.export_href.endswith("&sort=number&order=desc&format=xlsx")
    from starlette.requests import Request

    scope = {"type": "http", "path": "/alerts", "query_string": b"done=confirm&n=3&status=all",
             "headers": []}  # fmt: skip
    after_a_step = Listing.of(Request(scope), RECORDS, ListParams())
    assert after_a_step.filters == {"status": "all"}  # the notice is not kept
    plain = Listing(RECORDS, ListParams(), "/testing/records")
    assert plain.base == "/testing/records?"
    assert plain.export_href == "/testing/records?format=xlsx"


def test_cells_that_look_like_formulas_stay_text():
    data = listing.to_csv([["名称"], ["=HYPERLINK(1)"], ["+1"], ["普通"]])
    text = data.decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text
    assert "'+1" in text


def test_beyond_a_sheet_the_export_is_csv(browser_client, factory, db, monkeypatch):
    from tests.factories import login

    admin = factory.user()
    for n in range(3):
        factory.institution(name=f"导出检测{n}")
    db.commit()
    login(browser_client, admin.username)
    monkeypatch.setattr(listing, "XLSX_MAX_ROWS", 1)
    answer = browser_client.get("/registry/institutions?q=导出检测&format=xlsx")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"].endswith(".csv")
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 4


def test_a_view_says_its_header_in_order():
    view = ListView("x", "测试", (Column("a", "甲"), Column("b", "乙", object())), RECORDS.order,
                    lambda db, rows: [])  # fmt: skip
    assert view.header() == ["甲", "乙"]
    assert [c.key for c in view.sortable] == ["b"]
    assert column([["甲", "乙"], ["1", "2"]], "乙") == ["2"]
