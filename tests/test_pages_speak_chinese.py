"""Pages show labels, never identifiers: logged in as demo roles, every page of the menu and the
first record pages they link to answer 200 and show no text shaped like ``[a-z]+_[a-z0-9_]+``
(rule ids, result and finding keys, object kinds, permissions, problem types), user names
excepted."""

from __future__ import annotations

import html
import re
from collections import defaultdict

import httpx
import pytest

from jcjg.demo.load import USERS
from tests.factories import demo_passwords, login

# The region `make run` serves, on its SQLite: what a page says does not depend on the database
# (every page on PostgreSQL is walked by the route matrix and the browser's role tours), so it
# runs once, in the SQLite run: twice, it cost 40 s of CPU (18 on PostgreSQL, 22 on SQLite).
pytestmark = [pytest.mark.demo, pytest.mark.sqlite_run]

SNAKE = re.compile(r"[a-z]+_[a-z0-9_]+")
SEED_CODE = re.compile(r"(?<![\w/.\-])(?:00[0-4]|jz57) (?:\d+\.\d|第|[一二三四五六七八九十]+（)")
EXPONENT = re.compile(r"\d[eE][+-]\d\d\b")
LINK = re.compile(r'<a[^>]+href="(/[^"#]*)"')
RECORD_PAGE = re.compile(r"^/(?!static|api|ledger/entries|exchange/v1)[a-z/-]+/\d+$")
ROLES = ("admin", "jj_city", "jj_station", "lab_admin", "owner_unit", "witness")
NOT_PAGES = ("/static", "/logout", "/api", "/exchange/v1", "/v/")


def _visible(page: str) -> str:
    # a textarea's text is the value being edited, like an input's value attribute
    page = re.sub(r"(?is)<(script|style|template|textarea)[^>]*>.*?</\1>", " ", page)
    return html.unescape(re.sub(r"(?s)<[^>]+>", " ", page))


def _pages_of(browser_client) -> dict[str, httpx.Response]:
    """The home, the menu's pages, and the first record page of each kind they link to, each
    with its response (each page read once)."""
    home = browser_client.get("/")
    menu = [h for h in dict.fromkeys(LINK.findall(home.text)) if not h.startswith(NOT_PAGES)]
    pages = {"/": home}
    records: dict[str, str] = {}
    for path in menu:
        pages[path] = page = browser_client.get(path)
        for link in LINK.findall(page.text):
            if RECORD_PAGE.match(link):
                records.setdefault(re.sub(r"\d+$", "", link), link)
    for link in records.values():
        if link not in pages:
            pages[link] = browser_client.get(link)
    return pages


def test_no_page_of_the_demo_shows_an_identifier(db, browser_client, settings):
    from sqlalchemy import select

    from jcjg.catalogue.regulations import Regulation, applies_in

    settings.region_code = "360000"  # served as Jiangxi's platform, as `make run` serves it
    demo_passwords(db)
    db.commit()
    names = {u.username for u in USERS}
    # another region's documents, cited nowhere but in the library that lists every document
    foreign = [
        f"《{r.title}》" for r in db.scalars(select(Regulation)) if not applies_in(r, "360000")
    ]
    assert foreign  # the library holds Guangxi's, Guangdong's, Baoji's ...
    found: dict[str, set[str]] = defaultdict(set)
    for username in ROLES:
        browser_client.cookies.clear()
        login(browser_client, username)
        for path, page in _pages_of(browser_client).items():
            if page.status_code != 200:  # a link the page offers that its reader cannot follow
                found[f"HTTP {page.status_code}"].add(f"{username} {path}")
                continue
            if "text/html" not in page.headers["content-type"]:
                continue
            visible = _visible(page.text)
            for word in set(SNAKE.findall(visible)) - names:
                found[word].add(f"{username} {path}")
            # the requirement documents by title, never by their codes; figures never as 3e+03
            for word in set(SEED_CODE.findall(visible)) | set(EXPONENT.findall(visible)):
                found[word].add(f"{username} {path}")
            if not path.startswith("/regulations"):
                for title in (t for t in foreign if t in visible):
                    found[title].add(f"{username} {path}")
    assert not found, {word: sorted(where)[:3] for word, where in found.items()}
