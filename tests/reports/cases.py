"""The reports domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt

from jcjg.auth.choices import Role
from jcjg.reports.models import Report
from tests.factories import Factory
from tests.generic import AU, IA, IS_, PU, PUBLIC, A, C, P, Routes, S, ScopeCase


def _report_case() -> ScopeCase:
    """A report of a 九江 lab on a project: another lab's staff, a station of 南昌 and a party
    unit of another project do not find it; the lab's staff does."""

    def make(f: Factory) -> tuple[int, dict]:
        from jcjg.reports import service as reports_service
        from jcjg.reports.schemas import ReportIn

        lab = f.institution(region_code="360403")
        project = f.project()
        now = dt.datetime.now(dt.UTC)
        report = reports_service.issue_report(
            db=f.db,
            institution=lab,
            data=ReportIn.model_validate(
                {
                    "message_id": "5d0c8d0e-2f6b-4b8a-9a31-7c4e0f9b2a12",
                    "institution_code": lab.code,
                    "number": "BG-SCOPE",
                    "sequence": 1,
                    "project_code": project.code,
                    "items": ["0108"],
                    "signatories": [{"name": "王检测"}],
                    "issued_on": now.date().isoformat(),
                }
            ),
            received_at=now,
        )
        staff = f.user(Role.INSTITUTION_STAFF, institution=lab, commit=False)
        f.db.commit()
        return report.id, {"staff": staff}

    return ScopeCase(
        make,
        None,
        lambda f, i: [
            f.user(Role.INSTITUTION_STAFF),
            f.user(Role.STATION, region_code="360100"),
            f.user(Role.PARTY_UNIT),
        ],
        lambda f, i: i["staff"],
    )


SCOPED: dict[type, ScopeCase] = {Report: _report_case()}


ROUTES: Routes = {
    ("GET", "/reports"): "report:read",
    ("GET", "/reports/{report_id}"): "report:read",
    ("GET", "/reports/{report_id}/qr.{kind}"): "report:read",
    ("GET", "/reports/{report_id}/report.pdf"): "report:read",
    ("GET", "/v/{code}"): PUBLIC,
    ("GET", "/m/scan"): PUBLIC,
    ("GET", "/verify"): PUBLIC,
    ("GET", "/v/{code}.json"): PUBLIC,
    ("GET", "/v/{code}/curves/{curve_id}.json"): PUBLIC,
    ("GET", "/v/{code}/samples/{sample_code}/{role}"): PUBLIC,
    ("GET", "/v/{code}/report.pdf"): PUBLIC,
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "report:read": frozenset({P, A, C, S, IA, IS_, PU, AU}),
}
