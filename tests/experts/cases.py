"""The experts domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

from typing import Any

from jcjg.auth.choices import Role
from jcjg.experts.models import Expert, ExpertRelation, Panel, PanelDraw, PanelMember
from tests.factories import Factory
from tests.generic import AU, A, C, E, P, Routes, S, ScopeCase


def _expert(f: Factory, code: str = "ZJ-SCOPE") -> Expert:
    row = Expert(
        code=f"{code}-{f._next()}",
        name="范围专家",
        region_code="360403",
        employer="某单位",
        specialties=["01"],
    )
    f.db.add(row)
    f.db.flush()
    return row


def _panel(f: Factory) -> Panel:
    row = Panel(
        code=f"PS-T-{f._next()}",
        title="范围评审",
        kind="qualification",
        region_code="360403",
        requirements=[{"specialty": "01", "count": 1}],
    )
    f.db.add(row)
    f.db.flush()
    return row


def _draw(f: Factory, panel: Panel) -> PanelDraw:
    row = PanelDraw(
        panel_id=panel.id,
        region_code=panel.region_code,
        sequence=1,
        code=f"{panel.code}-1",
        secret="00" * 32,
        commit_index=0,
        request_index=1,
    )
    f.db.add(row)
    f.db.flush()
    return row


def _outsiders(f: Factory, info: dict[str, Any]) -> list[Any]:
    return [
        f.user(Role.CITY_AUTHORITY, region_code="360100"),
        f.user(Role.PROVINCIAL_AUTHORITY, region_code="440000"),
        f.user(Role.AUDITOR, region_code="440000"),
    ]


def _case(model: type) -> ScopeCase:
    def make(f: Factory) -> tuple[int, dict]:
        if model is Expert:
            row: Any = _expert(f)
        elif model is ExpertRelation:
            expert = _expert(f)
            row = ExpertRelation(
                expert_id=expert.id,
                region_code=expert.region_code,
                kind="other",
                organisation="某单位",
            )
        elif model is Panel:
            row = _panel(f)
        elif model is PanelDraw:
            row = _draw(f, _panel(f))
        else:
            panel = _panel(f)
            row = PanelMember(
                panel_id=panel.id,
                draw_id=_draw(f, panel).id,
                expert_id=_expert(f).id,
                region_code="360403",
                specialty="01",
            )
        f.db.add(row)
        f.db.flush()
        city = f.user(Role.CITY_AUTHORITY, region_code="360400", commit=False)
        f.db.commit()
        return row.id, {"city": city}

    url = {Expert: "/api/v1/experts/{id}", Panel: "/api/v1/panels/{id}"}.get(model)
    return ScopeCase(make, url, _outsiders, lambda f, i: i["city"])


SCOPED = {m: _case(m) for m in (Expert, ExpertRelation, Panel, PanelDraw, PanelMember)}


def _relation(f: Factory) -> ExpertRelation:
    expert = _expert(f, "ZJ-REL")
    row = ExpertRelation(
        expert_id=expert.id, region_code=expert.region_code, kind="other", organisation="某单位"
    )
    f.db.add(row)
    f.db.flush()
    return row


def _member(f: Factory) -> PanelMember:
    panel = _panel(f)
    row = PanelMember(
        panel_id=panel.id,
        draw_id=_draw(f, panel).id,
        expert_id=_expert(f).id,
        region_code="360403",
        specialty="01",
    )
    f.db.add(row)
    f.db.flush()
    return row


WRITES = {
    Expert: (lambda f: _expert(f, "ZJ-WRITE"), lambda e: setattr(e, "title", "高级工程师")),
    ExpertRelation: (_relation, lambda r: setattr(r, "note", "已离职三年")),
    Panel: (_panel, lambda p: setattr(p, "title", "改名后的评审")),
    PanelDraw: (lambda f: _draw(f, _panel(f)), lambda d: setattr(d, "status", "completed")),
    PanelMember: (_member, lambda m: setattr(m, "status", "accepted")),
}

ROUTES: Routes = {
    ("GET", "/api/v1/experts"): "expert:read",
    ("GET", "/api/v1/experts/{expert_id}"): "expert:read",
    ("POST", "/api/v1/experts"): "expert:write",
    ("POST", "/api/v1/panels"): "panel:write",
    ("GET", "/api/v1/panels/{panel_id}"): "panel:read",
    ("POST", "/api/v1/panels/{panel_id}/draws"): "panel:write",
    ("POST", "/api/v1/panel-draws/{draw_id}/complete"): "panel:write",
    ("GET", "/api/v1/panel-draws/{draw_id}/inputs"): "panel:read",
    ("POST", "/api/v1/panel-members/{member_id}/answer"): "panel:respond",
    ("POST", "/api/v1/panel-members/{member_id}/opinion"): "panel:respond",
    ("GET", "/experts"): "expert:read",
    ("GET", "/experts/new"): "expert:write",
    ("POST", "/experts"): "expert:write",
    ("GET", "/experts/{expert_id}"): "expert:read",
    ("GET", "/experts/{expert_id}/edit"): "expert:write",
    ("POST", "/experts/{expert_id}/edit"): "expert:write",
    ("GET", "/panels"): "panel:read",
    ("GET", "/panels/new"): "panel:write",
    ("POST", "/panels"): "panel:write",
    ("GET", "/panels/{panel_id}"): "panel:read",
    ("POST", "/panels/{panel_id}/draws"): "panel:write",
    ("POST", "/panels/draws/{draw_id}/complete"): "panel:write",
    ("GET", "/panels/draws/{draw_id}/inputs.json"): "panel:read",
    ("GET", "/my/reviews"): "panel:respond",
    ("GET", "/my/reviews/{member_id}"): "panel:respond",
    ("POST", "/my/reviews/{member_id}/answer"): "panel:respond",
    ("POST", "/my/reviews/{member_id}/opinion"): "panel:respond",
    ("GET", "/my/reviews/{member_id}/draw.json"): "panel:respond",
    ("GET", "/my/expert"): "expert:self",
    ("POST", "/my/expert"): "expert:self",
}

GRANTS: dict[str, frozenset[Role]] = {
    "expert:read": frozenset({P, A, C, S, AU}),
    "expert:write": frozenset({P, A}),
    "expert:self": frozenset({P, E}),
    "panel:read": frozenset({P, A, C, S, AU}),
    "panel:write": frozenset({P, A, C}),
    "panel:respond": frozenset({P, E}),
}
