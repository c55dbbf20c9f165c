"""Test fixtures: a database built by the migrations, one rolled-back transaction per test.

``JCJG_TEST_DATABASE=sqlite`` (default) runs on a fresh SQLite file; ``=postgresql`` creates a
fresh database on ``JCJG_TEST_POSTGRES_URL`` (default the local server) and drops it afterwards.
Each process (each pytest-xdist worker) builds its own; tests that need a database of their
own besides (live servers) get copies of one this process built (``upgraded_database_url``).
``JCJG_REQUIRE_POSTGRES=1`` / ``JCJG_REQUIRE_BROWSER=1`` turn "missing, skipped" into failures.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from jcjg import domains
from jcjg.auth import passwords, sessions
from jcjg.config import Settings, get_settings
from jcjg.core import memo, pagination
from jcjg.core.db import make_engine
from jcjg.exchange import cache as exchange_cache
from jcjg.ledger import service as ledger_service
from jcjg.main import create_app
from jcjg.refdata import upgrade
from jcjg.regions import service as regions_service
from tests.factories import Factory
from tests.servers import closed_port

BACKEND = os.environ.get("JCJG_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get(
    "JCJG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


domains.install()  # the platform's domains, as the app and the CLI install them


@pytest.fixture(autouse=True)
def _nothing_kept_in_memory() -> None:
    """Each test starts with nothing of the exchange or the lists in memory: the ids of
    institutions and keys of a rolled-back test come again in the next one."""
    exchange_cache.forget_all()
    pagination._LARGE.clear()  # likewise the lists known to be long
    sessions._PERMISSIONS.clear()  # and the roles' permissions, and the sessions' principals
    sessions.PRINCIPALS.clear()
    memo.forget_names()
    regions_service.FULL_NAMES.clear()


def require(flag: str) -> bool:
    return os.environ.get(flag, "") in {"1", "true", "yes"}


# The database run that runs the tests marked ``once`` and the browser tests (``make test`` sets
# it: the PostgreSQL run when there is one); unset, every run runs them.
ONCE_IN = os.environ.get("JCJG_ONCE_IN", "")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` the browser tests form one group: one worker runs
    them one after another (one Chromium at a time) while the others share the rest. The
    browser tours and the tests marked ``once`` run in one of the two database runs."""
    for item in items:
        browser = item.get_closest_marker("browser") is not None
        if browser:
            item.add_marker(pytest.mark.xdist_group("browser"))
        if (browser or item.get_closest_marker("once")) and ONCE_IN and ONCE_IN != BACKEND:
            item.add_marker(pytest.mark.skip(reason=f"runs once, in the {ONCE_IN} run"))


def _postgres_admin() -> Engine:
    return create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


def fresh_database_url(tmp_dir: Path, template: str | None = None) -> tuple[str, Any]:
    """A new database of the backend under test, empty or a copy of ``template`` (a URL this
    function returned, no longer in use), and a function that removes it."""
    if BACKEND == "sqlite":
        path = tmp_dir / f"jcjg-{secrets.token_hex(4)}.db"
        if template is not None:
            source = make_url(template).database
            assert source is not None
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(path)) as dst:
                src.backup(dst)
        return f"sqlite:///{path}", lambda: None
    name = f"jcjg_test_{os.getpid()}_{secrets.token_hex(4)}"
    create = f'CREATE DATABASE "{name}"'
    if template is not None:
        create += f' TEMPLATE "{make_url(template).database}"'
    admin = _postgres_admin()
    try:
        with admin.connect() as conn:
            conn.execute(text(create))
    except Exception as exc:
        admin.dispose()
        if require("JCJG_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def command_line_on(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    data_dir: Path,
    env: str = "dev",
    **more: str,
) -> None:
    """Point the ``jcjg`` command, run in-process, at ``database_url`` with nothing but these
    settings (``more``: other ``JCJG_<NAME>`` values by name), its cached settings forgotten."""
    for name in list(os.environ):
        if name.startswith("JCJG_") and name not in {"JCJG_TEST_DATABASE", "JCJG_REQUIRE_POSTGRES"}:
            monkeypatch.delenv(name)
    monkeypatch.setenv("JCJG_ENV", env)
    monkeypatch.setenv("JCJG_DATABASE_URL", database_url)
    monkeypatch.setenv("JCJG_DATA_DIR", str(data_dir))
    for name, value in more.items():
        monkeypatch.setenv(f"JCJG_{name.upper()}", value)
    get_settings.cache_clear()


