"""A page goes to the thread pool once: its endpoint, which also commits and closes its session
(with what a reading request must write) when it answers with a response. An endpoint whose
answer FastAPI serialises afterwards (a JSON list) goes twice: the endpoint, then the commit.
The principal of a session kept from a request of the last seconds is given on the event loop.
Each hop costs a page CPU and a thread's wake-up, and under load a request waits for a thread
at each (issue 44); a page made five, then two."""

from __future__ import annotations

import anyio.to_thread
import pytest

from jcjg.auth.choices import Role
from tests.factories import login

HTML = {"accept": "text/html"}


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions each request sent to the thread pool, by name."""
    sent: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):  # type: ignore[no-untyped-def]
        inner = getattr(func, "func", func)  # starlette passes a functools.partial
        sent.append(getattr(inner, "__name__", repr(inner)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    return sent


@pytest.mark.parametrize("path", ["/alerts", "/testing/records", "/testing/stats"])
def test_a_page_goes_to_the_thread_pool_once(browser_client, factory, hops, monkeypatch, path):
    from jcjg.auth.sessions import PRINCIPALS

    monkeypatch.setattr(PRINCIPALS, "seconds", 600.0)  # kept however slow the first page
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, user.username)
    assert browser_client.get(path, headers=HTML).status_code == 200  # the principal kept
    hops.clear()
    page = browser_client.get(path, headers=HTML)
    assert page.status_code == 200
    assert "<table" in page.text
    assert len(hops) == 1  # the endpoint (under a name of FastAPI's), its filters on the loop
    assert "_finish" not in hops


def test_a_page_commits_in_its_endpoints_thread_and_a_json_list_after(
    browser_client, factory, hops, monkeypatch
):
    """The page's session is committed and closed in the thread that ran the endpoint; the
    JSON list's in a hop of its own after FastAPI read the answer."""
    from jcjg.auth.sessions import PRINCIPALS
    from jcjg.core import deps

    monkeypatch.setattr(PRINCIPALS, "seconds", 600.0)
    finished: list[str] = []
    finish = deps._finish

    def watched(db, sessionmaker):  # type: ignore[no-untyped-def]
        finish(db, sessionmaker)
        finished.append("closed" if not db.in_transaction() else "open")

    monkeypatch.setattr(deps, "_finish", watched)
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, user.username)
    assert browser_client.get("/alerts", headers=HTML).status_code == 200
    hops.clear()
    finished.clear()
    assert browser_client.get("/alerts", headers=HTML).status_code == 200
    assert hops == [hops[0]]
    assert finished == ["closed"]
    hops.clear()
    finished.clear()
    listed = browser_client.get("/api/v1/alerts")
    assert listed.status_code == 200
    assert "items" in listed.json()
    assert hops[-1] == "watched"  # after the endpoint's and the answer's validation
    assert finished == ["closed"]


def test_a_principal_not_kept_is_read_in_the_thread_pool(browser_client, factory, hops):
    from jcjg.auth.sessions import PRINCIPALS

    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, user.username)
    PRINCIPALS.clear()
    hops.clear()
    page = browser_client.get("/alerts", headers=HTML)
    assert page.status_code == 200
    assert user.display_name in page.text
    assert len(hops) == 2
    assert hops[0] == "_read_principal"
    assert "_finish" not in hops
    # the public: no session, no hop for it
    browser_client.cookies.clear()
    hops.clear()
    assert browser_client.get("/alerts", headers=HTML).status_code in (401, 303)
    assert "_read_principal" not in hops


def test_a_route_built_again_from_a_routes_endpoint_finishes_once() -> None:
    """A router copied route by route from their endpoints (include_router of older FastAPI)
    wraps each endpoint once: the copy's endpoint is the same wrapper."""
    from fastapi.responses import HTMLResponse

    from jcjg.core.deps import TransactionalRoute

    def page() -> HTMLResponse:
        return HTMLResponse("ok")

    route = TransactionalRoute("/p", page)
    copy = TransactionalRoute("/p", route.endpoint)
    assert route.endpoint.__wrapped__ is page
    assert copy.endpoint is route.endpoint
