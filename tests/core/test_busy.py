"""Issue 47: pages read beside the writers, writers take SQLite's write lock in turn, and a
database too busy to take a write answers 503 with the page's frame, never a 500.

These tests run on a database file of their own (``upgraded_database_url``), not on the
test's one connection: the locks are the point."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core import db as core_db
from jcjg.core.db import WriteGate, WriteWhileReading, is_busy, make_engine, make_sessionmaker
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.later import reading_session, write_later, write_pending
from jcjg.main import create_app
from tests.conftest import settings_for_tests, upgraded_database_url
from tests.factories import Factory, login, page_csrf


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    """An app on a database file of its own, writers waiting at most 0.5 s, an admin logged
    in (cookie) and its bearer token."""
    monkeypatch.setattr(core_db, "BUSY_SECONDS", 0.5)
    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = settings_for_tests(
        secret_key="busy-test-secret-key-0123456789", database_url=url, data_dir=tmp_path / "d"
    )
    app = create_app(settings.model_copy(update={"env": "dev"}), engine=engine,
                     session_factory=factory)  # fmt: skip
    try:
        with factory() as db:
            make = Factory(db, settings)
            admin = make.user(Role.PLATFORM_ADMIN, username="busy_admin")
            token = make.token(admin)
            institution = make.institution()
            lab = make.token(make.user(Role.INSTITUTION_ADMIN, institution=institution))
            city = make.token(make.user(Role.CITY_AUTHORITY, region_code="360400"))
        with TestClient(app, headers={"accept": "text/html"}) as client:
            login(client, "busy_admin")
            yield SimpleNamespace(url=url, factory=factory, client=client, token=token,
                                  institution_id=institution.id, lab=lab, city=city)  # fmt: skip
    finally:
        engine.dispose()
        drop()


@pytest.mark.sqlite_only
def test_pages_read_while_another_process_writes_and_writes_get_503_with_the_frame(office):
    url, factory, client, token = office.url, office.factory, office.client, office.token
    # the principal is known (kept): the frame of a refused page has the menu
    csrf = page_csrf(client, "/account/tokens")
    other = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)  # another process
    other.execute("BEGIN IMMEDIATE")
    try:
        began = time.monotonic()
        assert client.get("/audit").status_code == 200  # reads beside the writer (WAL)
        assert client.get("/regions").status_code == 200
        assert time.monotonic() - began < 5

        page = client.post(
            "/account/tokens", data={"csrf_token": csrf, "name": "等不到的令牌", "days": "30"}
        )
        assert page.status_code == 503
        assert page.headers["retry-after"] == "5"
        assert "系统繁忙" in page.text
        assert "没有改动任何数据" in page.text
        assert 'data-testid="sidenav"' in page.text  # the menu is kept
        assert "服务器内部错误" not in page.text

        created = client.post(
            "/api/v1/users",
            headers={"authorization": f"Bearer {token}", "accept": "application/json"},
            json={"username": "waits_in_vain", "display_name": "等待者", "role": "auditor"},
        )
        assert created.status_code == 503
        assert created.headers["content-type"].startswith("application/problem+json")
        assert created.json()["type"] == "/problems/busy"
        assert created.headers["retry-after"] == "5"
    finally:
        other.execute("ROLLBACK")
        other.close()
    with factory() as db:  # the refused request wrote nothing
        made = "SELECT count(*) FROM user_account WHERE username = 'waits_in_vain'"
        assert db.scalar(text(made)) == 0
    assert client.get("/").status_code == 200


@pytest.mark.sqlite_only
def test_a_page_that_must_write_writes_after_its_reads(office):
    """The unmasked read of a page is audited in a short transaction after the page read, in
    the request's audit context; a session that only reads refuses a write of its own."""
    factory = office.factory
    with reading_session(factory) as db, reading_session(factory) as again:
        # one engine that only reads, made once for the app's engine and kept
        assert db.get_bind() is again.get_bind() is not factory.kw["bind"]
        with pytest.raises(WriteWhileReading):
            db.execute(text("DELETE FROM audit_log"))
        db.rollback()
        from jcjg.audit.choices import AuditAction
        from jcjg.audit.service import record_event

        before = db.scalar(select(func.count()).select_from(AuditLog))
        record_event(db, AuditAction.LOGIN, detail="读后写入")
        assert db.scalar(select(func.count()).select_from(AuditLog)) == before  # not yet
        db.commit()
        write_pending(db, factory)
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(AuditLog).where(
            AuditLog.detail == "读后写入")) == 1  # fmt: skip


@pytest.mark.sqlite_only
def test_a_write_that_cannot_wait_is_dropped_only_when_not_required(office):
    url, factory = office.url, office.factory
    other = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with reading_session(factory) as db:
            write_later(db, lambda w: w.execute(text("DELETE FROM user_session")), required=False)
            write_pending(db, factory)  # logged and dropped
            write_later(db, lambda w: w.execute(text("DELETE FROM user_session")))
            with pytest.raises(OperationalError) as raised:
                write_pending(db, factory)
            assert is_busy(raised.value)
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_writers_take_the_lock_in_the_order_they_came() -> None:
    gate = WriteGate()
    gate.acquire(1.0)  # held
    order: list[int] = []

    def writer(n: int) -> None:
        gate.acquire(5.0)
        order.append(n)
        gate.release()

    threads = []
    for n in range(5):
        thread = threading.Thread(target=writer, args=(n,))
        thread.start()
        threads.append(thread)
        time.sleep(0.05)  # each queued before the next
    gate.release()
    for thread in threads:
        thread.join(5)
    assert order == [0, 1, 2, 3, 4]


