"""The login's graphic captcha (issue 48 item 7): none until an address has failed
``login_captcha_after`` times; then the form shows a picture and the login is refused, before
the password is looked at, unless its characters are typed back; each picture is good for one
try and ten minutes; a forged or expired one draws nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from jcjg.accounts import captcha
from jcjg.audit.models import AuditLog
from jcjg.core.db import utcnow
from tests.factories import PASSWORD, csrf_from

pytestmark = pytest.mark.sqlite
HTML = {"accept": "text/html"}


def _form(client) -> tuple[str, str | None]:
    page = client.get("/login", headers=HTML)
    token = re.search(r'name="captcha_token" value="([^"]+)"', page.text)
    return csrf_from(page.text), token.group(1) if token else None


def _post(client, username, password, **extra):
    csrf, _ = _form(client)
    data = {"username": username, "password": password, "csrf_token": csrf, **extra}
    return client.post("/login", data=data, headers=HTML, follow_redirects=False)


def _answer(settings, token: str) -> str:
    return captcha._open(settings, token, utcnow())  # what the picture shows


def _fail(client, factory, settings) -> None:
    for _ in range(settings.login_captcha_after):
        assert _post(client, factory.user().username, "Wrong-guess-2026").status_code == 401


def test_no_captcha_until_the_address_fails(client, factory, settings):
    _, token = _form(client)
    assert token is None
    for _ in range(settings.login_captcha_after - 1):
        assert _post(client, factory.user().username, "Wrong-guess-2026").status_code == 401
    assert _form(client)[1] is None
    assert _post(client, factory.user().username, PASSWORD).status_code == 303


def test_after_failures_only_the_right_characters_let_a_password_in(client, db, factory, settings):
    _fail(client, factory, settings)
    user = factory.user()
    csrf, token = _form(client)
    assert token is not None
    picture = client.get(f"/login/captcha?t={token}")
    assert picture.status_code == 200
    assert picture.headers["content-type"] == "image/png"
    assert picture.headers["cache-control"] == "no-store"
    assert picture.content.startswith(b"\x89PNG")
    # no answer, a wrong one: refused before the password is checked, a new picture shown
    for typed in ("", "WRONG"):
        csrf, token = _form(client)
        refused = client.post("/login", headers=HTML, follow_redirects=False, data={
            "username": user.username, "password": PASSWORD, "csrf_token": csrf,
            "captcha_token": token, "captcha": typed})  # fmt: skip
        assert refused.status_code == 422
        beside = re.search(r'data-testid="captcha-error">([^<]+)<', refused.text)
        assert beside is not None  # the message beside the field it is about
        assert "验证码不正确或已失效" in beside.group(1)
        assert 'name="captcha_token"' in refused.text
    db.expire_all()
    assert user.failed_logins == 0  # the password was never looked at
    failures = db.scalars(select(AuditLog).where(AuditLog.action == "login_failed")).all()
    assert sum("验证码错误" in (f.detail or "") for f in failures) == 2
    # the right characters, in lower case and with spaces: in
    csrf, token = _form(client)
    typed = " ".join(_answer(settings, token).lower())
    answer = client.post("/login", headers=HTML, follow_redirects=False, data={
        "username": user.username, "password": PASSWORD, "csrf_token": csrf,
        "captcha_token": token, "captcha": typed})  # fmt: skip
    assert answer.status_code == 303


def test_a_captcha_is_good_for_one_try(client, factory, settings):
    _fail(client, factory, settings)
    user = factory.user()
    csrf, token = _form(client)
    right = _answer(settings, token)
    data = {"username": user.username, "password": "Wrong-guess-2026", "csrf_token": csrf,
            "captcha_token": token, "captcha": right}  # fmt: skip
    first = client.post("/login", data=data, headers=HTML, follow_redirects=False)
    assert first.status_code == 401  # the captcha passed, the password did not
    again = client.post("/login", data=data | {"password": PASSWORD}, headers=HTML,
                        follow_redirects=False)  # fmt: skip
    assert again.status_code == 422  # the same picture again: used up


@pytest.mark.parametrize(
    "token",
    ["", "abc", "A" * 120, "%00", "x" * 121],
    ids=["empty", "short", "forged", "nul", "too-long"],
)
def test_forged_tokens_draw_nothing_and_pass_nothing(client, db, settings, token):
    assert client.get("/login/captcha", params={"t": token}).status_code in (400, 404, 422)
    assert captcha.passes(db, settings, token, "ABCDE") is False


def test_an_expired_captcha_draws_nothing(client, db, settings):
    old = captcha.issue(settings, now=utcnow() - captcha.LIFETIME - dt.timedelta(seconds=1))
    assert client.get("/login/captcha", params={"t": old}).status_code == 404
    assert captcha.passes(db, settings, old, "ABCDE") is False
    fresh = captcha.issue(settings)
    other = settings.model_copy(update={"secret_key": "another-" + "k" * 40})
    assert captcha.picture(other, fresh) is None  # another platform's key opens nothing
