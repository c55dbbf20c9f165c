"""A live server on a loopback port of its own, with a database of its own, and a real Chromium.

Playwright drives Debian's system Chromium: Playwright cannot download its own browser here.
The pages are visited with Debian's Chromium headless shell (/usr/bin/chromium-headless-shell,
the same Blink and V8 as the browser, the build Playwright itself uses for headless runs): a
page of the tests cost it about half the CPU the full browser's headless mode spent, in a suite
whose two runs keep both cores busy. The tests of the page's camera launch the full browser
(/usr/bin/chromium): the shell has no camera (getUserMedia answers NotSupportedError). Without
Chromium the browser tests skip, unless JCJG_REQUIRE_BROWSER=1; JCJG_CHROMIUM names another
binary for both.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright

from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.main import create_app
from tests.conftest import Template, demo_template, require, upgraded_database_url
from tests.factories import Factory, demo_passwords
from tests.servers import listening_socket, port_of, serving

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """The full browser (a page's camera needs it), or None."""
    return _first(os.environ.get("JCJG_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"))


def headless_shell_path() -> str | None:
    """What visits the pages: the headless shell, else the full browser, or None."""
    return _first(
        os.environ.get("JCJG_CHROMIUM"),
        "/usr/bin/chromium-headless-shell",
        shutil.which("chromium-headless-shell"),
        chromium_path(),
    )


def _first(*candidates: str | None) -> str | None:
    return next((c for c in candidates if c and Path(c).exists()), None)


def _missing(what: str) -> NoReturn:
    if require("JCJG_REQUIRE_BROWSER"):
        pytest.fail(f"Chromium required (JCJG_REQUIRE_BROWSER=1) but {what} is not installed")
    pytest.skip(f"{what} is not installed (make sysdeps installs it)")


@dataclass
class LiveServer:
    url: str
    factory: Factory


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve(tmp_path) as server:
        yield server


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The demo region (a copy of the run's) on a live server for a module's tests, every demo
    account's password known to them (:data:`tests.factories.PASSWORD`)."""
    with serve(tmp_path_factory.mktemp("demo"), template=demo_template()) as server:
        demo_passwords(server.factory.db)
        server.factory.db.commit()
        yield server


@contextmanager
def serve(
    tmp_path: Path, template: Template | None = None, **overrides: object
) -> Iterator[LiveServer]:
    """A live server on a copy of the run's upgraded database, or of ``template`` with its
    files and secret key (``demo_template()``: the demo region), whose settings take
    ``overrides`` (an SMTP server, say)."""
    if template is None:
        url, drop = upgraded_database_url(tmp_path)
        data_dir, secret_key = tmp_path / "data", "browser-test-secret-key-0123456789"
    else:
        url, data_dir, drop = template.copy(tmp_path)
        secret_key = template.secret_key
    engine = make_engine(url)
    factory_ = make_sessionmaker(engine)
    sock = listening_socket()
    settings = Settings(
        env="test",
        secret_key=secret_key,
        database_url=url,
        data_dir=data_dir,
        base_url=f"http://127.0.0.1:{port_of(sock)}",
        embedded_worker=False,
        **overrides,
    )
    app = create_app(settings, engine=engine, session_factory=factory_)
    try:
        with serving(app, sock) as base_url:
            session: Session = factory_()
            try:
                yield LiveServer(base_url, Factory(session, settings))
            finally:
                session.close()
    finally:
        engine.dispose()
        drop()


class _Chromium:
    """One Chromium per run of consecutive browser tests: starting it (and Playwright's
    driver) for each test cost more than most browser tests do. Playwright's sync API keeps an
    event loop running in this thread while it is open, so it is stopped before any other test
    runs here (pytest_runtest_teardown below)."""

    def __init__(self) -> None:
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._others: list[Browser] = []

    def get(self) -> Browser:
        if self._browser is None:
            path = headless_shell_path()
            if path is None:
                _missing("/usr/bin/chromium-headless-shell (or /usr/bin/chromium)")
            from playwright.sync_api import sync_playwright

            self._playwright = sync_playwright().start()
            self._browser = self._playwright.chromium.launch(
                executable_path=path, headless=True, args=CHROMIUM_FLAGS
            )
        return self._browser

    def launch(self, args: list[str]) -> Browser:
        """Another Chromium, the full browser, with ``args`` besides the usual flags (a fake
        camera, say), from the same Playwright driver; the caller closes it."""
        path = chromium_path()
        if path is None:
            _missing("/usr/bin/chromium (the full browser: a page's camera)")
        self.get()
        assert self._playwright is not None
        other = self._playwright.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_FLAGS + args
        )
        self._others.append(other)
        return other

    def close_others(self) -> None:
        for other in self._others:
            if other.is_connected():
                other.close()
        self._others.clear()

    def stop(self) -> None:
        self.close_others()
        if self._browser is not None:
            self._browser.close()
            self._browser = None
        if self._playwright is not None:
            self._playwright.stop()
            self._playwright = None


_CHROMIUM = _Chromium()


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is None or nextitem.get_closest_marker("browser") is None:
        _CHROMIUM.stop()


# Screenshots are for looking at pages (STYLE: look at your pages): a run that sets
# JCJG_SCREENSHOT_DIR keeps them there, and `make e2e` (JCJG_E2E=1) takes every one. Elsewhere
# (`make test`) a screenshot saved to a file is not taken: a full page costs Chromium a second
# of CPU and asserts nothing. A screenshot a test reads (no path: its bytes) is always taken.
SCREENSHOTS = require("JCJG_E2E") or bool(os.environ.get("JCJG_SCREENSHOT_DIR"))


@pytest.fixture(autouse=True)
def _screenshots_kept_where_looked_at(monkeypatch: pytest.MonkeyPatch) -> None:
    if SCREENSHOTS:
        return
    from playwright.sync_api import ElementHandle, Locator, Page

    for kind in (Page, Locator, ElementHandle):
        original = kind.screenshot

        def screenshot(self: object, *args: object, _original=original, **kwargs: object) -> bytes:
            if kwargs.get("path") is not None:
                return b""
            return _original(self, *args, **kwargs)  # type: ignore[no-any-return]

        monkeypatch.setattr(kind, "screenshot", screenshot)


@pytest.fixture
def browser() -> Iterator[Browser]:
    """The Chromium of this run of browser tests. A test's pages live in browser contexts of
    their own (cookies, storage, cache), and every context a test opened is closed after it,
    so tests share nothing but the browser process."""
    chromium = _CHROMIUM.get()
    yield chromium
    for context in chromium.contexts:
        context.close()


@pytest.fixture
def launch_chromium() -> Iterator[Callable[[list[str]], Browser]]:
    """Launch a Chromium of its own with extra flags (closed after the test, at the latest when
    the shared one stops)."""
    yield _CHROMIUM.launch
    _CHROMIUM.close_others()
