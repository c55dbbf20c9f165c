"""The home domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from tests.generic import AU, EVERYONE, PUBLIC, P, Routes

ROUTES: Routes = {
    ("GET", "/problems/{slug}"): PUBLIC,
    ("GET", "/"): "home:view",
    ("GET", "/public"): PUBLIC,
    ("GET", "/admin/jobs"): "job:read",
    ("GET", "/regions/overview"): "project:read",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "home:view": EVERYONE,
    "job:read": frozenset({P, AU}),
}
