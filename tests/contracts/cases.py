"""The contracts domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt

from jcjg.auth.choices import Role
from jcjg.contracts.models import Contract
from tests.factories import Factory
from tests.generic import AU, IA, IS_, PU, A, C, P, Routes, S, ScopeCase


def _contract_case() -> ScopeCase:
    """A 九江 lab's contract on a project: another lab, a station of 南昌 and a party unit of
    another project do not find it; the lab's staff does."""

    def make(f: Factory) -> tuple[int, dict]:
        from jcjg.contracts.models import Contract

        lab = f.institution(region_code="360403")
        project = f.project()
        row = Contract(
            institution_id=lab.id, region_code=lab.region_code, project_id=project.id,
            number="HT-SCOPE", year=2026, sequence=1, client_unit="建设单位",
            signed_on=dt.date(2026, 11, 2), pdf_sha256="0" * 64,
        )  # fmt: skip
        f.db.add(row)
        staff = f.user(Role.INSTITUTION_STAFF, institution=lab, commit=False)
        f.db.commit()
        return row.id, {"staff": staff}

    return ScopeCase(
        make,
        "/contracts/{id}",
        lambda f, i: [
            f.user(Role.INSTITUTION_STAFF),
            f.user(Role.STATION, region_code="360100"),
            f.user(Role.PARTY_UNIT),
        ],
        lambda f, i: i["staff"],
        session=True,
    )


SCOPED: dict[type, ScopeCase] = {Contract: _contract_case()}


ROUTES: Routes = {
    ("GET", "/contracts"): "contract:read",
    ("GET", "/contracts/{contract_id}"): "contract:read",
    ("GET", "/contracts/{contract_id}/contract.pdf"): "contract:read",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "contract:read": frozenset({P, A, C, S, IA, IS_, PU, AU}),
}
