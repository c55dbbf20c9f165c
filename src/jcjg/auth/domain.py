"""The auth domain: who is asking and may they: users, roles and their permissions, sessions and
API tokens, data scopes; what every page knows of its reader."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from jcjg.auth import jobs, models
from jcjg.auth.choices import Role
from jcjg.auth.scopes import ANONYMOUS
from jcjg.core.domains import Domain, collect, nav_for
from jcjg.core.jobs import Job


def page_context(request: Request | None) -> dict[str, Any]:
    """What every page knows of its reader: the principal (the public when nobody is logged in
    or the page is the same for everyone) and the menu that principal sees."""
    principal = getattr(request.state, "principal", None) if request is not None else None
    principal = principal or ANONYMOUS
    role = principal.role.value if principal.role else None
    return {"principal": principal, "nav": nav_for(role, principal.can)}


# What pages call this domain's kinds of object (audit log, alerts, ledger).
ENTITIES = {
    "user_account": "用户账号",
    "role_grant": "角色授权",
    "api_token": "接口令牌",
    "user_session": "登录会话",
    "user_project": "参与的工程项目",
    "password_history": "历史密码",
}

DOMAIN = Domain(
    name="auth",
    title="身份与权限",
    models=(models,),
    jobs=collect(jobs, Job),
    labels={"entity": ENTITIES, "role": Role},
    hooks={"templates.context": page_context},
)
