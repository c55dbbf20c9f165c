"""At a browser, on the demo region: the platform administrator opens 运行监控 from the menu on a
PC and on a phone, and sees the four operator alerts the demo planted, each part's state and the
thresholds, nothing wider than the screen."""

from __future__ import annotations

import pytest

from tests.browser.test_sampling_flow import pc, shots

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def test_the_operations_page_on_pc_and_phone(browser, demo_server, tmp_path) -> None:
    out = shots(tmp_path)
    for name, viewport in (("pc", {"width": 1366, "height": 900}), ("phone", PHONE)):
        context, page = pc(browser, demo_server.url, "admin", viewport=viewport)
        page.goto(demo_server.url + "/ops")
        alerts = page.locator("[data-testid=ops-alerts]").inner_text()
        for title in ("报送数据处理滞后", "备份过期", "磁盘空间不足", "定时任务反复失败"):
            assert title in alerts, (name, title)
        assert "video-rec-01" in page.locator("[data-testid=ops-disks]").inner_text()
        assert "可用空间百分比下限" in page.locator("[data-testid=ops-thresholds]").inner_text()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], (name, width)
        page.screenshot(path=str(out / f"ops-{name}.png"), full_page=True)
        context.close()
