"""Accounts: users and their administration, logging in, passwords, API tokens, TOTP and role
grants, each change audited.

Keyword-only functions taking ``db``; they flush but never commit (the request commits once).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import math
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

import pyotp
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from jcjg.accounts.schemas import UserCreate, UserUpdate
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import recent_moments, record_event
from jcjg.auth.choices import Role, ScopeKind
from jcjg.auth.models import ApiToken, PasswordHistory, RoleGrant, User, UserProject
from jcjg.auth.passwords import (
    check_policy,
    generate_password,
    hash_password,
    needs_rehash,
    verify_password,
)
from jcjg.auth.permissions import ASSIGNABLE_ROLES, OFFICERS, default_grants, permissions
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.auth.sessions import (
    end_all_sessions,
    is_locked,
    revoke_all_tokens,
)
from jcjg.config import Settings
from jcjg.core import text
from jcjg.core.context import context_of
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    AppError,
    BadRequest,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from jcjg.core.later import reading_session
from jcjg.core.pagination import count_rows
from jcjg.core.ratelimit import TOO_MANY
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

BAD_CREDENTIALS = "用户名或密码错误，或账号已被临时锁定"


# --- permissions -------------------------------------------------------------------------------


def set_grant(*, db: Session, role: Role, permission: str, granted: bool) -> None:
    """Grant or withdraw ``permission`` for ``role``; back to default removes the override."""
    if permission not in permissions():
        raise BadRequest(f"未知权限 {permission}")
    if role is Role.PLATFORM_ADMIN and permission in {"role:update", "role:read"} and not granted:
        raise BadRequest("不能收回平台管理员的角色管理权限，否则无人能再修改权限")
    row = db.scalars(
        select(RoleGrant).where(RoleGrant.role == role.value, RoleGrant.permission == permission)
    ).first()
    default = permission in default_grants().get(role, frozenset())
    if granted == default:
        if row is not None:
            db.delete(row)
    elif row is None:
        db.add(RoleGrant(role=role.value, permission=permission, granted=granted))
    else:
        row.granted = granted
    db.flush()


# --- authentication ----------------------------------------------------------------------------


def check_password(
    factory: sessionmaker[Session],
    username: str,
    password: str,
    *,
    settings: Settings | None = None,
    ip: str | None = None,
) -> Checked:
    """The slow part of logging in, before its transaction: the account's password hash read
    (in a session that only reads) and the password checked against it, or against a dummy
    hash when there is no such account (the same work). :func:`authenticate` then holds the
    write lock only for its bookkeeping (on SQLite the lock is the database's; argon2 takes
    about 100 ms). An address that failed too often (``settings``, ``ip``) spends nothing:
    the password is not checked."""
    name = text.nfc(username.strip())
    found, wait = None, 0
    with reading_session(factory) as db:
        if settings is not None:
            wait = address_wait(db=db, settings=settings, ip=ip, now=utcnow())
        if not wait and text.problem(name) is None and text.problem(password) is None:
            found = db.scalar(select(User.password_hash).where(User.username == name))
    if wait:
        return Checked(None, False, wait)
    return Checked(found, verify_password(found or _dummy_hash(), password))


@dataclass(frozen=True)
class Checked:
    """A password checked against the hash an account had (None: no such account), or not
    checked because the address must wait ``wait`` seconds."""

    password_hash: str | None
    matches: bool
    wait: int = 0


class LoginThrottled(AppError):
    """Too many failed logins from one network address, whichever accounts they named."""

    kind = TOO_MANY

    def __init__(self, wait: int) -> None:
        minutes = max(1, math.ceil(wait / 60))
        super().__init__(
            f"该网络地址登录失败次数过多，请 {minutes} 分钟后再试",
            headers={"Retry-After": str(wait)},
        )


def address_wait(*, db: Session, settings: Settings, ip: str | None, now: dt.datetime) -> int:
    """Seconds before address ``ip`` may try to log in again: 0 unless it failed
    ``login_address_failures`` times within the window, over any accounts (password spraying
    tries one password at many accounts, each failure too few to lock one). Counted from the
    audit log, so every process of the platform sees the same count."""
    if not ip:
        return 0
    window = dt.timedelta(minutes=settings.login_address_window_minutes)
    limit = settings.login_address_failures
    moments = recent_moments(db, AuditAction.LOGIN_FAILED, ip=ip, since=now - window, limit=limit)
    if len(moments) < limit:
        return 0
    return max(1, math.ceil((moments[-1] + window - now).total_seconds()))


def authenticate(
    *,
    db: Session,
    settings: Settings,
    username: str,
    password: str,
    checked: Checked | None = None,
) -> User:
    """Check a username and password under the lockout policy (``checked``: the password
    already checked by :func:`check_password`, used while the account's hash is the same).

    Every failure (unknown name, wrong password, locked or disabled account) gets the same
    answer after the same work, so the answer tells nothing about which accounts exist or are
    locked; the audit trail records the real reason. Failures are counted and audited in the
    caller's transaction, which the login page commits even though the login failed.
    """
    now = utcnow()
    if checked is not None:
        wait = checked.wait
    else:
        wait = address_wait(db=db, settings=settings, ip=context_of(db).ip, now=now)
    if wait:  # refused before any work: not a failure of any account, and not counted
        raise LoginThrottled(wait)

    def same_work() -> None:  # what a failure costs, unless it was spent before
        if checked is None:
            verify_password(_dummy_hash(), password)

    # A name or password holding a character the text boundary refuses (NUL, controls ...) is
    # no account's: the same failure as an unknown name, and never a query with NUL in it.
    name = text.nfc(username.strip())
    if text.problem(name) is not None or text.problem(password) is not None:
        same_work()
        shown = text.printable(username)[:64]
        detail = f"用户名或密码含有不允许的字符（用户名 {shown}）"
        record_event(db, AuditAction.LOGIN_FAILED, detail=detail)
        raise Unauthenticated(BAD_CREDENTIALS)
    user = db.scalars(select(User).where(User.username == name)).first()
    if user is None:
        same_work()
        record_event(db, AuditAction.LOGIN_FAILED, detail=f"未知用户名 {username[:64]}")
        raise Unauthenticated(BAD_CREDENTIALS)
    if is_locked(user, now) or not user.is_active:
        same_work()
        reason = "账号已停用" if not user.is_active else "账号锁定期间尝试登录"
        record_event(db, AuditAction.LOGIN_FAILED, obj=user, detail=reason)
        raise Unauthenticated(BAD_CREDENTIALS)
    if checked is not None and checked.password_hash == user.password_hash:
        matches = checked.matches
    else:
        matches = verify_password(user.password_hash, password)
    if not matches:
        user.failed_logins += 1
        record_event(
            db, AuditAction.LOGIN_FAILED, obj=user, detail=f"第 {user.failed_logins} 次密码错误"
        )
        if user.failed_logins >= settings.lockout_threshold:
            lock_user_after_failures(db=db, settings=settings, user=user)
        db.flush()
        raise Unauthenticated(BAD_CREDENTIALS)
    ctx = context_of(db)  # from here on the user acts as themself
    ctx.user_id, ctx.username = user.id, user.username
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    db.flush()
    return user


def lock_user_after_failures(*, db: Session, settings: Settings, user: User) -> None:
    """Too many failed attempts: lock for the configured time and audit it."""
    user.locked_until = utcnow() + dt.timedelta(minutes=settings.lockout_minutes)
    user.failed_logins = 0
    record_event(db, AuditAction.LOCKED, obj=user, detail=f"锁定 {settings.lockout_minutes} 分钟")
    db.flush()


@functools.cache
def _dummy_hash() -> str:
    """A hash of no account's password, checked when the name is unknown so that a failure
    costs the same either way; made on the first login (argon2: 0.1-0.2 s that every process
    start, the CLI's and the workers' included, would otherwise pay)."""
    return hash_password(secrets.token_urlsafe(16))


def revoke_api_token(*, db: Session, principal: Principal, token_id: int) -> ApiToken:
    row = get_scoped(db, ApiToken, token_id, principal, "manage")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.flush()
    return row


def list_api_tokens(*, db: Session, principal: Principal) -> Sequence[ApiToken]:
    stmt = restrict(select(ApiToken), principal, "manage").order_by(ApiToken.id.desc())
    return db.scalars(stmt).all()


# --- passwords ---------------------------------------------------------------------------------


def _check_history(*, db: Session, settings: Settings, user: User, new_password: str) -> None:
    if settings.password_history <= 0:
        return
    hashes = [user.password_hash]
    hashes += db.scalars(
        select(PasswordHistory.password_hash)
        .where(PasswordHistory.user_id == user.id)
        .order_by(PasswordHistory.id.desc())
        .limit(settings.password_history - 1)
    ).all()
    if any(verify_password(h, new_password) for h in hashes):
        message = f"新密码不能与最近 {settings.password_history} 次使用过的密码相同"
        raise ValidationFailed(message, errors=[FieldError("new_password", message, "reused")])


def set_password(
    *, db: Session, settings: Settings, user: User, new_password: str, must_change: bool = False
) -> None:
    """Set a new password under the policy and history rules; ends the user's other sessions."""
    check_policy(new_password, settings, username=user.username, field="new_password")
    _check_history(db=db, settings=settings, user=user, new_password=new_password)
    db.add(PasswordHistory(user_id=user.id, password_hash=user.password_hash))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = utcnow()
    user.must_change_password = must_change
    db.flush()


def change_password(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    old_password: str,
    new_password: str,
) -> None:
    """The user's own password change: the old password is required."""
    user = db.get(User, principal.user_id)
    if user is None:
        raise Unauthenticated()
    if not verify_password(user.password_hash, old_password):
        message = "原密码不正确"
        raise ValidationFailed(message, errors=[FieldError("old_password", message, "wrong")])
    if old_password == new_password:
        message = "新密码不能与原密码相同"
        raise ValidationFailed(message, errors=[FieldError("new_password", message, "reused")])
    set_password(db=db, settings=settings, user=user, new_password=new_password)
    end_all_sessions(db=db, user_id=user.id, except_id=principal.session_id)
    revoke_all_tokens(db=db, user_id=user.id)
    record_event(db, AuditAction.PASSWORD_CHANGE, obj=user, detail="本人修改密码")


# --- user administration -----------------------------------------------------------------------


def _check_assignable(*, db: Session, principal: Principal, data: UserCreate) -> None:
    """The role and scope a user administrator may give; errors name the failing field."""
    assert principal.role is not None
    if data.role not in ASSIGNABLE_ROLES.get(principal.role, frozenset()):
        raise PermissionDenied(f"您不能创建“{data.role.label}”角色的账号")
    kind = data.role.scope_kind
    institution_region = None
    if kind is ScopeKind.INSTITUTION:
        if data.institution_id is None:
            raise ValidationFailed(
                errors=[FieldError("institution_id", "检测机构人员必须选择所属检测机构", "missing")]
            )
        institution = db.scalars(
            restrict(
                select(Institution).where(Institution.id == data.institution_id), principal, "read"
            )
        ).first()
        if institution is None:
            raise ValidationFailed(
                errors=[FieldError("institution_id", "检测机构不存在或不在您的管辖范围内", "scope")]
            )
        data.region_code = institution_region = institution.region_code
    elif data.institution_id is not None:
        raise ValidationFailed(
            errors=[FieldError("institution_id", "只有检测机构的账号才能指定检测机构", "invalid")]
        )
    if kind is not ScopeKind.GLOBAL and data.region_code is None:
        raise ValidationFailed(errors=[FieldError("region_code", "请选择所属行政区划", "missing")])
    if data.region_code is not None:
        # an institution's account takes the institution's region, even one abolished since
        regions.current(db=db, code=data.region_code, kept=institution_region)
        if principal.scope_kind is ScopeKind.REGION and not principal.covers_region(
            data.region_code
        ):
            raise ValidationFailed(
                errors=[FieldError("region_code", "只能在本辖区内创建账号", "scope")]
            )
        if (
            principal.scope_kind is ScopeKind.INSTITUTION
            and data.institution_id != principal.institution_id
        ):
            raise ValidationFailed(
                errors=[FieldError("institution_id", "只能为本机构创建账号", "scope")]
            )
    if kind is not ScopeKind.PROJECT and data.project_ids:
        raise ValidationFailed(
            errors=[
                FieldError("project_ids", "只有参建单位、见证、取样人员按工程项目授权", "invalid")
            ]
        )
    _check_projects(db, principal, data.project_ids)


def create_user(
    *, db: Session, settings: Settings, principal: Principal, data: UserCreate
) -> tuple[User, str | None]:
    """Create an account. Returns the user and, when none was given, a generated initial
    password that must be changed at first login."""
    principal.require("user:create")
    _check_assignable(db=db, principal=principal, data=data)
    if db.scalar(select(func.count()).select_from(User).where(User.username == data.username)):
        raise Conflict(
            f"用户名 {data.username} 已被使用",
            errors=[FieldError("username", "用户名已被使用", "duplicate")],
        )
    generated = None
    password = data.password
    if password is None:
        password = generated = generate_password()
    check_policy(password, settings, username=data.username)
    _check_card(db, data.role.value, data.enforcement_card)
    user = User(
        username=data.username,
        display_name=data.display_name,
        role=data.role.value,
        region_code=data.region_code,
        institution_id=data.institution_id,
        phone=data.phone,
        email=data.email,
        enforcement_card=data.enforcement_card,
        password_hash=hash_password(password),
        must_change_password=True,
    )
    user.projects = [UserProject(project_id=p) for p in sorted(set(data.project_ids))]
    db.add(user)
    db.flush()
    return user, generated


def _check_card(db: Session, role: str, card: str | None, user_id: int | None = None) -> None:
    """An enforcement card only for an officer's role, and one account per card."""
    if not card:
        return
    if role not in {r.value for r in OFFICERS}:
        message = "只有主管部门和监督机构的执法人员登记行政执法证号"
        raise ValidationFailed(errors=[FieldError("enforcement_card", message, "role")])
    held = db.scalars(
        select(User.id).where(User.enforcement_card == card, User.id != (user_id or 0))
    ).first()
    if held is not None:
        message = "该行政执法证号已登记在另一个账号上"
        raise ValidationFailed(errors=[FieldError("enforcement_card", message, "duplicate")])


def get_user(*, db: Session, principal: Principal, user_id: int, action: str = "read") -> User:
    return get_scoped(db, User, user_id, principal, action)


def users_stmt(
    *, principal: Principal, q: str | None = None, role: Role | None = None
) -> Select[User]:
    """The accounts within scope whose user name or name holds ``q``, of ``role``."""
    stmt = restrict(select(User), principal, "read")
    if q:
        like = f"%{q.strip()}%"
        stmt = stmt.where(User.username.like(like) | User.display_name.like(like))
    if role:
        stmt = stmt.where(User.role == role.value)
    return stmt


def list_users(
    *,
    db: Session,
    principal: Principal,
    q: str | None = None,
    role: Role | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[Sequence[User], int]:
    stmt = users_stmt(principal=principal, q=q, role=role)
    total = count_rows(db, stmt)
    rows = db.scalars(stmt.order_by(User.id).offset(offset).limit(limit)).all()
    return rows, total


def get_managed_user(*, db: Session, principal: Principal, user_id: int) -> User:
    """An account ``principal`` may administer: in scope, and of a role it could have created.

    Nobody edits, locks, unlocks or resets an account of its own rank or above (a city
    authority cannot take over another city authority, nor an auditor with wider rights);
    one's own account is changed on the account pages, not here.
    """
    user = get_user(db=db, principal=principal, user_id=user_id, action="update")
    assert principal.role is not None
    if user.id == principal.user_id:
        raise PermissionDenied("不能在用户管理中修改自己的账号，请使用“修改密码”等本人账号功能")
    if Role(user.role) not in ASSIGNABLE_ROLES.get(principal.role, frozenset()):
        raise PermissionDenied(f"您不能管理“{Role(user.role).label}”角色的账号")
    return user


def _check_projects(db: Session, principal: Principal, project_ids: list[int]) -> None:
    """Project grants name projects that exist within the granting account's region."""
    from jcjg.projects.models import Project  # local: projects build on auth

    wanted = sorted(set(project_ids))
    if not wanted:
        return
    rows = db.execute(select(Project.id, Project.region_code).where(Project.id.in_(wanted)))
    regions: dict[int, str] = {pid: code for pid, code in rows}
    bad = [i for i in wanted if i not in regions or not principal.covers_region(regions[i])]
    if bad:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "project_ids",
                    f"工程项目不存在或不在本账号辖区内：{'、'.join(map(str, bad[:20]))}",
                    "scope",
                )
            ]
        )


