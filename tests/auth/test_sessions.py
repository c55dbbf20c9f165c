"""Sessions: cookie flags, idle timeout, logout, and the end of other sessions."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import event, select, update

from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserSession
from jcjg.core.db import utcnow
from tests.factories import PASSWORD, csrf_from, login, page_csrf


def test_session_cookie_flags(browser_client, factory):
    user = factory.user()
    page = browser_client.get("/login")
    token = csrf_from(page.text)
    response = browser_client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["set-cookie"]
    assert "jcjg_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # served over http in tests


def test_secure_cookie_over_https(app, factory, settings):
    app.state.settings = settings.model_copy(update={"base_url": "https://jcjg.example.gov.cn"})
    user = factory.user()
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as c:
        token = csrf_from(c.get("/login", headers={"accept": "text/html"}).text)
        response = c.post(
            "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token}
        )
        assert "Secure" in response.headers["set-cookie"]


def test_only_the_token_hash_is_stored(browser_client, db, factory):
    user = factory.user()
    login(browser_client, user.username)
    cookie = browser_client.cookies.get("jcjg_session")
    row = db.scalars(select(UserSession).where(UserSession.user_id == user.id)).one()
    assert cookie not in (row.token_hash, row.csrf_token)
    assert len(row.token_hash) == 64


def test_idle_session_expires(browser_client, db, factory, settings):
    user = factory.user()
    login(browser_client, user.username)
    assert browser_client.get("/").status_code == 200
    row = db.scalars(select(UserSession).where(UserSession.user_id == user.id)).one()
    row.last_seen_at = utcnow() - dt.timedelta(minutes=settings.session_idle_minutes + 1)
    db.commit()
    response = browser_client.get("/")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert browser_client.get("/account/tokens").status_code == 303  # and stays expired


def test_logout_invalidates_the_session(browser_client, factory):
    user = factory.user()
    login(browser_client, user.username)
    stolen = browser_client.cookies.get("jcjg_session")
    response = browser_client.post("/logout", data={"csrf_token": page_csrf(browser_client)})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    # replaying the old cookie does not get back in
    browser_client.cookies.set("jcjg_session", stolen)
    assert browser_client.get("/").status_code == 303


def test_password_change_ends_other_sessions(app, factory):
    user = factory.user()
    with (
        TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as phone,
        TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as pc,
    ):
        login(phone, user.username)
        login(pc, user.username)
        token = page_csrf(pc, "/account/password")
        changed = pc.post(
            "/account/password",
            data={
                "old_password": PASSWORD,
                "new_password": "Another-pass-9",
                "new_password2": "Another-pass-9",
                "csrf_token": token,
            },
        )
        assert changed.status_code == 303
        assert pc.get("/").status_code == 200
        assert phone.get("/").status_code == 303


def test_open_redirect_is_refused(browser_client, factory):
    user = factory.user()
    token = csrf_from(browser_client.get("/login").text)
    response = browser_client.post(
        "/login",
        data={
            "username": user.username,
            "password": PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/phish",
        },
    )
    assert response.headers["location"] == "/"


def test_login_csrf_must_match_cookie(browser_client, factory):
    user = factory.user()
    browser_client.get("/login")
    response = browser_client.post(
        "/login", data={"username": user.username, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert response.status_code == 403
    assert "表单已失效" in response.text


def test_a_password_change_revokes_api_tokens(browser_client, factory):
    user = factory.user()
    token = factory.token(user)
    login(browser_client, user.username)
    changed = browser_client.post(
        "/account/password",
        data={
            "old_password": PASSWORD,
            "new_password": "Another-pass-9",
            "new_password2": "Another-pass-9",
            "csrf_token": page_csrf(browser_client, "/account/password"),
        },
    )
    assert changed.status_code == 303
    me = browser_client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}", "accept": "application/json"}
    )
    assert me.status_code == 401


def test_a_token_does_not_open_pages(client, factory):
    token = factory.token(factory.user())
    page = client.get("/account/tokens", headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 401
    assert "只能调用 /api/" in page.json()["detail"]


def test_a_session_is_read_once_for_requests_in_quick_succession(browser_client, db, factory):
    """A page and its follow-up requests share one reading of the session (kept 2 s); a user
    deactivated meanwhile is refused at once (the change drops what was kept)."""
    user = factory.user()
    login(browser_client, user.username)
    engine = db.get_bind().engine
    reads: list[str] = []

    def seen(conn, cursor, statement, *_):
        if "FROM user_session" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert browser_client.get("/").status_code == 200
        assert browser_client.get("/account/tokens").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(reads) <= 1
    db.execute(update(User).where(User.id == user.id).values(is_active=False))
    db.commit()
    assert browser_client.get("/").status_code == 303


def test_a_witness_lands_on_the_phone_pages_unless_a_page_was_asked_for(app, factory):
    """Field roles land on their work (/m); a page asked for (next) still wins; others land
    on the home."""
    witness = factory.user(Role.WITNESS)
    station = factory.user(Role.STATION)
    for username, asked, lands in (
        (witness.username, "/", "/m"),
        (witness.username, "/samples", "/samples"),
        (station.username, "/", "/"),
    ):
        with TestClient(app) as client:
            token = csrf_from(client.get("/login", headers={"accept": "text/html"}).text)
            response = client.post(
                "/login",
                data={"username": username, "password": PASSWORD, "csrf_token": token,
                      "next": asked},
                headers={"accept": "text/html"},
                follow_redirects=False,
            )  # fmt: skip
            assert response.status_code == 303
            assert response.headers["location"] == lands


def test_a_sessions_last_use_keeps_the_principals_held_and_its_end_drops_them(
    app, browser_client, db, factory, monkeypatch
):
    """Noting a session's last use (every 30 s a session) changes nothing a principal holds:
    the principals the process keeps stay (with many readers they were dropped several times a
    second). A session's end, a user's change still drop them at once."""
    from jcjg.auth import sessions

    monkeypatch.setattr(sessions.PRINCIPALS, "seconds", 600.0)
    other = TestClient(app, headers={"accept": "text/html"}, follow_redirects=False)
    reader, idle = factory.user(), factory.user()
    login(browser_client, reader.username)
    login(other, idle.username)
    for client in (browser_client, other):
        assert client.get("/").status_code == 200  # both principals kept
    held = dict(sessions.PRINCIPALS._entries)
    assert len(held) == 2
    stale = utcnow() - sessions.TOUCH_AFTER - dt.timedelta(seconds=5)
    db.execute(update(UserSession).where(UserSession.user_id == idle.id).values(last_seen_at=stale))
    db.commit()
    sessions.PRINCIPALS._entries.update(held)  # that update was an account change: kept again
    sessions.PRINCIPALS._entries.pop(next(k for k, v in held.items() if v[1].user_id == idle.id))
    assert other.get("/").status_code == 200  # reads its session: its last use noted
    touched = db.scalar(select(UserSession.last_seen_at).where(UserSession.user_id == idle.id))
    assert touched is not None
    assert touched.replace(tzinfo=None) > stale.replace(tzinfo=None)
    assert any(v[1].user_id == reader.id for v in sessions.PRINCIPALS._entries.values())

    session_id = db.scalar(select(UserSession.id).where(UserSession.user_id == idle.id))
    sessions.end_session(db=db, session_id=session_id)
    db.commit()  # that session's principal dropped, the other reader's kept
    held_now = [v[1].user_id for v in sessions.PRINCIPALS._entries.values()]
    assert held_now == [reader.id]
    assert other.get("/").status_code == 303  # ended: to the login page
    other.close()


def test_a_login_keeps_the_principals_held_and_a_change_to_what_they_hold_drops_them(
    app, browser_client, db, factory, monkeypatch
):
    """Another account's login (its new session, its user's last login and failures) changes
    no principal held: they stay. A change to what a principal holds (a name, a lock) still
    drops them at once."""
    from jcjg.auth import sessions

    monkeypatch.setattr(sessions.PRINCIPALS, "seconds", 600.0)
    reader, other = factory.user(), factory.user()
    login(browser_client, reader.username)
    assert browser_client.get("/").status_code == 200
    assert len(sessions.PRINCIPALS._entries) == 1
    with TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as second:
        login(second, other.username)
    assert any(v[1].user_id == reader.id for v in sessions.PRINCIPALS._entries.values())

    db.execute(update(User).where(User.id == other.id).values(display_name="改了名的用户"))
    db.commit()  # a bulk change to a user: dropped
    assert not sessions.PRINCIPALS._entries
    assert browser_client.get("/").status_code == 200
    assert sessions.PRINCIPALS._entries
    user = db.get(User, reader.id)
    user.locked_until = utcnow() + dt.timedelta(minutes=5)
    db.commit()  # a lock: that user's principals dropped
    assert not any(v[1].user_id == reader.id for v in sessions.PRINCIPALS._entries.values())
    assert browser_client.get("/").status_code == 303  # locked: to the login page


def test_a_logout_drops_its_own_principal_and_keeps_the_others(
    app, browser_client, factory, monkeypatch
):
    """A logout (its session's end) and a user's sessions ended (a password change elsewhere)
    drop those sessions' principals held here, not every reader's."""
    from jcjg.auth import sessions

    monkeypatch.setattr(sessions.PRINCIPALS, "seconds", 600.0)
    staying, leaving = factory.user(), factory.user()
    with TestClient(app, headers={"accept": "text/html"}, follow_redirects=False) as other:
        login(browser_client, staying.username)
        login(other, leaving.username)
        for client in (browser_client, other):
            assert client.get("/").status_code == 200
        assert len(sessions.PRINCIPALS._entries) == 2
        token = page_csrf(other)
        assert other.post("/logout", data={"csrf_token": token}).status_code == 303
        held = [v[1].user_id for v in sessions.PRINCIPALS._entries.values()]
        assert held == [staying.id]
        assert other.get("/").status_code == 303
    sessions.end_all_sessions(db=factory.db, user_id=staying.id)
    factory.db.commit()
    assert not sessions.PRINCIPALS._entries
    assert browser_client.get("/").status_code == 303


def test_a_savepoint_neither_forgets_nor_drops_before_the_transaction_commits(
    browser_client, db, factory, monkeypatch
):
    """A savepoint released or rolled back inside a transaction (SQLAlchemy tells both as a
    commit and a rollback) neither forgets the account changes made before it nor drops the
    principals before the transaction commits: a user deactivated, then a savepoint rolled
    back, is still refused at once once the transaction commits."""
    from jcjg.auth import sessions

    monkeypatch.setattr(sessions.PRINCIPALS, "seconds", 600.0)
    reader = factory.user()
    login(browser_client, reader.username)
    assert browser_client.get("/").status_code == 200
    assert sessions.PRINCIPALS._entries
    user = db.get(User, reader.id)
    user.is_active = False
    db.flush()
    with db.begin_nested() as savepoint:
        db.get(User, reader.id).display_name = "存档点里改的名"
        db.flush()
        savepoint.rollback()
    with db.begin_nested():
        db.get(User, reader.id).must_change_password = True
        db.flush()
    assert sessions.PRINCIPALS._entries  # nothing committed yet
    db.commit()
    assert not sessions.PRINCIPALS._entries
    assert browser_client.get("/").status_code == 303
