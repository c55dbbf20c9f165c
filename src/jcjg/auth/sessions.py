"""Who is logged in: sessions, API tokens and the principal they give.

What the permission dependency (:mod:`jcjg.auth.deps`) needs to resolve a request's principal,
below anything that writes the audit trail: logging in, account changes and their audit events
are the ``accounts`` domain's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from functools import partial

from sqlalchemy import delete, event, inspect, select, update
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.orm.attributes import set_committed_value

from jcjg.auth.choices import Role
from jcjg.auth.models import ApiToken, RoleGrant, User, UserProject, UserSession
from jcjg.auth.passwords import is_expired
from jcjg.auth.permissions import default_grants, permissions
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core.context import context_of
from jcjg.core.db import utcnow
from jcjg.core.later import write_later
from jcjg.core.memo import TimedMemo


def token_digest(token: str) -> str:
    """Only digests of session cookies and API tokens are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


# every request needs its role's permissions: read once per role and kept for a few seconds
# (a change committed in this process drops them at once, other processes see it in that time)
_PERMISSIONS = TimedMemo(5.0)


# the principal of a session cookie, kept for two seconds: a page's own requests (its lists'
# htmx swaps, its phone's reloads) do not each read the session, the user and the grants again.
# A change to a user or a session committed in this process drops that user's or session's at
# once, a change to a grant (or one whose user is not known) all of them; other processes see a
# logout, a lock or a new role within those seconds.
PRINCIPALS = TimedMemo(2.0, max_entries=10_000)
_CHANGED = "jcjg.auth.changed"
# marks the statement that only notes a session's last use: every session's, every 30 s, would
# otherwise drop every principal the process holds (with a hundred readers, several times a
# second), and each of their next requests would read its session, user and grants again
_LAST_USE = "jcjg_session_last_use"
# names what a bulk statement on users or sessions changes: {"users": ids, "sessions": ids}
# (their principals alone are dropped; a statement without it drops every principal held)
_PRINCIPALS_OF = "jcjg_principals_of"


# what a login writes of its user, which no principal holds (its lock, its name, role, scope,
# activity and password's age are): a login in the process would otherwise drop every principal
# it holds, as a session's last use did
_NOT_HELD = frozenset({"last_login_at", "failed_logins", "password_hash"})


def _changed(obj: object) -> set[str]:
    """The attributes of ``obj`` whose value this flush changed (one set to what it was is
    not: a login sets ``locked_until`` to None, mostly None already)."""
    changed = set()
    for attr in inspect(obj).attrs:
        added, _, deleted = attr.history
        if (added or deleted) and not (len(added) == len(deleted) == 1 and added[0] == deleted[0]):
            changed.add(attr.key)
    return changed


@event.listens_for(Session, "after_flush")
def _accounts_changed(session: Session, _: object) -> None:
    """What the commit must drop of the permissions and principals held: a new session (its
    own cookie, held by nobody) and a user's login are not changes to any of them."""
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, RoleGrant):
            session.info.setdefault(_CHANGED, set()).update(("grants", "principals"))
        elif isinstance(obj, User | UserSession | UserProject) and not _held_alike(session, obj):
            session.info.setdefault(_CHANGED, set()).add(_whose(obj))


def _whose(obj: User | UserSession | UserProject) -> tuple[str, int | None] | str:
    """Whose principals ``obj``'s change concerns: a user's, a session's, or (not known)
    everyone's."""
    if isinstance(obj, User):
        return ("user", obj.id) if obj.id is not None else "principals"
    if isinstance(obj, UserSession):
        return ("session", obj.id) if obj.id is not None else "principals"
    return ("user", obj.user_id) if obj.user_id is not None else "principals"


def _held_alike(session: Session, obj: object) -> bool:
    """Whether the principals held are as good after ``obj``'s change: a new session, a
    user's change of what no principal holds (a login)."""
    if isinstance(obj, UserSession):
        return obj in session.new
    if isinstance(obj, User):
        return obj in session.dirty and _changed(obj) <= _NOT_HELD
    return False


@event.listens_for(Session, "do_orm_execute")
def _accounts_changed_in_bulk(state: ORMExecuteState) -> None:
    """``UPDATE``/``DELETE`` statements on users and sessions (logouts, expiry)."""
    mapper = state.bind_mapper
    bulk = state.is_update or state.is_delete
    if bulk and mapper is not None and mapper.class_ in (User, UserSession, UserProject):
        if state.execution_options.get(_LAST_USE):
            return  # a session's last use (_touch): nothing a principal holds
        changed = state.session.info.setdefault(_CHANGED, set())
        named = state.execution_options.get(_PRINCIPALS_OF)
        if named is None:
            changed.add("principals")
            return
        changed.update(("user", int(i)) for i in named.get("users", ()))
        changed.update(("session", int(i)) for i in named.get("sessions", ()))


