"""The suite's own rules (CONTRIBUTING.md, "Tests"): every test's database is a copy of the run's,
which is at the migrations' head, and a test that migrates one of its own fails unless it is a
test of the migrations."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from jcjg.core import migrate
from jcjg.ledger import service as ledger_service
from tests.conftest import DemoRegion


def test_the_runs_database_is_at_the_migrations_head(engine: Engine) -> None:
    """``upgrade(url)`` to ``head``: a new migration is in the run's database (and every copy of
    it) without a list to edit."""
    with engine.connect() as conn:
        assert migrate.current_revision(conn) is not None
        assert migrate.is_current(conn)


@pytest.mark.demo
def test_the_demo_region_is_at_the_migrations_head(demo_region: DemoRegion) -> None:
    with demo_region.engine.connect() as conn:
        assert migrate.is_current(conn)


INNER = """
import pytest
from jcjg.core import migrate


def test_forgets_the_template(tmp_path):
    migrate.upgrade(f"sqlite:///{tmp_path}/own.db", "base")


@pytest.mark.migrations
def test_of_the_migrations(tmp_path):
    migrate.upgrade(f"sqlite:///{tmp_path}/own.db", "base")


def test_copies_the_template(tmp_path):
    pass
"""


@pytest.mark.migrations  # the inner run's migrations are counted in this process too
def test_a_test_that_migrates_its_own_database_fails(pytester: pytest.Pytester) -> None:
    """A module that forgets the run's database and migrates one of its own fails, with the way
    out in its message; a test of the migrations, marked so, passes. (The inner run is this
    process's own conftest in a run of its own; the log's key it configures is put back.)"""
    pytester.makeconftest('pytest_plugins = ["tests.conftest"]\n')
    pytester.makepyfile(test_inner=INNER)
    kept = ledger_service.log_identity()
    try:
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    finally:
        ledger_service._identity = kept
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*test_forgets_the_template*", "*upgraded_database_url*"])


def test_grouped_tests_are_dealt_as_one(request: pytest.FixtureRequest) -> None:
    """Under ``pytest -n N --dist loadgroup`` (make test), the tests of one ``xdist_group`` (the
    browser tests' per-worker groups, the face models', the recorders') carry their group in
    their node id, where pytest-xdist reads it: without it each was dealt on its own."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not run by pytest-xdist with --dist loadgroup")
    grouped = [i for i in request.session.items if any(i.iter_markers("xdist_group"))]
    if not grouped:
        pytest.skip("no grouped test in this run")
    for item in grouped:
        (group,) = {str(m.args[0]) for m in item.iter_markers("xdist_group")}
        assert item.nodeid.endswith(f"@{group}"), item.nodeid
