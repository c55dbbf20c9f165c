"""Jinja2 pages: the shared environment, the CSRF token of a page, and error pages.

What every page shows of its reader (the principal, the menu) comes from the installed domains'
``templates.context`` hooks, each called with the request (``None`` for a page that is the same
for every anonymous visitor) and returning names for the template; ``label(kind, value)`` finds
the enum of ``kind`` in the domains' ``labels``.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, TypeVar

import markupsafe
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2.compiler import CodeGenerator
from markupsafe import Markup, escape

from jcjg.core import domains, labels, pagecache, text
from jcjg.core.db import utcnow
from jcjg.core.errors import AppError, PasswordExpired, Unauthenticated
from jcjg.core.masking import mask_email, mask_phone

_templates: Jinja2Templates | None = None
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T[\d:.]+(?:[+-]\d{2}:\d{2}|Z)")


def templates() -> Jinja2Templates:
    global _templates
    if _templates is None:
        folder = resources.files("jcjg") / "templates"
        _templates = Jinja2Templates(directory=str(folder))
        env = _templates.env
        env.code_generator_class = _FastEscapeGenerator
        # a template file is looked at again for changes only while developing: elsewhere
        # every page would stat each of its templates on every render
        env.auto_reload = _developing()
        env.filters["localtime"] = _localtime
        env.globals["csrf_field"] = _csrf_field
        env.globals["label"] = _label
        env.filters["label"] = _label_filter
        env.globals["page_of"] = labels.page_of
        env.filters["shown"] = _shown
        env.filters["field_word"] = text.field_word  # a failing field as a page names it
        env.filters["figure"] = text.figure  # 3170 and 0.00001, never 3.17e+03 or 1e-05
        env.globals["now"] = utcnow
        env.globals["frame_part"] = _frame_part
        env.globals["options"] = _options
        env.filters["mask_phone"] = lambda v: mask_phone(v) if v else "—"
        env.filters["mask_email"] = lambda v: mask_email(v) if v else "—"
    return _templates


# markupsafe's own escaping of a str (its C speedup or its Python), which its escape calls; a
# markupsafe without it (before 3.0) gives the same text the slower way
_escape_text: Callable[[str], str] = getattr(markupsafe, "_escape_inner", None) or (
    lambda text: str(escape(text))
)
_as_markup = str.__new__


def fast_escape(value: Any, /) -> Markup:
    """:func:`markupsafe.escape`, the same answer for every value, made without calling
    ``Markup.__new__`` (a Python function checking ``__html__`` again): a page escapes 300-700
    values, and the two calls were ~9 % of a list page's CPU under load (issue 44)."""
    if type(value) is str:
        return _as_markup(Markup, _escape_text(value))
    if type(value) is Markup:  # already safe (a macro's output, a kept part)
        return value
    if type(value) is int:
        return _as_markup(Markup, str(value))
    html = getattr(value, "__html__", None)
    if html is not None:
        return Markup(html())  # noqa: S704 (the object's own safe text, as escape does)
    return _as_markup(Markup, _escape_text(str(value)))


class _FastEscapeGenerator(CodeGenerator):
    """Jinja's code generator whose templates escape with :func:`fast_escape`: their
    module, which imports ``escape`` from ``jinja2.runtime``, binds the name again last."""

    def visit_Template(self, node: Any, frame: Any = None) -> None:
        super().visit_Template(node, frame)
        self.writeline("from jcjg.core.templating import fast_escape as escape")


# The parts of every page's frame drawn (``frame_part``), by template, menu and page entry
_FRAME: dict[tuple[str, Any, Any], Markup] = {}
_FRAME_KEPT = 4096  # parts a process keeps (then drawn afresh)


def _frame_part(name: str, menu: domains.Menu, current: domains.NavEntry | None) -> Markup:
    """``{{ frame_part('partials/sidenav.html', nav_menu, nav_current) }}``: a part of the
    frame (the menu, the phone's bottom bar) drawn from the reader's menu
    (``domains.menu_for``: one per role and permissions) and the page's entry alone, once,
    then kept: it was a few milliseconds of every page's CPU (its ~60 entries escaped and
    compared with the page's entry), the same answer for every page of that entry."""
    key = (name, menu, current)
    part = _FRAME.get(key)
    if part is None:
        drawn = (
            templates()
            .get_template(name)
            .render(nav=menu.nav, nav_bar=menu.bar, nav_current=current)
        )
        part = Markup(drawn)  # noqa: S704 (drawn by an autoescaping template)
        if templates().env.auto_reload:  # developing: the template may change meanwhile
            return part
        if len(_FRAME) >= _FRAME_KEPT:
            _FRAME.clear()
        _FRAME[key] = part
    return part


# A filter's <option>s drawn (``options``): by the id of the list of choices and the choice,
# beside that list (kept alive here, so its id names it while it is kept)
_OPTIONS: dict[tuple[int, str], tuple[Sequence[Any], Markup]] = {}
_OPTIONS_KEPT = 1024
_OPTION = Markup('<option value="{}" {}>{}</option>')
_SELECTED = Markup("selected")


