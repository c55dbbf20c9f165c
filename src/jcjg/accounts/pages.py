"""HTML pages: login, logout, own account (password, second factor, API tokens), and the
administration of users and roles."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

import segno
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.accounts import captcha, logincode, service
from jcjg.accounts.lists import USERS
from jcjg.accounts.schemas import UserCreate, UserUpdate
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_denial, record_event
from jcjg.auth import sessions
from jcjg.auth.choices import Role
from jcjg.auth.deps import CSRF_FIELD, requires
from jcjg.auth.models import User, UserSession
from jcjg.auth.permissions import ASSIGNABLE_ROLES, OFFICERS, default_grants, permissions
from jcjg.auth.scopes import Principal, restrict
from jcjg.config import Settings
from jcjg.core import listing, text
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute, audit_context, client_ip
from jcjg.core.domains import landing_for
from jcjg.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    CsrfFailed,
    FieldError,
    NotFound,
    Unauthenticated,
    ValidationFailed,
    errors_by_field,
    field_errors_from_pydantic,
)
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render, safe_next
from jcjg.core.text import text_fields
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)

Public = Annotated[Principal, Depends(requires(None))]
AccountUser = Annotated[Principal, Depends(requires("account:manage", allow_expired=True))]


def _check_anonymous_csrf(request: Request, token: str) -> None:
    """Login forms have no session yet: the hidden field must match the CSRF cookie."""
    cookie = request.cookies.get(request.app.state.settings.csrf_cookie)
    if not sessions.constant_time_equal(cookie, token):
        raise CsrfFailed()


def _set_session_cookie(response: Response, request: Request, token: str) -> None:
    settings = request.app.state.settings
    response.set_cookie(
        settings.session_cookie,
        token,
        httponly=True,
        samesite="lax",
        secure=settings.https,
        path="/",
        max_age=settings.session_max_hours * 3600,
    )


# --- login and logout --------------------------------------------------------------------------


def _captcha(request: Request, db: Session, settings: Settings) -> dict[str, str]:
    """The login form's captcha, when this address must answer one (``accounts.captcha``)."""
    if not captcha.required(db, settings, client_ip(request), utcnow()):
        return {}
    return {"captcha_token": captcha.issue(settings)}


