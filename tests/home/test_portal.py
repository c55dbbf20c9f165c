"""公众服务: the site opens on the public portal for a visitor; every public page it lists opens
without logging in; a 监管码 typed in opens its verification page, anything else is answered in
Chinese (issue 48, item 2)."""

from __future__ import annotations

import re

import pytest

from jcjg.core.domains import portal_entries
from jcjg.reports.codes import SUPERVISION
from tests.factories import login

HTML = {"accept": "text/html"}


@pytest.mark.sqlite
def test_a_visitor_is_met_by_the_portal_and_every_page_it_lists_opens(browser_client):
    home = browser_client.get("/")
    assert home.status_code == 303
    assert home.headers["location"] == "/public"
    page = browser_client.get("/public")
    assert page.status_code == 200
    text = page.text
    assert "公众服务" in text
    assert "检测报告查验" in text
    assert 'action="/verify"' in text
    assert 'href="/m/scan"' in text
    assert 'href="/login"' in text
    listed = re.findall(r'<li><a href="([^"]+)"><strong>', text)
    expected = [e.href for e in portal_entries() if e.href != "/m/scan"]
    assert listed == expected
    assert {"/public/institutions", "/public/rectification-orders", "/public/spot-checks",
            "/public/overview", "/regulations", "/ledger"} <= set(listed)  # fmt: skip
    for href in [*listed, "/m/scan", "/verify"]:
        opened = browser_client.get(href)
        assert opened.status_code == 200, (href, opened.status_code)
    # the login page leads visitors there too
    assert 'href="/public"' in browser_client.get("/login").text


def test_a_lapsed_session_goes_to_the_login_and_a_logged_in_account_sees_the_portal(
    browser_client, factory
):
    browser_client.cookies.set("jcjg_session", "lapsed")
    again = browser_client.get("/")
    assert again.status_code == 303
    assert again.headers["location"].startswith("/login")
    browser_client.cookies.clear()
    assert browser_client.get("/?x=1").headers["location"].startswith("/login?next=")
    login(browser_client, factory.user().username)
    assert browser_client.get("/").status_code == 200
    portal = browser_client.get("/public")
    assert portal.status_code == 200
    assert 'data-testid="portal-login"' not in portal.text


@pytest.mark.sqlite
def test_a_code_typed_in_opens_its_verification_page(browser_client):
    code = SUPERVISION.make("360402", 2026, 12345)
    for typed in (code, SUPERVISION.display(code), code.lower(), f"  {code} "):
        answer = browser_client.get("/verify", params={"code": typed})
        assert answer.status_code == 303, typed
        assert answer.headers["location"] == f"/v/{code}"
    form = browser_client.get("/verify")
    assert form.status_code == 200
    assert 'name="code"' in form.text


@pytest.mark.sqlite
@pytest.mark.parametrize(
    "typed",
    ["123", "3604022600012345X", "3604022600012345S9", "检测报告", "36040226\x0000012345S",
     "3604022600012345\x07", "9" * 200],
)  # fmt: skip
def test_anything_else_is_answered_in_chinese(browser_client, typed):
    answer = browser_client.get("/verify", params={"code": typed})
    assert answer.status_code == 422, answer.status_code
    if "\x00" in typed or "\x07" in typed:  # refused by the address check of every page
        assert "含有不允许的控制字符" in answer.text
    else:  # answered beside the field, the code kept for correcting
        assert 'data-testid="verify-problem"' in answer.text
        assert "请核对报告上的防伪监管码" in answer.text
    assert "location" not in answer.headers


def test_a_code_longer_than_anything_printed_is_refused_without_a_redirect(client):
    too_long = client.get("/verify", params={"code": "1" * 201}, headers=HTML)
    assert too_long.status_code in (400, 422)
    assert "location" not in too_long.headers
