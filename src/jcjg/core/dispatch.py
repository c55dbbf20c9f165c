"""A request's route found among the routes that can match its path's first segment.

FastAPI matches a request by asking each of the app's routes in turn; the app includes one
router per domain module (75 routes at the top, each included router asking each of its own
routes), so a page of a domain included late (/testing/records) was matched after some 30
included routers and 175 routes had said no: about a tenth of a page's CPU.

:class:`FirstSegmentDispatch` asks only the routes that can match the path's first segment
(``testing`` of /testing/records), in the app's order: a route whose every path starts with a
fixed segment other than the request's cannot match it (paths are matched from the start,
their fixed text literally), so the first route that matches fully among these is the one the
whole list finds. A route that may take any first segment (a parameter there, a mount at the
root, a host) is asked for every path. When none of them matches fully (a 405, a slash to
redirect, a 404) the router's own dispatch runs as before, over every route. The index is made
again whenever the app's list of routes changes (a route added to a built app, as tests do).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import routing as fastapi_routing
from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send

# Any first segment (the key of the routes asked for every path)
ANY = None
# What FastAPI's own dispatch (APIRouter.app) does with the route it chose: private to it, so
# taken if there; in a FastAPI without them the dispatch stays FastAPI's (install)
_form_limits: Any = getattr(fastapi_routing, "_apply_router_form_limits", None)
_update_scope: Any = getattr(fastapi_routing, "_update_scope", None)
_route_selected: Any = getattr(fastapi_routing, "_route_selected", None)
_route_contexts: Any = getattr(fastapi_routing, "iter_route_contexts", None)
# An included router as FastAPI keeps it in the including router's routes (private: without
# it every route is read through iter_route_contexts)
_included: Any = getattr(fastapi_routing, "_IncludedRouter", None)


def first_segment(path: str) -> str | None:
    """The fixed first segment of a route's path (``""`` for ``/``), or ``ANY`` when it is
    not fixed (a parameter in it, or no leading slash)."""
    if not path.startswith("/"):
        return ANY
    segment = path[1:].split("/", 1)[0]
    return ANY if "{" in segment else segment


def segments_of(route: BaseRoute) -> set[str | None]:
    """The first segments of the paths ``route`` can match (``ANY`` among them: any)."""
    paths: list[str | None] = []
    if isinstance(route, Mount):
        paths.append(route.path or None)
    elif _included is not None and isinstance(route, _included):
        paths.extend(_included_paths(route, ""))
    else:
        for context in _route_contexts([route]):
            paths.append(context.path_format if context.path_format is not None else None)
    return {ANY if path is None else first_segment(path) for path in paths} or {ANY}


def _included_paths(included: Any, prefix: str) -> Iterable[str | None]:
    """The paths of an included router's routes, read from the routes and the prefixes they
    were included with (None: any path). FastAPI's own route contexts of an included router
    analyse every route's dependencies again: asking them for the paths cost each process's
    first request a second of CPU (the 72 routers' 440 routes), where a request otherwise has
    only its own router's made. What is not a plain route (a host, a frontend group) may take
    any path."""
    context = getattr(included, "include_context", None)
    router = getattr(included, "original_router", None)
    if context is None or router is None:
        yield None
        return
    prefix += context.prefix
    for route in router.routes:
        if isinstance(route, _included):
            yield from _included_paths(route, prefix)
        elif isinstance(route, Mount):  # at the root (no path left): any path
            yield (prefix + route.path).rstrip("/") or None
        elif isinstance(route, Route | WebSocketRoute):
            yield prefix + route.path
        else:
            yield None


class FirstSegmentDispatch:
    """The router's dispatch, asking only the routes that can match the path's first segment
    (see the module); installed as the router's innermost app by :func:`install`."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.fallback: ASGIApp = router.app  # FastAPI's own, over every route
        self._key: tuple[int, int] | None = None
        self._by_segment: dict[str, list[BaseRoute]] = {}
        self._anywhere: list[BaseRoute] = []

    def _index(self, routes: list[BaseRoute]) -> None:
        kinds = [(route, segments_of(route)) for route in routes]
        named = {s for _, found in kinds for s in found if s is not ANY}
        self._by_segment = {
            segment: [r for r, found in kinds if segment in found or ANY in found]
            for segment in named
        }
        self._anywhere = [r for r, found in kinds if ANY in found]

    def candidates(self, path: str) -> list[BaseRoute]:
        """The app's routes that can match ``path``, in the app's order."""
        routes = self.router.routes
        key = (id(routes), len(routes))
        if key != self._key:
            self._index(routes)
            self._key = key
        segment = path[1:].split("/", 1)[0] if path.startswith("/") else ""
        return self._by_segment.get(segment, self._anywhere)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.fallback(scope, receive, send)
            return
        router = self.router
        for route in self.candidates(get_route_path(scope)):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                # as APIRouter.app does with the route it found first
                _form_limits(scope, router.form_limits)
                if "router" not in scope:
                    scope["router"] = router
                _update_scope(scope, child_scope)
                _route_selected(
                    scope=scope,
                    path=getattr(route, "path_format", None),
                    mount=isinstance(route, Mount),
                )
                await route.handle(scope, receive, send)
                return
        await self.fallback(scope, receive, send)


def install(router: Any) -> bool:
    """Dispatch ``router``'s requests by first segment when its FastAPI has what that takes
    and nothing wraps its dispatch; whether it was installed."""
    if None in (_form_limits, _update_scope, _route_selected, _route_contexts):
        return False
    if router.middleware_stack != router.app:  # router-level middleware: left as it is
        return False
    router.middleware_stack = FirstSegmentDispatch(router)
    return True


def routes_asked(router: Any, path: str) -> Iterable[BaseRoute]:
    """The routes a request for ``path`` is matched against (tests)."""
    dispatch = router.middleware_stack
    if isinstance(dispatch, FirstSegmentDispatch):
        return dispatch.candidates(path)
    routes: list[BaseRoute] = router.routes
    return routes
