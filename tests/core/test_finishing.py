"""A page's transaction ends in its endpoint's thread (core.deps._finishing); what ending it
raises is handled as it was after the endpoint: a reading request whose commit writes is
answered again as a writer, and a database too busy for what a reading request must write
answers 503. Either way every turn of the process's admission is given back."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.core import db as core_db
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.later import write_later
from jcjg.main import create_app
from tests.conftest import settings_for_tests, upgraded_database_url
from tests.factories import Factory

pytestmark = pytest.mark.sqlite_only  # SQLite's reading sessions and its write lock

router = APIRouter(route_class=TransactionalRoute)


@router.get("/t/flush-at-commit")
def flush_at_commit(db: SessionDep) -> HTMLResponse:
    user = db.scalars(select(User).where(User.username == "finisher")).one()
    user.failed_logins = (user.failed_logins or 0) + 1  # flushed by the commit alone
    return HTMLResponse("ok")


@router.get("/t/must-write-later")
def must_write_later(db: SessionDep) -> HTMLResponse:
    db.execute(text("SELECT 1"))
    write_later(db, lambda w: w.execute(text("DELETE FROM user_session WHERE id < 0")))
    return HTMLResponse("secret")


@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TestClient, Any]]:
    monkeypatch.setattr(core_db, "BUSY_SECONDS", 0.5)
    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    settings = settings_for_tests(
        secret_key="finishing-test-secret-key-0123456789", database_url=url,
        data_dir=tmp_path / "data",
    )  # fmt: skip
    # not "test": there a reading request that writes is an error the suite must see
    app = create_app(
        settings.model_copy(update={"env": "dev"}), engine=engine, session_factory=factory
    )
    app.include_router(router)
    with factory() as db:
        Factory(db, settings).user(Role.PLATFORM_ADMIN, username="finisher")
        db.commit()
    try:
        with TestClient(app) as client:
            yield client, factory
    finally:
        engine.dispose()
        drop()


def test_a_page_whose_commit_writes_is_answered_again_as_a_writer(office, caplog) -> None:
    client, factory = office
    answer = client.get("/t/flush-at-commit")
    assert answer.status_code == 200
    assert "answered again as a writer" in caplog.text
    with factory() as db:
        found = db.scalars(select(User.failed_logins).where(User.username == "finisher")).one()
    assert found == 1  # written once, by the writer's answer
    assert client.app.state.admission.held == 0


def test_a_page_whose_required_write_meets_a_busy_database_is_503(office) -> None:
    client, factory = office
    other = sqlite3.connect(str(factory.kw["bind"].url.database), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        answer = client.get("/t/must-write-later", headers={"accept": "application/json"})
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert answer.status_code == 503
    assert "secret" not in answer.text  # the page is not given without its required write
    assert client.app.state.admission.held == 0
