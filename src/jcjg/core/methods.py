"""Which methods an address takes: ``Allow`` on 405 and ``OPTIONS``, and ``HEAD`` wherever
``GET`` is (RFC 9110 9.3.2, 10.2.1, 15.5.6).

Starlette answers a method no route of an address takes with the methods of the *first* route
matching that address only, and FastAPI's routes do not take ``HEAD`` for ``GET``. So here:

- :func:`allowed_methods` gathers the methods of every route matching the address (``GET``
  implies ``HEAD``; ``OPTIONS`` is always answered);
- :class:`MethodsMiddleware` answers ``OPTIONS`` itself, 204 with that ``Allow`` (unless a route
  takes ``OPTIONS`` itself, as the tus endpoint does for its discovery), and serves ``HEAD`` of
  an address that only has a ``GET`` route by that route, without the body;
- the 405 problem (:mod:`jcjg.core.handlers`) carries the same ``Allow``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# What StaticFiles serves
_FILE_METHODS = frozenset({"GET", "HEAD"})
# The order Allow lists them in
_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _methods_of(routes: Sequence[Any], scope: Scope) -> set[str]:
    """The methods of every route (included routers' too) matching ``scope``'s path."""
    found: set[str] = set()
    for route in iter_route_contexts(routes):
        match, _ = route.matches({**scope, "method": "GET"})
        if match is Match.NONE:
            continue
        methods = route.methods
        if methods:
            found |= set(methods)
        elif isinstance(route.original_route, Mount):
            found |= _FILE_METHODS
    return found


def _with_implied(methods: set[str]) -> set[str]:
    """``HEAD`` with ``GET``, and ``OPTIONS`` whenever any route matches."""
    if not methods:
        return set()
    return methods | {"OPTIONS"} | ({"HEAD"} if "GET" in methods else set())


def allowed_methods(routes: Sequence[Any], scope: Scope) -> set[str]:
    """The methods the routes matching ``scope``'s path take (empty: no route matches),
    with those they imply (``HEAD`` with ``GET``; ``OPTIONS``). ``scope`` may be a mounted
    app's (static files): its path is matched from the app's root."""
    root = scope.get("app_root_path", scope.get("root_path", ""))
    return _with_implied(_methods_of(routes, {**scope, "root_path": root}))


def allow_header(methods: Iterable[str]) -> str:
    """``Allow``'s value: the usual methods in the usual order, others after."""
    methods = set(methods)
    known = [m for m in _ORDER if m in methods]
    return ", ".join(known + sorted(methods - set(_ORDER)))


class MethodsMiddleware:
    """Answer ``OPTIONS`` with the address's ``Allow``; serve ``HEAD`` by the ``GET`` route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method") if scope["type"] == "http" else None
        if method not in {"OPTIONS", "HEAD"}:
            await self.app(scope, receive, send)
            return
        taken = _methods_of(scope["app"].router.routes, scope)
        allow = allow_header(_with_implied(taken)).encode()
        if method == "OPTIONS" and method in taken:  # its own (tus discovery): with Allow
            await self.app(scope, receive, _with_allow(send, allow))
        elif method == "OPTIONS" and taken:
            await send(
                {"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]}
            )
            await send({"type": "http.response.body", "body": b""})
        elif method == "HEAD" and "HEAD" not in taken and "GET" in taken:
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
        else:
            await self.app(scope, receive, send)


def _with_allow(send: Send, allow: bytes) -> Send:
    """``send`` adding ``Allow`` to an answer that has none."""

    async def with_allow(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers") or [])
            if not any(k.lower() == b"allow" for k, _ in headers):
                message = {**message, "headers": [*headers, (b"allow", allow)]}
        await send(message)

    return with_allow


def _without_body(send: Send) -> Send:
    """``send`` for a HEAD answer made by a GET route: the headers (Content-Length kept, as
    for GET), no body."""

    async def head(message: Message) -> None:
        if message["type"] == "http.response.body":
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b""}
        await send(message)

    return head
