"""Waiting in a page under the platform's Content-Security-Policy.

Playwright's ``page.wait_for_function`` polls its predicate with ``eval`` inside the page, which
``script-src 'self'`` forbids (as it should). :func:`wait_for` polls through ``page.evaluate``
(DevTools, outside the page's policy) until the expression is truthy or the deadline passes,
asking again when the page navigated while it asked."""

from __future__ import annotations

import time
from typing import Any


def wait_for(
    page: Any, expression: str, arg: Any = None, *, timeout: float = 10_000, explain: str = ""
) -> Any:
    """The first truthy value of ``expression`` (a JavaScript expression, or a function of
    ``arg``), polled every 50 ms for at most ``timeout`` milliseconds. On failure the value of
    ``explain`` (another expression: what the page says meanwhile) is part of the message."""
    from playwright.sync_api import Error

    deadline = time.monotonic() + timeout / 1000
    while True:
        try:
            value = page.evaluate(expression, arg)
        except Error as e:  # the page navigated meanwhile (Back reloading it): ask the new one
            if "context was destroyed" not in str(e) and "navigat" not in str(e):
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            said = f"; the page says: {page.evaluate(explain)!r}" if explain else ""
            raise AssertionError(f"not true within {timeout:.0f} ms: {expression[:120]}{said}")
        page.wait_for_timeout(50)
