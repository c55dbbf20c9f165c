"""A station's home in a real browser, on a PC and on a phone: the charts are drawn (a canvas
in each box, an ECharts instance behind it, no script errors), clicking a number opens the
list behind it with the same count, and on a phone the panels stack without the page scrolling
sideways."""

from __future__ import annotations

import re

import pytest

from tests.browser.test_sampling_flow import pc, phone, shots
from tests.home.conftest import build_world

pytestmark = pytest.mark.browser

CHARTS = ["rules", "trend", "top", "uploads", "regions"]


def _watch(page) -> list[str]:
    """Script errors and console errors of ``page``, as they come."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def _charts_drawn(page) -> None:
    for key in CHARTS:
        box = page.locator(f"[data-chart={key}]")
        assert box.count() == 1, key
        box.locator("canvas").first.wait_for(state="attached", timeout=10_000)
        drawn = page.evaluate(
            "(key) => !!echarts.getInstanceByDom(document.querySelector(`[data-chart=${key}]`))",
            key,
        )
        assert drawn, key


def test_a_station_home_on_pc_and_phone(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f, url = live_server.factory, live_server.url
    world = build_world(f.db, f)
    station, staff, party = (world.users[k].username for k in ("station", "staff", "party"))
    late_case = world.cases["late"].id
    f.db.rollback()  # end the read: SQLite lets one writer at a time

    context, page = pc(browser, url, station)
    _station_on_a_pc(page, url, out)
    context.close()
    context, page = phone(browser, url, station)
    _station_on_a_phone(page, url, out)
    context.close()
    context, page = phone(browser, url, staff)
    _institution_on_a_phone(page, url, late_case, out)
    context.close()

    # the party's home on a PC: its projects' nonconformities
    context, page = pc(browser, url, party)
    page.goto(url + "/")
    assert page.locator("[data-testid=dash-projects] tbody tr").count() == 2
    page.screenshot(path=str(out / "home-party-pc.png"), full_page=True)
    context.close()


def _station_on_a_pc(page, url: str, out) -> None:
    """The charts two abreast; a number opens the list behind it, showing as many."""
    errors = _watch(page)
    page.goto(url + "/")
    _charts_drawn(page)
    assert page.locator("[data-testid=dashboard]").get_attribute("data-kind") == "authority"
    panels = page.locator("[data-testid=dash-rules], [data-testid=dash-trend]")
    left, right = (panels.nth(i).bounding_box() for i in range(2))
    assert right["x"] > left["x"] + left["width"] - 1  # two abreast on a PC
    # each figure is its chart or its table, not both: the table behind 数据表, in its place
    assert not page.locator("[data-testid=dash-rules] table").is_visible()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2500, height
    page.screenshot(path=str(out / "home-station-pc.png"), full_page=True)
    page.click("[data-testid=dash-rules] details.data-table > summary")
    assert page.locator("[data-testid=dash-rules] table").is_visible()
    assert not page.locator("[data-chart=rules]").is_visible()
    number = page.locator('a[data-stat="rule:calibration_expired"]')
    count = int(number.get_attribute("data-count"))
    assert count == 4
    number.click()
    page.wait_for_url(re.compile(r".*/alerts\?rule_id=calibration_expired$"))
    assert f"共 {count} 条" in page.locator("main").inner_text()
    assert page.locator("[data-testid=alerts-table] tbody tr").count() == count
    page.go_back()
    overdue = page.locator("[data-testid=handling] a", has_text="不合格结果逾期")
    late = int(overdue.get_attribute("data-count"))
    overdue.click()
    page.wait_for_url(re.compile(r".*/nonconformities\?status=overdue$"))
    assert f"共 {late} 条" in page.locator("main").inner_text()
    assert page.locator("[data-testid=nc-table] tbody tr").count() == late
    assert errors == []


def _station_on_a_phone(page, url: str, out) -> None:
    """The charts stacked, the tables fitting, nothing scrolling sideways."""
    errors = _watch(page)
    page.goto(url + "/")
    _charts_drawn(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 391  # no sideways scroll
    boxes = [page.locator(f"[data-chart={k}]").bounding_box() for k in CHARTS]
    assert all(b["width"] <= 390 for b in boxes)
    xs = {round(b["x"]) for b in boxes}
    assert len(xs) == 1  # stacked, one under the other
    for table in page.locator("[data-testid=dashboard] table").all():
        if table.is_visible():
            wrap = table.evaluate("t => [t.scrollWidth, t.parentElement.clientWidth]")
            assert wrap[0] <= wrap[1] + 1, wrap  # the tables fit, none scrolls sideways
    page.screenshot(path=str(out / "home-station-phone.png"), full_page=True)
    assert errors == []


def _institution_on_a_phone(page, url: str, late_case: int, out) -> None:
    """The institution's home: its cases, the overdue one first and in red."""
    errors = _watch(page)
    page.goto(url + "/")
    first = page.locator("[data-testid=case-rows] tbody tr").first
    assert first.get_attribute("data-case") == str(late_case)
    assert "逾期" in first.inner_text()
    color = first.locator("td.overdue").evaluate("td => getComputedStyle(td).color")
    assert color == "rgb(185, 28, 28)"
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(out / "home-institution-phone.png"), full_page=True)
    assert errors == []
