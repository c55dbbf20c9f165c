"""The regions domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from tests.generic import EVERYONE, Routes

ROUTES: Routes = {
    ("GET", "/regions"): "region:read",
    ("GET", "/api/v1/regions"): "region:read",
    ("GET", "/api/v1/regions/{code}"): "region:read",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "region:read": EVERYONE,
}
