"""The supervision domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from jcjg.auth.choices import Role
from jcjg.supervision.models import (
    CheckFinding,
    CheckItem,
    OfficerRelation,
    SupervisionCheck,
    SupervisionDraw,
    SupervisionLog,
    SupervisionPlan,
)
from tests.factories import Factory
from tests.generic import AU, PUBLIC, A, C, P, Routes, S, ScopeCase


def _plan(f: Factory) -> SupervisionPlan:
    row = SupervisionPlan(
        code=f"SC-T-{f._next()}",
        title="范围抽查",
        region_code="360403",
        period_start=dt.date(2026, 11, 1),
        period_end=dt.date(2026, 12, 1),
        basis="002 第十六条",
        institution_count=1,
    )
    f.db.add(row)
    f.db.flush()
    return row


def _check(f: Factory) -> SupervisionCheck:
    plan = _plan(f)
    row = SupervisionCheck(
        plan_id=plan.id, institution_id=f.institution().id, region_code="360403", place=1
    )
    f.db.add(row)
    f.db.flush()
    return row


def _item(f: Factory) -> CheckItem:
    row = CheckItem(check_type="test", code=f"T{f._next()}", title="测试项")
    f.db.add(row)
    f.db.flush()
    return row


def _finding(f: Factory) -> CheckFinding:
    row = CheckFinding(
        check_id=_check(f).id, item_id=_item(f).id, region_code="360403", result="conforming"
    )
    f.db.add(row)
    f.db.flush()
    return row


def _draw(f: Factory) -> SupervisionDraw:
    plan = _plan(f)
    row = SupervisionDraw(
        plan_id=plan.id,
        region_code="360403",
        code=f"{plan.code}-1",
        secret="00" * 32,
        commit_index=0,
        request_index=1,
    )
    f.db.add(row)
    f.db.flush()
    return row


def _log(f: Factory) -> SupervisionLog:
    row = SupervisionLog(
        region_code="360403", kind="visit", entry_date=dt.date(2026, 11, 2), summary="现场检查"
    )
    f.db.add(row)
    f.db.flush()
    return row


def _relation(f: Factory) -> OfficerRelation:
    user = f.user(Role.STATION, region_code="360403", commit=False)
    row = OfficerRelation(user_id=user.id, institution_id=f.institution().id, region_code="360403")
    f.db.add(row)
    f.db.flush()
    return row


MAKERS: dict[type, Any] = {
    SupervisionPlan: _plan,
    SupervisionDraw: _draw,
    SupervisionCheck: _check,
    CheckFinding: _finding,
    SupervisionLog: _log,
    OfficerRelation: _relation,
}


def _outsiders(f: Factory, info: dict[str, Any]) -> list[Any]:
    return [
        f.user(Role.CITY_AUTHORITY, region_code="360100"),
        f.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),
        f.user(Role.AUDITOR, region_code="440000"),
    ]


def _case(model: type) -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict]:
        row = MAKERS[model](f)
        city = f.user(Role.CITY_AUTHORITY, region_code="360400", commit=False)
        f.db.commit()
        return row.id, {"city": city}

    url = {
        SupervisionPlan: "/api/v1/supervision/plans/{id}",
        SupervisionCheck: "/api/v1/supervision/checks/{id}",
    }.get(model)
    return ScopeCase(make, url, _outsiders, lambda f, i: i["city"])


SCOPED = {m: _case(m) for m in MAKERS}

WRITES = {
    CheckItem: (_item, lambda r: setattr(r, "title", "改名后的检查项")),
    SupervisionPlan: (_plan, lambda r: setattr(r, "title", "改名后的计划")),
    SupervisionDraw: (_draw, lambda r: setattr(r, "status", "completed")),
    SupervisionCheck: (_check, lambda r: setattr(r, "status", "in_progress")),
    CheckFinding: (_finding, lambda r: setattr(r, "finding", "补充说明")),
    SupervisionLog: (_log, lambda r: setattr(r, "follow_up", "一周后复查")),
    OfficerRelation: (_relation, lambda r: setattr(r, "note", "已解除")),
}

R, W = "supervision:read", "supervision:write"
ROUTES: Routes = {
    ("GET", "/api/v1/supervision/plans"): R,
    ("POST", "/api/v1/supervision/plans"): W,
    ("GET", "/api/v1/supervision/plans/{plan_id}"): R,
    ("POST", "/api/v1/supervision/plans/{plan_id}/draw"): W,
    ("POST", "/api/v1/supervision/plans/{plan_id}/draw/complete"): W,
    ("GET", "/api/v1/supervision/plans/{plan_id}/draw/inputs"): R,
    ("POST", "/api/v1/supervision/plans/{plan_id}/publish"): W,
    ("GET", "/api/v1/supervision/checks/{check_id}"): R,
    ("POST", "/api/v1/supervision/checks/{check_id}/findings"): W,
    ("POST", "/api/v1/supervision/checks/{check_id}/sign"): W,
    ("GET", "/api/v1/supervision/log"): "supervision_log:read",
    ("POST", "/api/v1/supervision/log"): "supervision_log:write",
    ("GET", "/supervision/plans"): R,
    ("GET", "/supervision/plans/new"): W,
    ("POST", "/supervision/plans"): W,
    ("GET", "/supervision/plans/{plan_id}"): R,
    ("POST", "/supervision/plans/{plan_id}/draw"): W,
    ("POST", "/supervision/plans/{plan_id}/publish"): W,
    ("GET", "/supervision/plans/{plan_id}/draw/inputs.json"): R,
    ("GET", "/supervision/checks/{check_id}"): R,
    ("POST", "/supervision/checks/{check_id}/findings"): W,
    ("POST", "/supervision/checks/{check_id}/sign"): W,
    ("GET", "/supervision/photos/{check_id}/{sha256}"): R,
    ("GET", "/supervision/log"): "supervision_log:read",
    ("GET", "/supervision/relations"): R,
    ("POST", "/supervision/relations"): W,
    ("POST", "/supervision/relations/{relation_id}/withdraw"): W,
    ("GET", "/supervision/items"): R,
    ("POST", "/supervision/items"): "check_item:manage",
    ("POST", "/supervision/items/{item_id}"): "check_item:manage",
    ("POST", "/supervision/log"): "supervision_log:write",
    ("GET", "/public/spot-checks"): PUBLIC,
    ("GET", "/public/spot-checks/{code}"): PUBLIC,
}

GRANTS: dict[str, frozenset[Role]] = {
    "supervision:read": frozenset({P, A, C, S, AU}),
    "supervision:write": frozenset({P, A, C, S}),
    "supervision_log:read": frozenset({P, A, C, S, AU}),
    "supervision_log:write": frozenset({P, A, C, S}),
    "check_item:manage": frozenset({P}),
}
