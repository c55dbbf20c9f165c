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
