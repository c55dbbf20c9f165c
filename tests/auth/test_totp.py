"""The optional second factor (TOTP)."""

from __future__ import annotations

import re

import pyotp

from jcjg.auth.choices import Role
from tests.factories import PASSWORD, csrf_from, login, page_csrf


def test_enable_then_log_in_with_code(app, browser_client, factory):
    user = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, user.username)
    token = page_csrf(browser_client, "/account/totp")
    begun = browser_client.post("/account/totp/begin", data={"csrf_token": token})
    assert begun.status_code == 200
    assert "<svg" in begun.text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', begun.text).group(1)
    wrong = browser_client.post(
        "/account/totp/confirm", data={"csrf_token": token, "code": "000000"}
    )
    assert wrong.status_code == 422
    ok = browser_client.post(
        "/account/totp/confirm", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()}
    )
    assert ok.status_code == 303
    browser_client.post("/logout", data={"csrf_token": token})

    # password alone is no longer enough
    form = csrf_from(browser_client.get("/login").text)
    step1 = browser_client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": form}
    )
    assert step1.headers["location"].startswith("/login/totp")
    assert browser_client.get("/").status_code == 303  # not logged in yet
    bad = browser_client.post("/login/totp", data={"code": "123456", "csrf_token": form})
    assert bad.status_code == 401
    good = browser_client.post(
        "/login/totp", data={"code": pyotp.TOTP(secret).now(), "csrf_token": form}
    )
    assert good.status_code == 303
    assert browser_client.get("/").status_code == 200