# The fields of a user that cannot be emptied: null in an update leaves them unchanged
REQUIRED_ON_UPDATE = frozenset({"display_name", "is_active"})


def update_user(*, db: Session, principal: Principal, user_id: int, data: UserUpdate) -> User:
    user = get_managed_user(db=db, principal=principal, user_id=user_id)
    # null leaves a field that cannot be empty (name, active) as it is, as when not given
    changes = {
        key: value
        for key, value in data.model_dump(exclude_unset=True).items()
        if value is not None or key not in REQUIRED_ON_UPDATE
    }
    if changes.get("enforcement_card"):
        _check_card(db, user.role, changes["enforcement_card"], user.id)
    project_ids = changes.pop("project_ids", None)
    if project_ids is not None:
        if Role(user.role).scope_kind is not ScopeKind.PROJECT:
            raise ValidationFailed(
                errors=[
                    FieldError(
                        "project_ids", "只有参建单位、见证、取样人员按工程项目授权", "invalid"
                    )
                ]
            )
        _check_projects(db, principal, project_ids)
        before = sorted(p.project_id for p in user.projects)
        after = sorted(set(project_ids))
        if before != after:
            user.projects = [UserProject(project_id=p) for p in after]
            # Grants live in their own table: their change is written to the trail explicitly.
            record_event(
                db,
                AuditAction.UPDATE,
                obj=user,
                detail="可见工程项目变更",
                before={"project_ids": before},
                after={"project_ids": after},
            )
    for key, value in changes.items():
        setattr(user, key, value)
    if data.is_active is False:
        end_all_sessions(db=db, user_id=user.id)
        revoke_all_tokens(db=db, user_id=user.id)
    db.flush()
    return user


