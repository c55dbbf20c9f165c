"""Refused requests stay audited but bounded: the first per principal, route and minute is an
audit row in full, its repeats are counted beside it (``audit_denial_count``), and audit rows
are never updated."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from jcjg.audit import service
from jcjg.audit.choices import AuditAction
from jcjg.audit.models import AuditLog, DenialCount
from jcjg.auth.choices import Role
from jcjg.core.context import AuditContext
from jcjg.core.db import make_engine, make_sessionmaker
from tests.conftest import upgraded_database_url
from tests.factories import csrf_from, login
from tests.lists import sheet

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

MINUTE = dt.datetime(2026, 11, 23, 9, 30, 12, tzinfo=dt.UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """The audit's clock, set by the test (``clock[0] = ...``): a minute never turns mid-test."""
    now = [MINUTE]
    monkeypatch.setattr(service, "utcnow", lambda: now[0])
    return now


def _denials(db, username: str) -> list[tuple[str, int | None]]:
    """(detail, count) of the account's denial rows, oldest first."""
    db.expire_all()
    rows = db.execute(
        select(AuditLog.detail, DenialCount.count)
        .join(DenialCount, DenialCount.log_id == AuditLog.id, isouter=True)
        .where(AuditLog.username == username, AuditLog.action == AuditAction.DENIED)
        .order_by(AuditLog.id)
    )
    return [(detail, count) for detail, count in rows]


def test_fifty_denials_in_a_minute_are_one_row_and_a_count(client, db, factory, clock):
    staff = factory.user(Role.INSTITUTION_STAFF)
    auth = {"Authorization": f"Bearer {factory.token(staff)}"}
    for _ in range(50):
        assert client.get("/api/v1/users", headers=auth).status_code == 403
    [(detail, count)] = _denials(db, staff.username)
    assert (detail.startswith("GET /api/v1/users: 当前账号无权"), count) == (True, 50)
    # another route is another row; the same route with other ids in its address is not
    for user_id in (5, 6, 7):
        assert client.get(f"/api/v1/users/{user_id}", headers=auth).status_code == 403
    # the next minute, the first route again: another row
    clock[0] = MINUTE + dt.timedelta(minutes=1)
    assert client.get("/api/v1/users", headers=auth).status_code == 403
    found = _denials(db, staff.username)
    assert [count for _, count in found] == [50, 3, 1]
    assert found[1][0].startswith("GET /api/v1/users/5: ")  # the first in full
    counted = db.scalars(select(DenialCount).order_by(DenialCount.id)).all()
    assert [(c.route, c.minute) for c in counted] == [
        ("GET /api/v1/users", MINUTE.replace(second=0)),
        ("GET /api/v1/users/{user_id}", MINUTE.replace(second=0)),
        ("GET /api/v1/users", MINUTE.replace(second=0) + dt.timedelta(minutes=1)),
    ]
    assert {c.principal for c in counted} == {f"user:{staff.id}"}


def test_a_single_denial_is_a_row_as_before(client, db, factory, clock):
    staff = factory.user(Role.INSTITUTION_STAFF)
    auth = {"Authorization": f"Bearer {factory.token(staff)}"}
    assert client.get("/api/v1/audit", headers=auth).status_code == 403
    assert [count for _, count in _denials(db, staff.username)] == [1]


def test_anonymous_csrf_failures_are_counted_per_address(client, db, clock):
    page = client.get("/login", headers={"accept": "text/html"})
    assert csrf_from(page.text)
    for _ in range(3):
        refused = client.post("/login", data={"username": "x", "password": "y", "csrf_token": "z"})
        assert refused.status_code == 403
    db.expire_all()
    rows = db.scalars(select(AuditLog).where(AuditLog.action == AuditAction.CSRF_FAILED)).all()
    assert len(rows) == 1
    counted = db.scalars(select(DenialCount).where(DenialCount.log_id == rows[0].id)).one()
    assert (counted.count, counted.route, counted.principal) == (
        3,
        "POST /login",
        f"ip:{rows[0].ip}",
    )


def test_the_counts_are_shown_where_denials_are(client, browser_client, db, factory, clock):
    staff = factory.user(Role.INSTITUTION_STAFF)
    auth = {"Authorization": f"Bearer {factory.token(staff)}"}
    for _ in range(4):
        client.get("/api/v1/users", headers=auth)
    client.get("/api/v1/audit", headers=auth)  # once: no count shown
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(browser_client, admin.username)
    page = browser_client.get(f"/audit?action=denied&username={staff.username}")
    assert page.text.count('data-testid="repeats"') == 1
    assert "本分钟共 4 次" in page.text
    denial = db.scalars(select(AuditLog).where(AuditLog.detail.like("GET /api/v1/users:%"))).one()
    detail = browser_client.get(f"/audit/{denial.id}")
    assert "本分钟共 4 次" in detail.text
    assert "只记第一次的详情" in detail.text
    once = db.scalars(select(AuditLog).where(AuditLog.detail.like("GET /api/v1/audit:%"))).one()
    assert 'data-testid="repeats"' not in browser_client.get(f"/audit/{once.id}").text
    admin_auth = {"Authorization": f"Bearer {factory.token(admin)}"}
    listed = client.get(
        "/api/v1/audit", params={"action": "denied", "username": staff.username}, headers=admin_auth
    ).json()["items"]
    assert sorted(item["repeats"] for item in listed) == [1, 4]
    assert client.get(f"/api/v1/audit/{denial.id}", headers=admin_auth).json()["repeats"] == 4
    exported = browser_client.get(f"/audit?action=denied&username={staff.username}&format=xlsx")
    actions = [row[1] for row in sheet(exported)[1:]]
    assert sorted(actions) == ["越权被拒", "越权被拒（本分钟共 4 次）"]


def test_concurrent_denials_each_count(tmp_path: Path) -> None:
    """Refusals of one principal and route at the same moment, each in its own transaction
    on its own connection: every one counts, and exactly one audit row is written."""
    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url, pool_size=8) if url.startswith("postgresql") else make_engine(url)
    factory = make_sessionmaker(engine)
    n = 8
    barrier = threading.Barrier(n)
    errors: list[BaseException] = []

    def refuse() -> None:
        try:
            barrier.wait()
            service.record_denial(
                factory,
                AuditAction.DENIED,
                context=AuditContext(user_id=7, username="racer", ip="127.0.0.1"),
                route="GET /api/v1/users",
                detail="GET /api/v1/users: 无权",
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    try:
        threads = [threading.Thread(target=refuse) for _ in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        with factory() as db:
            logged = db.scalar(select(func.count()).select_from(AuditLog).where(
                AuditLog.username == "racer"))  # fmt: skip
            counts = db.execute(select(DenialCount.count, DenialCount.log_id)).all()
            db.commit()
        minutes = len(counts)  # the minute may turn while the threads run: a row per minute
        assert logged == minutes
        assert sum(c for c, _ in counts) == n
        assert all(log_id is not None for _, log_id in counts)
    finally:
        engine.dispose()
        drop()
