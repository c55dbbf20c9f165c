"""The overview domain's generic cases (tests/generic.py: routes, grants, scoped models)."""

from __future__ import annotations

import datetime as dt

from jcjg.auth.choices import Role
from jcjg.overview.models import SupervisionReport
from tests.factories import Factory
from tests.generic import PUBLIC, Routes, ScopeCase

P, A, C, S = Role.PLATFORM_ADMIN, Role.AUDITOR, Role.CITY_AUTHORITY, Role.STATION
PR = Role.PROVINCIAL_AUTHORITY


def _report(f: Factory) -> tuple[int, dict]:
    row = SupervisionReport(region_code="360400", period=f"2026-{f._next() % 12 + 1:02d}",
                            kind="month", start_date=dt.date(2026, 10, 1),
                            end_date=dt.date(2026, 10, 31), pdf_sha256="0" * 64, size=1,
                            figures={})  # fmt: skip
    f.db.add(row)
    f.db.commit()
    return row.id, {}


SCOPED: dict[type, ScopeCase] = {
    SupervisionReport: ScopeCase(
        _report,
        None,
        lambda f, i: [
            f.user(Role.CITY_AUTHORITY, region_code="360100"),
            f.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),
            f.user(Role.STATION, region_code="360100"),
        ],
        lambda f, i: f.user(Role.CITY_AUTHORITY, region_code="360400"),
    ),
}

ROUTES: Routes = {
    ("GET", "/overview"): "overview:read",
    ("GET", "/public/overview"): PUBLIC,
    ("GET", "/overview/reports"): "supervision_report:read",
    ("POST", "/overview/reports"): "supervision_report:generate",
    ("GET", "/overview/reports/{report_id}/pdf"): "supervision_report:read",
}

GRANTS: dict[str, frozenset[Role]] = {
    "overview:read": frozenset({P, A, C, S, PR}),
    "supervision_report:read": frozenset({P, A, C, S, PR}),
    "supervision_report:generate": frozenset({P, C, PR}),
}