def lock_user(
    *, db: Session, principal: Principal, user_id: int, minutes: int = 60 * 24 * 365
) -> User:
    user = get_managed_user(db=db, principal=principal, user_id=user_id)
    user.locked_until = utcnow() + dt.timedelta(minutes=minutes)
    end_all_sessions(db=db, user_id=user.id)
    db.flush()
    return user


def unlock_user(*, db: Session, principal: Principal, user_id: int) -> User:
    user = get_managed_user(db=db, principal=principal, user_id=user_id)
    user.locked_until = None
    user.failed_logins = 0
    db.flush()
    return user


def reset_password(
    *, db: Session, settings: Settings, principal: Principal, user_id: int
) -> tuple[User, str]:
    """An administrator's reset: a generated password, to be changed at next login."""
    user = get_managed_user(db=db, principal=principal, user_id=user_id)
    password = generate_password()
    set_password(db=db, settings=settings, user=user, new_password=password, must_change=True)
    end_all_sessions(db=db, user_id=user.id)
    revoke_all_tokens(db=db, user_id=user.id)
    return user, password


def unmasked_contact(*, db: Session, principal: Principal, user_id: int) -> dict[str, str | None]:
    """A user's phone and e-mail in clear; the read is audited (DESIGN.md decision 7)."""
    principal.require("personal_data:unmask")
    user = get_user(db=db, principal=principal, user_id=user_id)
    record_event(db, AuditAction.UNMASK, obj=user, detail="查看手机号、电子邮箱原文")
    return {"phone": user.phone, "email": user.email}


