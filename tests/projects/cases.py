"""The projects domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt

from jcjg.auth.choices import Role
from jcjg.projects.models import Project, ProjectMember
from tests.factories import Factory
from tests.generic import AU, PU, SA, A, C, Change, Make, P, Routes, S, ScopeCase, W
from tests.sampling.cases import chain_case


def _bare_member(f: Factory) -> ProjectMember:
    project = f.project()
    user = f.user(Role.WITNESS, project_ids=(project.id,), commit=False)
    member = ProjectMember(
        project_id=project.id,
        region_code=project.region_code,
        user_id=user.id,
        role="witness",
        name="见证员",
        id_number="",
        starts_on=dt.date(2026, 1, 1),
    )
    f.db.add(member)
    return member


SCOPED: dict[type, ScopeCase] = {model: chain_case(model) for model in (Project, ProjectMember)}

WRITES: dict[type, tuple[Make, Change]] = {
    Project: (lambda f: f.project(), lambda p: setattr(p, "name", "改名后的工程")),
    ProjectMember: (_bare_member, lambda m: setattr(m, "unit_name", "新监理单位")),
}


ROUTES: Routes = {
    # projects (003 IV(2)-(3)) and the sampling chain
    ("GET", "/projects"): "project:read",
    ("GET", "/projects/{project_id}"): "project:read",
    ("GET", "/projects/new"): "project:create",
    ("POST", "/projects"): "project:create",
    ("GET", "/projects/{project_id}/edit"): "project:update",
    ("POST", "/projects/{project_id}/edit"): "project:update",
    ("POST", "/projects/{project_id}/members"): "project:assign",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "project:read": frozenset({P, A, C, S, PU, W, SA, AU}),
    "project:create": frozenset({P, A, C, S}),
    "project:update": frozenset({P, A, C, S}),
    "project:assign": frozenset({P, A, C, S}),
}
