"""Pages shared by the readers of one scope for a few seconds (issue 44 item 3).

A list page an authority opens most (its alerts, records, statistics, nonconformities,
reports) depends on the reader's scope (role, region or institution, projects, permissions:
``Principal.scope_key``), its address and whether htmx asks for the results alone, and on
nothing else of the reader but their name in the top bar, their session's CSRF token and the
request's id. Such a page (its endpoint marked :func:`shared_page`) is kept per process for
``JCJG_SHARED_PAGES_SECONDS`` (0: never) and given to every reader of the same scope that asks
for the same address in that time: rendered once with stand-ins for the three (:class:`Reader`),
which each answer replaces with its own reader's, escaped as the template would.

What keeps it honest:

* **Who.** Only a reader whose session's principal this process holds (``PRINCIPALS``, the
  same memory the request's own authentication reads first) is answered from the pages kept;
  a bearer token, an expired password, a principal that must be read from the database go the
  whole way. A page is kept only after its endpoint answered that same principal (the route's
  permission checked), so a kept page is only given to a reader whose permissions, role and
  scope are the ones it was drawn for.
* **What.** Only a 200 HTML answer that set no cookie, whose request wrote nothing (an unmasked
  read's audit row, a session's last use: :func:`jcjg.core.later.pending`) and read none of
  its reader's own rows (:func:`personal`) is kept; a spreadsheet export, an error, a redirect
  never is. One in which the reader's name or token shows where a stand-in should (a person
  of the same name among the rows) is that reader's alone: another reader's may be kept.
* **When.** A reader who changed something (any POST, PUT, PATCH, DELETE answered below 400
  while logged in) gets a cookie (:data:`FRESH_COOKIE`) for as long as a page drawn before the
  change may be given (twice the seconds, below) and one more: while it lasts their pages are
  drawn afresh (and kept for the others), so one's own change shows at once. Another
  reader's change shows within twice the seconds a page is kept.
* **How many.** At most :data:`MAX_PAGES` pages and :data:`MAX_BYTES` bytes per process, the
  oldest dropped first. Readers asking while a page is drawn wait for that one drawing; once a
  page has lapsed one reader draws it again while the others are given the lapsed one (for at
  most as long again), instead of all waiting behind the drawing.

Everything here runs on the process's event loop; the drawing in the thread pool.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from markupsafe import escape
from starlette.requests import Request
from starlette.responses import Response

from jcjg.core import domains
from jcjg.core.metrics import SHARED_PAGES

F = TypeVar("F", bound=Callable[..., Any])

SHARED = "_jcjg_shared_page"  # the mark :func:`shared_page` puts on an endpoint
READER_HOOK = "pages.reader"  # (request) -> Reader | None: the auth domain's
FRESH_COOKIE = "jcjg_fresh"  # "this reader changed something a moment ago"
MAX_PAGES = 512
MAX_BYTES = 16 * 1024 * 1024
# what a kept page holds in place of its reader's: letters and digits, which escaping leaves
# alone, drawn anew by each process (a page cannot carry them in from its data)
NAME_STAND_IN = "jcjgreader" + secrets.token_hex(12)
CSRF_STAND_IN = "jcjgcsrf" + secrets.token_hex(16)
REQUEST_ID_STAND_IN = "jcjgrequest" + secrets.token_hex(12)
_KEPT_HEADERS = frozenset({b"content-type", b"vary", b"content-language"})
_GIVEN, _DRAWN = SHARED_PAGES.labels("given"), SHARED_PAGES.labels("drawn")


def shared_page(endpoint: F) -> F:
    """Mark a page's endpoint as one the readers of a scope share for a few seconds: what it
    answers must depend only on the reader's scope, the address and whether htmx asks for a
    part of it (it may show the reader's name and CSRF token, which each answer replaces; one
    that reads the reader's own rows is not kept: :func:`personal`). Routes of
    ``core.deps.TransactionalRoute`` answering GET only."""
    setattr(endpoint, SHARED, True)
    return endpoint


def is_shared(endpoint: Callable[..., Any]) -> bool:
    return bool(getattr(endpoint, SHARED, False))


@dataclass(frozen=True)
class Reader:
    """Who asks for a shared page, as the page depends on them: ``key``, what its content
    depends on (the principal's scope key); ``principal``, the one the request's
    authentication will find; ``stand_in``, that principal with :data:`NAME_STAND_IN` and
    :data:`CSRF_STAND_IN` for its name and token, and no account of its own (what the page is
    drawn for); ``name`` and ``csrf_token``, the reader's own; ``fresh``: they changed
    something a moment ago."""

    key: Hashable
    principal: Any
    stand_in: Any
    name: str
    csrf_token: str
    fresh: bool = False


@dataclass
class _Page:
    at: float  # time.monotonic() when its drawing began (what it shows is at least as new)
    body: bytes
    headers: list[tuple[bytes, bytes]]


@dataclass
class Drawing:
    """What a page being drawn for the cache carries on ``request.state.shared_page`` (read by
    :func:`jcjg.core.templating.render`, which draws with the stand-ins) and in the drawing's
    context (:func:`personal`)."""

    reader: Reader
    personal: bool = False  # it read what only its own reader sees: never shared


_DRAWING: ContextVar[Drawing | None] = ContextVar("jcjg_shared_drawing", default=None)


def personal() -> None:
    """Say that the page being drawn read something only its own reader sees (a scope clause
    naming the reader's own rows: ``auth.scopes.scope_clause``): it is not kept. Outside a
    shared page's drawing, nothing. (The endpoint's thread sees the drawing: the thread pool
    runs it in a copy of the request's context.)"""
    drawing = _DRAWING.get()
    if drawing is not None:
        drawing.personal = True


class SharedPages:
    """The pages kept by one process (``app.state.shared_pages``). ``varies``: whether a
    request asks for a part of a page (``core.templating.wants_fragment``): the answers to
    the two are kept apart."""

    def __init__(self, seconds: float, varies: Callable[[Request], bool]) -> None:
        self.seconds = seconds
        self.varies = varies
        self._pages: OrderedDict[Hashable, _Page] = OrderedDict()
        self._bytes = 0
        self._drawing: dict[Hashable, asyncio.Future[None]] = {}
        # addresses whose last drawing could not be kept (wrote, failed): their askers draw at
        # once for a while, instead of queueing behind each other's drawings
        self._unkept: OrderedDict[Hashable, float] = OrderedDict()
        self._readers: list[Callable[..., Any]] | None = None
        self.hits = 0
        self.misses = 0

    def reader(self, request: Request) -> Reader | None:
        """The reader of ``request`` as the auth domain knows them from memory, or None (then
        the page goes the whole way, and is not kept)."""
        if self._readers is None:
            self._readers = domains.hooks(READER_HOOK)
        for hook in self._readers:
            found = hook(request)
            if found is not None:
                return found  # type: ignore[no-any-return]
        return None

    def key(self, request: Request, reader: Reader) -> Hashable:
        return (
            request.scope.get("path", ""),
            request.scope.get("query_string", b""),
            self.varies(request),
            reader.key,
        )

    async def answer(
        self, request: Request, reader: Reader, draw: Callable[[], Awaitable[Response]]
    ) -> Response:
        """The page for ``reader``: kept, or drawn by ``draw`` (the route's whole way) with the
        stand-ins and kept when it may be."""
        key = self.key(request, reader)
        page = None if reader.fresh else await self._kept(key)
        if page is not None:
            return self._given(key, page, request, reader)
        return await self._drawn(key, request, reader, draw)

    async def _kept(self, key: Hashable) -> _Page | None:
        """The page kept under ``key`` that may be given now: kept less than the seconds ago;
        lapsed less than twice ago while another asker draws it again; or the one the drawing
        under way keeps, waited for (not longer than twice the seconds old). None: draw it."""
        while True:
            now = time.monotonic()
            page = self._pages.get(key)
            if page is not None and now - page.at < self.seconds:
                return page
            drawing = self._drawing.get(key)
            if drawing is None or now - self._unkept.get(key, -math.inf) < self.seconds:
                return None
            if page is not None and now - page.at < 2 * self.seconds:
                return page  # lapsed, being drawn again
            seen = page.at if page is not None else -math.inf
            await asyncio.shield(drawing)
            page = self._pages.get(key)
            fresh_enough = page is not None and time.monotonic() - page.at < 2 * self.seconds
            if page is not None and page.at > seen and fresh_enough:  # what that drawing kept
                return page

    async def _drawn(
        self, key: Hashable, request: Request, reader: Reader,
        draw: Callable[[], Awaitable[Response]],
    ) -> Response:  # fmt: skip
        """``draw()``'s answer with ``reader``'s own in place of the stand-ins, kept when it
        may be."""
        self.misses += 1
        _DRAWN.inc()
        mine = key not in self._drawing
        if mine:
            self._drawing[key] = asyncio.get_running_loop().create_future()
        drawing_ = Drawing(reader)
        request.state.shared_page = drawing_
        context = _DRAWING.set(drawing_)
        started = time.monotonic()
        unkept = True  # the page cannot be kept (a failure, too): its askers draw at once
        try:
            response = await draw()
            body = getattr(response, "body", None)
            if not isinstance(body, bytes):
                return response  # a file, a stream: never drawn with the stand-ins
            verdict = self._may_keep(request, reader, response, body)
            if drawing_.personal:
                verdict = False  # it read the reader's own rows
            if verdict:
                unkept = not self._keep(key, _Page(started, body, self._headers(response)))
            else:
                unkept = verdict is False  # None: this reader's answer alone may not be kept
            return self._own(response, body, request, reader)
        finally:
            _DRAWING.reset(context)
            request.state.shared_page = None
            if unkept:  # from when the drawing ended: its waiters wake within the while
                self._note_unkept(key, time.monotonic())
            if mine:
                self._drawing.pop(key).set_result(None)

    def _note_unkept(self, key: Hashable, at: float) -> None:
        self._unkept.pop(key, None)
        self._unkept[key] = at
        while len(self._unkept) > MAX_PAGES:
            self._unkept.popitem(last=False)

    def _may_keep(
        self, request: Request, reader: Reader, response: Response, body: bytes
    ) -> bool | None:
        """Whether the drawn answer may be kept: True; False, not the page (whoever asks);
        None, not this reader's answer (another reader's may be)."""
        if response.status_code != 200 or not response.media_type:
            return False
        if not response.media_type.startswith("text/html"):
            return False
        if any(name == b"set-cookie" for name, _ in response.raw_headers):
            return False
        state = request.state
        if getattr(state, "wrote", False) or getattr(state, "writes", False):
            return False
        if getattr(state, "principal", None) != reader.principal:
            return None  # answered for another principal than the one it was keyed by
        # the reader's own, where a stand-in should be (drawn some other way than render()),
        # or their name among the page's data (a person of the same name): theirs alone
        own = (reader.csrf_token, str(escape(reader.name)))
        return None if any(value and value.encode() in body for value in own) else True

    def _keep(self, key: Hashable, page: _Page) -> bool:
        """Keep ``page`` unless it is too large or one drawn later is kept (a slow drawing
        that began before a change would otherwise put back what the change replaced)."""
        if len(page.body) > MAX_BYTES // 8:
            return False
        before = self._pages.get(key)
        if before is not None:
            if before.at > page.at:
                return True  # a newer one is there: as good as kept
            del self._pages[key]
            self._bytes -= len(before.body)
        self._pages[key] = page
        self._bytes += len(page.body)
        self._unkept.pop(key, None)
        while self._pages and (len(self._pages) > MAX_PAGES or self._bytes > MAX_BYTES):
            _, dropped = self._pages.popitem(last=False)
            self._bytes -= len(dropped.body)
        return True

    @staticmethod
    def _headers(response: Response) -> list[tuple[bytes, bytes]]:
        return [(k, v) for k, v in response.raw_headers if k in _KEPT_HEADERS]

    def _given(self, key: Hashable, page: _Page, request: Request, reader: Reader) -> Response:
        self.hits += 1
        _GIVEN.inc()
        self._pages.move_to_end(key)
        body = _with_reader(page.body, request, reader)
        response = Response(body, status_code=200)
        response.raw_headers = [
            *page.headers,
            (b"content-length", str(len(body)).encode()),
        ]
        return response

    def _own(self, response: Response, body: bytes, request: Request, reader: Reader) -> Response:
        """The drawn ``response`` with its reader's own in place of the stand-ins."""
        own = _with_reader(body, request, reader)
        if own is body:
            return response
        response.body = own
        response.raw_headers = [
            (k, v) if k != b"content-length" else (k, str(len(own)).encode())
            for k, v in response.raw_headers
        ]
        return response


def _with_reader(body: bytes, request: Request, reader: Reader) -> bytes:
    request_id = str(getattr(request.state, "request_id", "") or "")
    for stand_in, value in (
        (NAME_STAND_IN, reader.name),
        (CSRF_STAND_IN, reader.csrf_token),
        (REQUEST_ID_STAND_IN, request_id),
    ):
        marker = stand_in.encode()
        if marker in body:
            body = body.replace(marker, str(escape(value)).encode())
    return body
