"""An authority's lists shared by the readers of a scope for a few seconds (core.pagecache,
issue 44 item 3): drawn once with stand-ins for the reader's name and token, given to every
reader of the same scope with their own; never to another scope, role or set of permissions;
never an export, an error or an answer that wrote; drawn afresh for a reader who just changed
something, and once the seconds are over."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from jcjg.auth.choices import Role
from jcjg.core import pagecache
from jcjg.core.deps import TransactionalRoute
from tests.factories import csrf_from, login

HTML = {"accept": "text/html"}
REGION = "360402"


@pytest.fixture
def pages(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> pagecache.SharedPages:
    """The app's shared pages, kept a minute (the tests' settings keep none); principals kept
    ten (however slow the first page), as a busy process holds them."""
    from jcjg.auth.sessions import PRINCIPALS

    monkeypatch.setattr(PRINCIPALS, "seconds", 600.0)
    shared: pagecache.SharedPages = app.state.shared_pages
    monkeypatch.setattr(shared, "seconds", 60.0)
    return shared


@pytest.fixture
def second_client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, headers=HTML, follow_redirects=False) as c:
        yield c


def _reader(client: TestClient, factory, role=Role.CITY_AUTHORITY, region=REGION, **values):  # type: ignore[no-untyped-def]
    user = factory.user(role, region_code=region, **values)
    login(client, user.username)
    return user


def _ready(*clients: TestClient) -> None:
    """Each client's principal held by the process (read by a first page), once every account
    and session is made: a change to one drops them all."""
    for client in clients:
        assert client.get("/").status_code == 200


def _token(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert found
    return found.group(1)


def test_a_scopes_readers_share_a_page_each_with_their_own_name_and_token(
    browser_client, second_client, factory, pages
):
    institution = factory.institution(region_code=REGION)
    factory.alert(institution, subject="先前的压力试验机")
    factory.db.commit()
    first = _reader(browser_client, factory, display_name="王检查")
    second = _reader(second_client, factory, display_name="李<监督>&")
    _ready(browser_client, second_client)
    page = browser_client.get("/alerts")  # drawn, and kept
    assert page.status_code == 200
    assert "先前的压力试验机" in page.text
    assert "王检查" in page.text
    first_token = _token(page.text)
    assert first_token == csrf_from(page.text)
    factory.alert(institution, subject="其后的压力试验机")  # changed since it was drawn
    factory.db.commit()
    drawn = pages.misses

    shared = second_client.get("/alerts")

    assert shared.status_code == 200
    assert pages.misses == drawn
    assert pages.hits >= 1
    assert "其后的压力试验机" not in shared.text  # as it was drawn a moment ago
    assert "先前的压力试验机" in shared.text
    # the second reader's own name (escaped) and token, nothing of the first's or a stand-in
    assert str(escape(second.display_name)) in shared.text
    assert "王检查" not in shared.text
    assert first_token not in shared.text
    own = _token(shared.text)
    assert own != first_token
    assert csrf_from(shared.text) == own
    for stand_in in (pagecache.NAME_STAND_IN, pagecache.CSRF_STAND_IN):
        assert stand_in not in shared.text
        assert stand_in not in page.text
    assert int(shared.headers["content-length"]) == len(shared.content)
    assert shared.headers["content-type"].startswith("text/html")
    assert "HX-Request" in shared.headers["vary"]
    # the token works: the second reader's change is taken with it
    alert_id = re.search(r'href="/alerts/(\d+)"', shared.text)
    assert alert_id
    done = second_client.post(
        f"/alerts/{alert_id.group(1)}/case", data={"csrf_token": own, "action": "confirm"}
    )
    assert done.status_code == 303
    assert first.id != second.id


@pytest.mark.parametrize(
    ("role", "region"),
    [
        (Role.CITY_AUTHORITY, "360100"),  # another city
        (Role.STATION, REGION),  # another role over the same region
    ],
)
def test_another_scope_or_role_never_gets_the_page(
    browser_client, second_client, factory, pages, role, region
):
    institution = factory.institution(region_code=REGION)
    factory.alert(institution, subject="本市的压力试验机")
    factory.db.commit()
    _reader(browser_client, factory)
    _reader(second_client, factory, role=role, region=region)
    _ready(browser_client, second_client)
    assert "本市的压力试验机" in browser_client.get("/alerts").text
    hits = pages.hits

    other = second_client.get("/alerts")

    assert other.status_code == 200
    assert pages.hits == hits  # drawn for its own scope
    if region != REGION:
        assert "本市的压力试验机" not in other.text


def test_the_same_role_with_other_permissions_never_gets_the_page(
    browser_client, second_client, factory, pages, monkeypatch
):
    """The scope's key holds the permissions: a reader whose permissions differ (a role's grants
    changed while the first reader's principal is still kept) gets a page of their own."""
    from dataclasses import replace

    from jcjg.auth import deps as auth_deps

    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    assert browser_client.get("/alerts").status_code == 200
    hits = pages.hits
    reader = auth_deps.shared_reader

    def fewer(request):  # type: ignore[no-untyped-def]
        found = reader(request)
        if found is None or found.principal.display_name != found.name:
            return found
        fewer_permissions = found.principal.permissions - {"institution:read"}
        principal = replace(found.principal, permissions=fewer_permissions)
        return replace(found, key=principal.scope_key, principal=principal)

    monkeypatch.setattr(pages, "_readers", [fewer])
    assert second_client.get("/alerts").status_code == 200
    assert pages.hits == hits


