"""Password policy, lockout, expiry and history (001 8.3.3)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from jcjg.accounts.service import address_wait, set_password
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.auth.passwords import (
    character_classes,
    generate_password,
    is_expired,
    policy_problems,
    verify_password,
)
from jcjg.core.db import utcnow
from jcjg.core.errors import ValidationFailed
from tests.factories import PASSWORD, csrf_from, login, page_csrf


@pytest.mark.parametrize(
    ("password", "ok"),
    [
        ("Abcdef12", True),  # 8 characters, three classes
        ("abcdef1!", True),
        ("Abc1!", False),  # too short
        ("abcdefgh", False),  # one class
        ("abcdefg1", False),  # two classes
        ("ABCDEFG1", False),
        ("Abcdefgh", False),
        ("密码密码Abc1", True),  # non-ASCII counts as a special character
    ],
)
def test_strength_rules(settings, password, ok):
    classes_only = settings.model_copy(update={"password_min_strength": 0})
    assert (policy_problems(password, classes_only) == []) is ok


@pytest.mark.parametrize(
    "password",
    ["Password1!", "P@ssw0rd", "Admin@123", "Qwerty123!", "1qaz@WSX", "Welcome1!", "Jiangxi@2026"],
)
def test_common_passwords_and_their_variants_are_refused(settings, password):
    """Each has 8 characters and 3 classes: only the common-password list refuses them."""
    classes_only = settings.model_copy(update={"password_min_strength": 0})
    assert policy_problems(password, classes_only) == []
    assert policy_problems(password, settings) == [
        "密码过于常见或容易猜到（如 Password1!、Admin@123 及其变形），请换一个"
    ]


@pytest.mark.parametrize(
    "password", ["Brand-new-2026", "Jcjg-test-2026", "Kx7#mq2Lw9", "检测中心2026Ab!"]
)
def test_uncommon_passwords_pass(settings, password):
    assert policy_problems(password, settings) == []


def test_the_guessability_check_reads_a_long_password_quickly(settings):
    import time

    started = time.perf_counter()
    assert policy_problems("k9#Qz" * 25, settings) == []  # 125 characters
    assert time.perf_counter() - started < 1.0  # zxcvbn on all 125: about a second


def test_policy_messages_are_chinese_and_name_the_rule(settings):
    problems = policy_problems("abc", settings, username="abc")
    assert any("至少 8 位" in p for p in problems)
    assert any("至少 3 类" in p for p in problems)
    assert any("用户名" in p for p in problems)


def test_policy_is_configurable(settings):
    strict = settings.model_copy(update={"password_min_length": 12, "password_min_classes": 4})
    assert policy_problems("Abcdef12", strict)
    assert policy_problems("Abcdef12!xyz", strict) == []


def test_classes_and_generated_passwords(settings):
    assert character_classes("aA1!") == 4
    for _ in range(20):
        assert policy_problems(generate_password(), settings) == []


def test_hash_is_argon2id(factory):
    user = factory.user()
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, PASSWORD)
    assert not verify_password(user.password_hash, PASSWORD + "x")
    assert not verify_password("not a hash", PASSWORD)


def test_expiry(settings):
    now = utcnow()
    assert not is_expired(now - dt.timedelta(days=89), settings, now)
    assert is_expired(now - dt.timedelta(days=91), settings, now)
    never = settings.model_copy(update={"password_max_age_days": 0})
    assert not is_expired(now - dt.timedelta(days=9999), never, now)


def test_last_five_passwords_cannot_be_reused(db, settings, factory):
    user = factory.user()
    history = [PASSWORD]
    for n in range(5):
        new = f"Rotate-{n}-Kq7w"
        set_password(db=db, settings=settings, user=user, new_password=new)
        history.append(new)
    # the current one and the four before it are refused ...
    for old in history[-5:]:
        with pytest.raises(ValidationFailed) as err:
            set_password(db=db, settings=settings, user=user, new_password=old)
        assert "最近 5 次" in err.value.detail
    # ... the sixth back is allowed again
    set_password(db=db, settings=settings, user=user, new_password=history[0])
    assert verify_password(user.password_hash, history[0])


def _post_login(client, username, password):
    token = csrf_from(client.get("/login", headers={"accept": "text/html"}).text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )


def test_five_failures_lock_the_account(client, db, factory, settings):
    settings.login_captcha_after = 0  # the account's lockout alone (captcha: test_captcha.py)
    user = factory.user()
    answers = set()
    for _ in range(5):
        response = _post_login(client, user.username, "wrong-Password-1")
        assert response.status_code == 401
        answers.add(response.text.split('data-testid="login-error">')[1].split("<")[0])
    # even the right password is refused while locked, with the very same answer
    response = _post_login(client, user.username, PASSWORD)
    assert response.status_code == 401
    answers.add(response.text.split('data-testid="login-error">')[1].split("<")[0])
    unknown = _post_login(client, "no-such-user", "wrong-Password-1")
    answers.add(unknown.text.split('data-testid="login-error">')[1].split("<")[0])
    assert answers == {"用户名或密码错误，或账号已被临时锁定"}  # nothing to tell them apart
    db.refresh(user)
    assert user.locked_until is not None
    actions = db.scalars(
        select(AuditLog.action)
        .where(AuditLog.object_type == "user_account", AuditLog.object_id == str(user.id))
        .order_by(AuditLog.id)
    ).all()
    assert actions.count("login_failed") == 6
    assert "locked" in actions
    # when the lock has run out, the right password works and the counter is reset
    user.locked_until = utcnow() - dt.timedelta(seconds=1)
    db.commit()
    assert _post_login(client, user.username, PASSWORD).status_code == 303
    db.refresh(user)
    assert user.failed_logins == 0


def test_unknown_user_gets_the_same_answer(client):
    response = _post_login(client, "nobody-here", "wrong-Password-1")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text


def test_expired_password_forces_a_change(browser_client, db, factory):
    user = factory.user(Role.CITY_AUTHORITY)
    user.password_changed_at = utcnow() - dt.timedelta(days=91)
    db.commit()
    login(browser_client, user.username)
    home = browser_client.get("/")
    assert home.status_code == 303
    assert home.headers["location"].startswith("/account/password")
    api = browser_client.get("/api/v1/users", headers={"accept": "application/json"})
    assert api.status_code == 403
    assert api.json()["type"] == "/problems/password-expired"
    assert api.json()["change_password_url"] == "/account/password"
    assert "/account/password" in api.json()["detail"]
    page = browser_client.get("/account/password?expired=1")
    assert "密码已过期" in page.text
    token = csrf_from(page.text)
    response = browser_client.post(
        "/account/password",
        data={
            "old_password": PASSWORD,
            "new_password": "Brand-new-2026",
            "new_password2": "Brand-new-2026",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    assert browser_client.get("/").status_code == 200


def test_first_login_with_initial_password_forces_a_change(browser_client, factory):
    user = factory.user(Role.STATION, must_change_password=True)
    login(browser_client, user.username)
    assert browser_client.get("/").headers["location"].startswith("/account/password")


def test_password_change_form_errors(browser_client, factory):
    user = factory.user()
    login(browser_client, user.username)
    token = page_csrf(browser_client, "/account/password")

    def change(old, new, new2):
        return browser_client.post(
            "/account/password",
            data={
                "old_password": old,
                "new_password": new,
                "new_password2": new2,
                "csrf_token": token,
            },
        )

    assert "原密码不正确" in change("Wrong-old-1", "Brand-new-2026", "Brand-new-2026").text
    assert "两次输入的新密码不一致" in change(PASSWORD, "Brand-new-2026", "Brand-new-2027").text
    weak = change(PASSWORD, "weakweak", "weakweak")
    assert weak.status_code == 422
    assert "至少 3 类" in weak.text
    common = change(PASSWORD, "Password1!", "Password1!")
    assert common.status_code == 422
    assert "密码过于常见或容易猜到" in common.text
    assert "不能与原密码相同" in change(PASSWORD, PASSWORD, PASSWORD).text
    assert change(PASSWORD, "Brand-new-2026", "Brand-new-2026").status_code == 303


def test_failures_from_one_address_over_many_accounts_stop_its_logins(
    client, db, factory, settings
):
    """Password spraying: one guess at each of many accounts locks none of them; the address
    is stopped after ``login_address_failures`` failures in the window, even with a right
    password, and the refusal is audited once a minute."""
    settings.login_captcha_after = 0  # the address throttle alone (captcha: test_captcha.py)
    users = [factory.user() for _ in range(settings.login_address_failures)]
    for user in users:
        assert _post_login(client, user.username, "Spray-guess-2026").status_code == 401
    db.expire_all()
    assert all(u.locked_until is None and u.failed_logins == 1 for u in users)
    other = factory.user()
    for _ in range(2):
        refused = _post_login(client, other.username, PASSWORD)
        assert refused.status_code == 429
        assert "该网络地址登录失败次数过多，请 15 分钟后再试" in refused.text
        assert 800 < int(refused.headers["retry-after"]) <= 900
    db.expire_all()
    assert other.failed_logins == 0  # the right password was not even checked
    throttled = db.scalars(select(AuditLog).where(AuditLog.action == "login_throttled")).all()
    assert len(throttled) == 1
    assert other.username in (throttled[0].detail or "")
    # another address is not stopped
    from fastapi.testclient import TestClient

    with TestClient(client.app, client=("203.0.113.9", 50000)) as elsewhere:
        assert _post_login(elsewhere, other.username, PASSWORD).status_code == 303
    # the window passes: the address may try again
    window = dt.timedelta(minutes=settings.login_address_window_minutes)
    later = utcnow() + window + dt.timedelta(seconds=1)
    assert address_wait(db=db, settings=settings, ip="testclient", now=utcnow()) > 800
    assert address_wait(db=db, settings=settings, ip="testclient", now=later) == 0


def test_fewer_failures_than_the_limit_do_not_stop_an_address(client, factory, settings):
    settings.login_captcha_after = 0  # the address throttle alone (captcha: test_captcha.py)
    users = [factory.user() for _ in range(settings.login_address_failures - 1)]
    for user in users:
        assert _post_login(client, user.username, "Spray-guess-2026").status_code == 401
    assert _post_login(client, users[0].username, PASSWORD).status_code == 303
