"""The projects domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.projects.models import MemberTraining, Project, ProjectMember, SpotCheck
from tests.factories import Factory
from tests.generic import (
    AU,
    PU,
    SA,
    A,
    C,
    Change,
    Make,
    P,
    Routes,
    S,
    ScopeCase,
    W,
)  # fmt: skip
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


def _training(f: Factory) -> MemberTraining:
    user = f.user(Role.WITNESS, commit=False)
    row = MemberTraining(
        region_code="360400", user_id=user.id, role="witness", course="上岗培训",
        start_date=dt.date(2026, 1, 1), passed=True,
    )  # fmt: skip
    f.db.add(row)
    return row


def _spot_check(f: Factory) -> SpotCheck:
    project = f.project()
    station = f.user(Role.STATION, region_code="360400", commit=False)
    row = SpotCheck(
        project_id=project.id, region_code=project.region_code, role="witness",
        found_name="张三", is_appointed=False, checked_by=station.id,
    )  # fmt: skip
    f.db.add(row)
    return row


def _outsiders(f: Factory, info: dict[str, Any]) -> list[User]:
    """Readers of projects elsewhere: 南昌's station and city, another province, its auditor, a
    witness of no project."""
    return [
        f.user(Role.STATION, region_code="360100"),
        f.user(Role.CITY_AUTHORITY, region_code="360100"),
        f.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),
        f.user(Role.AUDITOR, region_code="440000"),
        f.user(Role.WITNESS),
    ]


def _scoped(make: Callable[[Factory], Any]) -> ScopeCase:
    """Read directly (get_scoped): a station of 南昌 and the region outsiders do not find it; 九江's
    station does."""

    def build(f: Factory) -> tuple[int, dict[str, Any]]:
        row = make(f)
        f.db.flush()
        return row.id, {}

    return ScopeCase(
        make=build,
        url=None,
        outsiders=_outsiders,
        insider=lambda f, info: f.user(Role.STATION, region_code="360400"),
    )


SCOPED: dict[type, ScopeCase] = {
    **{model: chain_case(model) for model in (Project, ProjectMember)},
    MemberTraining: _scoped(_training),
    SpotCheck: _scoped(_spot_check),
}

WRITES: dict[type, tuple[Make, Change]] = {
    Project: (lambda f: f.project(), lambda p: setattr(p, "name", "改名后的工程")),
    ProjectMember: (_bare_member, lambda m: setattr(m, "unit_name", "新监理单位")),
    MemberTraining: (_training, lambda t: setattr(t, "valid_until", dt.date(2027, 1, 1))),
    SpotCheck: (_spot_check, lambda c: setattr(c, "note", "补充说明")),
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
    # witnesses' and samplers' training, their history, the stations' spot checks
    ("GET", "/projects/trainings"): "project:read",
    ("GET", "/projects/trainings/new"): "project:train",
    ("POST", "/projects/trainings"): "project:train",
    ("GET", "/projects/people/{user_id}"): "project:read",
    ("GET", "/projects/{project_id}/spot-checks"): "project:spot_check",
    ("POST", "/projects/{project_id}/spot-checks"): "project:spot_check",
    ("GET", "/projects/members/{member_id}/photo"): "project:spot_check",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "project:read": frozenset({P, A, C, S, PU, W, SA, AU}),
    "project:create": frozenset({P, A, C, S}),
    "project:update": frozenset({P, A, C, S}),
    "project:assign": frozenset({P, A, C, S}),
    "project:train": frozenset({P, A, C, S}),
    "project:spot_check": frozenset({P, A, C, S}),
}