def test_a_writer_that_gave_up_is_skipped() -> None:
    gate = WriteGate()
    gate.acquire(1.0)
    with pytest.raises(sqlite3.OperationalError) as raised:
        gate.acquire(0.05)  # gives up its turn
    assert is_busy(raised.value)
    got: list[bool] = []
    thread = threading.Thread(target=lambda: got.append(gate.acquire(5.0) >= 0))
    thread.start()
    time.sleep(0.05)
    gate.release()  # the next in line is the one still waiting, not the one that left
    thread.join(5)
    assert got == [True]


WRITES_WHILE_READING = APIRouter(route_class=TransactionalRoute)


@WRITES_WHILE_READING.get("/test/writes-while-reading")
def _writes(db: SessionDep) -> dict[str, int]:
    db.execute(text("UPDATE user_account SET failed_logins = failed_logins WHERE id < 0"))
    return {"ok": 1}


@pytest.mark.sqlite_only
def test_a_page_that_writes_while_reading_is_answered_again_as_a_writer(office, caplog):
    """Outside the suite (whose settings make it fail), a GET whose endpoint writes through
    its reading session is answered once more with a session that writes: logged, not lost."""
    office.client.app.include_router(WRITES_WHILE_READING)
    answer = office.client.get("/test/writes-while-reading", headers={"accept": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ok": 1}
    assert "wrote while reading: answered again as a writer" in caplog.text


def test_every_route_that_opens_the_requests_session_commits_it(app) -> None:
    """A route's request session is committed, and what it must write after its reads is
    written, by TransactionalRoute: a route using the session outside it would lose both."""
    from fastapi.routing import APIRoute

    from jcjg.core.deps import get_db
    from tests.factories import all_routes

    def uses_db(dependant) -> bool:
        return any(d.call is get_db or uses_db(d) for d in dependant.dependencies)

    routes = [r for r in all_routes(app.routes) if isinstance(r, APIRoute)]
    opening = [r for r in routes if uses_db(r.dependant)]
    assert len(opening) > 100  # (the check finds them)
    assert [r.path for r in opening if not isinstance(r, TransactionalRoute)] == []


@pytest.mark.sqlite_only
def test_personal_data_is_not_shown_when_reading_it_cannot_be_audited(office):
    """The audit row of an unmasked read is written after the page's reads; when the lock
    cannot be had for it, the answer is 503 and the personal data does not leave."""
    lab = {"authorization": f"Bearer {office.lab}", "accept": "application/json"}
    api = {"authorization": f"Bearer {office.city}", "accept": "application/json"}
    person = {
        "institution_id": office.institution_id,
        "name": "李一",
        "title": "intermediate",
        "id_number": "11010519491231002X",
        "years_in_testing": 5,
        "mobile": "13912345678",
    }
    created = office.client.post("/api/v1/registry/people", json=person, headers=lab)
    assert created.status_code == 201, created.text
    address = f"/api/v1/registry/people/{created.json()['id']}/personal-data"
    other = sqlite3.connect(office.url.split("///", 1)[1], isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        refused = office.client.get(address, headers=api)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert refused.status_code == 503
    assert refused.json()["type"] == "/problems/busy"
    assert "13912345678" not in refused.text
    shown = office.client.get(address, headers=api)
    assert shown.json()["mobile"] == "13912345678"
    with office.factory() as db:
        unmasks = select(func.count()).select_from(AuditLog).where(AuditLog.action == "unmask")
        assert db.scalar(unmasks) == 1  # the refused read left no row, the shown one its own


def test_a_busy_database_outside_a_transactional_route_is_503_too(app) -> None:
    """Where no TransactionalRoute answers for it (a middleware's own session), a write that
    waited its turn in vain still gives 503 /problems/busy, not 500."""

    def locked() -> None:
        raise sqlite3.OperationalError("database is locked")

    app.add_api_route("/test/locked", locked)
    with TestClient(app) as client:
        answer = client.get("/test/locked", headers={"accept": "application/json"})
        page = client.get("/test/locked", headers={"accept": "text/html"})
    assert answer.status_code == 503
    assert answer.json()["type"] == "/problems/busy"
    assert page.status_code == 503
    assert "系统繁忙" in page.text


def test_a_refused_form_reads_the_lapsed_library_and_answers_at_once(office):
    """On a database file of its own (as `make run` serves it), a rule form shown again with
    its error, the app's copy of the regulation library lapsed, reads the library afresh (by a
    session that only reads) and answers 422 at once: no wait on a lock, no 503."""
    page = office.client.get("/alerts/rules?region_code=360000")
    assert page.status_code == 200
    office.client.app.state.regulation_library = None  # lapsed: the form's answer reads it
    began = time.monotonic()
    refused = office.client.post(
        "/alerts/rules/untrained_on_duty/basis",
        data={"csrf_token": page_csrf(office.client, "/alerts/rules"), "region_code": "360000",
              "clause": "002 第十七条"},
    )  # fmt: skip
    assert refused.status_code == 422, refused.text[:300]
    assert "不适用于江西省" in refused.text
    assert time.monotonic() - began < 0.5 + 2  # not BUSY_SECONDS spent waiting on itself
