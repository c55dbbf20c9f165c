"""The auth domain: who is asking and may they: users, roles and their permissions, sessions and
API tokens, data scopes; what every page knows of its reader."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from jcjg.auth import jobs, models
from jcjg.auth.choices import Role
from jcjg.auth.scopes import ANONYMOUS
from jcjg.core.domains import Domain, collect, current_entry, nav_for, phone_bar
from jcjg.core.jobs import Job


def page_context(request: Request | None) -> dict[str, Any]:
    """What every page knows of its reader: the principal (the public when nobody is logged in
    or the page is the same for everyone), the menu that principal sees, the phone's bottom bar
    and the menu entry the page is under (the breadcrumbs' group and page)."""
    principal = getattr(request.state, "principal", None) if request is not None else None
    principal = principal or ANONYMOUS
    role = principal.role.value if principal.role else None
    nav = nav_for(role, principal.can)
    path = request.url.path if request is not None else ""
    current = current_entry(nav, path)
    return {
        "principal": principal,
        "nav": nav,
        "nav_bar": phone_bar(nav),
        "nav_current": current,
        "nav_exact": current is not None and current.href == path,
    }


DOMAIN = Domain(
    name="auth",
    title="身份与权限",
    models=(models,),
    jobs=collect(jobs, Job),
    labels={"role": Role},
    hooks={"templates.context": page_context},
)
