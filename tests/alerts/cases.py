"""The alerts domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from jcjg.alerts.models import Alert, Case, RuleBasis, RuleThreshold
from jcjg.auth.choices import Role
from tests.factories import Factory
from tests.generic import (
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
    with_station_elsewhere,
)


def _alert_obj(f: Factory) -> tuple[int, dict]:
    inst = f.institution(region_code="360403")
    alert = Alert(
        rule_id="test_rule",
        key=f"institution:{inst.id}",
        severity="warning",
        subject_type="institution",
        subject_id=str(inst.id),
        subject_repr=inst.name,
        institution_id=inst.id,
        region_code=inst.region_code,
    )
    f.db.add(alert)
    f.db.flush()
    return alert.id, {"inst": inst}


def _case_obj(f: Factory) -> tuple[int, dict]:
    alert_id, info = _alert_obj(f)
    alert = f.db.get(Alert, alert_id)
    case = Case(alert_id=alert_id, status="confirmed", region_code=alert.region_code,
                institution_id=alert.institution_id)  # fmt: skip
    f.db.add(case)
    f.db.flush()
    return case.id, info


def _threshold(f: Factory) -> RuleThreshold:
    row = RuleThreshold(rule_id="test_rule", region_code="360400", key="max_days", value=30.0)
    f.db.add(row)
    f.db.flush()
    return row


SCOPED: dict[type, ScopeCase] = {
    Alert: ScopeCase(
        _alert_obj,
        "/api/v1/alerts/{id}",
        with_station_elsewhere,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    ),
    Case: ScopeCase(  # read on its alert's page: the alert's scope
        _case_obj,
        None,
        with_station_elsewhere,
        lambda f, i: f.user(Role.INSTITUTION_STAFF, institution=i["inst"]),
    ),
}


def _basis(f: Factory) -> RuleBasis:
    row = RuleBasis(rule_id="test_rule", region_code="360400", clause="003 四（三）")
    f.db.add(row)
    f.db.flush()
    return row


WRITES: dict[type, tuple[Make, Change]] = {
    RuleThreshold: (lambda f: _threshold(f), lambda t: setattr(t, "value", 45.0)),
    RuleBasis: (lambda f: _basis(f), lambda b: setattr(b, "clause", "003 四（二）")),
}


ROUTES: Routes = {
    ("GET", "/alerts"): "alert:read",
    ("GET", "/alerts/rules"): "alert:read",
    ("GET", "/alerts/{alert_id}"): "alert:read",
    ("POST", "/alerts/{alert_id}/case"): "alert:read",  # and the step's case:handle/answer
    ("POST", "/alerts/bulk"): "alert:read",  # and case:handle
    ("GET", "/alerts/{alert_id}/case/evidence/{sha256}"): "alert:read",
    ("POST", "/alerts/rules/{rule_id}/thresholds"): "rule:configure",
    ("POST", "/alerts/rules/{rule_id}/basis"): "rule:configure",
    ("GET", "/api/v1/alerts"): "alert:read",
    ("GET", "/api/v1/alerts/{alert_id}"): "alert:read",
    ("GET", "/api/v1/rules"): "alert:read",
    ("PUT", "/api/v1/rules/{rule_id}/thresholds/{region_code}"): "rule:configure",
    ("PUT", "/api/v1/rules/{rule_id}/basis/{region_code}"): "rule:configure",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "alert:read": frozenset({P, A, C, S, IA, IS_, AU}),
    "rule:configure": frozenset({P, A}),
    "case:handle": frozenset({P, A, C, S}),
    "case:answer": frozenset({P, IA, IS_}),
}
