"""Test fixtures: a database built by the migrations, one rolled-back transaction per test.

``JCJG_TEST_DATABASE=sqlite`` (default) runs on a fresh SQLite file; ``=postgresql`` creates a
fresh database on ``JCJG_TEST_POSTGRES_URL`` (default the local server) and drops it afterwards.
Each process (each pytest-xdist worker) builds its own; tests that need a database of their
own besides (live servers) get copies of one this process built (``upgraded_database_url``).
``JCJG_REQUIRE_POSTGRES=1`` / ``JCJG_REQUIRE_BROWSER=1`` turn "missing, skipped" into failures.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import secrets
import shutil
import socket
import sqlite3
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import hypothesis
import pytest
from alembic import command as alembic_command
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
from jcjg.core.db import create_database, make_engine, make_sessionmaker
from jcjg.core.migrate import upgrade as migrate_to
from jcjg.exchange import cache as exchange_cache
from jcjg.ledger import service as ledger_service
from jcjg.main import create_app
from jcjg.refdata import upgrade
from jcjg.regions import service as regions_service
from jcjg.video import addresses as video_addresses
from tests.factories import Factory
from tests.servers import closed_port

if TYPE_CHECKING:
    from jcjg.demo.load import Outcome

BACKEND = os.environ.get("JCJG_TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get(
    "JCJG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


domains.install()  # the platform's domains, as the app and the CLI install them

# pytest rewrites each test module's asserts and keeps the result beside it, unless bytecode is
# not to be written: PYTHONDONTWRITEBYTECODE is set on these machines, and every worker of
# every run rewrote the suite's 300 modules again (8 s of CPU each, half of its collection).
# The modules it keeps are written atomically, so the workers may race to write them.
sys.dont_write_bytecode = False

pytest_plugins = ["tests.profiling", "pytester"]  # --profile-suite (make test-profile)


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
    regions_service.DISPLAY_NAMES.clear()
    video_addresses.forget()  # the camera addresses' names resolved, the platform's own


def require(flag: str) -> bool:
    return os.environ.get(flag, "") in {"1", "true", "yes"}


# Property tests (hypothesis, marked ``property``): `make e2e` (JCJG_E2E=1) tries as many
# examples as each names, `make test` a fifth of them (at least 10): there they were a
# minute of the suite for the rare input the later examples find, which the long run finds.
FULL_PROPERTIES = require("JCJG_E2E")


def examples(full: int) -> int:
    """How many examples a property test whose full run tries ``full`` tries in this run."""
    return full if FULL_PROPERTIES else max(10, full // 5)


hypothesis.settings.register_profile("jcjg", max_examples=examples(100))
hypothesis.settings.load_profile("jcjg")  # the tests that name no count (hypothesis's 100)


# Which database run runs the whole suite (``make test`` sets it: the PostgreSQL run when one
# answers, else the SQLite run). The other runs the tests that exercise the embedded SQLite
# default (marked ``sqlite``, or ``sqlite_only``), none marked ``once`` and no browser test
# (CONTRIBUTING.md, "Tests"). Unset, a run runs everything.
WHOLE_SUITE_IN = os.environ.get("JCJG_WHOLE_SUITE_IN", "")


def in_this_run(item: pytest.Item) -> bool:
    """Whether this database run runs ``item`` (see ``WHOLE_SUITE_IN``). A test marked
    ``sqlite_run`` does not use the run's database (none, or a copy served by processes of its
    own): it runs once, in the SQLite run."""
    marked = item.get_closest_marker
    if WHOLE_SUITE_IN and marked("sqlite_run") is not None:
        return BACKEND == "sqlite"
    if not WHOLE_SUITE_IN or WHOLE_SUITE_IN == BACKEND:
        return True
    embedded = marked("sqlite") is not None or marked("sqlite_only") is not None
    return embedded and marked("once") is None and marked("browser") is None


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """This run's tests (``in_this_run``); a test marked ``sqlite_only`` skips on PostgreSQL,
    one marked ``postgres_only`` on SQLite.
    Under ``pytest -n N --dist loadgroup`` the browser tests are dealt by module into as many
    groups as there are workers: each group runs on one worker, one test after another, with
    one Chromium, while the other workers take the rest."""
    deselected = [item for item in items if not in_this_run(item)]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if in_this_run(item)]
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    modules: dict[str, int] = {}
    for item in items:
        if item.get_closest_marker("sqlite_only") and BACKEND != "sqlite":
            item.add_marker(pytest.mark.skip(reason="runs on SQLite only, in the SQLite run"))
        if item.get_closest_marker("postgres_only") and BACKEND != "postgresql":
            item.add_marker(pytest.mark.skip(reason="runs on PostgreSQL only"))
        if item.get_closest_marker("browser") is not None:
            group = modules.setdefault(item.nodeid.split("::")[0], len(modules) % workers)
            item.add_marker(pytest.mark.xdist_group(f"browser-{group}"))
    if getattr(config.option, "loadgroup", False):
        _groups_in_node_ids(items)


def _groups_in_node_ids(items: list[pytest.Item]) -> None:
    """pytest-xdist's ``loadgroup`` reads an item's group from the ``@group`` its worker
    appends to the node id, by setting ``_nodeid``; since pytest 9.2 the id is read from
    ``_id``, so the groups were lost and grouped tests were dealt one by one (a module's
    fixture, the demo's live server, built on both workers). The suffix is set here, where
    pytest reads it (``tests/test_suite.py`` holds the run to it)."""
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})  # fmt: skip
        if names and "@" not in item.nodeid.rsplit("]", 1)[-1] and hasattr(item, "_id"):
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")


def _postgres_admin() -> Engine:
    return create_engine(
        POSTGRES_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )


def fresh_database_url(
    tmp_dir: Path, template: str | None = None, *, kept: bool = False
) -> tuple[str, Any]:
    """A new database of the backend under test, empty or a copy of ``template`` (a URL this
    function returned, no longer in use), and a function that removes it. ``kept``: the run
    drops it at its end (a template of the run's, see :func:`built_once`)."""
    if BACKEND == "sqlite":
        path = tmp_dir / f"jcjg-{secrets.token_hex(4)}.db"
        if template is not None:
            source = make_url(template).database
            assert source is not None
            with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(path)) as dst:
                src.backup(dst)
        return f"sqlite:///{path}", lambda: None
    name = f"jcjg_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = _postgres_admin()
    try:
        create_database(admin, name, make_url(template).database if template else None)
    except Exception as exc:
        if require("JCJG_REQUIRE_POSTGRES"):
            pytest.fail(f"PostgreSQL required but unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    finally:
        admin.dispose()
    if kept:
        with (_run_folder() / "databases").open("a") as names:
            names.write(name + "\n")
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        admin = _postgres_admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url, drop


def redis_url() -> str:
    """This machine's Redis for tests (database 15, or ``JCJG_TEST_REDIS_URL``), or skip
    (fail with ``JCJG_REQUIRE_REDIS=1``, as CI sets)."""
    import redis

    url = os.environ.get("JCJG_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        if require("JCJG_REQUIRE_REDIS"):
            pytest.fail(f"Redis required but unreachable: {exc}")
        pytest.skip(f"Redis unreachable: {exc}")
    return url


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


# --- databases: built once a run, copied where needed -------------------------------------------
#
# A run builds each kind of database once: the schema by the migrations with the reference data
# (what `jcjg db upgrade` leaves), and the demo region on top of it (what `jcjg demo load`
# leaves, with the files its rows name). The first process of the run that needs one builds it,
# under a lock in a folder every pytest-xdist worker of the run shares; every worker's own
# database, and every live server's, is a copy (PostgreSQL `CREATE DATABASE ... TEMPLATE`,
# SQLite's backup API): a fraction of a second where the upgrade takes seconds and the demo tens.
# The run's last step drops what it built. A test of the migrations themselves, and only such a
# test (`pytest.mark.migrations`), migrates a database of its own (`_no_schema_of_its_own`).

_RUN_FOLDER: list[Path] = []
_UPGRADES: list[str] = []  # the revisions alembic was asked to upgrade to in this process


def _run_folder() -> Path:
    return _RUN_FOLDER[0]


@dataclass(frozen=True)
class Template:
    """A database the run built once, and the folder of the files its rows name (blob store,
    the log's key), copied with it; ``secret_key``: what its secrets are sealed with."""

    url: str
    data_dir: Path
    secret_key: str

    def copy(self, tmp_dir: Path) -> tuple[str, Path, Any]:
        """A database and a data folder of their own, as this one; the function that removes
        the database."""
        url, drop = fresh_database_url(tmp_dir, template=self.url)
        data_dir = tmp_dir / f"data-{secrets.token_hex(3)}"
        if self.data_dir.exists():
            shutil.copytree(self.data_dir, data_dir)
        return url, data_dir, drop


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def built_once(
    kind: str, build: Callable[[str, Settings], None], base: Template | None = None
) -> Template:
    """The run's database of ``kind``: built by ``build(url, settings)``, on an empty database or
    a copy of ``base``, by the first process of the run that asks."""
    folder = _run_folder()
    record = folder / f"template-{kind}.json"
    with _locked(folder / f"template-{kind}.lock"):
        if not record.exists():
            url, _ = fresh_database_url(folder, template=base and base.url, kept=True)
            data_dir = folder / f"template-{kind}-data"
            if base is not None and base.data_dir.exists():
                shutil.copytree(base.data_dir, data_dir)
            secret_key = base.secret_key if base else f"template-{secrets.token_hex(16)}"
            # in a thread of its own: no event loop of this one's (Playwright's, a browser
            # test's) in the way of what the build runs (pyHanko's asyncio.run)
            counted = len(_UPGRADES)
            with ThreadPoolExecutor(1) as builder:
                builder.submit(build, url, _template_settings(url, data_dir, secret_key)).result()
            del _UPGRADES[counted:]  # the run's, not the asking test's (_no_schema_of_its_own)
            fields = {"url": url, "data_dir": str(data_dir), "secret_key": secret_key}
            record.write_text(json.dumps(fields))
        fields = json.loads(record.read_text())
    return Template(fields["url"], Path(fields["data_dir"]), fields["secret_key"])


def _template_settings(url: str, data_dir: Path, secret_key: str) -> Settings:
    return Settings(
        env="test",
        secret_key=secret_key,
        database_url=url,
        data_dir=data_dir,
        embedded_worker=False,
    )


def _build_schema(url: str, settings: Settings) -> None:
    upgrade(url)  # the schema and the reference data, as `jcjg db upgrade` builds them


def _build_demo(url: str, settings: Settings) -> None:
    """The demo region as `jcjg demo load` leaves it; its log signs with a key in its own data
    folder (copied with it), as a platform's would."""
    from jcjg.core.context import context_of
    from jcjg.demo.load import run
    from jcjg.main import configure_domains

    engine = make_engine(url)
    kept = ledger_service.log_identity()
    try:
        configure_domains(settings)  # as the command does: the log's key, the rules
        with make_sessionmaker(engine)() as db:
            context_of(db).username, context_of(db).ip = "cli", "local"
            outcome = run(db, settings)
        # what the load reported (the accounts' passwords among it): tests/test_cli.py checks
        # what `jcjg demo load` prints of it without a second load of its own
        _demo_outcome_file(Path(settings.data_dir)).write_text(json.dumps(asdict(outcome)))
    finally:
        ledger_service._identity = kept
        engine.dispose()


def _demo_outcome_file(data_dir: Path) -> Path:
    return data_dir.parent / "template-demo-outcome.json"


def demo_outcome() -> Outcome:
    """What the run's demo load reported (``jcjg.demo.load.Outcome``)."""
    from jcjg.demo.load import Outcome

    fields = json.loads(_demo_outcome_file(demo_template().data_dir).read_text())
    return Outcome(**{**fields, "created": [tuple(row) for row in fields["created"]]})


def schema_template() -> Template:
    """The run's database as `jcjg db upgrade` builds it."""
    return built_once("schema", _build_schema)


def demo_template() -> Template:
    """The run's demo region, as `jcjg demo load` builds it on an upgraded database."""
    return built_once("demo", _build_demo, base=schema_template())


@contextmanager
def sqlite_at(tmp_dir: Path, revision: str) -> Iterator[tuple[str, Engine]]:
    """A SQLite file of its own migrated to ``revision``, and an engine on it without the
    platform's foreign-key pragma (rows written on their own), disposed at the end: a data
    migration's test writes the rows it finds there, upgrades the URL, reads what became of
    them."""
    url = f"sqlite:///{tmp_dir / 'old.db'}"
    migrate_to(url, revision)
    engine = create_engine(url)
    try:
        yield url, engine
    finally:
        engine.dispose()


def upgraded_database_url(tmp_dir: Path) -> tuple[str, Any]:
    """A new database as ``jcjg db upgrade`` builds it (the schema by the migrations, and the
    reference data), and a function that removes it: a copy of the run's. A test of the
    upgrade itself upgrades a :func:`fresh_database_url` instead."""
    return fresh_database_url(tmp_dir, template=schema_template().url)


@pytest.fixture(scope="session", autouse=True)
def _run_databases(tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.getbasetemp()
    _RUN_FOLDER.append(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base)


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The run's last process drops the databases the run built (the controller under
    pytest-xdist, after its workers)."""
    if hasattr(session.config, "workerinput") or BACKEND != "postgresql":
        return
    names = session.config._tmp_path_factory.getbasetemp() / "databases"  # type: ignore[attr-defined]
    if not names.exists():
        return
    admin = _postgres_admin()
    with admin.connect() as conn:
        for name in names.read_text().split():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
    names.unlink()


@pytest.fixture(scope="session", autouse=True)
def _upgrades_counted() -> Iterator[None]:
    original = alembic_command.upgrade

    def counted(config: Any, revision: str, *args: Any, **kwargs: Any) -> None:
        _UPGRADES.append(revision)
        original(config, revision, *args, **kwargs)

    alembic_command.upgrade = counted
    yield
    alembic_command.upgrade = original


@pytest.fixture(autouse=True)
def _no_schema_of_its_own(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that builds a schema by migrating, instead of copying the run's, fails: it costs
    seconds each time, and it is what the copies are for (``upgraded_database_url``,
    ``schema_template``, ``demo_template``). The tests of the migrations and of `jcjg db
    upgrade` are marked ``migrations``."""
    before = len(_UPGRADES)
    yield
    if len(_UPGRADES) > before and request.node.get_closest_marker("migrations") is None:
        pytest.fail(
            "this test migrated a database of its own: copy the run's with "
            "tests.conftest.upgraded_database_url() (or the demo's, pytest.mark.demo), or mark "
            "a test of the migrations themselves pytest.mark.migrations"
        )


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    """argon2id with small costs: the policy is what is tested, not the hash's strength."""
    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    passwords._hasher = original


def _numeric_only(host: str) -> list[str]:
    found = socket.getaddrinfo(host, None, flags=socket.AI_NUMERICHOST)
    return [str(info[4][0]) for info in found]


@pytest.fixture(scope="session", autouse=True)
def _no_name_lookups() -> Iterator[None]:
    """No camera address's host name is resolved on the network (no network beyond the
    loopback): an address is itself, a name does not resolve; a test that needs names sets
    its own ``jcjg.video.addresses.resolve_host``."""
    original = video_addresses.resolve_host
    video_addresses.resolve_host = _numeric_only
    yield
    video_addresses.resolve_host = original


@pytest.fixture(scope="session", autouse=True)
def _ledger_identity(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The log signs with a key of the test run, never one under the repository's var/."""
    ledger_service.configure(
        Settings(env="test", secret_key="x" * 32, data_dir=tmp_path_factory.mktemp("ledger-key"))
    )


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This worker's database: a copy of the run's upgraded one."""
    url, drop = upgraded_database_url(tmp_path_factory.mktemp("db"))
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@dataclass(frozen=True)
class DemoRegion:
    """This worker's copy of the run's demo region: its database, engine, data folder and
    secret key."""

    url: str
    engine: Engine
    data_dir: Path
    secret_key: str


@pytest.fixture(scope="session")
def demo_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRegion]:
    template = demo_template()
    url, data_dir, drop = template.copy(tmp_path_factory.mktemp("demo"))
    engine = make_engine(url)
    yield DemoRegion(url, engine, data_dir, template.secret_key)
    engine.dispose()
    drop()


def _demo(request: pytest.FixtureRequest) -> DemoRegion | None:
    """This worker's demo region when the test reads it (``pytest.mark.demo``)."""
    if request.node.get_closest_marker("demo") is None:
        return None
    region: DemoRegion = request.getfixturevalue("demo_region")
    return region


@pytest.fixture
def connection(request: pytest.FixtureRequest, engine: Engine) -> Iterator[Connection]:
    """One outer transaction per test, rolled back at the end: tests never see each other. A
    test marked ``demo`` is in this worker's copy of the demo region."""
    demo = _demo(request)
    conn = (demo.engine if demo else engine).connect()
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
def settings(request: pytest.FixtureRequest, tmp_path: Path, database_url: str) -> Settings:
    demo = _demo(request)  # the demo region's files and secrets are its copy's
    return settings_for_tests(
        secret_key=demo.secret_key if demo else "test-" + secrets.token_hex(16),
        database_url=demo.url if demo else database_url,
        data_dir=demo.data_dir if demo else tmp_path / "data",
    )


def settings_for_tests(*, secret_key: str, database_url: str, data_dir: Path) -> Settings:
    """A test's settings (the ``settings`` fixture's): what runs in a background thread runs
    in the request or when the test says, on the test's one connection.

    A deep copy of this process's :func:`_test_settings` with the test's secret, database and
    folder: building settings reads every field's sources (the environment, ``.env``), 25 ms
    a time, which every test paid (a minute and a half of the suite's CPU). The copy keeps
    what the validators judged (none of them reads these three fields under ``env=test``
    and the memory rate-limit store); a JCJG_ variable set since builds a new one."""
    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("JCJG_")))
    update = {"secret_key": secret_key, "database_url": database_url, "data_dir": data_dir}
    return _test_settings(environment, database_url.split(":", 1)[0]).model_copy(
        update=update, deep=True
    )


@functools.cache
def _test_settings(environment: tuple[tuple[str, str], ...], scheme: str) -> Settings:
    """The settings every test starts from, validated once per process, JCJG_ environment
    and database kind."""
    del environment  # the cache's key: Settings() reads it itself
    return Settings(
        env="test",
        secret_key="test-" + secrets.token_hex(16),
        database_url=f"{scheme}://",
        data_dir=Path("/nonexistent"),
        base_url="http://testserver",
        embedded_worker=False,
        exchange_stats_flush_seconds=3600,  # the tests flush the exchange counters themselves
        verify_scan_flush_seconds=0,  # scans written in their request, to count them at once
        # the tests check the kept verification answers themselves: the checking thread would
        # share the test's one connection
        verify_page_cache_seconds=3600,
        # a page's figures are counted on every visit: tests change data between two visits
        page_figures_seconds=0,
        shared_pages_seconds=0,  # and a shared page drawn for its request
        analysis_results_seconds=0,  # likewise an analysis's result
        metrics_cache_seconds=0,  # and the database's figures on /metrics
        # a registry sent over the exchange is judged at every message (the sync tests set it)
        registry_quiet_seconds=0,
        # accepted messages are stored in their request and applied when the test says so
        # (tests.exchange.conftest.apply_waiting): the writer and the apply workers would
        # share the test's one connection
        exchange_group_commit=False,
        exchange_apply_workers=0,
        # a background export runs in its request: a thread would share the one connection
        list_export_threads=False,
        # the recorder's tests record a test camera served on this machine's loopback
        video_allowed_networks="127.0.0.1/32",
        # the rate limits' buckets in this process: a shared store's rows would outlive the
        # test's rolled-back transaction (tests/core/test_ratelimit.py tests the stores)
        rate_limit_store="memory",
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
