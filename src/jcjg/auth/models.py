"""Users, their project grants, password history, sessions, API tokens and role grants."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class User(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A person who logs in. One role; the scope columns that role uses are filled."""

    __tablename__ = "user_account"  # "user" is reserved in PostgreSQL
    __permission_entity__: ClassVar[str] = "user"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
        "self": "id",
    }
    __audit_exclude__ = frozenset({"password_hash", "totp_secret", "totp_pending_secret"})
    __audit_mask__ = frozenset({"phone", "email"})
    __audit_untracked__ = frozenset(
        {"last_login_at", "failed_logins", "totp_failures", "totp_last_step"}
    )

    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32), index=True)  # Role value
    region_code: Mapped[str | None] = mapped_column(
        ForeignKey("region.code"), index=True, default=None
    )
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    phone: Mapped[str | None] = mapped_column(String(20), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    totp_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # A secret being enrolled: it replaces nothing until a code from it is confirmed.
    totp_pending_secret: Mapped[str | None] = mapped_column(String(64), default=None)
    # Wrong codes since the last right one (a right password does not reset it) and the time
    # step of the last accepted code (a code is accepted once).
    totp_failures: Mapped[int] = mapped_column(Integer, default=0)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # The other second factor, for authority accounts: a one-time code sent by "sms" or
    # "email" at each login (accounts.logincode); None: none. Its wrong codes count in
    # totp_failures as the app's do.
    login_code_channel: Mapped[str | None] = mapped_column(String(8), default=None)
    # An officer's administrative enforcement card number (行政执法证号): only accounts with
    # one are drawn to check institutions (supervision, 双随机); an office's account has none.
    enforcement_card: Mapped[str | None] = mapped_column(String(32), default=None)

    projects: Mapped[list[UserProject]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class UserProject(Base):
    """A project a project-scoped user (party unit, witness, sampler) may see."""

    __tablename__ = "user_project"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), primary_key=True
    )
    user: Mapped[User] = relationship(back_populates="projects")


class PasswordHistory(IdMixin, Base):
    """Earlier password hashes, so the last N cannot be reused."""

    __tablename__ = "password_history"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class UserSession(IdMixin, Base):
    """A browser session. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "user_session"

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(255), default=None)
    # A session that has passed the password but not yet the second factor.
    pending_totp: Mapped[bool] = mapped_column(Boolean, default=False)
    # The code sent to this session's login (its salted SHA-256) and when it was sent.
    login_code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    login_code_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class ApiToken(ChangeLogged, IdMixin, Base):
    """A bearer token for the JSON API. Shown once; only its SHA-256 is kept."""

    __tablename__ = "api_token"
    __permission_entity__: ClassVar[str] = "account"
    __scope_columns__: ClassVar[dict[str, str]] = {"self": "user_id"}
    __audit_exclude__ = frozenset({"token_hash"})
    __audit_untracked__ = frozenset({"last_used_at"})

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class RoleGrant(ChangeLogged, IdMixin, Base):
    """A change to a role's default permissions: granted (True) or withdrawn (False)."""

    __tablename__ = "role_grant"
    __table_args__ = (UniqueConstraint("role", "permission"),)

    role: Mapped[str] = mapped_column(String(32))
    permission: Mapped[str] = mapped_column(String(64))
    granted: Mapped[bool] = mapped_column(Boolean)

    def audit_repr(self) -> str:
        return f"{self.role} {self.permission}"


class UsedCaptcha(Base):
    """A login captcha already answered (``accounts.captcha``): each is good for one try.
    Rows older than a captcha's lifetime are deleted as new ones come."""

    __tablename__ = "used_captcha"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    used_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