def test_results_alone_are_kept_apart_from_the_whole_page(
    browser_client, second_client, factory, pages
):
    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    whole = browser_client.get("/testing/records")
    part = second_client.get("/testing/records", headers={"HX-Request": "true"})
    assert whole.status_code == part.status_code == 200
    assert "<html" in whole.text
    assert "<html" not in part.text
    again = second_client.get("/testing/records")
    assert "<html" in again.text
    assert pages.hits == 1  # the whole page, once


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/testing/records?format=xlsx", 200),  # an export (audited): a file, never kept
        ("/alerts?status=bogus", 400),  # a refusal
        ("/reports?sort=nonesuch", 400),
    ],
)
def test_an_export_or_a_refusal_is_never_kept(
    browser_client, second_client, factory, pages, path, status
):
    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    assert browser_client.get(path).status_code == status
    assert second_client.get(path).status_code == status
    assert pages.hits == 0


def test_a_page_that_wrote_is_not_kept(browser_client, second_client, factory, pages, monkeypatch):
    """A reading request that leaves writes for after its reads (an unmasked read's audit row)
    answers its own reader alone."""
    from jcjg.core import later

    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    monkeypatch.setattr(later, "pending", lambda db: True)
    monkeypatch.setattr("jcjg.core.deps.pending", lambda db: True)
    assert browser_client.get("/nonconformities").status_code == 200
    assert second_client.get("/nonconformities").status_code == 200
    assert pages.hits == 0


def test_a_reader_who_changed_something_sees_it_at_once(
    browser_client, second_client, factory, pages
):
    institution = factory.institution(region_code=REGION)
    alert = factory.alert(institution, subject="待确认的压力试验机")
    factory.db.commit()
    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    first = browser_client.get("/alerts")
    assert "待确认的压力试验机" in first.text
    factory.alert(institution, subject="新出现的压力试验机")
    factory.db.commit()
    assert "新出现的压力试验机" not in second_client.get("/alerts").text  # kept

    refused = second_client.post(f"/alerts/{alert.id}/case", data={"action": "confirm"})
    assert refused.status_code == 403  # no token: no change, no fresh cookie
    assert pagecache.FRESH_COOKIE not in refused.cookies
    token = _token(second_client.get("/alerts").text)
    done = second_client.post(
        f"/alerts/{alert.id}/case", data={"csrf_token": token, "action": "confirm"}
    )
    assert done.status_code == 303
    assert pagecache.FRESH_COOKIE in done.cookies
    drawn = pages.misses

    fresh = second_client.get("/alerts")

    assert pages.misses == drawn + 1
    assert "新出现的压力试验机" in fresh.text