def row_counts(engine: Engine) -> dict[str, int]:
    """How many rows each of the platform's tables holds: to see that a command wrote nothing."""
    import jcjg.domains  # noqa: F401 - every domain's tables known to the metadata
    from jcjg.core.db import Base

    with engine.connect() as conn:
        return {
            t.name: int(conn.scalar(select(func.count()).select_from(t)) or 0)
            for t in Base.metadata.sorted_tables
        }


# This process's database as `jcjg db upgrade` builds it, to copy, with the function that
# removes it; in a folder of the test session (set before any test runs).
_template: list[tuple[str, Any]] = []
_template_dir: list[Path] = []


def upgraded_database_url(tmp_dir: Path) -> tuple[str, Any]:
    """A new database as ``jcjg db upgrade`` builds it (the schema by the migrations, and the
    reference data), and a function that removes it: a copy of one that this process built the
    first time it was asked (a copy takes a fraction of a second, the upgrade seconds). A test
    of the upgrade itself upgrades a :func:`fresh_database_url` instead."""
    if not _template:
        url, drop = fresh_database_url(_template_dir[0])
        upgrade(url)
        _template.append((url, drop))
    return fresh_database_url(tmp_dir, template=_template[0][0])


@pytest.fixture(scope="session", autouse=True)
def _database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    _template_dir.append(tmp_path_factory.mktemp("template"))
    yield
    while _template:
        _, drop = _template.pop()
        drop()


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """argon2id with small costs: the policy is what is tested, not the hash's strength."""
    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original


@pytest.fixture(scope="session", autouse=True)
def _ledger_identity(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The log signs with a key of the test run, never one under the repository's var/."""
    ledger_service.configure(
        Settings(env="test", secret_key="x" * 32, data_dir=tmp_path_factory.mktemp("ledger-key"))
    )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, drop = fresh_database_url(tmp_path_factory.mktemp("db"))
    upgrade(url)  # the schema and the reference data, as `jcjg db upgrade` builds them
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """One outer transaction per test, rolled back at the end: tests never see each other."""
    conn = engine.connect()
    trans = conn.begin()
    yield conn
    trans.rollback()
    conn.close()


@pytest.fixture
def session_factory(connection: Connection) -> sessionmaker[Session]:
    return sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def db(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    with session_factory() as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        env="test",
        secret_key="test-" + secrets.token_hex(16),
        database_url=database_url,
        data_dir=tmp_path / "data",
        base_url="http://testserver",
        embedded_worker=False,
        exchange_stats_flush_seconds=3600,  # the tests flush the exchange counters themselves
        verify_scan_flush_seconds=0,  # scans written in their request, to count them at once
        # the tests check the kept verification answers themselves: the checking thread would
        # share the test's one connection
        verify_page_cache_seconds=3600,
        # a page's figures are counted on every visit: tests change data between two visits
        page_figures_seconds=0,
        analysis_results_seconds=0,  # likewise an analysis's result
        # a registry sent over the exchange is judged at every message (the sync tests set it)
        registry_quiet_seconds=0,
        # accepted messages are stored in their request and applied when the test says so
        # (tests.exchange.conftest.apply_waiting): the writer and the apply workers would
        # share the test's one connection
        exchange_group_commit=False,
        exchange_apply_workers=0,
        # a background export runs in its request: a thread would share the one connection
        list_export_threads=False,
    )


@pytest.fixture
def app(settings: Settings, engine: Engine, session_factory: sessionmaker[Session]) -> FastAPI:
    return create_app(settings, engine=engine, session_factory=session_factory)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers={"accept": "application/json"}) as c:
        yield c


@pytest.fixture
def browser_client(app: FastAPI) -> Iterator[TestClient]:
    """A client that asks for HTML like a browser does."""
    with TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as c:
        yield c


@pytest.fixture
def factory(db: Session, settings: Settings) -> Factory:
    return Factory(db, settings)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port that refuses connections for the whole test (see tests/servers.py)."""
    with closed_port() as port:
        yield port