@router.get("/login", response_class=HTMLResponse)
def login_form(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    if not principal.is_anonymous:
        return redirect(safe_next(next))
    context = {"next": safe_next(next), **_captcha(request, db, settings)}
    return render(request, "auth/login.html", context)


@router.get("/login/captcha")
def captcha_picture(
    settings: SettingsDep,
    principal: Public,
    t: Annotated[str, Query(max_length=captcha.TOKEN_MAX)] = "",
) -> Response:
    """The picture of a login captcha (PNG, never cached); 404 for an expired or forged one."""
    png = captcha.picture(settings, t)
    if png is None:
        raise NotFound("验证码已失效，请刷新登录页")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/login", response_class=HTMLResponse)
@text_fields(own=("username", "password"))  # a name with controls is a failed login: no oracle
def login(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
    captcha_token: Annotated[str, Form(max_length=captcha.TOKEN_MAX)] = "",
    answer: Annotated[str, Form(alias="captcha", max_length=16)] = "",
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    target = safe_next(next)
    factory = request.app.state.sessionmaker
    if captcha.required(db, settings, client_ip(request), utcnow()) and not captcha.passes(
        db, settings, captcha_token, answer
    ):  # refused before the password is looked at: a failure of the address, not an account's
        detail = f"验证码错误或已失效（用户名 {text.printable(username)[:64]}）"
        record_event(db, AuditAction.LOGIN_FAILED, detail=detail)
        context = {
            "captcha_error": "验证码不正确或已失效，请按图片重新输入。",
            "username": username,
            "next": target,
            **_captcha(request, db, settings),
        }
        return render(request, "auth/login.html", context, status_code=422)
    checked = service.check_password(
        factory, username, password, settings=settings, ip=client_ip(request)
    )
    try:
        user = service.authenticate(
            db=db, settings=settings, username=username, password=password, checked=checked
        )
    except service.LoginThrottled as error:  # audited once a minute per address, then counted
        record_denial(
            factory,
            AuditAction.LOGIN_THROTTLED,
            context=audit_context(request),
            route="POST /login",
            detail=f"{error.detail}（用户名 {text.printable(username)[:64]}）",
        )
        context = {"error": error.detail, "username": username, "next": target}
        refused = render(request, "auth/login.html", context, status_code=error.status)
        refused.headers.update(error.headers)
        return refused
    except AppError as error:
        # The failure count and its audit row are kept: this response commits.
        context = {"error": error.detail, "username": username, "next": target,
                   **_captcha(request, db, settings)}  # fmt: skip
        return render(request, "auth/login.html", context, status_code=error.status)
    landing = landing_for(user.role)
    if target == "/" and landing is not None:  # nothing asked for: the role's own work
        target = landing.href
    by_code = not user.totp_enabled and bool(user.login_code_channel)
    token, session = sessions.create_session(
        db=db,
        user=user,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        pending_totp=user.totp_enabled or by_code,
    )
    if user.totp_enabled:
        response = redirect(f"/login/totp?next={target}")
    elif by_code:
        try:
            logincode.send(db, settings, session, user)
        except logincode.NotSent as error:  # no way in without the code: the session ends
            sessions.end_session(db=db, session_id=session.id)
            context = {"error": str(error), "username": username, "next": target}
            return render(request, "auth/login.html", context, status_code=503)
        response = redirect(f"/login/code?next={quote(target)}")
    else:
        sessions.principal_for(db=db, user=user, settings=settings)
        record_event(db, AuditAction.LOGIN, obj=user, detail="密码登录")
        response = redirect(target)
    _set_session_cookie(response, request, token)
    return response


def _pending_session(request: Request, db: SessionDep, settings: SettingsDep) -> UserSession:
    cookie = request.cookies.get(settings.session_cookie)
    session = sessions.load_session(db=db, settings=settings, token=cookie) if cookie else None
    if session is None or not session.pending_totp:
        raise Unauthenticated("登录已失效，请重新输入用户名和密码")
    return session


@router.get("/login/totp", response_class=HTMLResponse)
def totp_form(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    next: str | None = None,
) -> Response:
    _pending_session(request, db, settings)
    return render(request, "auth/login_totp.html", {"next": safe_next(next)})


@router.post("/login/totp", response_class=HTMLResponse)
@text_fields(own=("code",))  # any code that is not the right one is a wrong code
def totp_login(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    code: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    session = _pending_session(request, db, settings)
    user = db.get(User, session.user_id)
    assert user is not None
    passed = service.totp_login(db=db, settings=settings, user=user, code=code)
    return _second_step(
        request, db, settings, session, user, passed, next, "密码 + 动态验证码登录",
        retry=lambda: render(request, "auth/login_totp.html",
                             {"error": "动态验证码不正确", "next": safe_next(next)},
                             status_code=401),
    )  # fmt: skip


def _second_step(
    request: Request,
    db: Session,
    settings: Settings,
    session: UserSession,
    user: User,
    passed: bool,
    next: str,
    detail: str,
    retry: Callable[[], Response],
) -> Response:
    """The end of a login's second step (the app's code or the sent one): logged in when the
    code ``passed``; else the account locked (the session ended) or ``retry`` shown."""
    if not passed:
        if sessions.is_locked(user):
            sessions.end_session(db=db, session_id=session.id)
            context = {"error": "验证码错误次数过多，账号已锁定"}
            return render(request, "auth/login.html", context, status_code=423)
        return retry()
    session.pending_totp = False
    sessions.principal_for(db=db, user=user, settings=settings)
    record_event(db, AuditAction.LOGIN, obj=user, detail=detail)
    return redirect(safe_next(next))


def _code_page(
    request: Request,
    user: User,
    session: UserSession,
    next: str,
    error: str = "",
    status: int = 200,
) -> Response:
    context = {
        "next": safe_next(next),
        "error": error,
        "to": logincode.shown_address(user),
        "channel": logincode.CHANNELS.get(user.login_code_channel or "", ""),
        "wait": logincode.wait_before_resend(session),
    }
    return render(request, "auth/login_code.html", context, status_code=status)


def _pending_for_code(
    request: Request, db: Session, settings: Settings
) -> tuple[UserSession, User]:
    session = _pending_session(request, db, settings)
    user = db.get(User, session.user_id)
    if user is None or user.totp_enabled or not user.login_code_channel:
        raise Unauthenticated("登录已失效，请重新输入用户名和密码")
    return session, user


@router.get("/login/code", response_class=HTMLResponse)
def code_form(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    next: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    session, user = _pending_for_code(request, db, settings)
    return _code_page(request, user, session, next or "/")


@router.post("/login/code", response_class=HTMLResponse)
@text_fields(own=("code",))  # any code that is not the right one is a wrong code
def code_login(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    code: Annotated[str, Form(max_length=16)] = "",
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    session, user = _pending_for_code(request, db, settings)
    passed = logincode.check(db, settings, session, user, code)
    channel = logincode.CHANNELS[user.login_code_channel or "sms"]
    error = "验证码不正确或已过期，可重新发送"
    return _second_step(
        request,
        db,
        settings,
        session,
        user,
        passed,
        next,
        f"密码 + {channel}验证码登录",
        retry=lambda: _code_page(request, user, session, next, error=error, status=401),
    )


@router.post("/login/code/resend", response_class=HTMLResponse)
def code_resend(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    csrf_token: Annotated[str, Form(alias=CSRF_FIELD, max_length=128)] = "",
    next: Annotated[str, Form(max_length=500)] = "/",
) -> Response:
    _check_anonymous_csrf(request, csrf_token)
    session, user = _pending_for_code(request, db, settings)
    wait = logincode.wait_before_resend(session)
    if wait:
        return _code_page(
            request, user, session, next, error=f"请 {wait} 秒后再重新发送", status=429
        )
    try:
        logincode.send(db, settings, session, user)
    except logincode.NotSent as error:
        return _code_page(request, user, session, next, error=str(error), status=503)
    return redirect(f"/login/code?next={quote(safe_next(next))}&sent=1")


@router.post("/logout")
def logout(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(requires("home:view", allow_expired=True))],
) -> Response:
    if principal.session_id is not None:
        sessions.end_session(db=db, session_id=principal.session_id)
        user = db.get(User, principal.user_id)
        record_event(db, AuditAction.LOGOUT, obj=user)
    response = redirect("/login?logged_out=1")
    response.delete_cookie(settings.session_cookie, path="/")
    return response


# --- own account -------------------------------------------------------------------------------


@router.get("/account/password", response_class=HTMLResponse)
def password_form(request: Request, principal: AccountUser, expired: int = 0) -> Response:
    return render(request, "auth/password.html", {"expired": expired or principal.password_expired})


@router.post("/account/password", response_class=HTMLResponse)
def password_change(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: AccountUser,
    old_password: Annotated[str, Form(max_length=128)] = "",
    new_password: Annotated[str, Form(max_length=128)] = "",
    new_password2: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        if new_password != new_password2:
            raise ValidationFailed(
                "两次输入的新密码不一致",
                errors=[FieldError("new_password2", "两次输入的新密码不一致", "mismatch")],
            )
        service.change_password(
            db=db,
            settings=settings,
            principal=principal,
            old_password=old_password,
            new_password=new_password,
        )
    except ValidationFailed as error:
        db.rollback()
        context = {
            "error": error.detail,
            "errors": errors_by_field(error.errors),
            "expired": principal.password_expired,
        }
        return render(request, "auth/password.html", context, status_code=422)
    return redirect("/?password_changed=1")


def _code_context(user: User | None) -> dict[str, Any]:
    """The login code's part of /account/totp: whether the account may choose it, and where
    each channel would send (masked)."""
    if user is None or not logincode.eligible(user):
        return {"code_eligible": False, "code_errors": {}}
    return {
        "code_eligible": True,
        "code_errors": {},
        "code_channels": logincode.CHANNELS,
        "code_to": {c: logincode.shown_address(user, c) for c in logincode.CHANNELS},
    }


@router.get("/account/totp", response_class=HTMLResponse)
def totp_page(request: Request, db: SessionDep, principal: AccountUser) -> Response:
    user = db.get(User, principal.user_id)
    return render(request, "auth/totp.html", {"user": user, **_code_context(user)})


@router.post("/account/login-code", response_class=HTMLResponse)
@text_fields(own=("password",))
def login_code_choose(
    request: Request,
    db: SessionDep,
    principal: AccountUser,
    channel: Annotated[str, Form(max_length=8)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    user = db.get(User, principal.user_id)
    assert user is not None
    try:
        logincode.choose(db, user, channel, password)
    except ValidationFailed as error:
        db.rollback()
        user = db.get(User, principal.user_id)
        context = {**_code_context(user), "user": user,
                   "code_errors": errors_by_field(error.errors)}  # fmt: skip
        return render(request, "auth/totp.html", context, status_code=422)
    return redirect("/account/totp?code=" + ("on" if channel else "off"))


@router.post("/account/totp/begin", response_class=HTMLResponse)
def totp_begin(
    request: Request, db: SessionDep, settings: SettingsDep, principal: AccountUser
) -> Response:
    secret, uri = service.totp_begin(db=db, principal=principal, settings=settings)
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(
        buffer, kind="svg", scale=5, xmldecl=False, svgns=True
    )
    user = db.get(User, principal.user_id)
    context = {"user": user, "secret": secret, "uri": uri, "qr_svg": buffer.getvalue().decode()}
    return render(request, "auth/totp.html", context)


@router.post("/account/totp/confirm", response_class=HTMLResponse)
def totp_confirm(
    request: Request,
    db: SessionDep,
    principal: AccountUser,
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        service.totp_confirm(db=db, principal=principal, code=code)
    except ValidationFailed as error:
        user = db.get(User, principal.user_id)
        context = {"user": user, "error": error.errors[0].message}
        return render(request, "auth/totp.html", context, status_code=422)
    return redirect("/account/totp?enabled=1")


@router.post("/account/totp/disable", response_class=HTMLResponse)
def totp_disable(
    request: Request,
    db: SessionDep,
    principal: AccountUser,
    password: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    try:
        service.totp_disable(db=db, principal=principal, password=password)
    except ValidationFailed as error:
        user = db.get(User, principal.user_id)
        context = {"user": user, "error": error.errors[0].message}
        return render(request, "auth/totp.html", context, status_code=422)
    return redirect("/account/totp?disabled=1")


@router.get("/account/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, db: SessionDep, principal: AccountUser) -> Response:
    tokens = service.list_api_tokens(db=db, principal=principal)
    return render(request, "auth/tokens.html", {"tokens": tokens})


@router.post("/account/tokens", response_class=HTMLResponse)
def tokens_create(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: AccountUser,
    name: Annotated[str, Form(min_length=1, max_length=64)],
) -> Response:
    user = db.get(User, principal.user_id)
    assert user is not None
    token, _ = sessions.create_api_token(db=db, settings=settings, user=user, name=name.strip())
    tokens = service.list_api_tokens(db=db, principal=principal)
    return render(request, "auth/tokens.html", {"tokens": tokens, "new_token": token})


@router.post("/account/tokens/{token_id}/revoke")
def tokens_revoke(token_id: Id, db: SessionDep, principal: AccountUser) -> Response:
    service.revoke_api_token(db=db, principal=principal, token_id=token_id)
    return redirect("/account/tokens")


# --- user administration -----------------------------------------------------------------------


def _institutions_for(db: SessionDep, principal: Principal) -> list[Institution]:
    if not principal.can("institution:read"):
        return []
    stmt = restrict(select(Institution), principal, "read").order_by(Institution.code)
    return list(db.scalars(stmt))


def _user_form_context(db: SessionDep, principal: Principal, **extra: Any) -> dict[str, Any]:
    assert principal.role is not None
    roles = [r for r in Role if r in ASSIGNABLE_ROLES.get(principal.role, frozenset())]
    return {"roles": roles, "institutions": _institutions_for(db, principal), **extra}


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("user:read"))],
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str | None, Query(max_length=64)] = None,
    role: Role | None = None,
) -> Response:
    """The accounts within scope, filtered and sorted; ``?format=xlsx`` exports them (phone
    and e-mail masked)."""
    stmt = service.users_stmt(principal=principal, q=q, role=role)
    if params.exporting:
        return listing.export(request, db, USERS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, USERS.order_for(params))
    context = {
        "users": paged.rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, USERS, params),
        "places": regions.display_names(db=db, codes=(u.region_code for u in paged.rows)),
        "q": q or "",
        "role": role,
        "roles": list(Role),
    }
    return render(request, "auth/users.html", context)


@router.get("/admin/users/new", response_class=HTMLResponse)
def user_new(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("user:create"))],
) -> Response:
    return render(
        request, "auth/user_form.html", _user_form_context(db, principal, values={}, errors={})
    )


@router.post("/admin/users", response_class=HTMLResponse)
def user_create(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(requires("user:create"))],
    form: PostedForm,
) -> Response:
    values = form.values()
    raw: dict[str, Any] = {k: v for k, v in values.items() if v != ""}
    if "project_ids" in raw:
        raw["project_ids"] = [
            p for p in raw["project_ids"].replace("，", ",").split(",") if p.strip()
        ]
    try:
        data = UserCreate.model_validate(raw)
        user, generated = service.create_user(
            db=db, settings=settings, principal=principal, data=data
        )
    except ValidationError as exc:
        errors = errors_by_field(field_errors_from_pydantic(exc.errors()))
        context = _user_form_context(db, principal, values=values, errors=errors)
        return render(request, "auth/user_form.html", context, status_code=422)
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        context = _user_form_context(
            db, principal, values=values, errors=errors_by_field(error.errors), error=error.on_page
        )
        return render(request, "auth/user_form.html", context, status_code=error.status)
    return render(request, "auth/user_created.html", {"user": user, "password": generated})


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_detail(
    request: Request,
    user_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("user:read"))],
) -> Response:
    user = service.get_user(db=db, principal=principal, user_id=user_id)
    institution = db.get(Institution, user.institution_id) if user.institution_id else None
    return render(
        request,
        "auth/user_detail.html",
        {
            "user": user,
            "institution": institution,
            "locked": sessions.is_locked(user),
            "contact": None,
        },
    )