def test_a_lapsed_page_is_drawn_again_and_none_is_kept_when_off(
    browser_client, second_client, factory, pages, monkeypatch
):
    institution = factory.institution(region_code=REGION)
    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    assert browser_client.get("/alerts").status_code == 200
    factory.alert(institution, subject="过了几秒的压力试验机")
    factory.db.commit()
    assert "过了几秒的压力试验机" not in second_client.get("/alerts").text  # kept
    assert pages.hits == 1
    for kept in pages._pages.values():
        kept.at -= 61.0  # drawn a minute and a second ago: lapsed
    drawn = pages.misses
    assert "过了几秒的压力试验机" in second_client.get("/alerts").text
    assert pages.misses == drawn + 1
    monkeypatch.setattr(pages, "seconds", 0.0)
    hits = pages.hits
    browser_client.get("/alerts")
    second_client.get("/alerts")
    assert pages.hits == hits


def test_a_header_given_twice_does_not_put_a_whole_page_where_results_are_kept(
    browser_client, second_client, factory, pages
):
    """The key says what the page answered (core.templating.wants_fragment: the first of a
    header given twice), not the header's last copy."""
    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    twice = browser_client.get("/alerts", headers=[("HX-Request", "false"), ("HX-Request", "true")])
    assert "<html" in twice.text
    part = second_client.get("/alerts", headers={"HX-Request": "true"})
    assert part.status_code == 200
    assert "<html" not in part.text


def test_a_page_that_read_its_readers_own_rows_is_not_kept(
    browser_client, second_client, factory, pages, monkeypatch
):
    """A scope clause naming the reader's own rows (``auth.scopes.scope_clause`` on a model
    with a "self" column) marks the page being drawn as theirs alone."""
    from jcjg.alerts import pages as alert_pages
    from jcjg.auth.models import ApiToken
    from jcjg.auth.scopes import scope_clause

    listed = alert_pages._list_context

    def with_own_rows(db, principal, *args, **kwargs):  # type: ignore[no-untyped-def]
        scope_clause(ApiToken, principal)  # as a list of the reader's tokens would
        return listed(db, principal, *args, **kwargs)

    monkeypatch.setattr(alert_pages, "_list_context", with_own_rows)
    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    assert browser_client.get("/alerts").status_code == 200
    assert second_client.get("/alerts").status_code == 200
    assert pages.hits == 0
    monkeypatch.setattr(alert_pages, "_list_context", listed)
    assert browser_client.get("/alerts").status_code == 200
    assert second_client.get("/alerts").status_code == 200
    assert pages.hits == 1


def test_a_reader_whose_principal_is_not_in_memory_goes_the_whole_way(
    browser_client, second_client, factory, pages
):
    from jcjg.auth.sessions import PRINCIPALS

    _reader(browser_client, factory)
    _reader(second_client, factory)
    _ready(browser_client, second_client)
    assert browser_client.get("/alerts").status_code == 200
    PRINCIPALS.clear()
    hits = pages.hits
    assert second_client.get("/alerts").status_code == 200
    assert pages.hits == hits


def test_only_a_page_answering_get_alone_may_be_shared():
    @pagecache.shared_page
    def change() -> None: ...

    with pytest.raises(TypeError, match="GET alone"):
        TransactionalRoute("/somewhere", change, methods=["POST"])
    assert TransactionalRoute("/somewhere", change, methods=["GET"]).shared


def _marked(app: FastAPI) -> list[str]:
    from tests.factories import all_routes

    return sorted(
        route.path
        for route in all_routes(app.routes)
        if isinstance(route, TransactionalRoute) and route.shared
    )


@pytest.mark.demo  # a city's year of records, reports, nonconformities and alerts
def test_every_shared_page_differs_between_two_readers_of_a_scope_only_by_name_and_token(
    app, browser_client, second_client, factory
):
    """Each page marked ``@shared_page``, drawn (not shared: the tests' settings keep none) for
    two readers of the demo city, whole and as results alone: the two answers are the same
    once each reader's name and token are taken out. A page showing anything else of its
    reader (their id, their own filters or rows) fails here before it is shown to another."""
    marked = _marked(app)
    assert marked == [
        "/alerts", "/nonconformities", "/reports", "/testing/records", "/testing/stats"
    ]  # fmt: skip
    readers = [
        (browser_client, _reader(browser_client, factory, region="360400", display_name="甲读者")),
        (second_client, _reader(second_client, factory, region="360400", display_name="乙读者")),
    ]
    for path in marked:
        for headers in ({}, {"HX-Request": "true"}):
            answers = []
            for client, user in readers:
                page = client.get(path, headers=headers)
                assert page.status_code == 200, path
                token = _token(client.get("/").text)
                answers.append(
                    page.text.replace(user.display_name, "<读者>").replace(token, "<令牌>")
                )
            assert answers[0] == answers[1], (path, headers)
            if path != "/testing/stats":
                assert "<tbody" in answers[0], (path, "no rows to compare")
                assert answers[0].count("<tr") > 3, (path, "too few rows to compare")


