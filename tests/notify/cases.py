"""The notify domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from tests.generic import AU, P, Routes

ROUTES: Routes = {
    ("GET", "/admin/deliveries"): "notify:read",
    ("GET", "/inbox"): "account:manage",
    ("POST", "/inbox/read"): "account:manage",
    ("GET", "/account/notifications"): "account:manage",
    ("POST", "/account/notifications"): "account:manage",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "notify:read": frozenset({P, AU}),
}
