"""The optional second factor (TOTP): enrolment, login, replay and guessing limits."""

from __future__ import annotations

import re
import time

import pyotp
from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from tests.factories import PASSWORD, csrf_from, login, page_csrf


def _enrol(client) -> tuple[str, str]:
    """Enrol the logged-in user; returns (secret, the code used to confirm)."""
    token = page_csrf(client, "/account/totp")
    begun = client.post("/account/totp/begin", data={"csrf_token": token})
    assert begun.status_code == 200
    assert "<svg" in begun.text
    secret = re.search(r'data-testid="totp-secret">([A-Z2-7]+)<', begun.text).group(1)
    wrong = client.post("/account/totp/confirm", data={"csrf_token": token, "code": "000000"})
    assert wrong.status_code == 422
    code = pyotp.TOTP(secret).now()
    ok = client.post("/account/totp/confirm", data={"csrf_token": token, "code": code})
    assert ok.status_code == 303
    return secret, code


def _password_step(client, username: str) -> str:
    client.cookies.clear()
    form = csrf_from(client.get("/login").text)
    step1 = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": form}
    )
    assert step1.headers["location"].startswith("/login/totp")
    return form


def test_enable_then_log_in_with_code(browser_client, factory):
    user = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(browser_client, user.username)
    secret, used = _enrol(browser_client)

    form = _password_step(browser_client, user.username)
    assert browser_client.get("/").status_code == 303  # password alone is not enough
    bad = browser_client.post("/login/totp", data={"code": "123456", "csrf_token": form})
    assert bad.status_code == 401
    replay = browser_client.post("/login/totp", data={"code": used, "csrf_token": form})
    assert replay.status_code == 401  # the code that confirmed enrolment is spent
    following = pyotp.TOTP(secret).at(time.time() + 30)  # next time step (drift allowed)
    good = browser_client.post("/login/totp", data={"code": following, "csrf_token": form})
    assert good.status_code == 303
    assert browser_client.get("/").status_code == 200


def test_enrolling_again_does_not_turn_the_factor_off(browser_client, db, factory):
    user = factory.user(Role.CITY_AUTHORITY)
    login(browser_client, user.username)
    _enrol(browser_client)
    token = page_csrf(browser_client, "/account/totp")
    again = browser_client.post("/account/totp/begin", data={"csrf_token": token})
    assert again.status_code == 400
    db.expire_all()
    assert db.get(User, user.id).totp_enabled is True
    wrong = browser_client.post(
        "/account/totp/disable", data={"csrf_token": token, "password": "x"}
    )
    assert wrong.status_code == 422
    off = browser_client.post(
        "/account/totp/disable", data={"csrf_token": token, "password": PASSWORD}
    )
    assert off.status_code == 303
    db.expire_all()
    assert db.get(User, user.id).totp_enabled is False


def test_guessing_codes_locks_even_across_password_logins(browser_client, db, factory, settings):
    settings.login_captcha_after = 0  # the account's lockout alone (captcha: test_captcha.py)
    user = factory.user(Role.STATION)
    login(browser_client, user.username)
    _enrol(browser_client)
    guesses = 0
    while guesses < settings.lockout_threshold:
        form = _password_step(browser_client, user.username)  # a right password each round
        for _ in range(2):
            if guesses == settings.lockout_threshold:
                break
            browser_client.post("/login/totp", data={"code": "000000", "csrf_token": form})
            guesses += 1
    db.expire_all()
    locked = db.scalars(select(User).where(User.id == user.id)).one()
    assert locked.locked_until is not None
    form = csrf_from(browser_client.get("/login").text)
    refused = browser_client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": form}
    )
    assert refused.status_code == 401
