"""Least privilege in the database (docs/operations/security.md): after ``jcjg db grant ROLE``
the application role runs the platform (reads, writes, notarises, applies) but cannot rewrite
the audit trail, the ledger's leaves and nodes or the raw exchange messages, whatever code asks;
on SQLite the command says there are no roles."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.orm import Session

from jcjg.cli import main
from jcjg.core.privileges import PrivilegeError, statements
from jcjg.ledger import service as ledger
from tests.conftest import (
    BACKEND,
    _postgres_admin,
    command_line_on,
    fresh_database_url,
    schema_template,
)


def test_the_statements_protect_what_is_declared() -> None:
    found = statements(
        "jcjg_app", ["audit_log", "exchange_message", "project", "alembic_version"],
        {"audit_log": (), "exchange_message": ("status", "applied_at")},
    )  # fmt: skip
    assert 'GRANT SELECT, INSERT ON "audit_log" TO "jcjg_app"' in found
    assert 'GRANT UPDATE ("status", "applied_at") ON "exchange_message" TO "jcjg_app"' in found
    assert 'GRANT SELECT, INSERT, UPDATE, DELETE ON "project" TO "jcjg_app"' in found
    assert 'GRANT SELECT ON "alembic_version" TO "jcjg_app"' in found
    with pytest.raises(PrivilegeError):
        statements('app"; DROP TABLE project; --', ["project"], {})


@pytest.mark.postgres_only
def test_the_application_role_cannot_rewrite_the_trail_the_ledger_or_the_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, drop = fresh_database_url(tmp_path, template=schema_template().url)
    role = f"jcjg_app_{secrets.token_hex(4)}"
    admin = _postgres_admin()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
    try:
        command_line_on(monkeypatch, url, tmp_path / "data")
        done = CliRunner().invoke(main, ["db", "grant", role])
        assert done.exit_code == 0, done.output
        assert "audit_log" in done.output
        unknown = CliRunner().invoke(main, ["db", "grant", "no_such_role"])
        assert unknown.exit_code == 1
        assert "没有角色" in unknown.output

        app = create_engine(make_url(url).set(username=role, password=None))
        with app.begin() as conn:  # what the platform does, it may
            conn.execute(text("SELECT count(*) FROM project"))
            conn.execute(text(
                "INSERT INTO audit_log (at, action, object_type, object_id, username, ip) "
                "VALUES (now(), 'login', 'user', '1', 'app', '127.0.0.1')"))  # fmt: skip
            conn.execute(text("UPDATE exchange_message SET status = 'applied' WHERE false"))
            conn.execute(text("UPDATE ledger_counter SET next_index = next_index WHERE false"))
        with Session(app) as db:  # the log appended, its tree integrated and signed
            for n in range(3):
                ledger.notarise(db, "test:privileges", {"n": n})
            ledger.integrate(db)
            checkpoint = ledger.ensure_checkpoint(db)
            db.commit()
            assert checkpoint.size >= 3
        for statement in (
            "UPDATE audit_log SET username = 'x'",
            "DELETE FROM audit_log",
            "UPDATE ledger_leaf SET entry = ''::bytea WHERE false",
            "DELETE FROM ledger_node WHERE false",
            "UPDATE exchange_message SET body = ''::bytea WHERE false",
            "DELETE FROM exchange_message WHERE false",
            "TRUNCATE ledger_leaf",
            "UPDATE alembic_version SET version_num = 'x' WHERE false",
            "DROP TABLE project",
        ):
            with pytest.raises(ProgrammingError) as refused, app.begin() as conn:
                conn.execute(text(statement))
            assert "permission denied" in str(refused.value) or "must be owner" in str(
                refused.value
            ), statement
        app.dispose()
    finally:
        drop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@pytest.mark.sqlite_only
def test_sqlite_has_no_roles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert BACKEND == "sqlite"
    url, drop = fresh_database_url(tmp_path, template=schema_template().url)
    command_line_on(monkeypatch, url, tmp_path / "data")
    refused = CliRunner().invoke(main, ["db", "grant", "jcjg_app"])
    assert refused.exit_code == 1
    assert "只有 PostgreSQL 支持数据库角色" in refused.output
    drop()
