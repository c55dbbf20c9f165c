"""Lists whose filters and pager reload only their results (htmx), in a real browser on a PC
and on a phone: the results change without the page loading again, the address keeps the
filters, Back shows the list before, and a bad filter is marked where it was typed."""

from __future__ import annotations

import pytest

from jcjg.auth.choices import Role
from tests.browser.test_sampling_flow import pc, phone, shots
from tests.browser.waiting import wait_for

pytestmark = pytest.mark.browser
PC = {"width": 1366, "height": 768}
MARK = "window.__sameDocument"  # set before a swap, gone if the page loaded anew


def _world(factory):
    """Two Jiujiang labs, one with three open alerts, the other with one; the city's station."""
    f = factory
    north = f.institution(region_code="360403", name="九江北区检测有限公司")
    south = f.institution(region_code="360403", name="九江南区检测有限公司")
    for name in ("压力试验机 YAW-2000", "万能试验机 WAW-600", "回弹仪 HT-225"):
        f.alert(north, name)
    f.alert(south, "钢筋扫描仪 PS-200")
    station = f.user(Role.STATION, region_code="360400", username="station_lists")
    f.db.commit()
    ids = north.id, south.id
    f.db.rollback()
    return ids, station.username


def _rows(page) -> str:
    return page.locator("[data-testid=alerts-table] tbody").inner_text()


def _mark(page) -> None:
    page.evaluate(f"{MARK} = true")


def _same_document(page) -> bool:
    return bool(page.evaluate(f"{MARK} === true"))


def _filter_by_institution(page, url: str, south_id: int) -> None:
    """Choose the south lab and ask: only its alert remains, in the same document."""
    page.goto(f"{url}/alerts")
    assert "压力试验机" in _rows(page)
    _mark(page)
    # on a phone the filters wait closed behind 筛选条件 (the alerts first), on a PC open
    box = page.locator("[data-testid=alert-filter-box]")
    phone = page.viewport_size["width"] < 600
    assert (box.get_attribute("open") is None) == phone
    if phone:
        box.locator("summary").click()
    page.select_option("#f-institution_id", str(south_id))
    page.click("[data-testid=alert-filters] button[type=submit]")
    page.wait_for_url(f"**/alerts?*institution_id={south_id}*")
    wait_for(
        page, "!document.querySelector('#list-results tbody').innerText.includes('压力试验机')"
    )
    assert "钢筋扫描仪" in _rows(page)
    assert _same_document(page)
    assert page.input_value("#f-institution_id") == str(south_id)


def test_filters_and_pages_swap_the_alert_results_on_a_pc(live_server, browser, tmp_path):
    out = shots(tmp_path)
    url = live_server.url
    (north_id, south_id), username = _world(live_server.factory)
    context, page = pc(browser, url, username, viewport=PC)
    _filter_by_institution(page, url, south_id)
    page.screenshot(path=str(out / "alerts-filtered-pc.png"), full_page=True)
    # the desk: one line per alert, the whole text in the cell's title
    page.goto(f"{url}/alerts")
    lines = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=alerts-table] tbody tr')].map(
             (row) => row.getBoundingClientRect().height
               / parseFloat(getComputedStyle(row.cells[2]).lineHeight))"""
    )
    assert lines, "no alert rows"
    assert max(lines) <= 2.5, lines
    rule = page.locator("[data-testid=alerts-table] tbody td[data-label=规则]").first
    assert rule.get_attribute("title") == rule.inner_text()

    # two a page: the pager swaps the results too, and the address follows
    page.goto(f"{url}/alerts?institution_id={north_id}&limit=2")
    assert "第 1 / 2 页，共 3 条" in page.locator("#list-results").inner_text()
    first_page = _rows(page)
    _mark(page)
    page.click("#list-results .pager a:has-text('下一页')")
    page.wait_for_url("**/alerts?*offset=2*")
    wait_for(page, "document.querySelector('#list-results').innerText.includes('第 2 / 2 页')")
    assert _same_document(page)
    assert f"institution_id={north_id}" in page.url
    second_page = _rows(page)
    assert second_page.strip()
    assert second_page != first_page
    page.screenshot(path=str(out / "alerts-page-2-pc.png"), full_page=True)

    # Back shows the first page again (loaded afresh: no copies of pages kept in the browser)
    page.go_back()
    page.wait_for_url(f"{url}/alerts?institution_id={north_id}&limit=2")
    wait_for(page, "document.querySelector('#list-results').innerText.includes('第 1 / 2 页')")
    assert _rows(page) == first_page
    assert page.evaluate("localStorage.getItem('htmx-history-cache')") is None

    # the region is chosen from a menu of the scope's regions, by name; a bad code in the
    # address (a hand-edited or stale link) is marked at its field, in Chinese
    options = page.locator("#f-region_code option").all_inner_texts()
    assert "江西省九江市浔阳区" in options
    assert not any(text.isdigit() for text in options)
    page.goto(url + "/alerts?region_code=36x")
    error = page.locator("#e-region_code")
    error.wait_for()
    assert "行政区划代码应为 6 位数字" in error.inner_text()
    assert page.get_attribute("#f-region_code", "aria-invalid") == "true"
    page.goto(url + "/alerts?region_code=360102")  # Nanchang: not the station's
    assert "不在当前账号的数据范围内" in page.locator("#e-region_code").inner_text()
    page.screenshot(path=str(out / "alerts-filter-error-pc.png"), full_page=True)
    context.close()


def test_filters_swap_the_alert_results_on_a_phone(live_server, browser, tmp_path):
    out = shots(tmp_path)
    url = live_server.url
    (_, south_id), username = _world(live_server.factory)
    context, page = phone(browser, url, username)
    _filter_by_institution(page, url, south_id)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(out / "alerts-filtered-phone.png"), full_page=True)
    # the address is the list: opened afresh it shows the same results
    page.goto(page.url)
    assert "钢筋扫描仪" in _rows(page)
    assert "压力试验机" not in _rows(page)
    # a bad filter in the address keeps the filters open on a phone, its error beside its field
    page.goto(url + "/alerts?region_code=36x")
    error = page.locator("#e-region_code")
    error.wait_for()
    assert page.locator("[data-testid=alert-filter-box]").get_attribute("open") is not None
    assert error.is_visible()
    assert "行政区划代码应为 6 位数字" in error.inner_text()
    page.screenshot(path=str(out / "alerts-filter-error-phone.png"), full_page=True)
    context.close()
