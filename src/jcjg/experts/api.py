"""JSON API of the expert pool and panel draws: experts, panels, draws (request, complete,
published inputs), and an expert's answers and opinions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import CONFLICT
from jcjg.core.forms import Id
from jcjg.core.openapi import answers
from jcjg.experts import service
from jcjg.experts.models import Expert, Panel, PanelDraw, PanelMember
from jcjg.experts.schemas import AnswerIn, ExpertIn, OpinionIn, PanelIn

router = APIRouter(prefix="/api/v1", tags=["专家库与评审"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("expert:read"))]
Writer = Annotated[Principal, Depends(requires("expert:write"))]
PanelReader = Annotated[Principal, Depends(requires("panel:read"))]
PanelWriter = Annotated[Principal, Depends(requires("panel:write"))]
Responder = Annotated[Principal, Depends(requires("panel:respond"))]
CONFLICTS = answers({409: (CONFLICT,)})


def expert_read(db: Any, e: Expert) -> dict[str, Any]:
    return {
        "id": e.id,
        "code": e.code,
        "name": e.name,
        "region_code": e.region_code,
        "title": e.title,
        "employer": e.employer,
        "employer_credit_code": e.employer_credit_code,
        "specialties": e.specialties,
        "available": e.available,
        "unavailable_until": e.unavailable_until.isoformat() if e.unavailable_until else None,
        "user_id": e.user_id,
        "relations": [
            {
                "kind": r.kind,
                "organisation": r.organisation,
                "credit_code": r.credit_code,
                "note": r.note,
            }
            for r in service.relations(db, e.id)
        ],
    }


def panel_read(db: Any, p: Panel) -> dict[str, Any]:
    return {
        "id": p.id,
        "code": p.code,
        "title": p.title,
        "kind": p.kind,
        "region_code": p.region_code,
        "institution_id": p.institution_id,
        "region_policy": p.region_policy,
        "requirements": p.requirements,
        "review_date": p.review_date.isoformat() if p.review_date else None,
        "draws": [draw_read(d) for d in service.draws(db, p.id)],
        "members": [member_read(m) for m in service.members(db, p.id)],
    }


def draw_read(d: PanelDraw) -> dict[str, Any]:
    return {
        "id": d.id,
        "code": d.code,
        "sequence": d.sequence,
        "status": d.status,
        "commit_index": d.commit_index,
        "request_index": d.request_index,
        "result_index": d.result_index,
        "seed": d.seed,
    }


def member_read(m: PanelMember) -> dict[str, Any]:
    return {
        "id": m.id,
        "panel_id": m.panel_id,
        "expert_id": m.expert_id,
        "specialty": m.specialty,
        "status": m.status,
        "conclusion": m.conclusion,
        "score": m.score,
        "scores": m.scores,
    }


@router.get("/experts", summary="专家库（按数据范围）")
def list_experts(
    db: SessionDep,
    principal: Reader,
    q: Annotated[str, Query(max_length=64)] = "",
    specialty: Annotated[str, Query(max_length=8, pattern=r"^[0-9A-Za-z]*$")] = "",
) -> dict[str, Any]:
    stmt = service.experts_stmt(principal=principal, q=q, specialty=specialty)
    rows = db.scalars(stmt.order_by(Expert.code).limit(500)).all()
    return {"items": [expert_read(db, e) for e in rows], "total": len(rows)}


@router.get("/experts/{expert_id}", summary="专家")
def get_expert(expert_id: Id, db: SessionDep, principal: Reader) -> dict[str, Any]:
    return expert_read(db, get_scoped(db, Expert, expert_id, principal, "read"))


@router.post("/experts", summary="登记专家", status_code=201)
def create_expert(data: ExpertIn, db: SessionDep, principal: Writer) -> dict[str, Any]:
    return expert_read(db, service.save_expert(db=db, principal=principal, data=data))


@router.post("/panels", summary="建立专家评审组", status_code=201)
def create_panel(data: PanelIn, db: SessionDep, principal: PanelWriter) -> dict[str, Any]:
    return panel_read(db, service.create_panel(db=db, principal=principal, data=data))


@router.get("/panels/{panel_id}", summary="专家评审组（抽取与成员）")
def get_panel(panel_id: Id, db: SessionDep, principal: PanelReader) -> dict[str, Any]:
    return panel_read(db, get_scoped(db, Panel, panel_id, principal, "read"))


@router.post(
    "/panels/{panel_id}/draws",
    summary="发起抽取（首次或补抽）",
    status_code=201,
    responses=CONFLICTS,
)
def request_draw(panel_id: Id, db: SessionDep, principal: PanelWriter) -> dict[str, Any]:
    panel = get_scoped(db, Panel, panel_id, principal, "write")
    return draw_read(service.request_draw(db=db, principal=principal, panel=panel))


@router.post("/panel-draws/{draw_id}/complete", summary="完成抽取（检查点已包含请求时）")
def complete_draw(draw_id: Id, db: SessionDep, principal: PanelWriter) -> dict[str, Any]:
    row = get_scoped(db, PanelDraw, draw_id, principal, "write")
    service.complete(db=db, draw_row=row)
    return draw_read(row)


@router.get(
    "/panel-draws/{draw_id}/inputs", summary="抽取的公开输入（供独立验证）", responses=CONFLICTS
)
def draw_inputs(draw_id: Id, db: SessionDep, principal: PanelReader) -> JSONResponse:
    row = get_scoped(db, PanelDraw, draw_id, principal, "read")
    return JSONResponse(service.published_inputs(db, row))


@router.post("/panel-members/{member_id}/answer", summary="答复评审邀请", responses=CONFLICTS)
def answer(member_id: Id, data: AnswerIn, db: SessionDep, principal: Responder) -> dict[str, Any]:
    return member_read(service.answer(db=db, principal=principal, member_id=member_id, data=data))


@router.post(
    "/panel-members/{member_id}/opinion", summary="提交评审意见与评分", responses=CONFLICTS
)
def opinion(member_id: Id, data: OpinionIn, db: SessionDep, principal: Responder) -> dict[str, Any]:
    return member_read(
        service.submit_opinion(db=db, principal=principal, member_id=member_id, data=data)
    )
