"""A request is matched among the routes of its path's first segment only, and finds the route
the whole list finds (:mod:`jcjg.core.dispatch`)."""

from __future__ import annotations

from starlette.routing import Match

from jcjg.core.dispatch import ANY, FirstSegmentDispatch, first_segment, routes_asked
from tests.core.test_methods import _example
from tests.factories import all_routes


def _first_full(routes, path: str, method: str):
    scope = {"type": "http", "path": path, "root_path": "", "method": method, "headers": []}
    for route in routes:
        if route.matches(dict(scope))[0] is Match.FULL:
            return route
    return None


def test_first_segment() -> None:
    assert first_segment("/") == ""
    assert first_segment("/testing/records") == "testing"
    assert first_segment("/alerts/{alert_id}") == "alerts"
    assert first_segment("/{page}/x") is ANY
    assert first_segment("/v{n}") is ANY
    assert first_segment("") is ANY


def test_every_route_is_found_as_by_the_whole_list(app) -> None:
    assert isinstance(app.router.middleware_stack, FirstSegmentDispatch)
    tried = 0
    for route in all_routes(app.routes):
        path = _example(getattr(route, "path_format", route.path))
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            asked = list(routes_asked(app.router, path))
            assert len(asked) < len(app.router.routes) // 3, path  # /api/...: 20 of 75
            found = _first_full(asked, path, method)
            assert found is _first_full(app.routes, path, method), (method, path)
            assert found is not None or (method == "GET" and path == "/static"), (method, path)
            tried += 1
    assert tried > 400
    # a path no route's first segment names: only the routes taking any segment are asked
    assert list(routes_asked(app.router, "/nowhere-at-all")) == []


def test_a_page_and_a_route_added_to_the_built_app(app, client) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/nowhere-at-all").status_code == 404
    assert client.post("/healthz").status_code == 405

    @app.get("/added-later")
    def added() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/{anything}/added-anywhere")
    def anywhere(anything: str) -> dict[str, str]:
        return {"it": anything}

    assert client.get("/added-later").json() == {"ok": True}
    assert client.get("/healthz/added-anywhere").json() == {"it": "healthz"}
    assert client.get("/nowhere/added-anywhere").json() == {"it": "nowhere"}
    # the app's order holds: /alerts/{alert_id}, included first, takes it (and wants a login)
    assert client.get("/alerts/added-anywhere").status_code == 401


def test_an_included_routers_paths_are_read_as_fastapis_route_contexts_give_them(app) -> None:
    """The index reads an included router's paths from its routes and prefixes, not from
    FastAPI's route contexts (which analyse each route's dependencies again: a second of a
    process's first request): the same first segments, route by route."""
    from fastapi import routing as fastapi_routing

    from jcjg.core import dispatch

    included = [r for r in app.router.routes if isinstance(r, fastapi_routing._IncludedRouter)]
    assert len(included) > 50
    for route in included:
        given = {
            ANY if c.path_format is None else first_segment(c.path_format)
            for c in fastapi_routing.iter_route_contexts([route])
        }
        assert dispatch.segments_of(route) == given, route.original_router.routes[:3]


def test_prefixes_of_nested_inclusions_are_read_as_fastapi_reads_them() -> None:
    from fastapi import APIRouter, FastAPI
    from fastapi import routing as fastapi_routing
    from starlette.staticfiles import StaticFiles

    from jcjg.core import dispatch

    inner, middle, outer = APIRouter(), APIRouter(prefix="/mid"), APIRouter()
    inner.add_api_route("/leaf", lambda: None)
    inner.add_api_route("/{any}/x", lambda: None)
    inner.mount("/files", StaticFiles(directory=".", check_dir=False))
    middle.include_router(inner, prefix="/in")
    middle.add_api_route("", lambda: None)
    outer.include_router(middle, prefix="/top")
    outer.include_router(inner)
    app = FastAPI()
    app.include_router(outer, prefix="/api")
    app.include_router(inner)
    seen: set[str | None] = set()
    for route in app.router.routes:
        given = {
            ANY if c.path_format is None else first_segment(c.path_format)
            for c in fastapi_routing.iter_route_contexts([route])
        }
        assert dispatch.segments_of(route) == given
        seen |= given
    assert {"api", "leaf", "files", ANY} <= seen  # besides the docs pages FastAPI adds
