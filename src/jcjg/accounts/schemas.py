"""Pydantic schemas for users, tokens and role grants."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from jcjg.auth.choices import Role
from jcjg.core.forms import Id
from jcjg.core.regioncodes import is_valid_code
from jcjg.core.text import TextModel

Username = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$"
    ),
]
DisplayName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^1[0-9]{10}$")]
# 行政执法证号: letters, digits, Chinese characters (the issuing province), brackets and dashes
Card = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=4, max_length=32,
        pattern=r"^[0-9A-Za-z\u4e00-\u9fff()（）\-]+$",
    ),
]  # fmt: skip


class UserBase(TextModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName
    phone: Phone | None = None
    email: Email | None = None
    enforcement_card: Card | None = Field(default=None, description="行政执法证号（执法人员）")


class UserCreate(UserBase):
    username: Username
    role: Role
    region_code: str | None = None
    institution_id: Id | None = None
    project_ids: list[Id] = Field(default_factory=list, max_length=1000)
    password: str | None = Field(default=None, max_length=128)

    @field_validator("region_code")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_code(value):
            raise ValueError("行政区划代码应为 6 位 GB/T 2260 代码")
        return value


class UserUpdate(TextModel):
    model_config = ConfigDict(extra="forbid")

    display_name: DisplayName | None = None
    phone: Phone | None = None
    email: Email | None = None
    # null clears it (an officer who no longer holds a card is no longer drawn)
    enforcement_card: Card | None = None
    is_active: bool | None = None
    project_ids: list[Id] | None = Field(default=None, max_length=1000)


class UserRead(BaseModel):
    """A user as the API shows it: phone and e-mail masked."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    role: Role
    role_label: str
    region_code: str | None
    institution_id: int | None
    phone: str | None
    email: str | None
    enforcement_card: str | None
    is_active: bool
    is_locked: bool
    must_change_password: bool
    totp_enabled: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime


class UserCreated(UserRead):
    initial_password: str | None = None


class TokenCreate(TextModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    days: int | None = Field(default=None, ge=1, le=3650)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenRead):
    token: str


class Me(BaseModel):
    id: int | None
    username: str | None
    display_name: str
    role: Role | None
    role_label: str
    scope: str
    region_code: str | None
    institution_id: int | None
    project_ids: list[int]
    permissions: list[str]
