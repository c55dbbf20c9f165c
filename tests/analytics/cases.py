"""The analytics domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from typing import Any

from jcjg.analytics.models import Analysis
from jcjg.auth.choices import Role
from tests.factories import Factory
from tests.generic import IA, IS_, A, C, Change, Make, P, Routes, S, ScopeCase, region_outsiders

DEFINITION = {"dataset": "test_records", "dimensions": ["month"], "measures": ["records"],
              "since": "", "until": "", "filters": {}, "chart": "table"}  # fmt: skip


def _analysis(f: Factory, shared: bool = True) -> Analysis:
    owner = f.user(Role.CITY_AUTHORITY, region_code="360400", commit=False)
    row = Analysis(name="九江月度记录", owner_id=owner.id, region_code="360400", shared=shared,
                   definition=DEFINITION, schedule="")  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _make(f: Factory) -> tuple[int, dict[str, Any]]:
    row = _analysis(f)
    f.db.commit()
    return row.id, {}


SCOPED: dict[type, ScopeCase] = {
    Analysis: ScopeCase(
        _make,
        "/api/v1/analyses/{id}",
        lambda f, i: [u for u in region_outsiders(f, i) if u.role != Role.AUDITOR],
        lambda f, i: f.user(Role.STATION, region_code="360400"),
    )
}

WRITES: dict[type, tuple[Make, Change]] = {
    Analysis: (_analysis, lambda a: setattr(a, "name", "改名后的分析")),
}

ROUTES: Routes = {
    ("POST", "/api/v1/analysis-runs"): "analysis:read",
    ("GET", "/api/v1/analyses"): "analysis:read",
    ("POST", "/api/v1/analyses"): "analysis:manage",
    ("GET", "/api/v1/analyses/{analysis_id}"): "analysis:read",
    ("PATCH", "/api/v1/analyses/{analysis_id}"): "analysis:manage",
    ("DELETE", "/api/v1/analyses/{analysis_id}"): "analysis:manage",
    ("GET", "/api/v1/analyses/{analysis_id}/result"): "analysis:read",
    ("GET", "/api/v1/analyses/{analysis_id}/export"): "analysis:read",
    ("GET", "/analytics"): "analysis:read",
    ("GET", "/analytics/export"): "analysis:read",
    ("GET", "/analytics/saved"): "analysis:read",
    ("POST", "/analytics/saved"): "analysis:manage",
    ("POST", "/analytics/saved/{analysis_id}/delete"): "analysis:manage",
}

GRANTS: dict[str, frozenset[Role]] = {
    "analysis:read": frozenset({P, A, C, S, IA, IS_}),
    "analysis:manage": frozenset({P, A, C, S, IA, IS_}),
}