@event.listens_for(Session, "after_commit")
def _forget_accounts(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint released: its changes are the transaction's, dropped at its commit
    changed = session.info.pop(_CHANGED, set())
    if "grants" in changed:
        _PERMISSIONS.clear()
    if "principals" in changed:
        PRINCIPALS.clear()
        return
    whose = [c for c in changed if isinstance(c, tuple)]  # ("user" | "session", id)
    users = {i for kind, i in whose if kind == "user"}
    ended = {i for kind, i in whose if kind == "session"}
    if users or ended:
        PRINCIPALS.forget_where(
            lambda held: (
                isinstance(held, Principal) and (held.user_id in users or held.session_id in ended)
            )
        )


@event.listens_for(Session, "after_rollback")
def _nothing_changed(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint rolled back: the changes before it stand (its own: more dropped)
    session.info.pop(_CHANGED, None)


def effective_permissions(*, db: Session, role: Role) -> frozenset[str]:
    """The role's defaults with the administrator's grants and withdrawals applied."""
    return _PERMISSIONS.get(role, lambda: _effective_permissions(db, role))[0]


def _effective_permissions(db: Session, role: Role) -> frozenset[str]:
    perms = set(default_grants().get(role, frozenset()))
    for grant in db.scalars(select(RoleGrant).where(RoleGrant.role == role.value)):
        if grant.granted:
            perms.add(grant.permission)
        else:
            perms.discard(grant.permission)
    return frozenset(perms & set(permissions()))


def principal_for(
    *,
    db: Session,
    user: User,
    settings: Settings,
    session: UserSession | None = None,
    via_token: bool = False,
) -> Principal:
    role = Role(user.role)
    expired = user.must_change_password or is_expired(user.password_changed_at, settings, utcnow())
    principal = Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=role,
        region_code=user.region_code,
        institution_id=user.institution_id,
        project_ids=frozenset(p.project_id for p in user.projects),
        permissions=effective_permissions(db=db, role=role),
        session_id=session.id if session else None,
        csrf_token=session.csrf_token if session else None,
        via_token=via_token,
        password_expired=expired,
    )
    audit_as(db, principal)
    return principal


def audit_as(db: Session, principal: Principal) -> None:
    """What ``db`` writes is audited as done by ``principal``."""
    ctx = context_of(db)
    ctx.user_id, ctx.username = principal.user_id, principal.username
    ctx.region_code, ctx.institution_id = principal.region_code, principal.institution_id


def is_locked(user: User, now: dt.datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or utcnow())


def create_session(
    *, db: Session, user: User, ip: str | None, user_agent: str | None, pending_totp: bool = False
) -> tuple[str, UserSession]:
    token = secrets.token_urlsafe(32)
    row = UserSession(
        token_hash=token_digest(token),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        ip=ip,
        user_agent=(user_agent or "")[:255],
        pending_totp=pending_totp,
    )
    db.add(row)
    db.flush()
    return token, row


def load_session(*, db: Session, settings: Settings, token: str) -> UserSession | None:
    """The live session for a cookie value; expired sessions are removed and give None."""
    row = db.scalars(
        select(UserSession).where(UserSession.token_hash == token_digest(token))
    ).first()
    if row is None:
        return None
    now = utcnow()
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    max_age = dt.timedelta(hours=settings.session_max_hours)
    if now - row.last_seen_at > idle or now - row.created_at > max_age:
        ended = row.id
        write_later(db, lambda w: end_session(db=w, session_id=ended), required=False)
        return None
    if now - row.last_seen_at > TOUCH_AFTER:
        write_later(db, partial(_touch, row_id=row.id, now=now), required=False)
        set_committed_value(row, "last_seen_at", now)
    return row


TOUCH_AFTER = dt.timedelta(seconds=30)  # how stale a session's last_seen_at may be


def _touch(db: Session, *, row_id: int, now: dt.datetime) -> None:
    """Mark the session seen now, unless another request of it is doing so: the row stays
    locked until that request ends, and every other request of the session (a page's htmx
    requests, other tabs) would wait for it (PostgreSQL; SQLite has no row locks)."""
    free = (
        select(UserSession.id)
        .where(UserSession.id == row_id, UserSession.last_seen_at < now - TOUCH_AFTER)
        .with_for_update(skip_locked=True)
    )
    db.execute(
        update(UserSession)
        .where(UserSession.id.in_(free))
        .values(last_seen_at=now)
        .execution_options(synchronize_session=False, **{_LAST_USE: True})
    )


def end_session(*, db: Session, session_id: int) -> None:
    """End one session (its principal held in this process dropped when this commits)."""
    db.execute(
        delete(UserSession)
        .where(UserSession.id == session_id)
        .execution_options(**{_PRINCIPALS_OF: {"sessions": (session_id,)}})
    )


def end_all_sessions(*, db: Session, user_id: int, except_id: int | None = None) -> None:
    """End a user's sessions (but ``except_id``; their principals held here dropped)."""
    stmt = delete(UserSession).where(UserSession.user_id == user_id)
    if except_id is not None:
        stmt = stmt.where(UserSession.id != except_id)
    db.execute(stmt.execution_options(**{_PRINCIPALS_OF: {"users": (user_id,)}}))


def create_api_token(
    *, db: Session, settings: Settings, user: User, name: str, days: int | None = None
) -> tuple[str, ApiToken]:
    secret = secrets.token_urlsafe(32)
    token = f"jcjg_{secret}"
    row = ApiToken(
        user_id=user.id,
        name=name,
        prefix=token[:12],
        token_hash=token_digest(token),
        expires_at=utcnow() + dt.timedelta(days=days or settings.api_token_days),
    )
    db.add(row)
    db.flush()
    return token, row


def load_api_token(*, db: Session, token: str) -> ApiToken | None:
    row = db.scalars(select(ApiToken).where(ApiToken.token_hash == token_digest(token))).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        return None
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        write_later(db, partial(_token_used, token_id=row.id, now=now), required=False)
        set_committed_value(row, "last_used_at", now)
    return row


def _token_used(db: Session, *, token_id: int, now: dt.datetime) -> None:
    db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))


def revoke_all_tokens(*, db: Session, user_id: int) -> None:
    """Revoke every live token of a user (password reset or change, deactivation)."""
    db.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def constant_time_equal(a: str | None, b: str | None) -> bool:
    """Compare secrets in constant time; any text (non-ASCII included) just compares unequal."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a).encode(), str(b).encode())
