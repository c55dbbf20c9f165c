"""The accounts domain: logging in and out, one's own password, second factor and API tokens,
the administration of users and of the role x permission table."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.auth.permissions import AUTHORITIES, EVERY_ROLE, by_permission
from jcjg.core.domains import Domain, NavEntry

_PERSONAL = "个人设置"
_ADMIN = "系统管理"

DOMAIN = Domain(
    name="accounts",
    title="账号与权限",
    routers=("jcjg.accounts.pages:router", "jcjg.accounts.api:router"),
    permissions={
        "account:manage": "管理本人账号（改密、令牌、双因素）",
        "user:read": "查看用户",
        "user:create": "新建用户",
        "user:update": "修改用户（含锁定、解锁、重置密码）",
        "role:read": "查看角色与权限",
        "role:update": "修改角色权限",
        "personal_data:unmask": "查看未脱敏的个人信息（留痕）",
    },
    grants=by_permission(
        {
            "account:manage": EVERY_ROLE,
            "user:read": (*AUTHORITIES, Role.STATION, Role.INSTITUTION_ADMIN, Role.AUDITOR),
            "user:create": (*AUTHORITIES, Role.INSTITUTION_ADMIN),
            "user:update": (*AUTHORITIES, Role.INSTITUTION_ADMIN),
            "role:read": (Role.AUDITOR,),
            "personal_data:unmask": AUTHORITIES,
        }
    ),
    nav=(
        NavEntry(
            title="用户管理",
            href="/admin/users",
            group=_ADMIN,
            permission="user:read",
            order=10,
            text="查看、新建、锁定和解锁本辖区或本机构的账号",
        ),
        NavEntry(
            title="角色与权限",
            href="/admin/roles",
            group=_ADMIN,
            permission="role:read",
            order=20,
            text="查看每个角色拥有的权限，平台管理员可调整",
        ),
        NavEntry(
            title="修改密码",
            href="/account/password",
            group=_PERSONAL,
            permission="account:manage",
            order=20,
            text="按安全规则修改本人密码",
        ),
        NavEntry(
            title="访问令牌",
            href="/account/tokens",
            group=_PERSONAL,
            permission="account:manage",
            order=30,
            text="为接口调用申请和吊销本人的访问令牌",
        ),
        NavEntry(
            title="双因素认证",
            href="/account/totp",
            group=_PERSONAL,
            permission="account:manage",
            order=40,
            text="为本人账号开启双因素认证",
        ),
    ),
)
