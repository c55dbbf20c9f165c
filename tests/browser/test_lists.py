"""Lists on a phone (390 x 844) are cards, nothing wider than the screen; on a PC a table with
headers that sort and a count with its export link (core.listing, static/css/lists.css)."""

from __future__ import annotations

import pytest

from tests.browser.test_sampling_flow import pc, phone, shots
from tests.home.conftest import build_world

pytestmark = pytest.mark.browser

LISTS = [
    ("/alerts?status=all", "alerts-table", "alerts"),
    ("/testing/records", "records-table", "records"),
    ("/nonconformities", "nc-table", "nonconformities"),
    ("/projects", "projects-table", "projects"),
]


def test_lists_are_cards_on_a_phone_and_tables_on_a_pc(live_server, browser, tmp_path):
    world = build_world(live_server.factory.db, live_server.factory)
    out = shots(tmp_path)
    url, user = live_server.url, world.users["admin"].username
    context, page = phone(browser, url, user)
    try:
        for path, table, name in LISTS:
            page.goto(url + path)
            page.wait_for_load_state()
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, (path, width)
            rows = page.locator(f"[data-testid={table}] tbody tr")
            assert rows.count() > 0, path
            first = rows.first
            assert first.evaluate("e => getComputedStyle(e).display") == "block", path
            cell = first.locator("td[data-label]").first
            label = cell.evaluate("e => getComputedStyle(e, '::before').content")
            assert label.strip('"') == cell.get_attribute("data-label"), path
            assert page.locator(f"[data-testid={table}] thead").evaluate(
                "e => e.getBoundingClientRect().height <= 1"
            ), path  # the header row is hidden: each cell says its label
            page.screenshot(path=str(out / f"list-{name}-phone.png"), full_page=True)
            page.locator("[data-testid=list-count]").scroll_into_view_if_needed()
            page.screenshot(path=str(out / f"list-{name}-phone-cards.png"))
    finally:
        context.close()

    context, page = pc(browser, url, user, viewport={"width": 1366, "height": 768})
    try:
        for path, table, name in LISTS[:2]:
            page.goto(url + path)
            page.wait_for_load_state()
            rows = page.locator(f"[data-testid={table}] tbody tr")
            assert rows.first.evaluate("e => getComputedStyle(e).display") == "table-row"
            shape = page.locator(f"[data-testid={table}]").evaluate(
                "e => [getComputedStyle(e).display, e.querySelector('thead tr').children.length,"
                " e.querySelector('tbody tr').children.length]"
            )
            assert shape[0] == "table"
            assert shape[1] == shape[2]  # a header above each column
            assert page.locator("[data-testid=export-xlsx]").is_visible()
            assert "共" in page.locator("[data-testid=list-count]").inner_text()
            page.screenshot(path=str(out / f"list-{name}-pc.png"), full_page=False)
        # a header sorts the results in place (htmx) and the address keeps it
        page.goto(url + "/alerts?status=all")
        page.click("[data-testid=sort-subject]")
        page.wait_for_url(lambda address: "sort=subject" in address)
        header = page.locator("th[aria-sort]")
        assert header.get_attribute("aria-sort") == "descending"
        assert "status=all" in page.url
    finally:
        context.close()