def find_user(*, db: Session, username: str) -> User:
    user = db.scalars(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    return user


# --- TOTP --------------------------------------------------------------------------------------


def totp_begin(*, db: Session, principal: Principal, settings: Settings) -> tuple[str, str]:
    """A fresh secret to enrol and its otpauth:// URI; the factor in use is left alone until a
    code from the new secret is confirmed."""
    user = db.get(User, principal.user_id)
    if user is None:
        raise Unauthenticated()
    if user.totp_enabled:
        raise BadRequest("双因素认证已启用；如需更换手机，请先输入密码停用后重新设置")
    user.totp_pending_secret = pyotp.random_base32()
    db.flush()
    uri = pyotp.TOTP(user.totp_pending_secret).provisioning_uri(
        name=user.username, issuer_name=settings.totp_issuer
    )
    return user.totp_pending_secret, uri


def _matching_step(secret: str | None, code: str, now: float | None = None) -> int | None:
    """The time step (now, or one either side for clock drift) whose code ``code`` is."""
    code = code.strip().replace(" ", "")
    if not secret or len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // totp.interval)
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()):
            return step
    return None


def totp_login(*, db: Session, settings: Settings, user: User, code: str) -> bool:
    """Check the second factor at login. A code is accepted once; wrong codes count towards a
    lock that a right password does not reset."""
    step = _matching_step(user.totp_secret, code)
    if step is None or (user.totp_last_step is not None and step <= user.totp_last_step):
        user.totp_failures += 1
        detail = f"第 {user.totp_failures} 次动态验证码错误"
        record_event(db, AuditAction.LOGIN_FAILED, obj=user, detail=detail)
        if user.totp_failures >= settings.lockout_threshold:
            user.totp_failures = 0
            lock_user_after_failures(db=db, settings=settings, user=user)
        db.flush()
        return False
    user.totp_last_step = step
    user.totp_failures = 0
    db.flush()
    return True


def totp_confirm(*, db: Session, principal: Principal, code: str) -> None:
    user = db.get(User, principal.user_id)
    step = _matching_step(user.totp_pending_secret if user else None, code)
    if user is None or step is None:
        raise ValidationFailed(errors=[FieldError("code", "动态验证码不正确", "wrong")])
    user.totp_secret, user.totp_pending_secret = user.totp_pending_secret, None
    user.totp_enabled = True
    user.totp_last_step = step
    user.totp_failures = 0
    record_event(db, AuditAction.TOTP, obj=user, detail="启用双因素认证")
    db.flush()


def totp_disable(*, db: Session, principal: Principal, password: str) -> None:
    user = db.get(User, principal.user_id)
    if user is None or not verify_password(user.password_hash, password):
        raise ValidationFailed(errors=[FieldError("password", "密码不正确", "wrong")])
    user.totp_enabled = False
    user.totp_secret = user.totp_pending_secret = None
    user.totp_last_step = None
    user.totp_failures = 0
    record_event(db, AuditAction.TOTP, obj=user, detail="停用双因素认证")
    db.flush()
