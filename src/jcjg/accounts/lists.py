"""The user list's columns and export (``core.listing``): phone and e-mail masked, as on the
page."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.core.db import utcnow
from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.masking import mask_email, mask_phone
from jcjg.core.pagination import Key, Order
from jcjg.regions import service as regions

# the oldest account first
USER_ORDER = Order((Key(User.id, lambda u: u.id, descending=False),), (0,))


def state(user: User) -> str:
    if not user.is_active:
        return "停用"
    if user.locked_until and user.locked_until > utcnow():
        return "锁定"
    return "正常"


def _cells(db: Session, rows: Sequence[User]) -> list[list[str]]:
    places = regions.display_names(db=db, codes=(u.region_code for u in rows))
    return [
        [
            u.username,
            u.display_name,
            label(Role, u.role),
            places.get(u.region_code, u.region_code) if u.region_code else "",
            mask_phone(u.phone) if u.phone else "",
            mask_email(u.email) if u.email else "",
            state(u),
            when(u.last_login_at),
        ]
        for u in rows
    ]


USERS = ListView(
    name="user_account",
    title="用户",
    columns=(
        Column("username", "用户名", User.username),
        Column("display_name", "姓名/单位", User.display_name),
        Column("role", "角色", User.role),
        Column("region", "行政区划", User.region_code),
        Column("phone", "手机"),
        Column("email", "电子邮箱"),
        Column("state", "状态"),
        Column("last_login_at", "最近登录", User.last_login_at),
    ),
    order=USER_ORDER,
    cells=_cells,
)
