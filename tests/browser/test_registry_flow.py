"""An institution administrator, at a browser, adds an inspector and a piece of equipment."""

from __future__ import annotations

import pytest

from jcjg.auth.choices import Role
from jcjg.registry.models import Equipment, Person
from tests.factories import PASSWORD, catalogue, id_number

pytestmark = pytest.mark.browser


def test_institution_admin_adds_an_inspector_and_equipment(live_server, browser, tmp_path):
    f = live_server.factory
    inst = f.institution(region_code="360403", name="九江浏览器测试检测站")
    specialty, item, _ = catalogue(f.db)
    f.db.commit()
    admin = f.user(Role.INSTITUTION_ADMIN, institution=inst, username="lab_admin_b")
    page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page.goto(live_server.url + "/login")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")

    page.goto(live_server.url + "/registry/people/new")
    page.fill("#f-name", "赵检测")
    page.fill("#f-id_number", "360402198503120018")  # wrong check digit first
    page.select_option("#f-title", "intermediate")
    page.fill("#f-years_in_testing", "6")
    page.select_option("#f-specialties", str(specialty.id))
    page.fill("#f-mobile", "13912345678")
    page.click("main form button[type=submit]")
    assert "身份证号校验码不正确" in page.content()
    page.fill("#f-id_number", id_number(77))
    page.click("main form button[type=submit]")
    page.wait_for_url("**/registry/people/*?saved=1")
    facts = page.locator("[data-testid=facts]").inner_text()
    assert "赵检测" in facts
    assert id_number(77) not in facts  # masked
    assert "139****5678" in facts
    assert "检测人员\n是" in facts
    page.screenshot(path=str(tmp_path / "person.png"), full_page=True)

    page.goto(live_server.url + "/registry/equipment/new")
    page.fill("#f-name", "全自动压力试验机")
    page.fill("#f-model", "YAW-3000")
    page.fill("#f-calibration_valid_until", "2027-06-30")
    page.select_option("#f-test_items", str(item.id))
    page.select_option("#f-status", "in_use")
    page.click("main form button[type=submit]")
    page.wait_for_url("**/registry/equipment/*?saved=1")
    assert "YAW-3000" in page.content()

    page.goto(live_server.url + "/registry/equipment")
    assert "全自动压力试验机" in page.locator("[data-testid=registry-table]").inner_text()
    page.screenshot(path=str(tmp_path / "equipment-list.png"), full_page=True)

    f.db.expire_all()
    assert f.db.query(Person).filter_by(institution_id=inst.id, name="赵检测").count() == 1
    assert f.db.query(Equipment).filter_by(institution_id=inst.id, model="YAW-3000").count() == 1
