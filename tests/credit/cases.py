"""The credit domain's generic cases (tests/generic.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jcjg.auth.choices import Role
from jcjg.credit import service
from jcjg.credit.models import CreditAppeal, CreditEvaluation, CreditModel, CreditScore
from tests.factories import Factory
from tests.generic import (
    AS,
    AU,
    IA,
    IS_,
    PU,
    PUBLIC,
    A,
    C,
    Change,
    Make,
    P,
    Routes,
    S,
    ScopeCase,
    region_outsiders,
)  # fmt: skip

PERIOD = "2026Q3"


def _score(f: Factory, inst) -> CreditScore:
    return service.compute_institution(f.db, inst, PERIOD, reason="测试")


def _evaluation(f: Factory, inst=None) -> CreditEvaluation:
    inst = inst or f.institution(region_code="360403")
    row = CreditEvaluation(institution_id=inst.id, region_code=inst.region_code, period=PERIOD,
                           source="authority", slot="authority", score=Decimal("80"))  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _appeal(f: Factory, inst=None) -> CreditAppeal:
    inst = inst or f.institution(region_code="360403")
    score = _score(f, inst)
    row = CreditAppeal(score_id=score.id, institution_id=inst.id, region_code=inst.region_code,
                       period=PERIOD, reason="申诉理由。")  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _case(model: type) -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict[str, Any]]:
        inst = f.institution(region_code="360403")
        if model is CreditScore:
            row: Any = _score(f, inst)
        elif model is CreditEvaluation:
            row = _evaluation(f, inst)
        elif model is CreditAppeal:
            row = _appeal(f, inst)
        else:
            row = service.current_model(f.db, "360000")
        staff = f.user(Role.INSTITUTION_STAFF, institution=inst, commit=False)
        f.db.commit()
        return row.id, {"staff": staff}

    def outsiders(f: Factory, info: dict[str, Any]):
        found = region_outsiders(f, info)
        if model is CreditModel:  # a province's model: another province only
            return [u for u in found if u.region_code == "440000"]
        return found

    def insider(f: Factory, info: dict[str, Any]):
        if model is CreditModel:
            return f.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
        return info["staff"]

    return ScopeCase(make, None, outsiders, insider)


SCOPED = {m: _case(m) for m in (CreditScore, CreditEvaluation, CreditAppeal, CreditModel)}

WRITES: dict[type, tuple[Make, Change]] = {
    CreditEvaluation: (_evaluation, lambda e: setattr(e, "score", Decimal("81"))),
    CreditAppeal: (_appeal, lambda a: setattr(a, "reason", "补充申诉理由。")),
}

ROUTES: Routes = {
    ("GET", "/credit"): "credit:read",
    ("GET", "/api/v1/credit/scores"): "credit:read",
    ("GET", "/api/v1/credit/scores/{score_id}"): "credit:read",
    ("GET", "/api/v1/credit/institutions/{institution_id}/scores"): "credit:read",
    ("POST", "/credit/compute"): "credit:manage",
    ("POST", "/credit/publish"): "credit:manage",
    ("GET", "/credit/institutions/{institution_id}"): "credit:read",
    ("POST", "/credit/scores/{score_id}/appeal"): "credit:appeal",
    ("POST", "/credit/appeals/{appeal_id}/decide"): "credit:manage",
    ("GET", "/credit/evaluate"): "credit:evaluate",
    ("POST", "/credit/evaluate"): "credit:evaluate",
    ("GET", "/credit/models"): "credit:read",
    ("POST", "/credit/models"): "credit:model",
    ("GET", "/public/institutions"): PUBLIC,
    ("GET", "/public/institutions/{institution_id}"): PUBLIC,
}

GRANTS = {
    "credit:read": frozenset({P, A, C, S, IA, IS_, AU, AS}),
    "credit:evaluate": frozenset({P, A, C, IA, PU, AS}),
    "credit:manage": frozenset({P, A, C}),
    "credit:appeal": frozenset({P, IA}),
    "credit:model": frozenset({P, A}),
}
