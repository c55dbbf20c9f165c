"""Every demo role, on a PC and on a phone, follows every entry of its menu in the demo region,
as a new user would (issue 20; the record pages they link to are read without a browser by
tests/test_pages_speak_chinese.py): each page answers 200, shows no internal identifier (a rule id,
a permission, a problem type, a field key: anything shaped like ``[a-z]+_[a-z0-9_]+``), and on
the phone neither the page nor any table is wider than the screen.

In ``make test`` each page is visited once per size, by the first role (in the order of
``jcjg.demo.load.USERS``) whose menu has it, and every role's landing page by that role;
``make e2e`` (JCJG_E2E=1) has every role visit every page of its menu and saves a screenshot
of each (JCJG_SCREENSHOT_DIR to keep them, as in any run that sets it).

Text people typed or that is an identifier by nature (user names, key ids, file names, hashes,
codes) is shown in ``<code>``, ``<kbd>`` or ``<samp>``, or marked ``data-verbatim``: the check
skips those, and form controls. The API's own documentation pages are exempt.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from jcjg.core.domains import nav_for
from jcjg.demo.load import USERS
from tests.browser.conftest import LiveServer
from tests.browser.phone_walk import walk_the_phone_pages
from tests.browser.test_sampling_flow import PHONE, log_in, shots

pytestmark = pytest.mark.browser

# make e2e: every role on every page of its menu, and a screenshot of each
FULL = os.environ.get("JCJG_E2E") == "1"

PC = {"width": 1366, "height": 768}
IDENTIFIER = re.compile(r"\b[a-z]+_[a-z0-9_]+\b")
EXEMPT_PATHS = ("/api/docs", "/api/redoc", "/api/v1/openapi", "/docs")

# Visible text outside verbatim elements and form controls, and the widths that overflow.
INSPECT = """() => {
  const skip = 'code, kbd, samp, pre, script, style, noscript, template, textarea, select, '
             + 'input, [data-verbatim], [hidden], [aria-hidden=true]';
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    if (!parent.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const text = node.textContent.trim();
    if (text) texts.push(text);
  }
  const width = window.innerWidth;
  const wide = [...document.querySelectorAll('table')]
    .filter(t => t.checkVisibility() && t.getBoundingClientRect().width > width + 1)
    .map(t => (t.getAttribute('aria-label') || t.id || t.className || 'table') + ' '
              + Math.round(t.getBoundingClientRect().width) + 'px');
  return {texts, scrollWidth: document.documentElement.scrollWidth, width, wide};
}"""


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    pages: int = 0

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


@pytest.fixture(scope="module")
def visited() -> dict[str, set[str]]:
    """The pages visited so far in this module, per size (make test visits each once)."""
    return {"pc": set(), "phone": set()}


def menu_of(page, url: str) -> list[str]:
    """The addresses of the menu the logged-in account sees, as the server builds it."""
    me = page.request.get(url + "/api/v1/me", headers={"accept": "application/json"}).json()
    permissions = set(me["permissions"])
    return [
        entry.href
        for _, entries in nav_for(me["role"], permissions.__contains__)
        for entry in entries
    ]


def visit(page, url: str, path: str, size: str, out: Path, who: str, found: Findings) -> None:
    where = f"{who} {size} {path}"
    response = page.goto(url + path)
    assert response is not None
    found.pages += 1
    if response.status != 200:
        found.add(where, f"HTTP {response.status}")
        return
    page.wait_for_load_state("load")
    seen = page.evaluate(INSPECT)
    if not path.startswith(EXEMPT_PATHS):
        identifiers = sorted({m for text in seen["texts"] for m in IDENTIFIER.findall(text)})
        if identifiers:
            found.add(where, "identifiers shown: " + ", ".join(identifiers[:12]))
    if size == "phone":
        if seen["scrollWidth"] > seen["width"] + 1:
            found.add(where, f"page {seen['scrollWidth']}px wide on a {seen['width']}px screen")
        if seen["wide"]:
            found.add(where, "tables wider than the screen: " + "; ".join(seen["wide"]))
    name = f"tour-{who}-{size}-{path.strip('/').replace('/', '_') or 'home'}.png"
    page.screenshot(path=str(out / name), full_page=True)  # kept where looked at (conftest)


def one_account_per_role() -> list[str]:
    seen: dict[str, str] = {}
    for user in USERS:
        seen.setdefault(user.role.value, user.username)
    return list(seen.values())


@pytest.mark.parametrize("who", one_account_per_role())
def test_every_role_finds_every_menu_page_in_chinese(
    who: str, demo_server: LiveServer, visited: dict[str, set[str]], browser, tmp_path: Path
) -> None:
    url, out, found = demo_server.url, shots(tmp_path), Findings()
    for size, viewport in (("pc", PC), ("phone", PHONE)):
        context = browser.new_context(
            locale="zh-CN",
            viewport=viewport,
            is_mobile=size == "phone",
            has_touch=size == "phone",
        )
        try:
            page = context.new_page()
            landing = log_in(page, url, who)
            paths = [landing] + [p for p in menu_of(page, url) if p != landing]
            assert len(paths) >= 2, f"{who} has no menu"
            for path in paths:
                if FULL or path == landing or path not in visited[size]:
                    visit(page, url, path, size, out, who, found)
                    visited[size].add(path)
        finally:
            context.close()
    assert not found.problems, f"{len(found.problems)} of {found.pages} pages:\n" + "\n".join(
        found.problems
    )


def test_field_and_public_pages_fit_a_390_px_phone(
    demo_server: LiveServer, browser, tmp_path: Path
) -> None:
    """Issue 40: the 390 px walk of every field and public page (tests/browser/phone_walk.py),
    here to share this module's demo server (building one costs 15 s)."""
    walk_the_phone_pages(demo_server, browser, tmp_path)
