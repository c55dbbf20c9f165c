"""A fault of ours is a 500 answer like any other: problem+json (or the error page) with the
request id and the security headers, and the keep-alive connection stays usable for the
client's next request (:class:`jcjg.core.handlers.ServerErrors`)."""

from __future__ import annotations

import logging

import httpx
import pytest

from jcjg.auth.choices import Role
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.main import create_app
from tests.conftest import upgraded_database_url
from tests.factories import Factory, login
from tests.servers import listening_socket, port_of, serving


class Boom(RuntimeError):
    pass


@pytest.fixture
def live(tmp_path, settings, monkeypatch):
    """A live server whose user list and home page fail with RuntimeError, and its factory."""
    from jcjg.accounts import service as accounts
    from jcjg.home import pages as home

    def fail(**_: object) -> None:
        raise Boom("a fault of ours")

    monkeypatch.setattr(accounts, "list_users", fail)
    monkeypatch.setattr(home, "render", lambda *a, **k: fail())
    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    factory = make_sessionmaker(engine)
    sock = listening_socket()
    mine = settings.model_copy(
        update={"database_url": url, "base_url": f"http://127.0.0.1:{port_of(sock)}"}
    )
    app = create_app(mine, engine=engine, session_factory=factory)
    try:
        with serving(app, sock) as base, factory() as db:
            yield base, Factory(db, mine)
    finally:
        engine.dispose()
        drop()


def _connection(response: httpx.Response) -> object:
    """The client's end of the connection that carried ``response``."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


def test_a_500_keeps_the_connection(live, caplog) -> None:
    base, f = live
    token = f.token(f.user(Role.PLATFORM_ADMIN))
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers) as client:
        before = client.get("/api/v1/me")
        assert before.status_code == 200
        with caplog.at_level(logging.ERROR, logger="jcjg"):
            failed = client.get("/api/v1/users", headers={"X-Request-ID": "probe-500-0001"})
        assert failed.status_code == 500
        assert failed.headers["content-type"] == "application/problem+json"
        assert failed.json()["type"] == "/problems/internal"
        assert failed.headers["x-request-id"] == "probe-500-0001"  # logged with it
        assert "content-security-policy" in failed.headers
        assert "connection" not in failed.headers  # no "close"
        assert any(isinstance(r.exc_info[1], Boom) for r in caplog.records if r.exc_info)
        after = client.get("/api/v1/me")
        assert after.status_code == 200
        assert _connection(before) == _connection(failed) == _connection(after)


def test_a_failing_page_is_the_error_page_and_keeps_the_connection(live) -> None:
    base, f = live
    admin = f.user(Role.PLATFORM_ADMIN)
    f.db.commit()
    with httpx.Client(base_url=base, headers={"Accept": "text/html"}) as client:
        login(client, admin.username)
        failed = client.get("/")
        assert failed.status_code == 500
        assert failed.headers["content-type"].startswith("text/html")
        assert "服务器内部错误" in failed.text
        after = client.get("/account/password")
        assert after.status_code == 200
        assert _connection(failed) == _connection(after)


def test_in_process_a_fault_is_answered_and_a_cut_stream_still_raises(app) -> None:
    """Before its answer has begun, a fault is the 500 problem (the in-process client gets the
    answer, not the exception); once a body is under way, only closing the connection can tell
    the client, so the exception goes on to the server."""
    from fastapi.responses import StreamingResponse
    from fastapi.testclient import TestClient

    def fault() -> None:
        raise Boom("a fault of ours")

    def cut() -> StreamingResponse:
        def rows():
            yield b"first row\n"
            raise Boom("the export failed half-way")

        return StreamingResponse(rows(), media_type="text/csv")

    app.add_api_route("/api/v1/test-fault", fault)
    app.add_api_route("/api/v1/test-cut", cut)
    with TestClient(app) as client:
        answer = client.get("/api/v1/test-fault")
        assert answer.status_code == 500
        assert answer.json()["detail"] == "服务器处理请求时出错，已记录，请稍后重试。"
        assert len(answer.headers["x-request-id"]) == 32
        with pytest.raises(Boom):
            client.get("/api/v1/test-cut")
