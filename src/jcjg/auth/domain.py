"""The auth domain: who is asking and may they: users, roles and their permissions, sessions and
API tokens, data scopes; what every page knows of its reader."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from jcjg.auth import jobs, models
from jcjg.auth.choices import Role
from jcjg.auth.deps import security_schemes, shared_reader
from jcjg.auth.scopes import ANONYMOUS
from jcjg.core.domains import Domain, collect, current_entry, menu_for
from jcjg.core.jobs import Job
from jcjg.core.openapi import SECURITY_SCHEMES_HOOK
from jcjg.core.pagecache import READER_HOOK


def page_context(request: Request | None) -> dict[str, Any]:
    """What every page knows of its reader: the principal (the public when nobody is logged in
    or the page is the same for everyone), the menu that principal sees, the phone's bottom bar
    and the menu entry the page is under (the breadcrumbs' group and page)."""
    principal = getattr(request.state, "principal", None) if request is not None else None
    principal = principal or ANONYMOUS
    role = principal.role.value if principal.role else None
    menu = menu_for(role, principal.permissions)  # made once per role and permissions
    nav = menu.nav
    path = request.url.path if request is not None else ""
    current = current_entry(nav, path)
    return {
        "principal": principal,
        "nav_menu": menu,
        "nav": nav,
        "nav_bar": menu.bar,
        "nav_current": current,
        "nav_exact": current is not None and current.href == path,
    }


# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "user_account": "用户账号",
    "role_grant": "角色授权",
    "api_token": "接口令牌",
    "user_session": "登录会话",
    "user_project": "参与的工程项目",
    "password_history": "历史密码",
}

# Where one object of a kind is shown, by id (core.labels.page_of).
PAGES = {"user_account": "/admin/users/{}"}

# The columns of accounts, and those most tables share, as the audit log's before/after shows them.
FIELDS = {
    "id": "编号", "created_at": "创建时间", "updated_at": "修改时间", "status": "状态",
    "status_reason": "状态原因", "name": "名称", "code": "编号", "number": "编号",
    "notes": "备注", "region_code": "行政区划", "institution_id": "检测机构",
    "project_id": "工程项目", "user_id": "用户", "username": "用户名", "display_name": "姓名",
    "role": "角色", "phone": "手机号", "mobile": "手机号", "email": "电子邮箱",
    "is_active": "启用", "password_changed_at": "密码修改时间",
    "must_change_password": "须修改密码", "failed_logins": "连续登录失败次数",
    "locked_until": "锁定至", "last_login_at": "最近登录", "totp_enabled": "动态口令",
    "totp_failures": "动态口令失败次数", "totp_last_step": "动态口令时间步",
}  # fmt: skip

DOMAIN = Domain(
    name="auth",
    title="身份与权限",
    models=(models,),
    jobs=collect(jobs, Job),
    labels={"entity": ENTITIES, "field": FIELDS, "page": PAGES, "role": Role},
    hooks={
        "templates.context": page_context,
        SECURITY_SCHEMES_HOOK: security_schemes,
        READER_HOOK: shared_reader,
    },
)
