"""The app's error handlers: every error becomes ``application/problem+json`` on the API and a
Chinese page in the browser (:mod:`jcjg.core.errors` defines the errors and problem types).

An exception no handler takes is answered 500 by :class:`ServerErrors` as an ordinary answer:
Starlette's outermost ``ServerErrorMiddleware`` answers it too, but then raises it again, and
uvicorn closes the connection after such an answer, so a client's next request on that
keep-alive connection failed.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jcjg.core.db import is_busy
from jcjg.core.errors import (
    BAD_REQUEST,
    CONFLICT,
    FORBIDDEN,
    INTERNAL,
    METHOD_NOT_ALLOWED,
    NOT_FOUND,
    PROBLEM_JSON,
    TOO_LARGE,
    UNAUTHENTICATED,
    UNSUPPORTED_MEDIA,
    AppError,
    BadRequest,
    Busy,
    NotFound,
    ProblemType,
    ValidationFailed,
    field_errors_from_pydantic,
    wants_html,
)
from jcjg.core.forms import NOT_AN_ID
from jcjg.core.methods import allow_header, allowed_methods
from jcjg.core.templating import render_error

log = logging.getLogger("jcjg")


def problem_response(request: Request, error: AppError) -> Response:
    """Render ``error`` for this request: a page for browsers, problem+json for the rest."""
    if wants_html(request):
        page = render_error(request, error)
        if page.status_code == error.status:  # not a redirect to the login page
            page.headers.update(error.headers)  # Retry-After, WWW-Authenticate ...
        return page
    return JSONResponse(
        error.body(instance=request.url.path),
        status_code=error.status,
        media_type=PROBLEM_JSON,
        headers=error.headers,
    )


async def app_error_response(request: Request, exc: Exception) -> Response:
    """The app's answer to an AppError (its handler; also for answers made before routing)."""
    assert isinstance(exc, AppError)
    hook = getattr(request.app.state, "on_app_error", None)
    if hook is not None:
        hook(request, exc)
    return problem_response(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any(e.get("type") == NOT_AN_ID and e.get("loc", ("",))[0] == "path" for e in exc.errors()):
        # an id in the address that no row can have (0, -1, 2**31, "abc"): nothing is there
        return problem_response(request, NotFound())
    errors = field_errors_from_pydantic(exc.errors())
    if all(e.field.startswith(("query", "path", "header", "cookie")) for e in errors):
        # A malformed address (bad path or query parameter) is a bad request; 422 is kept for
        # content that is well-formed but fails validation.
        # an API client reads which parameter by its key; a page's reader gets each message in
        # the list beneath, never a key (query.institution)
        detail = "请求参数不正确"
        if not wants_html(request):
            detail += "：" + "；".join(f"{e.field} {e.message}" for e in errors)
        return problem_response(request, BadRequest(detail, errors=errors))
    return problem_response(request, ValidationFailed(errors=errors))


_HTTP_KINDS = {
    400: BAD_REQUEST,
    401: UNAUTHENTICATED,
    403: FORBIDDEN,
    404: NOT_FOUND,
    405: METHOD_NOT_ALLOWED,
    409: CONFLICT,
    413: TOO_LARGE,
    415: UNSUPPORTED_MEDIA,
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    kind = _HTTP_KINDS.get(exc.status_code)
    if kind is None:
        kind = ProblemType("http-error", exc.status_code, "请求未能完成", str(exc.detail))
    detail = kind.description
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every method of the address, not the first route's only
        headers["Allow"] = allow_header(allowed_methods(request.app.router.routes, request.scope))
    error = AppError(detail, kind=kind, headers=headers)
    return problem_response(request, error)


async def _unhandled(request: Request, exc: Exception) -> Response:
    if is_busy(exc):  # a write that waited its turn in vain, outside a transactional route
        log.warning("database busy on %s: %s", request.url.path, exc)
        return problem_response(request, Busy())
    log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    error = AppError(kind=INTERNAL)
    try:
        return problem_response(request, error)
    except Exception:  # the error page itself failed: the problem, then
        log.exception("the error page failed on %s", request.url.path)
        body = error.body(instance=request.url.path)
        return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)


class ServerErrors:
    """ASGI middleware: an exception that reaches it before the answer has begun is answered
    500 (problem+json, or the error page) and goes no further, so the server keeps the
    connection. Once an answer has begun, only closing the connection can tell the client
    that its body is cut short: then the exception goes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            if started:
                raise
            response = await _unhandled(Request(scope, receive), exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Register the problem+json handlers on ``app``."""
    app.add_exception_handler(AppError, app_error_response)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
