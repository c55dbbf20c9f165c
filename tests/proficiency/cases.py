"""The proficiency domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jcjg.auth.choices import Role
from jcjg.proficiency.models import ProficiencyParticipant, ProficiencyResult, ProficiencyScheme
from tests.factories import Factory
from tests.generic import IA, IS_, A, C, Change, Make, P, Routes, S, ScopeCase, region_outsiders
from tests.proficiency.conftest import make_scheme, submit_all


def _outsiders(f: Factory, info: dict[str, Any]) -> list[Any]:
    """Those with proficiency:read outside a 九江 scheme and its labs: another city, another
    province, a lab not invited, a station of 南昌 (an auditor reads no proficiency tests)."""
    found = [u for u in region_outsiders(f, info) if u.role != Role.AUDITOR]
    return [*found, f.user(Role.STATION, region_code="360100")]


def _case(model: type) -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict[str, Any]]:
        pt = make_scheme(f, labs=3, samples=1)
        submit_all(f, pt)
        staff = f.user(Role.INSTITUTION_STAFF, institution=pt.labs[0], commit=False)
        f.db.commit()
        if model is ProficiencyScheme:
            return pt.scheme.id, {"staff": staff}
        row = f.db.query(model).filter_by(institution_id=pt.labs[0].id).first()
        return row.id, {"staff": staff}

    return ScopeCase(
        make,
        "/api/v1/proficiency/schemes/{id}" if model is ProficiencyScheme else None,
        _outsiders,
        lambda f, i: i["staff"],
    )


SCOPED: dict[type, ScopeCase] = {
    model: _case(model) for model in (ProficiencyScheme, ProficiencyParticipant, ProficiencyResult)
}


def _participant(f: Factory) -> ProficiencyParticipant:
    pt = make_scheme(f, labs=1, samples=1)
    return f.db.query(ProficiencyParticipant).filter_by(scheme_id=pt.scheme.id).one()


def _result(f: Factory) -> ProficiencyResult:
    pt = make_scheme(f, labs=1, samples=1)
    submit_all(f, pt)
    return f.db.query(ProficiencyResult).filter_by(scheme_id=pt.scheme.id).one()


def _scheme(f: Factory) -> ProficiencyScheme:
    """A scheme with nobody invited yet (so that it can be deleted)."""
    row = ProficiencyScheme(
        code=f"PT-W{f._next()}", title="钢筋屈服强度能力验证", region_code="360400",
        item_code="0102", parameter_code="010201", unit="MPa", deadline=dt.date(2026, 12, 1),
    )  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


WRITES: dict[type, tuple[Make, Change]] = {
    ProficiencyScheme: (_scheme, lambda s: setattr(s, "title", "改名后的能力验证")),
    ProficiencyParticipant: (_participant, lambda p: setattr(p, "code", "P99")),
    ProficiencyResult: (_result, lambda r: setattr(r, "value", 123.0)),
}

ROUTES: Routes = {
    ("GET", "/api/v1/proficiency/schemes"): "proficiency:read",
    ("GET", "/api/v1/proficiency/schemes/{scheme_id}"): "proficiency:read",
    ("POST", "/api/v1/proficiency/schemes"): "proficiency:manage",
    ("POST", "/api/v1/proficiency/schemes/{scheme_id}/results"): "proficiency:submit",
    ("POST", "/api/v1/proficiency/schemes/{scheme_id}/evaluate"): "proficiency:manage",
    ("POST", "/api/v1/proficiency/schemes/{scheme_id}/participants"): "proficiency:manage",
    ("GET", "/proficiency/schemes"): "proficiency:read",
    ("GET", "/proficiency/schemes/new"): "proficiency:manage",
    ("POST", "/proficiency/schemes"): "proficiency:manage",
    ("GET", "/proficiency/schemes/{scheme_id}"): "proficiency:read",
    ("POST", "/proficiency/schemes/{scheme_id}/evaluate"): "proficiency:manage",
    ("POST", "/proficiency/schemes/{scheme_id}/participants"): "proficiency:manage",
    ("GET", "/proficiency/schemes/{scheme_id}/report.pdf"): "proficiency:read",
    ("GET", "/proficiency/schemes/{scheme_id}/submit"): "proficiency:submit",
    ("POST", "/proficiency/schemes/{scheme_id}/submit"): "proficiency:submit",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "proficiency:read": frozenset({P, A, C, S, IA, IS_}),
    "proficiency:manage": frozenset({P, A, C, S}),
    "proficiency:submit": frozenset({P, IA, IS_}),
}
