"""A page goes to the thread pool twice: for its endpoint, and to commit and close its session
(with what a reading request must write). The principal of a session kept from a request of
the last seconds is given on the event loop. Each hop costs a page CPU and a thread's wake-up
(issue 44); a page made five."""

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


def test_a_page_goes_to_the_thread_pool_twice(browser_client, factory, hops, monkeypatch):
    from jcjg.auth.sessions import PRINCIPALS

    monkeypatch.setattr(PRINCIPALS, "seconds", 600.0)  # kept however slow the first page
    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, user.username)
    assert browser_client.get("/alerts", headers=HTML).status_code == 200  # the principal kept
    hops.clear()
    page = browser_client.get("/alerts", headers=HTML)
    assert page.status_code == 200
    assert 'id="list-results"' in page.text
    assert len(hops) == 2  # the endpoint (under a name of FastAPI's), then:
    assert hops[1] == "_finish"


def test_a_principal_not_kept_is_read_in_the_thread_pool(browser_client, factory, hops):
    from jcjg.auth.sessions import PRINCIPALS

    user = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, user.username)
    PRINCIPALS.clear()
    hops.clear()
    page = browser_client.get("/alerts", headers=HTML)
    assert page.status_code == 200
    assert user.display_name in page.text
    assert len(hops) == 3
    assert (hops[0], hops[2]) == ("_read_principal", "_finish")
    # the public: no session, no hop for it
    browser_client.cookies.clear()
    hops.clear()
    assert browser_client.get("/alerts", headers=HTML).status_code in (401, 303)
    assert "_read_principal" not in hops
