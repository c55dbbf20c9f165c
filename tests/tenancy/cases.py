"""The tenancy domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.auth.choices import Role
from jcjg.tenancy.models import Institution
from tests.factories import Factory
from tests.generic import Change, Make, ScopeCase, with_station_elsewhere


def _inst_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    return inst.id, {"inst": inst}


SCOPED: dict[type, ScopeCase] = {
    Institution: ScopeCase(
        _inst_obj,
        "/api/v1/registry/institutions/{id}",
        with_station_elsewhere,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    ),
}

WRITES: dict[type, tuple[Make, Change]] = {
    Institution: (lambda f: f.institution(), lambda i: setattr(i, "name", "改名后的检测机构")),
}
