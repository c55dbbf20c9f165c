"""The penalties domain's generic cases (tests/generic.py)."""

from __future__ import annotations

from typing import Any

from jcjg.auth.choices import Role
from jcjg.penalties.models import Penalty
from tests.factories import Factory
from tests.generic import (
    AS,
    AU,
    IA,
    IS_,
    A,
    C,
    Change,
    Make,
    P,
    Routes,
    S,
    ScopeCase,
    region_outsiders,
)
from tests.penalties.helpers import make_penalty


def _make(f: Factory) -> tuple[int, dict[str, Any]]:
    inst = f.institution(region_code="360403")
    row = make_penalty(f, inst)
    staff = f.user(Role.INSTITUTION_STAFF, institution=inst, commit=False)
    f.db.commit()
    return row.id, {"staff": staff}


SCOPED = {
    Penalty: ScopeCase(_make, "/api/v1/penalties/{id}", region_outsiders, lambda f, i: i["staff"])
}

WRITES: dict[type, tuple[Make, Change]] = {
    Penalty: (lambda f: make_penalty(f), lambda p: setattr(p, "facts", "更正后的违法事实。")),
}

ROUTES: Routes = {
    ("GET", "/api/v1/penalties"): "penalty:read",
    ("GET", "/api/v1/penalties/{penalty_id}"): "penalty:read",
    ("POST", "/api/v1/penalties"): "penalty:manage",
    ("PATCH", "/api/v1/penalties/{penalty_id}"): "penalty:manage",
    ("GET", "/penalties"): "penalty:read",
    ("GET", "/penalties/new"): "penalty:manage",
    ("POST", "/penalties"): "penalty:manage",
    ("GET", "/penalties/{penalty_id}"): "penalty:read",
    ("GET", "/penalties/{penalty_id}/edit"): "penalty:manage",
    ("POST", "/penalties/{penalty_id}"): "penalty:manage",
}

GRANTS = {
    "penalty:read": frozenset({P, A, C, S, IA, IS_, AU, AS}),
    "penalty:manage": frozenset({P, A, C}),
}
