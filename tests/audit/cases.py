"""The audit domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from tests.factories import Factory
from tests.generic import AU, IA, A, C, P, Routes, ScopeCase, region_outsiders


def _audit_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    f.db.commit()
    row = f.db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "institution", AuditLog.object_id == str(inst.id)
        )
    ).one()
    return row.id, {"inst": inst}


SCOPED: dict[type, ScopeCase] = {
    AuditLog: ScopeCase(
        _audit_obj,
        "/api/v1/audit/{id}",
        region_outsiders,
        lambda f, i: f.user(Role.CITY_AUTHORITY, region_code="360400"),
    ),
}


ROUTES: Routes = {
    ("GET", "/audit"): "audit:read",
    ("GET", "/audit/{log_id}"): "audit:read",
    ("GET", "/api/v1/audit"): "audit:read",
    ("GET", "/api/v1/audit/{log_id}"): "audit:read",
    # a background export's progress and file: its own account's only (tests/alerts/test_list)
    ("GET", "/exports/{token}"): "account:manage",
    ("GET", "/exports/{token}/file"): "account:manage",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "audit:read": frozenset({P, A, C, IA, AU}),
}
