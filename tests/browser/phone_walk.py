"""Every page a field role reaches on a phone, and every public page, fits a 390 px screen
(issue 40): neither the document nor any visible element reaches past the screen's right edge.
A table that only scrolls sideways in its ``.table-wrap`` does not fit (on a phone such tables
are cards, ``table.list-cards``); what a container hides on purpose (a list's visually hidden
header row) is not shown, so it does not count.

The walk starts where anyone starts (the public pages and what a QR code opens) and where each
field account lands (the witness and the sampler on /m, the lab's staff at home) or what a
sample's tag opens for it (in the lab, the receipt desk), and follows every link of the
platform's own pages, the menu's included. Addresses that differ only in a record's id or code
are one page, visited once (the first record met), and a page an earlier account saw is not
visited again, except the phone pages (/m/...), which differ by role: the walk stays short.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from jcjg.reports.models import Report
from jcjg.sampling.models import Sample, WitnessRecord
from tests.browser.conftest import LiveServer
from tests.browser.test_sampling_flow import PHONE, log_in, shots

FIELD_ACCOUNTS = ("witness", "sampler", "lab_staff")
PUBLIC_ENTRIES = (
    "/",  # a visitor: the public portal
    "/public",
    "/verify?code=3604",  # a code mistyped: answered on the page
    "/login",
    "/public/overview",
    "/public/spot-checks",
    "/public/institutions?q=检测",
    "/public/rectification-orders",
    "/m/scan",
)
# not pages: files, feeds, downloads, the API and its documentation, leaving
NOT_PAGES = re.compile(
    r"^/(api|static|logout|docs|witness-keys)\b"
    r"|\.(pdf|zip|xlsx|json|jpg|png|mp4|m3u8|ts|svg|md)$"
    r"|/(file|photos|template|kept-photos)(/|$)"
)
# Kinds of page the walk must have seen, lest a broken link or a changed menu shorten it unseen.
EXPECTED = (
    "anyone /v/*",
    "anyone /s/*",
    "anyone /w/*",
    "anyone /public/rectification-orders/*",
    "anyone /public/institutions/*",
    "witness /m/projects/*",
    "witness /m/samples/*/seal",
    "sampler /m/projects/*",
    "witness /samples/*",
    "witness /projects/*",
    "lab_staff /receipt",
    "lab_staff /testing/records/*",
)

# What reaches past the screen's right edge: the document's scroll width, every visible
# element whose box does, and every text whose words do (a code or an address longer than its
# box runs out of it), unless a container that fits hides the overflow (overflow hidden or
# clip). Each named by its tag, classes and first words; only the outermost of nested ones.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const hidden = (el) => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const ox = getComputedStyle(up).overflowX;
      if ((ox === 'hidden' || ox === 'clip') && up.getBoundingClientRect().right <= width + 1) {
        return true;
      }
    }
    return false;
  };
  const wide = [];
  const past = (el, box) => {
    if (box.width === 0 || box.right <= width + 1) return;
    if (!el.checkVisibility({checkVisibilityCSS: true}) || hidden(el)) return;
    if (wide.some((outer) => outer.el.contains(el))) return;
    wide.push({el, right: Math.round(box.right)});
  };
  for (const el of document.body.querySelectorAll('*')) past(el, el.getBoundingClientRect());
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const range = document.createRange();
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement || !node.textContent.trim()) continue;
    range.selectNodeContents(node);
    past(node.parentElement, range.getBoundingClientRect());
  }
  const name = (el) => el.tagName.toLowerCase()
    + (typeof el.className === 'string' && el.className.trim()
       ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
    + ' "' + (el.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 24) + '"';
  return {
    width,
    scrollWidth: document.documentElement.scrollWidth,
    wide: wide.map((w) => name(w.el) + ' to ' + w.right + ' px'),
    links: [...document.querySelectorAll('a[href]')].map((a) => a.href),
  };
}"""


