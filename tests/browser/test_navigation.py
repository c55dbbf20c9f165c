"""The menu, the breadcrumbs and the charts in a real browser, at 1366x768 and at 390x844: a
grouped side menu on the PC, a bottom bar with 更多 on the phone; the home's and the
statistics' charts drawn, their tables behind 数据表; no page wider than the phone; and no
Content-Security-Policy violation (nor any other script error) on the way."""

from __future__ import annotations

import pytest

from jcjg.auth.choices import Role
from tests.browser.test_sampling_flow import PHONE, pc, phone, shots
from tests.home.conftest import build_world

pytestmark = pytest.mark.browser

PC = {"width": 1366, "height": 768}


def _watch(page) -> list[str]:
    """Script errors, console errors and CSP violations of ``page``, as they come."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    return errors


def _drawn(page, selector: str) -> None:
    page.locator(f"{selector} canvas").first.wait_for(state="attached", timeout=10_000)
    assert page.evaluate("(s) => !!echarts.getInstanceByDom(document.querySelector(s))", selector)


def _tip(page, selector: str) -> None:
    """Show the tooltip of the chart in ``selector``'s first point."""
    page.evaluate(
        """(s) => echarts.getInstanceByDom(document.querySelector(s))
            .dispatchAction({type: 'showTip', seriesIndex: 0, dataIndex: 0})""",
        selector,
    )


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1


def test_menu_home_and_statistics_on_pc_and_phone(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f, url = live_server.factory, live_server.url
    world = build_world(f.db, f)
    station = world.users["station"].username
    admin = world.users["admin"].username
    witness = f.user(Role.WITNESS).username
    f.db.rollback()
    _station_on_a_pc(browser, url, station, out)
    _admin_on_a_pc(browser, url, admin, out)
    _station_on_a_phone(browser, url, station, out)
    _witness_on_a_phone(browser, url, witness, out)


def _station_on_a_pc(browser, url: str, station: str, out) -> None:
    """The side menu beside the page, its current entry marked; no bottom bar."""
    context, page = pc(browser, url, station, viewport=PC)
    errors = _watch(page)
    page.goto(url + "/")
    for key in ("rules", "trend", "top", "uploads", "regions"):
        _drawn(page, f"[data-chart={key}]")
    menu = page.locator("[data-testid=sidenav]")
    assert menu.is_visible()
    assert menu.locator("a[aria-current=page]").inner_text() == "首页"
    assert not page.locator("[data-testid=bottombar]").is_visible()
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 2500, height
    # a chart's tooltip is drawn on the canvas (ECharts' HTML tooltips carry inline styles,
    # which the policy refuses: each refusal would be a console error below)
    _tip(page, "[data-chart=rules]")
    page.screenshot(path=str(out / "nav-home-station-pc.png"), full_page=True)
    menu.get_by_role("link", name="检测统计", exact=True).click()
    page.wait_for_url(url + "/testing/stats")
    _drawn(page, "#stats-chart")
    _tip(page, "#stats-chart")
    assert not page.locator("[data-testid=stats-table]").is_visible()
    crumbs = page.locator("[data-testid=breadcrumbs] li").all_inner_texts()
    assert [c.strip() for c in crumbs] == ["首页", "工程与检测", "检测统计"]
    assert menu.locator("a[aria-current=page]").inner_text() == "检测统计"
    page.screenshot(path=str(out / "nav-stats-station-pc.png"), full_page=True)
    page.click("[data-testid=stats-figure] details.data-table > summary")
    assert page.locator("[data-testid=stats-table]").is_visible()
    assert not page.locator("#stats-chart").is_visible()
    # the region view: treemaps by county, the sites on a longitude/latitude plot
    menu.locator("a", has_text="区域分布").click()
    page.wait_for_url(url + "/regions/overview")
    for plot in ("institutions", "projects", "sites"):
        _drawn(page, f"[data-plot={plot}]")
        _tip(page, f"[data-plot={plot}]")
    page.screenshot(path=str(out / "nav-regions-station-pc.png"), full_page=True)
    assert errors == []
    context.close()


def _admin_on_a_pc(browser, url: str, admin: str, out) -> None:
    """The platform administrator: the provinces with data, the rest in one folded line."""
    context, page = pc(browser, url, admin, viewport=PC)
    errors = _watch(page)
    page.goto(url + "/")
    _drawn(page, "[data-chart=regions]")
    assert page.locator("[data-testid=regions-empty] summary").inner_text().startswith("另有")
    page.screenshot(path=str(out / "nav-home-admin-pc.png"), full_page=True)
    assert errors == []
    context.close()


def _station_on_a_phone(browser, url: str, station: str, out) -> None:
    """The bottom bar, 更多 opens the whole menu; charts drawn, nothing wider."""
    context, page = phone(browser, url, station)
    errors = _watch(page)
    page.goto(url + "/")
    _drawn(page, "[data-chart=rules]")
    _fits(page)
    assert not page.locator("[data-testid=sidenav]").is_visible()
    bar = page.locator("[data-testid=bottombar]")
    assert bar.is_visible()
    assert bar.locator("a").all_inner_texts() == ["首页", "预警", "检测数据", "不合格台账", "更多"]
    page.screenshot(path=str(out / "nav-home-station-phone.png"), full_page=True)
    bar.locator("[data-testid=more]").click()
    menu = page.locator("[data-testid=sidenav]")
    assert menu.is_visible()
    page.screenshot(path=str(out / "nav-menu-station-phone.png"))
    menu.get_by_role("link", name="检测统计", exact=True).click()
    page.wait_for_url(url + "/testing/stats")
    _drawn(page, "#stats-chart")
    _fits(page)
    page.screenshot(path=str(out / "nav-stats-station-phone.png"), full_page=True)
    page.goto(url + "/regions/overview")
    _drawn(page, "[data-plot=projects]")
    _fits(page)
    page.screenshot(path=str(out / "nav-regions-station-phone.png"), full_page=True)
    assert errors == []
    context.close()


def _witness_on_a_phone(browser, url: str, witness: str, out) -> None:
    """A witness lands on the phone pages; the bar leads there first."""
    context, page = phone(browser, url, witness)
    assert page.url.removeprefix(url).split("?")[0] == "/m"
    first = page.locator("[data-testid=bottombar] a").first
    assert first.get_attribute("href") == "/m"
    assert first.get_attribute("aria-current") == "page"
    _fits(page)
    page.screenshot(path=str(out / "nav-m-witness-phone.png"), full_page=True)
    context.close()
