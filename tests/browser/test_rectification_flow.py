"""A rectification order in real browsers (002 articles 17-18): a station user on a PC issues
an order from an alert's page, the institution's user on a phone finds it in the inbox and
answers with a PDF, the station closes and publishes it, and an anonymous phone sees it on the
public list."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.rectification.models import RectificationOrder
from tests.browser.test_sampling_flow import PHONE, pc, phone, shots

pytestmark = pytest.mark.browser
PDF = b"%PDF-1.7\n% rectification answer\n%%EOF\n"


def _step(page, action: str, note: str) -> None:
    page.locator(f"input[name=action][value={action}]").check()
    page.fill("textarea[name=note]", note)
    page.click("[data-testid=step-form] button[type=submit]")


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1


def test_an_order_from_issue_to_the_public_list(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f, url = live_server.factory, live_server.url
    lab = f.institution(region_code="360403", name="九江整改检测有限公司")
    alert = f.alert(lab, "压力试验机 YAW-2000（检定过期）")
    station = f.user(Role.STATION, region_code="360400", username="station_rect")
    staff = f.user(Role.INSTITUTION_STAFF, institution=lab, username="lab_rect")
    f.db.commit()
    alert_id = alert.id
    f.db.rollback()

    office, desk = pc(browser, url, station.username)
    number, order_url = _station_issues(desk, url, lab, alert_id, out)
    context, hand = phone(browser, url, staff.username)
    _lab_answers(hand, url, number, order_url, out)
    context.close()
    _station_closes_and_publishes(desk, url, number, order_url, out)
    office.close()
    _the_public_sees_it(browser, url, number, lab.name, (station, staff), out)
    f.db.rollback()
    order = f.db.scalars(select(RectificationOrder).where(RectificationOrder.number == number))
    assert order.one().is_public


def _station_issues(desk, url: str, lab, alert_id: int, out) -> tuple[str, str]:
    """On a PC, from the alert's page; returns the order's number and address."""
    desk.goto(f"{url}/alerts/{alert_id}")
    desk.click("[data-testid=issue-order]")
    desk.wait_for_url(f"{url}/rectification-orders/new?institution_id={lab.id}&alert_id={alert_id}")
    assert lab.name in desk.locator("[data-testid=order-institution]").inner_text()
    assert desk.locator(f"input[name=alert_ids][value='{alert_id}']").is_checked()
    desk.locator("input[name=grounds][value=records_not_kept]").check()
    desk.locator("input[name=grounds][value=not_uploaded]").check()
    desk.fill(
        "textarea[name=findings]",
        "压力试验机检定证书过期 12 天仍在使用，期间 8 份检测数据未按要求上传监管平台。",
    )
    desk.fill(
        "textarea[name=requirement]",
        "停用该设备并送检定；补传全部检测数据；完善设备检定和数据上传管理制度。",
    )
    desk.screenshot(path=str(out / "rect-new-pc.png"), full_page=True)
    desk.click("[data-testid=order-form] button[type=submit]")
    desk.wait_for_url(f"{url}/rectification-orders/*?done=issue")
    assert desk.locator("[data-testid=order-status]").get_attribute("data-status") == "issued"
    number = desk.locator("h1 code").inner_text()
    assert number.startswith("ZG360400")
    assert desk.locator(f"[data-testid=order-alerts] a[href='/alerts/{alert_id}']").count() == 1
    _fits(desk, 1280)
    desk.screenshot(path=str(out / "rect-issued-pc.png"), full_page=True)
    return number, desk.url.split("?", 1)[0]


def _lab_answers(hand, url: str, number: str, order_url: str, out) -> None:
    """On a phone: from the inbox, the answer with a PDF."""
    hand.goto(f"{url}/inbox")
    hand.locator("[data-testid=inbox] a", has_text=number).click()
    hand.wait_for_url(order_url)
    assert hand.locator("input[name=action][value=close]").count() == 0
    hand.locator("input[name=action][value=answer]").check()
    answer = "设备已停用并送检，取得新检定证书；8 份数据已补传；制度已修订。"
    hand.fill("textarea[name=note]", answer)
    hand.set_input_files(
        "input[name=evidence]",
        [{"name": "检定证书及补传清单.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    hand.click("[data-testid=step-form] button[type=submit]")
    hand.wait_for_url(f"{order_url}?done=answer")
    assert hand.locator("[data-testid=order-status]").get_attribute("data-status") == "answered"
    link = hand.locator("[data-testid=order-answer] a", has_text="检定证书及补传清单.pdf")
    assert hand.request.get(url + link.get_attribute("href")).body() == PDF
    _fits(hand, PHONE["width"])
    hand.screenshot(path=str(out / "rect-answered-phone.png"), full_page=True)


def _station_closes_and_publishes(desk, url: str, number: str, order_url: str, out) -> None:
    desk.goto(order_url)
    _step(desk, "close", "复核整改材料，符合要求")
    desk.wait_for_url(f"{order_url}?done=close")
    _step(desk, "publish", "该机构已停用超期设备，补传全部检测数据，整改到位")
    desk.wait_for_url(f"{order_url}?done=publish")
    assert desk.locator("[data-testid=order-status]").get_attribute("data-status") == "closed"
    steps = desk.locator("[data-testid=order-history] > li")
    assert [steps.nth(i).get_attribute("data-action") for i in range(steps.count())] == [
        "issue", "answer", "close", "publish",
    ]  # fmt: skip
    assert "已公布" in desk.locator("[data-testid=order-public]").inner_text()
    desk.screenshot(path=str(out / "rect-published-pc.png"), full_page=True)
    desk.goto(f"{url}/rectification-orders")
    assert number in desk.locator("[data-testid=orders-table]").inner_text()
    _fits(desk, 1280)
    desk.screenshot(path=str(out / "rect-list-pc.png"), full_page=True)


def _the_public_sees_it(browser, url: str, number: str, lab_name: str, people, out) -> None:
    """An anonymous phone: the order on the public list, with the station's public account
    and none of the evidence or the names of the people who handled it; then on a PC."""
    anonymous = browser.new_context(locale="zh-CN", viewport=PHONE, device_scale_factor=2,
                                    is_mobile=True, has_touch=True)  # fmt: skip
    public = anonymous.new_page()
    public.goto(f"{url}/public/rectification-orders")
    listed = public.locator("[data-testid=public-orders]").inner_text()
    assert number in listed
    assert lab_name in listed
    assert "不按规定保存相关数据、记录和资料" in listed
    assert "已办结" in listed
    assert "补传全部检测数据，整改到位" in listed  # the station's public account
    for secret in ("检定证书及补传清单.pdf", *(p.display_name for p in people)):
        assert secret not in public.content()
    _fits(public, PHONE["width"])
    public.screenshot(path=str(out / "rect-public-phone.png"), full_page=True)
    public.locator("[data-testid=public-orders] a", has_text=number).click()
    public.wait_for_url(f"{url}/public/rectification-orders/{number}")
    anonymous.close()
    wide = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = wide.new_page()
    page.goto(f"{url}/public/rectification-orders")
    page.screenshot(path=str(out / "rect-public-pc.png"), full_page=True)
    wide.close()