@router.post("/admin/users/{user_id}/contact", response_class=HTMLResponse)
def user_contact(
    request: Request,
    user_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("personal_data:unmask"))],
) -> Response:
    contact = service.unmasked_contact(db=db, principal=principal, user_id=user_id)
    user = service.get_user(db=db, principal=principal, user_id=user_id)
    institution = db.get(Institution, user.institution_id) if user.institution_id else None
    return render(
        request,
        "auth/user_detail.html",
        {
            "user": user,
            "institution": institution,
            "locked": sessions.is_locked(user),
            "contact": contact,
        },
    )


@router.get("/admin/users/{user_id}/edit", response_class=HTMLResponse)
def user_edit(
    request: Request,
    user_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("user:update"))],
) -> Response:
    user = service.get_managed_user(db=db, principal=principal, user_id=user_id)
    # Contact data is never put in clear into the form: the fields start empty, show the masked
    # value, and an empty field leaves the stored value unchanged.
    values = {
        "display_name": user.display_name,
        "project_ids": ",".join(str(p.project_id) for p in user.projects),
    }
    return render(request, "auth/user_edit.html", {"user": user, "values": values, "errors": {}})


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def user_update(
    request: Request,
    user_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("user:update"))],
    form: PostedForm,
) -> Response:
    user = service.get_managed_user(db=db, principal=principal, user_id=user_id)
    values = form.values()
    raw: dict[str, Any] = {
        "display_name": values.get("display_name") or None,
        "is_active": values.get("is_active") == "on",
    }
    for field in ("phone", "email"):  # empty: unchanged (the form never shows them in clear)
        if values.get(field):
            raw[field] = values[field]
    if Role(user.role) in OFFICERS:  # shown in clear: empty clears it
        raw["enforcement_card"] = values.get("enforcement_card") or None
    if Role(user.role).scope_kind.value == "project":
        ids = values.get("project_ids", "").replace("，", ",")
        raw["project_ids"] = [p for p in ids.split(",") if p.strip()]
    try:
        data = UserUpdate.model_validate(raw)
        service.update_user(db=db, principal=principal, user_id=user_id, data=data)
    except ValidationError as exc:
        errors = errors_by_field(field_errors_from_pydantic(exc.errors()))
        return render(
            request,
            "auth/user_edit.html",
            {"user": user, "values": values, "errors": errors},
            status_code=422,
        )
    except (ValidationFailed, BadRequest) as error:
        db.rollback()
        context = {
            "user": user,
            "values": values,
            "errors": errors_by_field(error.errors),
            "error": error.detail,
        }
        return render(request, "auth/user_edit.html", context, status_code=error.status)
    return redirect(f"/admin/users/{user_id}?saved=1")


