"""The overview domain's generic cases (tests/generic.py: routes and their permissions)."""

from __future__ import annotations

from tests.generic import PUBLIC, Routes

ROUTES: Routes = {
    ("GET", "/overview"): "overview:read",
    ("GET", "/public/overview"): PUBLIC,
    ("GET", "/overview/reports"): "supervision_report:read",
    ("POST", "/overview/reports"): "supervision_report:generate",
    ("GET", "/overview/reports/{report_id}/pdf"): "supervision_report:read",
}
