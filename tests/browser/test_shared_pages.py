"""The alert list shared by two readers of one city (core.pagecache; the live server keeps a
page 30 s rather than the deployed 2, and the principals a minute, so that a slow machine still
shares it), in a real browser, one on a PC and one on a phone: the phone is given the page drawn
for the PC with its own reader's name and token (a confirmation and a logout are taken with
them), the filters swap the results in place, and a reader's own change shows on their list at
once."""

from __future__ import annotations

import pytest

from jcjg.auth.choices import Role
from tests.browser.conftest import serve
from tests.browser.test_sampling_flow import pc, phone, shots
from tests.browser.waiting import wait_for

pytestmark = pytest.mark.browser


def _world(f):
    """A Jiujiang lab with two open alerts; two readers of the city's station."""
    lab = f.institution(region_code="360403", name="九江共享检测有限公司")
    first = f.alert(lab, "压力试验机 YAW-3000（检定过期）")
    f.alert(lab, "万能试验机 WAW-1000（检定过期）")
    f.user(Role.STATION, region_code="360400", username="shared_a", display_name="甲监督员")
    f.user(Role.STATION, region_code="360400", username="shared_b", display_name="乙监督员")
    f.db.commit()
    alert_id = first.id
    f.db.rollback()
    return alert_id


def _given() -> float:
    from prometheus_client import REGISTRY

    found = REGISTRY.get_sample_value("jcjg_shared_pages_total", {"outcome": "given"})
    return found or 0.0


def test_two_readers_share_the_alert_list_each_with_their_own(browser, tmp_path, monkeypatch):
    from jcjg.auth.sessions import PRINCIPALS

    monkeypatch.setattr(PRINCIPALS, "seconds", 60.0)
    with serve(tmp_path, shared_pages_seconds=30.0) as server:
        _share(server, browser, shots(tmp_path))


def _share(server, browser, out) -> None:
    url = server.url
    alert_id = _world(server.factory)
    desk, on_pc = pc(browser, url, "shared_a")
    hand, on_phone = phone(browser, url, "shared_b")  # (a login drops the principals held)
    on_pc.goto(f"{url}/")

    on_pc.goto(f"{url}/alerts")  # drawn for the PC's reader and kept
    assert "甲监督员" in on_pc.locator(".who").inner_text()
    given = _given()
    on_phone.goto(f"{url}/alerts")  # the page drawn for the PC
    assert _given() == given + 1
    assert "压力试验机 YAW-3000" in on_phone.locator("#list-results").inner_text()
    html = on_phone.content()
    assert "乙监督员" in html
    assert "甲监督员" not in html
    assert "jcjg" not in on_phone.locator("meta[name=csrf-token]").get_attribute("content")
    on_phone.screenshot(path=str(out / "shared-alerts-phone.png"), full_page=True)

    # the phone's reader confirms an alert with the token of their page, and their list shows
    # it at once (drawn afresh for them), however recently the city's list was drawn
    on_phone.goto(f"{url}/alerts")
    on_phone.goto(f"{url}/alerts/{alert_id}")
    on_phone.check("input[name=action][value=confirm]")
    on_phone.fill("textarea[name=note]", "经核实，检定证书已过期")
    on_phone.click("[data-testid=case-form] button[type=submit]")
    on_phone.wait_for_selector("[data-testid=case-status][data-status=confirmed]")
    on_phone.goto(f"{url}/alerts")
    handling = on_phone.locator(f"[data-testid=handling-{alert_id}]").inner_text()
    assert handling != "待处理"
    assert "已确认" in handling

    # the PC's reader filters the shared list in place
    on_pc.goto(f"{url}/alerts")
    on_pc.evaluate("window.__sameDocument = true")
    on_pc.select_option("#f-handling", "confirmed")
    on_pc.click("[data-testid=alert-filters] button[type=submit]")
    on_pc.wait_for_url("**/alerts?*handling=confirmed*")
    wait_for(
        on_pc, "!document.querySelector('#list-results tbody').innerText.includes('万能试验机')"
    )
    assert on_pc.evaluate("window.__sameDocument === true")
    assert "压力试验机 YAW-3000" in on_pc.locator("#list-results").inner_text()
    on_pc.screenshot(path=str(out / "shared-alerts-pc.png"), full_page=True)

    # and logs out with the token of the page they were given
    on_pc.click("[data-testid=logout]")
    on_pc.wait_for_url("**/login*")
    desk.close()
    hand.close()
