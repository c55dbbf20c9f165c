"""JSON API of supervision work: plans and their draws (request, complete, published inputs),
checks (findings, sign-off), publication, the supervision log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import CONFLICT, NotFound
from jcjg.core.forms import Id
from jcjg.core.openapi import answers
from jcjg.supervision import service
from jcjg.supervision.models import SupervisionCheck, SupervisionLog, SupervisionPlan
from jcjg.supervision.schemas import FindingIn, LogIn, PlanIn, SignIn

router = APIRouter(prefix="/api/v1", tags=["监督执法"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("supervision:read"))]
Writer = Annotated[Principal, Depends(requires("supervision:write"))]
LogReader = Annotated[Principal, Depends(requires("supervision_log:read"))]
LogWriter = Annotated[Principal, Depends(requires("supervision_log:write"))]
CONFLICTS = answers({409: (CONFLICT,)})
LIMIT = 200


def plan_read(db: Session, p: SupervisionPlan) -> dict[str, Any]:
    row = service.draw_of(db, p.id)
    return {
        "id": p.id, "code": p.code, "title": p.title, "region_code": p.region_code,
        "period_start": p.period_start.isoformat(), "period_end": p.period_end.isoformat(),
        "basis": p.basis, "check_type": p.check_type, "specialty": p.specialty,
        "institution_count": p.institution_count, "officers_per_check": p.officers_per_check,
        "recent_months": p.recent_months, "status": p.status,
        "published_at": p.published_at.isoformat() if p.published_at else None,
        "draw": None if row is None else {
            "code": row.code, "status": row.status, "seed": row.seed,
            "commit_index": row.commit_index, "request_index": row.request_index,
            "result_index": row.result_index, "checkpoint_size": row.checkpoint_size,
        },
        "checks": [check_read(db, c) for c in service.checks_of(db, p.id)],
    }  # fmt: skip


def check_read(db: Session, c: SupervisionCheck) -> dict[str, Any]:
    found = service.findings_of(db, c.id)
    return {
        "id": c.id, "plan_id": c.plan_id, "institution_id": c.institution_id, "place": c.place,
        "status": c.status, "officers": c.officers, "conclusion": c.conclusion,
        "summary": c.summary, "check_date": c.check_date.isoformat() if c.check_date else None,
        "findings": [
            {"item_id": f.item_id, "result": f.result, "finding": f.finding, "photos": f.photos}
            for f in found.values()
        ],
    }  # fmt: skip


def log_read(e: SupervisionLog) -> dict[str, Any]:
    return {
        "id": e.id, "kind": e.kind, "entry_date": e.entry_date.isoformat(),
        "region_code": e.region_code, "institution_id": e.institution_id,
        "project_id": e.project_id, "participants": e.participants, "summary": e.summary,
        "follow_up": e.follow_up, "check_id": e.check_id,
        "attachments": [{"name": a["name"], "sha256": a["sha256"]} for a in e.attachments],
    }  # fmt: skip


@router.get("/supervision/plans", summary="双随机抽查计划（按数据范围）")
def list_plans(db: SessionDep, principal: Reader) -> list[dict[str, Any]]:
    stmt = service.plans_stmt(principal=principal).order_by(SupervisionPlan.id.desc())
    return [plan_read(db, p) for p in db.scalars(stmt.limit(LIMIT))]


@router.post("/supervision/plans", summary="制定双随机抽查计划", status_code=201)
def create_plan(data: PlanIn, db: SessionDep, principal: Writer) -> dict[str, Any]:
    return plan_read(db, service.create_plan(db=db, principal=principal, data=data))


@router.get("/supervision/plans/{plan_id}", summary="抽查计划（抽取与检查）")
def get_plan(plan_id: Id, db: SessionDep, principal: Reader) -> dict[str, Any]:
    return plan_read(db, get_scoped(db, SupervisionPlan, plan_id, principal, "read"))


@router.post(
    "/supervision/plans/{plan_id}/draw", summary="发起抽取", status_code=201, responses=CONFLICTS
)
def request_draw(plan_id: Id, db: SessionDep, principal: Writer) -> dict[str, Any]:
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "write")
    service.request_draw(db=db, principal=principal, plan=plan)
    return plan_read(db, plan)


@router.post("/supervision/plans/{plan_id}/draw/complete", summary="完成抽取")
def complete_draw(plan_id: Id, db: SessionDep, principal: Writer) -> dict[str, Any]:
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "write")
    row = service.draw_of(db, plan.id)
    if row is None:
        raise NotFound("本计划尚未发起抽取")
    service.complete(db=db, draw_row=row)
    return plan_read(db, plan)


@router.get(
    "/supervision/plans/{plan_id}/draw/inputs",
    summary="抽取的公开输入（jcjg-verify-draw 复算）",
    responses=CONFLICTS,
)
def draw_inputs(plan_id: Id, db: SessionDep, principal: Reader) -> JSONResponse:
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "read")
    row = service.draw_of(db, plan.id)
    if row is None:
        raise NotFound("本计划尚未发起抽取")
    return JSONResponse(service.published_inputs(db, row))


@router.post("/supervision/plans/{plan_id}/publish", summary="公开抽查结果", responses=CONFLICTS)
def publish(plan_id: Id, db: SessionDep, principal: Writer) -> dict[str, Any]:
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "write")
    return plan_read(db, service.publish(db=db, plan=plan))


@router.get("/supervision/checks/{check_id}", summary="检查任务")
def get_check(check_id: Id, db: SessionDep, principal: Reader) -> dict[str, Any]:
    return check_read(db, service.get_check(db, principal, check_id))


@router.post("/supervision/checks/{check_id}/findings", summary="记录检查项", responses=CONFLICTS)
def record_finding(
    check_id: Id, data: FindingIn, db: SessionDep, principal: Writer
) -> dict[str, Any]:
    check = service.get_check(db, principal, check_id)
    service.record_finding(db=db, principal=principal, check=check, data=data, photos=[])
    return check_read(db, check)


@router.post("/supervision/checks/{check_id}/sign", summary="检查人员签字确认", responses=CONFLICTS)
def sign(check_id: Id, data: SignIn, db: SessionDep, principal: Writer) -> dict[str, Any]:
    check = service.get_check(db, principal, check_id)
    return check_read(db, service.sign(db=db, principal=principal, check=check, data=data))


@router.get("/supervision/log", summary="监管台账（按数据范围）")
def list_log(
    db: SessionDep, principal: LogReader, kind: Annotated[str, Query(max_length=32)] = ""
) -> list[dict[str, Any]]:
    stmt = service.log_stmt(principal=principal, kind=kind).order_by(SupervisionLog.id.desc())
    return [log_read(e) for e in db.scalars(stmt.limit(LIMIT))]


@router.post("/supervision/log", summary="记录监管台账", status_code=201)
def add_log(data: LogIn, db: SessionDep, principal: LogWriter) -> dict[str, Any]:
    return log_read(service.add_log(db=db, principal=principal, data=data, attachments=[]))
