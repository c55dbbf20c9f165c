"""The archives domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from tests.generic import A, C, P, Routes, S

ROUTES: Routes = {
    ("GET", "/projects/{project_id}/archive.zip"): "archive:export",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "archive:export": frozenset({P, A, C, S}),
}