@router.post("/admin/users/{user_id}/lock")
def user_lock(
    user_id: Id, db: SessionDep, principal: Annotated[Principal, Depends(requires("user:update"))]
) -> Response:
    service.lock_user(db=db, principal=principal, user_id=user_id)
    return redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/unlock")
def user_unlock(
    user_id: Id, db: SessionDep, principal: Annotated[Principal, Depends(requires("user:update"))]
) -> Response:
    service.unlock_user(db=db, principal=principal, user_id=user_id)
    return redirect(f"/admin/users/{user_id}")


@router.post("/admin/users/{user_id}/reset-password", response_class=HTMLResponse)
def user_reset_password(
    request: Request,
    user_id: Id,
    db: SessionDep,
    settings: SettingsDep,
    principal: Annotated[Principal, Depends(requires("user:update"))],
) -> Response:
    user, password = service.reset_password(
        db=db, settings=settings, principal=principal, user_id=user_id
    )
    return render(
        request, "auth/user_created.html", {"user": user, "password": password, "reset": True}
    )


# --- roles -------------------------------------------------------------------------------------


@router.get("/admin/roles", response_class=HTMLResponse)
def roles_page(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("role:read"))],
) -> Response:
    matrix = {role: sessions.effective_permissions(db=db, role=role) for role in Role}
    context = {
        "roles": list(Role),
        "permissions": permissions(),
        "matrix": matrix,
        "defaults": default_grants(),
    }
    return render(request, "auth/roles.html", context)


@router.post("/admin/roles")
def roles_update(
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("role:update"))],
    role: Annotated[Role, Form()],
    permission: Annotated[str, Form(max_length=64)],
    granted: Annotated[str, Form(pattern="^(0|1)$")],
) -> Response:
    service.set_grant(db=db, role=role, permission=permission, granted=granted == "1")
    return redirect("/admin/roles?saved=1")
