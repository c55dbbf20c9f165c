"""A live server on a loopback port of its own, with a database of its own, and a real Chromium.

Playwright drives Debian's system Chromium (/usr/bin/chromium): Playwright cannot download its
own browser here. Without Chromium the browser tests skip, unless JCJG_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.main import create_app
from tests.conftest import require, upgraded_database_url
from tests.factories import Factory
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
    for candidate in (
        os.environ.get("JCJG_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@dataclass
class LiveServer:
    url: str
    factory: Factory


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    with serve(tmp_path) as server:
        yield server


@contextmanager
def serve(tmp_path: Path, **overrides: object) -> Iterator[LiveServer]:
    """A live server whose settings take ``overrides`` (an SMTP server, say)."""
    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    factory_ = make_sessionmaker(engine)
    sock = listening_socket()
    settings = Settings(
        env="test",
        secret_key="browser-test-secret-key-0123456789",
        database_url=url,
        data_dir=tmp_path / "data",
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


@pytest.fixture
def browser() -> Iterator[object]:
    path = chromium_path()
    if path is None:
        if require("JCJG_REQUIRE_BROWSER"):
            pytest.fail(
                "Chromium required (JCJG_REQUIRE_BROWSER=1) but /usr/bin/chromium is missing"
            )
        pytest.skip("Chromium not installed (make sysdeps installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