def _options(choices: Sequence[Any], chosen: Any = "") -> Markup:
    """``{{ options(projects, filters.project_id) }}``: the ``<option>`` of each (value, name)
    of a filter's ``choices``, the one whose value reads as ``chosen`` selected. Drawn once per
    list and choice while the list is the same object, then kept: the lists a page keeps per
    scope (``core.memo``: the alert list's institutions and projects, hundreds of options on
    every visit) are drawn once; a list made afresh each time is drawn each time."""
    chosen = "" if chosen is None else str(chosen)
    key = (id(choices), chosen)
    found = _OPTIONS.get(key)
    if found is not None and found[0] is choices:
        return found[1]
    drawn = Markup("").join(
        _OPTION.format(value, _SELECTED if str(value) == chosen else "", name)
        for value, name in choices
    )
    if len(_OPTIONS) >= _OPTIONS_KEPT:
        _OPTIONS.clear()
    _OPTIONS[key] = (choices, drawn)
    return drawn


def _developing() -> bool:
    from jcjg.config import get_settings

    return get_settings().env == "dev"


def _localtime(value: dt.datetime | str | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A time in the platform's zone; also an ISO 8601 string with its offset (kept in JSON)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
        if parsed.tzinfo is None:
            return parsed.strftime(fmt)  # no zone given: not ours to guess
        value = parsed
    from jcjg.config import get_settings

    local = value.astimezone(get_settings().tz)
    cut = _ISO_CUTS.get(fmt)
    if cut is None or (cut[1] == 0 and local.year < 1000):  # %Y writes no leading zeros
        return local.strftime(fmt)
    timespec, start, end = cut
    return local.isoformat(" ", timespec)[start:end]


# The pages' usual formats, cut from the ISO form (what strftime writes, at half its cost: a list
# writes two or three times a row, issue 44): the ISO form's precision, where the text begins
# and ends in ``YYYY-MM-DD HH:MM:SS``
_ISO_CUTS = {
    "%Y-%m-%d %H:%M:%S": ("seconds", 0, 19),
    "%Y-%m-%d %H:%M": ("minutes", 0, 16),
    "%Y-%m-%d": ("minutes", 0, 10),
    "%m-%d %H:%M": ("minutes", 5, 16),
    "%H:%M:%S": ("seconds", 11, 19),
    "%H:%M": ("minutes", 11, 16),
}


def _label(kind: str, value: Any) -> str:
    """The Chinese label of an identifier of ``kind`` (``label('role', u.role)``;
    ``core.labels``)."""
    return labels.label(kind, value)


def _shown(value: Any, column: str) -> str:
    """``{{ v|shown('role') }}``: a stored value in words (``core.labels.shown``); a time with
    its offset in the platform's zone."""
    if isinstance(value, str) and _ISO_TIME.fullmatch(value):
        return _localtime(value)
    return labels.shown(column, value)


def _label_filter(value: Any, kind: str) -> str:
    """``{{ alert.rule_id|label('rule') }}``."""
    return labels.label(kind, value)


def _hooked_context(request: Request | None) -> dict[str, Any]:
    ctx: dict[str, Any] = {}
    for hook in domains.hooks("templates.context"):
        ctx.update(hook(request))
    return ctx


@dataclass(frozen=True)
class Panel:
    """A section another domain adds to a page (one answer of the page's panels hook): the
    template that draws it and what that template needs; sections are shown by ``order``."""

    template: str
    context: Mapping[str, Any]
    order: int = 100


@dataclass(frozen=True)
class Column:
    """A column another domain adds to a list (one answer of the list's columns hook): its
    title and each row's cell by row id (a row with no cell shows "—")."""

    title: str
    cells: Mapping[int, Markup | str]
    order: int = 100


class Ordered(Protocol):
    """What a hook answers with: anything that says where it goes among the others."""

    @property
    def order(self) -> int: ...


Contribution = TypeVar("Contribution", bound=Ordered)


def contributions(hook: str, kind: type[Contribution], *args: Any) -> list[Contribution]:
    """What the installed domains add under ``hook`` (each returns an iterable of ``kind``: a
    panel, a column, a dossier's part ...), in order:
    ``contributions("projects.panels", Panel, db, principal, project)``."""
    found = [item for fn in domains.hooks(hook) for item in fn(*args)]
    for item in found:
        if not isinstance(item, kind):
            raise TypeError(f"hook {hook!r} answered {item!r}, not a {kind.__name__}")
    return sorted(found, key=lambda item: item.order)


def render_panels(request: Request, panels: list[Panel]) -> list[Markup]:
    """Each panel drawn by its template, with what every page knows besides its own context."""
    base = _base_context(request)[0]
    return [
        Markup(templates().get_template(p.template).render({**base, **p.context}))  # noqa: S704
        for p in panels
    ]


def _csrf_field(token: str | None) -> Markup:
    return Markup('<input type="hidden" name="csrf_token" value="{}">').format(escape(token or ""))


def page_csrf_token(request: Request) -> tuple[str, bool]:
    """The token a form on this page must send back, and whether a new anonymous cookie is due.

    Logged-in pages use the session's token; anonymous forms (login) use a double-submit cookie.
    """
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.csrf_token:
        return principal.csrf_token, False
    cookie = request.cookies.get(request.app.state.settings.csrf_cookie)
    if cookie:
        return cookie, False
    return secrets.token_urlsafe(32), True


def _base_context(request: Request) -> tuple[dict[str, Any], str, bool]:
    """What every page's template gets, the page's CSRF token and whether its cookie is due.
    A page drawn to be shared by its scope's readers (:mod:`jcjg.core.pagecache`) gets its
    reader with stand-ins for their name and token, and a stand-in for the request's id."""
    drawing: pagecache.Drawing | None = getattr(request.state, "shared_page", None)
    if drawing is not None:
        state = request.state
        principal = getattr(state, "principal", None)
        request_id = getattr(state, "request_id", "")
        state.principal, state.request_id = drawing.reader.stand_in, pagecache.REQUEST_ID_STAND_IN
        try:
            return _base_context_of(request)
        finally:
            state.principal, state.request_id = principal, request_id
    return _base_context_of(request)


def _base_context_of(request: Request) -> tuple[dict[str, Any], str, bool]:
    token, new_cookie = page_csrf_token(request)
    ctx: dict[str, Any] = {
        **_hooked_context(request),
        "settings": request.app.state.settings,
        "csrf_token": token,
        "request_id": getattr(request.state, "request_id", ""),
    }
    return ctx, token, new_cookie


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render template ``name`` with the principal, settings and the page's CSRF token."""
    settings = request.app.state.settings
    ctx, token, new_cookie = _base_context(request)
    ctx.update(context or {})
    response = templates().TemplateResponse(request, name, ctx, status_code=status_code)
    if new_cookie:
        response.set_cookie(
            settings.csrf_cookie,
            token,
            httponly=True,
            samesite="strict",
            secure=settings.https,
            path="/",
        )
    return response


def wants_fragment(request: Request) -> bool:
    """Whether htmx asks for a part of a page: an htmx request, but not one restoring a page of
    its history (that wants the whole page)."""
    headers = request.headers
    return (
        headers.get("hx-request") == "true"
        and headers.get("hx-history-restore-request") != "true"
        and headers.get("hx-boosted") != "true"
    )


def render_list(
    request: Request,
    page: str,
    context: dict[str, Any],
    *,
    results: str,
    filters: str | None = None,
) -> HTMLResponse:
    """A list page that reloads only its results (``templates/macros/lists.html``): the whole
    ``page`` (which includes the partials ``results`` and ``filters``), or, to an htmx request
    from its filter form or pager, the results alone with the filter form out of band. The
    answer varies on ``HX-Request``, so a cache never gives one for the other."""
    if wants_fragment(request):
        parts = {"results_template": results, "filters_template": filters}
        response = render(request, "partials/list_fragment.html", context | parts)
    else:
        response = render(request, page, context)
    response.headers.add_vary_header("HX-Request")
    return response


def render_shared(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """Render a page that is the same for every anonymous visitor (no CSRF token or cookie,
    no request id in it), so the one answer may be kept and given again."""
    ctx: dict[str, Any] = {
        **_hooked_context(None),
        "settings": request.app.state.settings,
        "csrf_token": "",
        "request_id": "",
        **context,
    }
    return HTMLResponse(templates().get_template(name).render(ctx), status_code=status_code)


def render_error(request: Request, error: AppError) -> Response:
    """Browsers: to the login page when not logged in, to the password page when it expired,
    otherwise a friendly Chinese error page with the right status."""
    if isinstance(error, Unauthenticated) and request.method == "GET":
        target = request.url.path
        settings = getattr(request.app.state, "settings", None)
        cookie = getattr(settings, "session_cookie", "jcjg_session")
        if target == "/" and not request.url.query and cookie not in request.cookies:
            # a visitor (no session, not one that lapsed) is met by the public portal
            return RedirectResponse(domains.PUBLIC_HOME, status_code=303)
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
    if isinstance(error, PasswordExpired) and request.method == "GET":
        return RedirectResponse("/account/password?expired=1", status_code=303)
    context = {"error": error, "show_request_id": True}  # what a reader reports the problem by
    return render(request, "error.html", context, status_code=error.status)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="/")


def redirect(url: str) -> RedirectResponse:
    """After a successful form post: see the result with GET (303)."""
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect), of one line without
    controls (a ``Location`` header)."""
    if (
        value
        and value.startswith("/")
        and not value.startswith("//")
        and "\\" not in value
        and text.problem(value) is None
    ):
        return value
    return "/"