def shape(path: str) -> str:
    """A page's kind: a path segment with a digit (a record's id, code or token) is any."""
    return "/".join("*" if re.search(r"\d", part) else part for part in path.split("/"))


def kind_of(who: str, path: str) -> str:
    """One page per kind, visited by the first account that meets it; the phone pages (/m)
    are each account's own."""
    kind = shape(path)
    return f"{who} {kind}" if kind == "/m" or kind.startswith("/m/") else kind


@dataclass
class Walk:
    page: Any  # Playwright's Page
    url: str
    out: Path
    seen: set[str] = field(default_factory=set)  # kinds met (see kind_of)
    visited: set[str] = field(default_factory=set)  # "who shape" of every page looked at
    problems: list[str] = field(default_factory=list)

    def ours(self, href: str) -> str | None:
        """The address of a page of the platform ``href`` links to, or None."""
        parts = urlsplit(href)
        if f"{parts.scheme}://{parts.netloc}" != self.url or NOT_PAGES.search(parts.path):
            return None
        if "format=" in parts.query:
            return None
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def walk(self, who: str, entries: list[str]) -> None:
        """Look at ``entries`` as ``who`` (each, though another account saw its kind), and at
        every page they lead to whose kind no account saw yet."""
        todo = deque(entries)
        while todo:
            address = todo.popleft()
            kind = kind_of(who, address.split("?")[0])
            if kind in self.seen and address not in entries:
                continue
            self.seen.add(kind)
            response = self.page.goto(self.url + address)
            if response is None or response.status != 200:
                continue  # what a page answers is the role tour's to check, not the width
            if not response.headers.get("content-type", "").startswith("text/html"):
                continue
            found = self.page.evaluate(OVERFLOW)
            self.visited.add(f"{who} {shape(address.split('?')[0])}")
            where = f"{who} {address}"
            if found["scrollWidth"] > found["width"] + 1:
                self.problems.append(f"{where}: the page is {found['scrollWidth']} px wide")
            self.problems.extend(f"{where}: {wide}" for wide in found["wide"])
            name = re.sub(r"[^0-9A-Za-z]+", "_", where).strip("_") + ".png"
            self.page.screenshot(path=str(self.out / f"width-{name}"), full_page=True)
            for link in found["links"]:
                linked = self.ours(link)
                if linked and kind_of(who, linked.split("?")[0]) not in self.seen:
                    todo.append(linked)


def what_codes_open(server: LiveServer) -> list[str]:
    """The public pages a QR code opens: a report's supervision code, a sample's tag and a
    witness record, one of each."""
    db = server.factory.db
    report = db.scalars(select(Report.supervision_code).limit(1)).one()
    sample = db.scalars(select(Sample.sample_code).limit(1)).one()
    record = db.scalars(select(WitnessRecord.token).limit(1)).one()
    db.rollback()
    return [f"/v/{report}", f"/s/{sample}", f"/w/{record}"]


def walk_the_phone_pages(demo_server: LiveServer, browser, tmp_path: Path) -> None:
    """The walk (``tests/browser/test_role_tour.py`` runs it on its module's demo server)."""
    url = demo_server.url
    context = browser.new_context(
        locale="zh-CN", viewport=PHONE, device_scale_factor=1, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    walk = Walk(page, url, shots(tmp_path))
    codes = what_codes_open(demo_server)
    tag = codes[1]
    walk.walk("anyone", [*PUBLIC_ENTRIES, *codes])
    for who in FIELD_ACCOUNTS:
        context.clear_cookies()
        landing = log_in(page, url, who)
        walk.walk(who, [landing, tag])  # what a sample's tag opens: in the lab, the receipt desk
    missing = [kind for kind in EXPECTED if kind not in walk.visited]
    assert not missing, f"the walk never reached {missing} ({len(walk.visited)} pages)"
    assert not walk.problems, f"{len(walk.problems)} wider than the phone:\n" + "\n".join(
        walk.problems
    )
