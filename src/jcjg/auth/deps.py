"""Who is asking, and may they: the principal of a request and the permission dependency."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from jcjg.auth.models import User
from jcjg.auth.scopes import ANONYMOUS, Principal
from jcjg.auth.sessions import (
    PRINCIPALS,
    audit_as,
    constant_time_equal,
    is_locked,
    load_api_token,
    load_session,
    principal_for,
    token_digest,
)
from jcjg.config import Settings
from jcjg.core import pagecache
from jcjg.core.deps import SAFE_METHODS, get_db, get_settings_dep
from jcjg.core.errors import (
    CSRF,
    FORBIDDEN,
    PASSWORD_EXPIRED,
    UNAUTHENTICATED,
    CsrfFailed,
    PasswordExpired,
    ProblemType,
    Unauthenticated,
)
from jcjg.core.forms import CSRF_FIELD as CSRF_FIELD  # re-exported for the pages
from jcjg.core.openapi import Contract

CSRF_HEADER = "x-csrf-token"
# The names of the security schemes of the OpenAPI document (security_schemes below)
BEARER = "bearerToken"
SESSION = "sessionCookie"
CSRF_SCHEME = "csrfHeader"


def security_schemes(settings: Settings) -> dict[str, dict[str, str]]:
    """How the JSON API authenticates, as OpenAPI security schemes (hook
    ``openapi.security_schemes``)."""
    return {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "jcjg_<随机串>",
            "description": "访问令牌：登录后在“访问令牌”页面（/account/tokens）申请，"
            "只显示一次；以 `Authorization: Bearer <令牌>` 调用 /api/ 接口。令牌不能打开页面，"
            "也不能申请新令牌；过期、吊销或账号停用、锁定后答 401。",
        },
        SESSION: {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.session_cookie,
            "description": "浏览器登录（/login）后的会话 Cookie。以 Cookie 认证的写操作"
            "（POST、PUT、PATCH、DELETE）还须带会话的防伪令牌（csrfHeader）。",
        },
        CSRF_SCHEME: {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRF-Token",
            "description": "会话的防伪令牌（CSRF），与会话 Cookie 一起用于写操作；"
            '其值见已登录页面的 `<meta name="csrf-token">`。缺少或不符答 403 `/problems/csrf`。',
        },
    }


async def get_principal(
    request: Request,
    db: Annotated[Session, Depends(get_db)],
    settings: Annotated[Settings, Depends(get_settings_dep)],
) -> Principal:
    """The request's principal: from a bearer token, a session cookie, or the public.

    A session's principal kept from a request of the last seconds (``PRINCIPALS``) is given
    here, in the event loop; one that must be read from the database is read in the thread
    pool. Each hop to the pool costs a page about a tenth of a millisecond of CPU and a
    wake-up of a thread, and a page made three or four besides its endpoint's (issue 44)."""
    if not request.headers.get("authorization", ""):
        cookie = request.cookies.get(settings.session_cookie)
        if not cookie:
            return ANONYMOUS
        kept = PRINCIPALS.peek(token_digest(cookie))
        if isinstance(kept, Principal):
            audit_as(db, kept)
            request.state.principal = kept
            return kept
    principal = await run_in_threadpool(_read_principal, request, db, settings)
    if principal is not ANONYMOUS:
        request.state.principal = principal
    return principal


