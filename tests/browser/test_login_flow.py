"""A person at a browser: log in, see the Chinese home page, change the password, log out."""

from __future__ import annotations

import pytest

from jcjg.auth.choices import Role
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def test_login_home_password_logout(live_server, browser, tmp_path):
    user = live_server.factory.user(Role.CITY_AUTHORITY, region_code="360400", username="jj_city_b")
    page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 800})
    page.goto(live_server.url + "/")  # a visitor: the public portal, staff's login linked
    assert page.url == live_server.url + "/public"
    page.click("[data-testid=portal-login]")
    assert page.url.startswith(live_server.url + "/login")
    assert page.locator("h2").inner_text() == "登录"

    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "Wrong-pass-1")
    page.click("button[type=submit]")
    assert (
        page.locator("[data-testid=login-error]").inner_text()
        == "用户名或密码错误，或账号已被临时锁定"
    )

    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/")
    assert "您好" in page.locator("[data-testid=welcome]").inner_text()
    assert "市县主管部门" in page.content()
    assert page.locator("[data-testid=scope]").inner_text() == "江西省九江市及下辖"
    assert "用户管理" in page.content()
    page.screenshot(path=str(tmp_path / "home.png"), full_page=True)

    page.goto(live_server.url + "/account/password")
    page.fill("input[name=old_password]", PASSWORD)
    page.fill("input[name=new_password]", "Changed-in-2026")
    page.fill("input[name=new_password2]", "Changed-in-2026")
    page.click("form[action='/account/password'] button[type=submit]")
    page.wait_for_url(live_server.url + "/?password_changed=1")
    assert "密码已修改" in page.content()

    page.click("[data-testid=logout]")
    page.wait_for_url("**/login?logged_out=1")
    assert "您已安全退出" in page.content()
    page.goto(live_server.url + "/")  # logged out: a visitor again
    assert page.url == live_server.url + "/public"
    page.goto(live_server.url + "/account/tokens")  # an account's page asks for the login
    assert "/login" in page.url

    # the new password is the one that works now
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", "Changed-in-2026")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/account/tokens")  # back where it asked


def test_phone_layout(live_server, browser, tmp_path):
    user = live_server.factory.user(Role.WITNESS, username="witness_b")
    page = browser.new_page(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto(live_server.url + "/login")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/m")  # a witness lands on the phone pages' work
    # nothing wider than the phone's screen, there and on the home
    for path, shot in (("/m", "phone-m.png"), ("/", "phone-home.png")):
        page.goto(live_server.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, path
        page.screenshot(path=str(tmp_path / shot), full_page=True)