# --- the cache alone: concurrent askers, lapses, older drawings, failures, bounds -------------


def _asked(path: str = "/alerts", principal: object = "甲") -> object:
    from starlette.requests import Request

    scope = {"type": "http", "method": "GET", "path": path, "query_string": b"",
             "headers": [], "state": {"principal": principal, "request_id": "r1"}}  # fmt: skip
    return Request(scope)


def _reader_of(principal: object = "甲", fresh: bool = False) -> pagecache.Reader:
    return pagecache.Reader(key=("市",), principal=principal, stand_in=principal,
                            name="读者", csrf_token="tok", fresh=fresh)  # fmt: skip


class _Draws:
    """A page's drawings: each takes ``seconds``, counts how many run at once, and answers
    ``body`` (a 200 HTML page, ``cookie``: one that sets a cookie, never kept)."""

    def __init__(
        self,
        body: bytes = b"<p>" + pagecache.NAME_STAND_IN.encode() + b"</p>",
        seconds: float = 0.05,
        cookie: bool = False,
        fail: bool = False,
    ) -> None:
        self.body, self.seconds, self.cookie, self.fail = body, seconds, cookie, fail
        self.count = self.running = self.most = 0

    async def __call__(self):  # type: ignore[no-untyped-def]
        from fastapi.responses import HTMLResponse

        self.count += 1
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.seconds)
            if self.fail:
                raise RuntimeError("drawing failed")
        finally:
            self.running -= 1
        response = HTMLResponse(self.body)
        if self.cookie:
            response.set_cookie("c", "1")
        return response


def _cache(seconds: float = 60.0) -> pagecache.SharedPages:
    return pagecache.SharedPages(seconds, lambda request: False)


def test_askers_of_one_page_wait_for_one_drawing_each_with_their_own_name():
    cache, draws = _cache(), _Draws()

    async def run():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            *(cache.answer(_asked(), _reader_of(), draws) for _ in range(6))
        )

    answers = asyncio.run(run())
    assert draws.count == 1
    assert [a.body for a in answers] == ["<p>读者</p>".encode()] * 6
    assert cache.hits == 5


def test_askers_of_a_page_that_cannot_be_kept_draw_at_once_not_in_turn():
    cache, draws = _cache(), _Draws(cookie=True)

    async def run():  # type: ignore[no-untyped-def]
        await asyncio.gather(*(cache.answer(_asked(), _reader_of(), draws) for _ in range(4)))
        draws.most = 0
        await asyncio.gather(*(cache.answer(_asked(), _reader_of(), draws) for _ in range(4)))

    asyncio.run(run())
    assert draws.count == 8
    assert draws.most == 4  # once known unkept, nobody waits for another's drawing
    assert cache.hits == 0


def test_a_lapsed_page_is_given_while_one_asker_draws_it_again():
    cache, draws = _cache(1.0), _Draws(seconds=0.1)

    async def run():  # type: ignore[no-untyped-def]
        await cache.answer(_asked(), _reader_of(), draws)
        for kept in cache._pages.values():
            kept.at -= 1.5  # lapsed, less than twice the seconds ago
        drawer = asyncio.ensure_future(cache.answer(_asked(), _reader_of(), draws))
        await asyncio.sleep(0.01)
        given = await cache.answer(_asked(), _reader_of(), draws)
        await drawer
        return given

    given = asyncio.run(run())
    assert given.status_code == 200
    assert draws.count == 2
    assert cache.hits == 1


