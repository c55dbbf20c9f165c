"""The login code by e-mail or SMS (issue 48 item 7): an authority account that chose a channel
gets a six-digit code at its registered address after its password, through the real SMTP
server (aiosmtpd) or the SMS gateway adapter; the session is not logged in until the code is
typed; a code is good once and for five minutes; wrong codes lock the account as the app's do;
only authority and station accounts may choose it, with their password."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from jcjg.accounts import logincode
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.auth.models import UserSession
from tests.factories import PASSWORD, csrf_from, login, page_csrf
from tests.notify.conftest import smtp  # noqa: F401 (the fixture)
from tests.notify.test_notify import Gateway, gateway  # noqa: F401 (the fixture)

HTML = {"accept": "text/html"}


@pytest.fixture
def mailing(settings, smtp):  # noqa: F811
    controller, box = smtp
    settings.smtp_host, settings.smtp_port, settings.smtp_security = (
        "127.0.0.1",
        controller.port,
        "none",
    )
    return box


def _password(client, username: str):
    page = client.get("/login", headers=HTML)
    data = {"username": username, "password": PASSWORD, "csrf_token": csrf_from(page.text),
            "next": "/alerts"}  # fmt: skip
    return client.post("/login", data=data, headers=HTML, follow_redirects=False)


def _code(client, code: str):
    page = client.get("/login/code?next=/alerts", headers=HTML)
    data = {"code": code, "csrf_token": csrf_from(page.text), "next": "/alerts"}
    return client.post("/login/code", data=data, headers=HTML, follow_redirects=False)


def _mailed_code(box) -> str:
    _, message = box.messages[-1]
    return re.search(r"登录验证码 (\d{6})", message.get_content()).group(1)


def test_an_e_mailed_code_completes_the_login(client, db, factory, settings, mailing):
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400", email="lin@jj.example")
    user.login_code_channel = "email"
    db.commit()
    first = _password(client, user.username)
    assert first.status_code == 303
    assert first.headers["location"] == "/login/code?next=/alerts"
    assert client.get("/alerts", headers=HTML, follow_redirects=False).status_code in (
        302,
        303,
        401,
    )
    page = client.get("/login/code", headers=HTML)
    assert "l**@jj.example" in page.text or "*@jj.example" in page.text
    recipients, message = mailing.messages[-1]
    assert recipients == ["lin@jj.example"]
    assert "登录验证码" in message["subject"]
    code = _mailed_code(mailing)
    assert _code(client, "000000" if code != "000000" else "111111").status_code == 401
    right = _code(client, " ".join([code[:3], code[3:]]))
    assert right.status_code == 303
    assert right.headers["location"] == "/alerts"
    assert client.get("/alerts", headers=HTML).status_code == 200
    trail = db.scalars(select(AuditLog.detail).where(AuditLog.action == "login")).all()
    assert "密码 + 电子邮件验证码登录" in trail


def test_a_code_by_sms_through_the_gateway(client, db, factory, settings, gateway):  # noqa: F811
    settings.sms_gateway_url, settings.sms_gateway_key = gateway, "gateway-key"
    user = factory.user(Role.STATION, region_code="360403", phone="13907920001")
    user.login_code_channel = "sms"
    db.commit()
    assert _password(client, user.username).status_code == 303
    sent = Gateway.received[-1]
    assert sent["phone"] == "13907920001"
    code = re.search(r"登录验证码 (\d{6})", sent["text"]).group(1)
    assert "139****0001" in client.get("/login/code", headers=HTML).text
    assert _code(client, code).status_code == 303


def test_a_code_is_good_once_and_for_five_minutes(client, db, factory, settings, mailing):
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400", email="a@jj.example")
    user.login_code_channel = "email"
    db.commit()
    _password(client, user.username)
    code = _mailed_code(mailing)
    session = db.scalars(select(UserSession).where(UserSession.user_id == user.id)).one()
    session.login_code_sent_at -= logincode.LIFETIME + dt.timedelta(seconds=1)
    db.commit()
    assert _code(client, code).status_code == 401  # expired
    # a new one, after the pause between sendings
    page = client.get("/login/code", headers=HTML)
    resent = client.post("/login/code/resend", headers=HTML, follow_redirects=False,
                         data={"csrf_token": csrf_from(page.text), "next": "/alerts"})  # fmt: skip
    assert resent.status_code == 303
    again = client.post("/login/code/resend", headers=HTML, follow_redirects=False,
                        data={"csrf_token": csrf_from(page.text), "next": "/alerts"})  # fmt: skip
    assert again.status_code == 429
    assert "秒后再重新发送" in again.text
    fresh = _mailed_code(mailing)
    assert _code(client, fresh).status_code == 303
    db.expire_all()
    assert db.get(UserSession, session.id).login_code_hash is None  # used up


def test_wrong_codes_lock_the_account(client, db, factory, settings, mailing):
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400", email="b@jj.example")
    user.login_code_channel = "email"
    db.commit()
    _password(client, user.username)
    for _ in range(settings.lockout_threshold - 1):
        assert _code(client, "abcdef").status_code == 401
    locked = _code(client, "999999" if _mailed_code(mailing) != "999999" else "888888")
    assert locked.status_code == 423
    db.expire_all()
    assert db.get(type(user), user.id).locked_until is not None


def test_without_a_mail_server_the_login_says_so(client, db, factory, settings):
    settings.smtp_host = None
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400", email="c@jj.example")
    user.login_code_channel = "email"
    db.commit()
    refused = _password(client, user.username)
    assert refused.status_code == 503
    assert "未配置邮件服务器" in refused.text
    after = client.get("/login/code", headers=HTML, follow_redirects=False)
    assert after.status_code != 200  # no session waits for a code
    assert 'data-testid="code-to"' not in after.text


def test_choosing_a_channel_needs_the_role_the_address_and_the_password(
    browser_client, db, factory
):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400", phone="13907920002")
    login(browser_client, city.username)
    page = browser_client.get("/account/totp").text
    assert 'data-testid="login-code"' in page
    assert "139****0002" in page

    def choose(channel: str, password: str = PASSWORD):
        token = page_csrf(browser_client, "/account/totp")
        return browser_client.post("/account/login-code", follow_redirects=False,
                                   data={"channel": channel, "password": password,
                                         "csrf_token": token})  # fmt: skip

    assert choose("sms", "wrong-Password-9").status_code == 422
    wrong = choose("sms", "wrong-Password-9")
    assert re.search(r'id="e-password" class="error">密码不正确<', wrong.text)
    refused = choose("email")  # no e-mail registered
    assert refused.status_code == 422
    assert re.search(r'id="e-channel" class="error">账号未登记电子邮箱', refused.text)
    assert choose("fax").status_code == 422
    assert choose("sms").status_code == 303
    db.expire_all()
    assert db.get(type(city), city.id).login_code_channel == "sms"
    assert choose("").status_code == 303
    db.expire_all()
    assert db.get(type(city), city.id).login_code_channel is None
    browser_client.cookies.clear()
    inst = factory.institution()
    lab = factory.user(Role.INSTITUTION_ADMIN, institution=inst, phone="13907920003")
    login(browser_client, lab.username)
    assert 'data-testid="login-code"' not in browser_client.get("/account/totp").text
    token = page_csrf(browser_client, "/account/totp")
    answer = browser_client.post("/account/login-code", follow_redirects=False,
                                 data={"channel": "sms", "password": PASSWORD,
                                       "csrf_token": token})  # fmt: skip
    assert answer.status_code == 422
    assert "只供主管部门和监督机构" in answer.text
