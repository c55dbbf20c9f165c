"""Handling an alert in a real browser (issue 9, workflow): a station user on a phone confirms
it and orders rectification, the institution's user on a PC uploads the evidence, the station
closes the case, each step taken in place on the alert's page (htmx), its errors shown there;
an overdue case shows as escalated in the station's list."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jcjg.alerts import cases
from jcjg.alerts.choices import CaseAction
from jcjg.alerts.models import Case
from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from tests.browser.test_sampling_flow import pc, phone, shots

pytestmark = pytest.mark.browser
PDF = b"%PDF-1.7\n% rectification report\n%%EOF\n"


def _act(page, action: str) -> None:
    page.locator(f"input[name=action][value={action}]").check()


def _step(page, action: str, status: str, note: str = "", **fields: str) -> None:
    """Take one step on the alert's page: in place (htmx), the page not loaded again, its
    address unchanged; the case section shows the new status and says the step was taken."""
    before = page.url
    page.evaluate("window.__sameDocument = true")
    _act(page, action)
    if note:
        page.fill("textarea[name=note]", note)
    for name, value in fields.items():
        page.fill(f"input[name={name}]", value)
    page.click("[data-testid=case-form] button[type=submit]")
    page.wait_for_selector(f"[data-testid=case-status][data-status={status}]")
    assert page.locator("[data-testid=case-done]").is_visible()
    assert page.evaluate("window.__sameDocument === true")
    assert page.url == before


def _create_world(f):
    """A Jiujiang lab with two alerts, one of whose cases is already overdue and escalated;
    the city's station and the lab's staff."""
    lab = f.institution(region_code="360403", name="九江督办检测有限公司")
    alert = f.alert(lab, "压力试验机 YAW-2000（检定过期）")
    late = f.alert(lab, "万能试验机 WAW-600（检定过期）")
    station = f.user(Role.STATION, region_code="360400", username="station_case")
    staff = f.user(Role.INSTITUTION_STAFF, institution=lab, username="lab_case")
    f.db.commit()
    # a case ordered earlier whose deadline has passed: the hourly job escalates it
    principal = principal_for(db=f.db, user=station, settings=f.settings)
    now = utcnow()
    cases.act(db=f.db, settings=f.settings, principal=principal, alert=late,
              action=CaseAction.REQUIRE, now=now - dt.timedelta(days=9),
              deadline=beijing_date(now) - dt.timedelta(days=1),
              responsible=lab.name)  # fmt: skip
    cases.escalate_overdue(f.db, now)
    f.db.commit()
    ids = alert.id, late.id
    f.db.rollback()
    return ids, station.username, staff.username


def _station_confirms_and_orders(page, stale, url: str, alert_id: int, out) -> None:
    """On a phone: a dismissal without its reason is refused in place, the confirmation and
    the order to rectify are taken in place; a second page still showing the old state is told
    why its step is refused."""
    page.goto(f"{url}/alerts/{alert_id}")
    stale.goto(f"{url}/alerts/{alert_id}")
    assert page.locator("[data-testid=case-status]").get_attribute("data-status") == "new"
    # no step chosen for the handler: the step's own fields show once one is
    assert page.locator("input[name=action]:checked").count() == 0
    assert not page.locator("input[name=deadline]").is_visible()
    _act(page, "require")
    assert page.locator("input[name=deadline]").is_visible()
    assert page.locator("select[name=responsible]").is_visible()
    page.evaluate("window.__sameDocument = true")
    _act(page, "dismiss")
    assert not page.locator("input[name=deadline]").is_visible()
    page.click("[data-testid=case-form] button[type=submit]")
    error = page.locator("[data-testid=case-form] small.error")
    error.wait_for()
    assert "请写明理由" in error.inner_text()
    assert page.evaluate("window.__sameDocument === true")
    page.screenshot(path=str(out / "case-refused-phone.png"), full_page=True)
    _step(page, "confirm", "confirmed", "经核实，该设备检定证书已过期")
    deadline = (beijing_date(utcnow()) + dt.timedelta(days=10)).isoformat()
    _step(page, "require", "rectifying", "停用该设备，送检定后上传新的检定证书", deadline=deadline)
    assert deadline in page.locator("[data-testid=case-deadline]").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(out / "case-ordered-phone.png"), full_page=True)

    _act(stale, "confirm")
    stale.click("[data-testid=case-form] button[type=submit]")
    said = stale.locator("[data-testid=case-form] [data-form-error]")
    said.wait_for()
    assert "不能确认预警" in said.inner_text()
    assert stale.locator("[data-testid=case-status]").get_attribute("data-status") == "new"
    stale.screenshot(path=str(out / "case-stale-phone.png"), full_page=True)


def _lab_answers(desk, url: str, alert_id: int, out) -> None:
    """On a PC: the lab's staff sends its rectification with a PDF, in place."""
    desk.goto(f"{url}/alerts/{alert_id}")
    assert desk.locator("input[name=action][value=confirm]").count() == 0
    _act(desk, "rectify")
    desk.set_input_files(
        "input[name=evidence]",
        [{"name": "检定证书.pdf", "mimeType": "application/pdf", "buffer": PDF}],
    )
    _step(desk, "rectify", "rectified", "设备已送检，取得新的检定证书，已恢复使用")
    link = desk.locator("[data-testid=case-history] a", has_text="检定证书.pdf")
    evidence = desk.request.get(url + link.get_attribute("href"))
    assert evidence.ok
    assert evidence.body() == PDF
    desk.screenshot(path=str(out / "case-rectified-pc.png"), full_page=True)


def _escalated_shows(page, url: str, late_id: int, out) -> None:
    """The overdue case in the station's list, on its page, and on the station's home."""
    page.goto(f"{url}/alerts?handling=escalated")
    table = page.locator("[data-testid=alerts-table]").inner_text()
    assert "万能试验机" in table
    assert "压力试验机" not in table
    # the filters (every rule's long title in the rule menu) fit a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.goto(f"{url}/alerts/{late_id}")
    assert "九江市" in page.locator("[data-testid=case-escalated]").inner_text()
    page.screenshot(path=str(out / "case-escalated-phone.png"), full_page=True)
    page.goto(url + "/")  # the station's home: what waits, each a link
    escalated = page.locator("[data-testid=handling] a", has_text="已升级督办")
    assert escalated.get_attribute("data-count") == "1"
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    page.screenshot(path=str(out / "home-station-phone.png"), full_page=True)
    escalated.click()
    page.wait_for_url(f"{url}/alerts?handling=escalated")


def test_a_case_from_confirmation_to_closing(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f, url = live_server.factory, live_server.url
    (alert_id, late_id), station, staff = _create_world(f)

    context, page = phone(browser, url, station)
    stale = context.new_page()
    _station_confirms_and_orders(page, stale, url, alert_id, out)
    stale.close()

    office, desk = pc(browser, url, staff)
    _lab_answers(desk, url, alert_id, out)
    office.close()

    page.goto(f"{url}/alerts/{alert_id}")
    _step(page, "close", "closed", "复核整改材料，符合要求")
    steps = page.locator("[data-testid=case-history] > li")
    assert [steps.nth(i).get_attribute("data-action") for i in range(steps.count())] == [
        "confirm", "require", "rectify", "close",
    ]  # fmt: skip
    page.screenshot(path=str(out / "case-closed-phone.png"), full_page=True)
    _escalated_shows(page, url, late_id, out)
    context.close()
    f.db.rollback()
    assert f.db.scalars(select(Case).where(Case.alert_id == alert_id)).one().status == "closed"