def test_a_drawing_begun_before_a_newer_one_does_not_replace_it():
    """A slow drawing that began before a change, ending after a fresh drawing (its writer's)
    was kept, leaves the fresh one kept."""
    cache = _cache()
    slow = _Draws(body=b"<p>old</p>", seconds=0.2)
    quick = _Draws(body=b"<p>new</p>", seconds=0.01)

    async def run():  # type: ignore[no-untyped-def]
        old = asyncio.ensure_future(cache.answer(_asked(), _reader_of(), slow))
        await asyncio.sleep(0.05)
        await cache.answer(_asked(), _reader_of(fresh=True), quick)  # the writer's
        await old
        return await cache.answer(_asked(), _reader_of(), slow)

    assert asyncio.run(run()).body == b"<p>new</p>"
    assert slow.count == 1


def test_a_drawing_that_fails_fails_its_asker_and_the_others_draw():
    cache, failing = _cache(), _Draws(fail=True)

    async def run():  # type: ignore[no-untyped-def]
        return await asyncio.gather(
            *(cache.answer(_asked(), _reader_of(), failing) for _ in range(3)),
            return_exceptions=True,
        )

    answers = asyncio.run(run())
    assert all(isinstance(a, RuntimeError) for a in answers)
    assert failing.count == 3
    assert not cache._drawing


def test_the_pages_kept_are_bounded(monkeypatch):
    monkeypatch.setattr(pagecache, "MAX_PAGES", 3)
    cache = _cache()

    async def run():  # type: ignore[no-untyped-def]
        for n in range(5):
            await cache.answer(_asked(f"/alerts/{n}"), _reader_of(), _Draws())

    asyncio.run(run())
    assert [key[0] for key in cache._pages] == ["/alerts/2", "/alerts/3", "/alerts/4"]
    monkeypatch.setattr(pagecache, "MAX_BYTES", 80)
    asyncio.run(cache.answer(_asked("/big"), _reader_of(), _Draws(body=b"x" * 20)))
    assert "/big" not in [key[0] for key in cache._pages]  # over an eighth of the bytes


def test_askers_of_a_slow_page_that_cannot_be_kept_do_not_queue_behind_each_other():
    """A drawing longer than the seconds a page is kept, never kept (it writes): its waiters
    wake knowing so and draw at once, together, not one after the other."""
    cache, draws = _cache(0.1), _Draws(seconds=0.15, cookie=True)

    async def run():  # type: ignore[no-untyped-def]
        await asyncio.gather(*(cache.answer(_asked(), _reader_of(), draws) for _ in range(4)))

    asyncio.run(run())
    assert draws.count == 4
    assert draws.most == 3  # the first alone, then the three that waited for it, at once


def test_a_waiter_is_not_given_a_page_older_than_twice_the_seconds():
    """A drawing that took longer than twice the seconds keeps its page, but whoever waited
    for it draws afresh rather than take what is older than a lapsed page may be."""
    cache, draws = _cache(0.05), _Draws(seconds=0.2)

    async def run():  # type: ignore[no-untyped-def]
        first = asyncio.ensure_future(cache.answer(_asked(), _reader_of(), draws))
        await asyncio.sleep(0.01)
        await cache.answer(_asked(), _reader_of(), draws)
        await first

    asyncio.run(run())
    assert draws.count == 2
    assert cache.hits == 0


def test_a_page_showing_its_readers_own_name_is_theirs_alone_and_others_still_share():
    """A reader whose name is among the page's data (a person of the same name): their answer
    is not kept, and the next reader's is, for the others."""
    cache = _cache()
    named = _Draws(body="<p>张伟</p>".encode())

    async def run():  # type: ignore[no-untyped-def]
        zhang = pagecache.Reader(key=("市",), principal="甲", stand_in="甲", name="张伟",
                                 csrf_token="tok")  # fmt: skip
        await cache.answer(_asked(), zhang, named)
        assert not cache._pages
        assert not cache._unkept  # the page itself may be kept
        await cache.answer(_asked(principal="乙"), _reader_of("乙"), named)
        await cache.answer(_asked(principal="乙"), _reader_of("乙"), named)

    asyncio.run(run())
    assert named.count == 2
    assert cache.hits == 1
