"""The database layer: UTC times, migrations at head, an append-only audit log, the probes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from jcjg.audit.models import AuditLog
from jcjg.auth.models import UserSession
from jcjg.config import Settings
from jcjg.core.db import make_engine, transaction, utcnow
from jcjg.core.jobs import JobSchedule
from jcjg.core.migrate import check, current_revision, head_revision, is_current
from jcjg.main import create_app

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _reload(db: Session, name: str) -> JobSchedule:
    """The row as the database gives it back, not the object still held by the session."""
    db.flush()
    db.expunge_all()
    return db.scalars(select(JobSchedule).where(JobSchedule.name == name)).one()


# --- UTCDateTime -------------------------------------------------------------------------------


def test_utcnow_is_timezone_aware_utc() -> None:
    now = utcnow()
    assert now.tzinfo is not None
    assert now.utcoffset() == dt.timedelta(0)


def test_shanghai_time_round_trips_to_the_same_instant_in_utc(db: Session) -> None:
    local = dt.datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=SHANGHAI)
    db.add(JobSchedule(name="test.tz", next_run_at=local))
    row = _reload(db, "test.tz")
    assert row.next_run_at == local  # the same instant
    assert row.next_run_at.utcoffset() == dt.timedelta(0)
    assert row.next_run_at.isoformat() == "2026-03-01T04:30:15.123456+00:00"


def test_stored_value_is_utc(db: Session) -> None:
    local = dt.datetime(2026, 3, 1, 8, 0, tzinfo=SHANGHAI)  # 00:00 UTC
    db.add(JobSchedule(name="test.raw", next_run_at=local))
    db.flush()
    raw = db.execute(text("SELECT next_run_at FROM job_schedule WHERE name = 'test.raw'")).scalar()
    if isinstance(raw, str):  # SQLite keeps text: it must be the UTC wall time
        assert raw.startswith("2026-03-01 00:00:00")
    else:  # PostgreSQL timestamptz
        assert raw == local


def test_none_stays_none(db: Session) -> None:
    db.add(JobSchedule(name="test.none", next_run_at=utcnow(), locked_until=None))
    assert _reload(db, "test.none").locked_until is None


def test_comparisons_across_time_zones_use_the_instant(db: Session) -> None:
    db.add(JobSchedule(name="test.cmp", next_run_at=dt.datetime(2026, 3, 1, 8, 0, tzinfo=SHANGHAI)))
    db.flush()
    just_after = dt.datetime(2026, 3, 1, 0, 0, 1, tzinfo=dt.UTC)
    just_before = dt.datetime(2026, 2, 28, 23, 59, 59, tzinfo=dt.UTC)
    due = select(JobSchedule.name).where(JobSchedule.name == "test.cmp")
    assert db.scalars(due.where(JobSchedule.next_run_at <= just_after)).all() == ["test.cmp"]
    assert db.scalars(due.where(JobSchedule.next_run_at <= just_before)).all() == []


def test_naive_datetime_is_refused(db: Session) -> None:
    db.add(JobSchedule(name="test.naive", next_run_at=dt.datetime(2026, 3, 1, 12, 0)))  # noqa: DTZ001
    with pytest.raises(StatementError, match="naive datetime refused"):
        db.flush()
    db.rollback()
    assert db.get(JobSchedule, "test.naive") is None


def test_naive_datetime_is_refused_in_queries_too(db: Session) -> None:
    naive = dt.datetime(2026, 3, 1, 12, 0)  # noqa: DTZ001
    with pytest.raises(StatementError, match="naive datetime refused"):
        db.scalars(select(JobSchedule).where(JobSchedule.next_run_at < naive)).all()


# --- engine ------------------------------------------------------------------------------------


def test_foreign_keys_are_enforced(db: Session) -> None:
    # SQLite enforces them only with PRAGMA foreign_keys=ON, which make_engine sets.

    def orphan_session() -> None:
        with db.begin_nested():
            db.add(UserSession(token_hash="f" * 64, user_id=987_654_321, csrf_token="c"))
            db.flush()

    with pytest.raises(IntegrityError, match=r"(?i)foreign key"):
        orphan_session()
    assert db.scalars(select(UserSession).where(UserSession.user_id == 987_654_321)).all() == []


def test_transaction_commits_on_success_and_rolls_back_on_error(
    session_factory: sessionmaker[Session],
) -> None:
    with transaction(session_factory) as db:
        db.add(JobSchedule(name="test.kept", next_run_at=utcnow()))

    def fail_half_way() -> None:
        with transaction(session_factory) as db:
            db.add(JobSchedule(name="test.dropped", next_run_at=utcnow()))
            db.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_half_way()
    with session_factory() as db:
        names = set(db.scalars(select(JobSchedule.name).where(JobSchedule.name.like("test.%"))))
    assert names == {"test.kept"}


def test_savepoints_are_sent_as_text_and_keep_their_meaning(
    session_factory: sessionmaker[Session],
) -> None:
    """make_engine's savepoints are plain text (SQLAlchemy compiled each one, never cached),
    and still nest: a savepoint rolled back drops its rows only, one released keeps them."""
    sent: list[tuple[str, bool]] = []

    def rolled_back(db: Session) -> None:
        with db.begin_nested():
            db.add(JobSchedule(name="test.rolled-back", next_run_at=utcnow()))
            db.flush()
            raise RuntimeError("boom")

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: Any) -> None:
        if "SAVEPOINT" in statement:
            sent.append((statement, context.compiled is not None))

    with session_factory() as db:
        engine = db.get_bind()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            db.add(JobSchedule(name="test.outer", next_run_at=utcnow()))
            with db.begin_nested():
                db.add(JobSchedule(name="test.released", next_run_at=utcnow()))
                with pytest.raises(RuntimeError):
                    rolled_back(db)
            names = set(db.scalars(select(JobSchedule.name).where(JobSchedule.name.like("test.%"))))
            db.rollback()
        finally:
            event.remove(engine, "before_cursor_execute", seen)
    assert names == {"test.outer", "test.released"}
    # the test's session is itself a savepoint of the test's transaction (its first and last)
    verbs = [statement.rsplit(" ", 1)[0] for statement, _ in sent]
    assert verbs == [
        "SAVEPOINT", "SAVEPOINT", "SAVEPOINT", "ROLLBACK TO SAVEPOINT", "RELEASE SAVEPOINT",
        "ROLLBACK TO SAVEPOINT",
    ]  # fmt: skip
    assert all(re.fullmatch(r"[A-Z ]+ sa_savepoint_\d+", statement) for statement, _ in sent)
    assert not any(compiled for _, compiled in sent)


# --- migrations --------------------------------------------------------------------------------


def test_models_match_the_migrations(database_url: str) -> None:
    check(database_url)  # raises alembic.util.exc.AutogenerateDiffsDetected on a difference


def test_database_is_at_the_head_revision(engine: Engine, database_url: str) -> None:
    head = head_revision(database_url)
    assert head is not None
    with engine.connect() as conn:
        assert current_revision(conn) == head
        assert is_current(conn) is True


# --- the audit log is append-only --------------------------------------------------------------


@pytest.fixture
def audit_row(db: Session) -> AuditLog:
    row = AuditLog(action="test", detail="original", object_type="test")
    db.add(row)
    db.flush()
    return row


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET detail = 'rewritten' WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
    ],
    ids=["update", "delete"],
)
def test_audit_log_refuses_update_and_delete(
    db: Session, audit_row: AuditLog, statement: str
) -> None:
    # SQLite's RAISE(ABORT) surfaces as IntegrityError, PostgreSQL's RAISE EXCEPTION as
    # InternalError: both are DBAPIErrors carrying the trigger's message.
    # The savepoint is rolled back, so the test's own transaction stays usable.
    with pytest.raises(DBAPIError, match="append-only"), db.begin_nested():
        db.execute(text(statement), {"id": audit_row.id})
    detail = db.execute(
        text("SELECT detail FROM audit_log WHERE id = :id"), {"id": audit_row.id}
    ).scalar()
    assert detail == "original"


def test_audit_log_accepts_appends(db: Session, audit_row: AuditLog) -> None:
    db.add(AuditLog(action="test", detail="second", object_type="test"))
    db.flush()
    count = db.execute(text("SELECT count(*) FROM audit_log WHERE object_type = 'test'")).scalar()
    assert count == 2


# --- probes ------------------------------------------------------------------------------------


def _probe(settings: Settings, engine: Engine) -> TestClient:
    return TestClient(create_app(settings, engine=engine), headers={"accept": "application/json"})


def test_healthz_answers(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_reports_database_and_migrations_ok(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok"},
    }


def test_readyz_reports_pending_migrations(settings: Settings, tmp_path: Path) -> None:
    empty = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        with _probe(settings, empty) as c:
            response = c.get("/readyz")
    finally:
        empty.dispose()
    assert response.status_code == 503
    assert response.json() == {
        "status": "not ready",
        "checks": {"database": "ok", "migrations": "pending"},
    }


def test_readyz_reports_an_unreachable_database(settings: Settings, tmp_path: Path) -> None:
    # A file in a folder that does not exist cannot be opened.
    broken = create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")
    try:
        with _probe(settings, broken) as c:
            response = c.get("/readyz")
    finally:
        broken.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["checks"]["database"].startswith("unreachable")
    assert "migrations" not in body["checks"]
