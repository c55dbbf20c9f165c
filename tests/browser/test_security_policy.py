"""Pages that run third-party code run it under the Content-Security-Policy, in a real browser:
Swagger UI on /api/docs (started by a script file of ours), and htmx on every page with its
indicator styles off (``includeIndicatorStyles: false``: it would inject a <style> element,
which the policy refuses; our CSS styles ``.htmx-indicator`` instead)."""

from __future__ import annotations

import pytest

from jcjg.auth.choices import Role
from tests.browser.test_sampling_flow import pc

pytestmark = pytest.mark.browser


def _refusals(page) -> list[str]:
    """The policy's refusals and script errors of ``page``, as they come."""
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Security Policy" in m.text else None)
    return errors


def test_swagger_ui_runs_under_the_policy(live_server, browser) -> None:
    context = browser.new_context(locale="zh-CN")
    page = context.new_page()
    errors = _refusals(page)
    response = page.goto(live_server.url + "/api/docs")
    assert response is not None
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    # Swagger UI's bundle (1.7 MB of script) parses and renders slowly on a loaded machine: a CI
    # run beside the other worker timed out at 15 s; what is tested is the policy, not the speed
    page.locator(".opblock").first.wait_for(timeout=60_000)
    assert page.locator(".opblock").count() > 40  # every operation listed
    # the security schemes give Swagger UI its Authorize button (token, cookie, signature)
    page.click("button.authorize")
    dialog = page.locator(".modal-ux")
    dialog.wait_for()
    for scheme in ("bearerToken", "sessionCookie", "csrfHeader", "httpSignature"):
        assert dialog.get_by_text(scheme, exact=False).count() > 0, scheme
    assert errors == []
    context.close()


def test_htmx_injects_no_style(live_server, browser) -> None:
    f, url = live_server.factory, live_server.url
    admin = f.user(Role.PLATFORM_ADMIN).username
    f.db.commit()
    context, page = pc(browser, url, admin)
    errors = _refusals(page)
    page.goto(url + "/admin/users")
    page.wait_for_function("() => window.htmx !== undefined")
    assert page.evaluate("htmx.config.includeIndicatorStyles") is False
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    # an indicator is hidden by our own CSS (htmx's would have been refused)
    opacity = page.evaluate(
        """() => {
            const el = document.createElement('span');
            el.className = 'htmx-indicator';
            document.body.appendChild(el);
            return getComputedStyle(el).opacity;
        }"""
    )
    assert opacity == "0"
    assert errors == []
    context.close()