def _read_principal(request: Request, db: Session, settings: Settings) -> Principal:
    """The principal of a bearer token, or of a session cookie not kept (then kept)."""
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise Unauthenticated("Authorization 头格式应为 Bearer <令牌>")
        row = load_api_token(db=db, token=token.strip())
        user = db.get(User, row.user_id) if row else None
        if user is None or not user.is_active or is_locked(user):
            raise Unauthenticated("访问令牌无效、已过期或已吊销")
        return principal_for(db=db, user=user, settings=settings, via_token=True)
    cookie = request.cookies.get(settings.session_cookie, "")
    session = load_session(db=db, settings=settings, token=cookie)
    if session is None or session.pending_totp:
        return ANONYMOUS
    user = db.get(User, session.user_id)
    if user is None or not user.is_active or is_locked(user):
        return ANONYMOUS
    principal = principal_for(db=db, user=user, settings=settings, session=session)
    PRINCIPALS.put(token_digest(cookie), principal)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def shared_reader(request: Request) -> pagecache.Reader | None:
    """The reader of a page its scope shares (hook ``pages.reader``, :mod:`jcjg.core.pagecache`):
    the principal :func:`get_principal` finds in memory for the request's session cookie, or
    None when it would read the database, the request carries a token, or the account must
    change its password first."""
    if request.headers.get("authorization", ""):
        return None
    cookies = request.cookies
    cookie = cookies.get(request.app.state.settings.session_cookie)
    if not cookie:
        return None
    kept = PRINCIPALS.peek(token_digest(cookie))
    if not isinstance(kept, Principal) or kept.is_anonymous or not kept.csrf_token:
        return None
    if kept.via_token or kept.password_expired:
        return None
    return pagecache.Reader(
        key=kept.scope_key,
        principal=kept,
        # what the page is drawn for: no account's own name, token or id (0 is no account's)
        stand_in=replace(
            kept,
            display_name=pagecache.NAME_STAND_IN,
            csrf_token=pagecache.CSRF_STAND_IN,
            user_id=0,
            username="",
            session_id=None,
        ),
        name=kept.display_name,
        csrf_token=kept.csrf_token,
        fresh=pagecache.FRESH_COOKIE in cookies,
    )


async def csrf_token_of(request: Request) -> str | None:
    """The token a request carries: the ``X-CSRF-Token`` header or the form's hidden field."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def check_csrf(request: Request, principal: Principal) -> None:
    """Unsafe requests authenticated by cookie must carry the session's CSRF token."""
    if request.method in SAFE_METHODS or principal.session_id is None:
        return
    if not constant_time_equal(await csrf_token_of(request), principal.csrf_token):
        raise CsrfFailed()


class Requires:
    """Route dependency: the principal must hold ``permission`` (None: public route).

    The role x route matrix test reads ``permission`` from every route, so a route without a
    decision fails the suite.
    """

    def __init__(
        self, permission: str | None, *, allow_expired: bool = False, allow_token: bool = True
    ) -> None:
        self.permission = permission
        self.allow_expired = allow_expired
        self.allow_token = allow_token

    async def __call__(self, request: Request, principal: PrincipalDep) -> Principal:
        await check_csrf(request, principal)
        if self.permission is None:
            return principal
        if principal.is_anonymous:
            raise Unauthenticated()
        if principal.via_token and (
            not self.allow_token or not request.url.path.startswith("/api/")
        ):
            # A token is for programs calling the JSON API. It does not open the pages, and
            # it cannot mint more tokens: a leaked token can be revoked and stays revoked.
            raise Unauthenticated("访问令牌只能调用 /api/ 接口，且不能用于申请新令牌；请登录后操作")
        if principal.password_expired and not self.allow_expired:
            raise PasswordExpired()
        principal.require(self.permission)
        return principal

    def openapi_contract(self, method: str, path: str) -> Contract:
        """What this dependency adds to an operation of the OpenAPI document: the token or the
        session (with its CSRF header on unsafe methods) when a permission is needed, and the
        401/403 problems it may answer (:mod:`jcjg.core.openapi`)."""
        unsafe = method not in SAFE_METHODS
        csrf: tuple[ProblemType, ...] = (CSRF,) if unsafe else ()
        if self.permission is None:  # public; a token that is not valid is still refused
            refused = {401: (UNAUTHENTICATED,), 403: csrf} if unsafe else {401: (UNAUTHENTICATED,)}
            return Contract(security=(), statuses=refused)
        session: dict[str, list[str]] = {SESSION: [], CSRF_SCHEME: []} if unsafe else {SESSION: []}
        token = self.allow_token and path.startswith("/api/")
        expired = () if self.allow_expired else (PASSWORD_EXPIRED,)
        return Contract(
            security=({BEARER: []}, session) if token else (session,),
            statuses={401: (UNAUTHENTICATED,), 403: (FORBIDDEN, *expired, *csrf)},
        )

    def __repr__(self) -> str:
        return f"Requires({self.permission!r})"


def requires(
    permission: str | None, *, allow_expired: bool = False, allow_token: bool = True
) -> Requires:
    return Requires(permission, allow_expired=allow_expired, allow_token=allow_token)
