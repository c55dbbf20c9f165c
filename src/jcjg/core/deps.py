"""Request plumbing: one database session and one transaction per request.

``SessionDep`` hands a route the request's session, created on first use. The routers use
:class:`TransactionalRoute`, which commits that session once after the endpoint returns and
before the response leaves, or rolls it back when the endpoint raises: services never commit,
and nothing is half-written on error (DESIGN.md decision 8).
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import re
import uuid
from collections.abc import Callable, Coroutine
from contextvars import ContextVar
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jcjg.config import Settings, settings_in_use
from jcjg.core import pagecache, text
from jcjg.core.admission import Admission
from jcjg.core.context import AuditContext, context_of
from jcjg.core.db import WriteWhileReading, is_busy
from jcjg.core.errors import Busy, FieldError
from jcjg.core.handlers import app_error_response
from jcjg.core.later import pending, reading, reading_session, write_pending

log = logging.getLogger("jcjg")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


# The dependencies below do no I/O: declared async, FastAPI calls them on the event loop rather
# than handing each to the thread pool (a hop that costs more than the function).


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_db(request: Request) -> Session:
    """The request's session; its audit context carries the request id and client address.
    A request that asks (GET, HEAD, OPTIONS) gets one that only reads (:mod:`jcjg.core.later`),
    unless it is being answered again as a writer (:class:`TransactionalRoute`)."""
    db: Session | None = getattr(request.state, "db", None)
    if db is None:
        factory = request.app.state.sessionmaker
        if request.method in SAFE_METHODS and not getattr(request.state, "writes", False):
            db = reading_session(factory)
        else:
            db = factory()
        assert db is not None
        ctx = context_of(db)
        ctx.request_id = getattr(request.state, "request_id", None)
        ctx.ip = client_ip(request)
        request.state.db = db
        request.state.audit_context = ctx
    return db


async def writes(request: Request) -> None:
    """Route dependency (before the session's): a request of this route that asks (GET, HEAD)
    still writes in its one transaction, as a request that changes data does (a signed request
    of the exchange records its nonce, against replay, before it is answered)."""
    request.state.writes = True


Writes = Depends(writes)


def audit_context(request: Request) -> AuditContext:
    """Who did what from where, for events written after the request's session is gone."""
    ctx = getattr(request.state, "audit_context", None)
    if isinstance(ctx, AuditContext):
        return ctx
    return AuditContext(
        request_id=getattr(request.state, "request_id", None), ip=client_ip(request)
    )


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


class TransactionalRoute(APIRoute):
    """Check the text of the form or JSON body FastAPI parses for the endpoint before its other
    dependencies run (:func:`jcjg.core.text.check_body`); commit the request's session when the
    endpoint returns; roll back when it raises; close the request's parsed form (its uploads)
    either way."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        given = list(kwargs.get("dependencies") or ())
        if not any(getattr(d, "dependency", None) is text.check_body for d in given):
            given.insert(0, Depends(text.check_body))  # (a router copied by include_router has it)
        # a page its scope's readers share for a few seconds (core.pagecache), GET alone
        self.shared = pagecache.is_shared(endpoint)
        if not _asynchronous(endpoint):  # FastAPI reads the signature through the wrapper
            endpoint = _finishing(endpoint)
        super().__init__(path, endpoint, **{**kwargs, "dependencies": given})
        if self.shared and self.methods != {"GET"}:
            raise TypeError(f"{path}: only a page answering GET alone can be shared")

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def whole_way(request: Request) -> Response:
            answering = _ANSWERING.set(request)  # the endpoint's thread sees it (a copy)
            admission: Admission | None = getattr(request.app.state, "admission", None)
            try:
                if admission is None:
                    return await _answer(request, handler)
                async with admission.turn():
                    return await _answer(request, handler)
            finally:
                _ANSWERING.reset(answering)
                # Uploads parsed for the CSRF check of a request refused before its endpoint
                # read them (404, 403) would otherwise leave their temporary files open.
                await request.close()
                await _close_db(request)

        shared = self.shared

        async def transactional(request: Request) -> Response:
            pages: pagecache.SharedPages | None = getattr(request.app.state, "shared_pages", None)
            if pages is None or pages.seconds <= 0:
                return await whole_way(request)
            if request.method not in SAFE_METHODS:
                return _fresh(await whole_way(request), request, pages.seconds)
            reader = pages.reader(request) if shared else None
            if reader is None:
                return await whole_way(request)
            return await pages.answer(request, reader, lambda: whole_way(request))

        return transactional


def _fresh(response: Response, request: Request, seconds: float) -> Response:
    """``response`` to a change by a logged-in reader, with the cookie that has their pages
    drawn afresh for as long as a shared page drawn before the change may be given: kept for
    ``seconds``, given while drawn again for as long again, and a second (:mod:`jcjg.core.
    pagecache`)."""
    settings: Settings = request.app.state.settings
    if response.status_code < 400 and request.cookies.get(settings.session_cookie):
        response.set_cookie(
            pagecache.FRESH_COOKIE, "1", max_age=math.ceil(2 * seconds) + 1, path="/",
            httponly=True, samesite="lax", secure=settings.https,
        )  # fmt: skip
    return response


async def _answer(
    request: Request, handler: Callable[[Request], Coroutine[Any, Any, Response]]
) -> Response:
    """The endpoint's answer once its transaction committed, and what a reading request must
    write written (:func:`jcjg.core.later.write_pending`). A reading request whose endpoint
    wrote through its session (refused, or on SQLite met a writer) is answered once more as a
    writer; a database too busy to take a write gives 503 (:class:`jcjg.core.errors.Busy`)."""
    while True:
        try:
            response = await handler(request)
            db = getattr(request.state, "db", None)
            if db is not None:
                _note_writes(request, db)
                # one hop to the thread pool for the three (each hop costs a page a tenth of a
                # millisecond of CPU and a thread's wake-up: issue 44)
                await run_in_threadpool(_finish, db, request.app.state.sessionmaker)
                request.state.db = None
            return response
        except BaseException as error:
            db = getattr(request.state, "db", None)
            if db is not None:
                await run_in_threadpool(db.rollback)
            wrote = isinstance(error, WriteWhileReading)
            if wrote and request.app.state.settings.env == "test":
                raise  # the suite finds the pages that write while they read
            if not isinstance(error, Exception) or not (wrote or is_busy(error)):
                raise
            if reading(db) and not getattr(request.state, "writes", False):
                if wrote:
                    log.error("%s %s wrote while reading: answered again as a writer",
                              request.method, request.url.path)  # fmt: skip
                await _close_db(request)
                request.state.writes = True
                continue
            raise Busy() from error


# The request a TransactionalRoute is answering, for its endpoint's thread (:func:`_finishing`)
_ANSWERING: ContextVar[Request | None] = ContextVar("jcjg_answering", default=None)


def _asynchronous(call: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 (an object whose __call__ is async)
    )


def _finishing(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """``endpoint`` (a function FastAPI runs in the thread pool) that, when it answers with a
    :class:`Response` (a page, a file, a redirect: nothing is left to read for it), also ends
    the request's transaction (:func:`_finish`) in the same thread, instead of a second hop to
    the pool after it (:func:`_answer`): a hop costs a tenth of a millisecond of CPU and a
    thread's wake-up, and a request waiting for a thread waits once, not twice, behind the
    others (issue 44). Any other answer (a dict, a model: FastAPI serialises it afterwards,
    which may read the session's objects) is finished after, as before; what ``_finish``
    raises goes to :func:`_answer` with the session still the request's, as it did there."""

    if getattr(endpoint, "_finishing", False):  # a route built again from a route's endpoint
        return endpoint  # (include_router of FastAPI before 0.165 copies routes so)

    @functools.wraps(endpoint)
    def finishing(*args: Any, **kwargs: Any) -> Any:
        answer = endpoint(*args, **kwargs)
        request = _ANSWERING.get()
        if request is not None and isinstance(answer, Response):
            db = getattr(request.state, "db", None)
            if db is not None:
                _note_writes(request, db)
                _finish(db, request.app.state.sessionmaker)
                request.state.db = None
        return answer

    finishing._finishing = True  # type: ignore[attr-defined]
    return finishing


def _note_writes(request: Request, db: Session) -> None:
    """Mark ``request`` as one that wrote (its answer is not shared: core.pagecache) when its
    reading session holds writes to do after its reads (an unmasked read's audit row)."""
    if pending(db):
        request.state.wrote = True


def _finish(db: Session, sessionmaker: Any) -> None:
    """Commit ``db``, write what a reading request must (:func:`jcjg.core.later.write_pending`;
    503 when the lock could not be had for it: the endpoint's answer would not change by
    running it again), close it."""
    db.commit()
    if reading(db):
        try:
            write_pending(db, sessionmaker)
        except Exception as error:
            if is_busy(error):
                raise Busy() from error
            raise
    db.close()


async def _close_db(request: Request) -> None:
    db = getattr(request.state, "db", None)
    if db is not None:
        request.state.db = None
        await run_in_threadpool(db.close)


# The Content-Security-Policy of every answer: nothing from elsewhere, no inline script or
# style (data: and blob: images and media: photo previews and the phone's camera)
CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    b"media-src 'self' blob:; worker-src 'self' blob:; connect-src 'self'; "
    b"frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)


class SettingsMiddleware:
    """The app's settings are what :func:`jcjg.config.get_settings` gives while a request is
    answered (a rule judging what the request wrote reads curves from the app's blob store,
    not the environment's)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with settings_in_use(self.settings):
            await self.app(scope, receive, send)


class RequestIdMiddleware:
    """Give every request an id (or keep a well-formed ``X-Request-ID``) and echo it back,
    with the security headers every response carries; over https, Strict-Transport-Security
    too (the request's scheme: uvicorn takes it from ``X-Forwarded-Proto`` only when the proxy
    is trusted, ``--forwarded-allow-ips``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        # scripts and styles only from our own files, on every page, the API docs' Swagger UI
        # included (no inline code in any template: tests/core/test_no_inline_code.py)
        extra = {
            b"x-request-id": request_id.encode(),
            b"x-content-type-options": b"nosniff",
            b"referrer-policy": b"same-origin",
            b"x-frame-options": b"DENY",
            b"content-security-policy": CSP,
            b"permissions-policy": PERMISSIONS,
            b"cross-origin-opener-policy": b"same-origin",
        }
        if _authenticated(scope) and not scope.get("path", "").startswith("/static/"):
            # a page or answer for one account: no shared cache, no back-forward copy after
            # logging out (an answer that says how it may be kept keeps its own)
            extra[b"cache-control"] = b"no-store"
        if scope.get("scheme") == "https":
            hsts = _hsts(scope)
            if hsts:
                extra[b"strict-transport-security"] = hsts

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra.items() if k not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class AddressTextMiddleware:
    """Refuse a request whose decoded path or query (names and values) holds a character the
    text boundary never accepts, or a line break (an address has one line): a 422 naming the
    parameter, as problem+json under /api and /exchange and a Chinese page elsewhere."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            errors = address_problems(scope)
            if errors:
                response = await app_error_response(Request(scope, receive), text.refuse(errors))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def address_problems(scope: Scope) -> list[FieldError]:
    """The path and query parameters of a request the text boundary refuses."""
    errors: list[FieldError] = []
    reason = text.problem(scope.get("path", ""))
    if reason is not None:
        errors.append(FieldError("path", reason, text.CODE))
    query = scope.get("query_string", b"")
    if query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            reason = text.problem(name)
            if reason is not None:
                errors.append(FieldError("query", f"参数名{reason}", text.CODE))
            elif (reason := text.problem(value)) is not None:
                errors.append(FieldError(f"query.{name}", reason, text.CODE))
    return errors


# What a page may use of the device: the camera (scanning a code, a sample's photos) and the
# position (a witness's place) from our own pages only; nothing else
PERMISSIONS = (
    b"camera=(self), geolocation=(self), microphone=(), payment=(), usb=(), serial=(), "
    b"hid=(), midi=(), display-capture=()"
)


def _authenticated(scope: Scope) -> bool:
    """Whether the request carries an account's credentials (a session cookie or a token)."""
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    cookie = settings.session_cookie if isinstance(settings, Settings) else "jcjg_session"
    for name, value in scope.get("headers") or ():
        if name == b"authorization" or (
            name == b"cookie" and f"{cookie}=".encode("latin-1") in value
        ):
            return True
    return False


def _hsts(scope: Scope) -> bytes:
    """Strict-Transport-Security's value under the app's settings (empty: none)."""
    app = scope.get("app")
    settings = getattr(getattr(app, "state", None), "settings", None)
    seconds = settings.hsts_seconds if isinstance(settings, Settings) else 0
    return f"max-age={seconds}".encode() if seconds > 0 else b""
