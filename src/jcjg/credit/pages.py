"""Credit pages: the list of institutions' scores (compute, publish), an institution's history
with the explanation, evaluations and appeals, the evaluation form, the model and its versions."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, restrict
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import AppError, FieldError, NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.credit import jobs, scoring, service
from jcjg.credit.choices import AppealStatus, FactKind, ScoreStatus, Source
from jcjg.credit.lists import SCORES, names
from jcjg.credit.models import CreditModel
from jcjg.projects.models import Project
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("credit:read"))]
Manager = Annotated[Principal, Depends(requires("credit:manage"))]
Evaluator = Annotated[Principal, Depends(requires("credit:evaluate"))]
Appellant = Annotated[Principal, Depends(requires("credit:appeal"))]
Modeller = Annotated[Principal, Depends(requires("credit:model"))]
CHOICES: dict[str, Any] = {
    "statuses": {s.value: s for s in ScoreStatus},
    "sources": {s.value: s for s in Source},
    "facts": {k.value: k for k in FactKind},
    "appeal_statuses": {s.value: s for s in AppealStatus},
}
DONE = {
    "computed": "已计算。",
    "published": "已公布，已通知各检测机构。",
    "evaluated": "评价已保存，下次计算时计入。",
    "appealed": "申诉已提交，主管部门处理后会通知您。",
    "decided": "申诉已处理，已通知该检测机构。",
    "model": "已保存为新版本；以前的得分仍按原版本。",
}


def _period_now() -> str:
    return scoring.period_of(beijing_date(utcnow()))


@router.get("/credit", response_class=HTMLResponse)
def score_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=64)] = "",
    period: Annotated[str, Query(pattern=r"^(|20[0-9]{2}(Q[1-4])?)$")] = "",
    grade: Annotated[str, Query(max_length=8)] = "",
    status: Annotated[str, Query(pattern="^(|draft|published)$")] = "",
    done: Annotated[str, Query(max_length=20)] = "",
    count: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    """Current institution scores in reach; ``?format=xlsx`` exports them."""
    stmt = service.scores_stmt(principal=principal, period=period, grade=grade, q=q,
                               status=status)  # fmt: skip
    if params.exporting:
        return listing.export(request, db, SCORES, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, SCORES.order_for(params))
    rows = list(paged.rows)
    model = service.current_model(db, service.home_province(db, principal))
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, SCORES, params),
        "filters": {"q": q, "period": period, "grade": grade, "status": status},
        "names": names(db, [r.institution_id for r in rows]),
        "grades": [b[0] for b in model.config["bands"]],
        "period_now": _period_now(),
        "done": DONE.get(done, "").replace("已计算。", f"已计算 {count} 家检测机构。"),
        **CHOICES,
    }
    return render(request, "credit/list.html", context)


def _period(form: PostedForm) -> str:
    return service.check_period((form.get("period") or "").strip())


@router.post("/credit/compute", response_class=HTMLResponse)
def compute(request: Request, db: SessionDep, principal: Manager, form: PostedForm) -> Response:
    n = service.compute_on_demand(db=db, principal=principal, period=_period(form))
    return redirect(f"/credit?done=computed&count={n}")


@router.post("/credit/publish", response_class=HTMLResponse)
def publish(request: Request, db: SessionDep, principal: Manager, form: PostedForm) -> Response:
    period = _period(form)
    service.publish(db=db, principal=principal, period=period)
    return redirect(f"/credit?done=published&period={period}")


# --- an institution --------------------------------------------------------------------------


def _institution(db: Session, principal: Principal, institution_id: int) -> Institution:
    found = db.scalars(
        restrict(select(Institution), principal, "read").where(Institution.id == institution_id)
    ).first()
    if found is None:
        raise NotFound()
    return found


@router.get("/credit/institutions/{institution_id}", response_class=HTMLResponse)
def institution_page(
    request: Request,
    db: SessionDep,
    principal: Reader,
    institution_id: Id,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    inst = _institution(db, principal, institution_id)
    rows = service.history(db, principal, inst.id)
    mine = [r for r in rows if r.person_id is None]
    current = next((r for r in mine if r.is_current), None)
    people = {p.id: p for p in db.scalars(select(Person).where(Person.institution_id == inst.id))}
    context = {
        "inst": inst,
        "current": current,
        "history": mine,
        "persons": [r for r in rows if r.person_id is not None and r.is_current],
        "people": people,
        "evaluations": service.evaluations(db, inst.id, current.period) if current else [],
        "appeals": service.appeals_of(db, principal, inst.id),
        "model": db.get(CreditModel, current.model_id) if current else None,
        # a draft is computed again by the job: when, so that a fact since is not taken for
        # one that does not count
        "next_run": (
            current.computed_at + jobs.compute.every
            if current is not None and current.status == ScoreStatus.DRAFT.value
            else None
        ),
        "jobs_every_hours": f"{jobs.compute.every.total_seconds() / 3600:g}",
        "may_appeal": principal.can("credit:appeal") and principal.institution_id == inst.id,
        "may_decide": principal.can("credit:manage"),
        "done": DONE.get(done, ""),
        **CHOICES,
    }
    return render(request, "credit/institution.html", context)


@router.post("/credit/scores/{score_id}/appeal", response_class=HTMLResponse)
@text_fields(multiline=("reason",))
def file_appeal(
    request: Request, db: SessionDep, principal: Appellant, score_id: Id, form: PostedForm
) -> Response:
    score = service.get_score(db, principal, score_id)
    service.appeal(db=db, principal=principal, score=score, fact=form.get("fact") or "",
                   reason=form.get("reason") or "")  # fmt: skip
    return redirect(f"/credit/institutions/{score.institution_id}?done=appealed")


@router.post("/credit/appeals/{appeal_id}/decide", response_class=HTMLResponse)
@text_fields(multiline=("decision",))
def decide_appeal(
    request: Request, db: SessionDep, principal: Manager, appeal_id: Id, form: PostedForm
) -> Response:
    row = service.decide(db=db, principal=principal, appeal_id=appeal_id,
                         corrected=form.get("outcome") == "corrected",
                         decision=form.get("decision") or "")  # fmt: skip
    return redirect(f"/credit/institutions/{row.institution_id}?done=decided")


# --- evaluating ------------------------------------------------------------------------------


def _evaluation_form(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, Any],
    error: AppError | None = None,
) -> Response:
    errors = errors_by_field(error.errors) if error else {}
    source = service.source_of(principal)
    projects = (
        list(db.scalars(select(Project).where(Project.id.in_(sorted(principal.project_ids)))))
        if source is Source.PARTY
        else []
    )
    context = {
        "values": values,
        "errors": errors,
        "error": error.on_page if error else "",
        "source": source,
        "institutions": service.evaluable(db, principal),
        "projects": projects,
    }
    return render(
        request, "credit/evaluate.html", context, status_code=error.status if error else 200
    )


@router.get("/credit/evaluate", response_class=HTMLResponse)
def evaluation_new(request: Request, db: SessionDep, principal: Evaluator) -> Response:
    return _evaluation_form(request, db, principal, {"period": _period_now()})


@router.post("/credit/evaluate", response_class=HTMLResponse)
@text_fields(multiline=("comment",))
def evaluation_save(
    request: Request, db: SessionDep, principal: Evaluator, form: PostedForm
) -> Response:
    values = form.values()
    try:
        inst_id = form_id(values.get("institution_id", ""))
        if inst_id is None:
            raise ValidationFailed(errors=[FieldError("institution_id", "请选择检测机构")])
        try:
            score = Decimal(values.get("score", "")).quantize(Decimal("0.01"))
        except InvalidOperation as exc:
            raise ValidationFailed(errors=[FieldError("score", "请填写 0 到 100 的分数")]) from exc
        row = service.evaluate(
            db=db, principal=principal, institution_id=inst_id,
            period=values.get("period", ""), score=score, comment=values.get("comment", ""),
            project_id=form_id(values.get("project_id", "")),
        )  # fmt: skip
    except ValidationFailed as error:
        db.rollback()
        return _evaluation_form(request, db, principal, values, error)
    if principal.can("credit:read"):
        return redirect(f"/credit/institutions/{row.institution_id}?done=evaluated")
    return redirect("/credit/evaluate?done=evaluated")


# --- the model -------------------------------------------------------------------------------


@router.get("/credit/models", response_class=HTMLResponse)
def model_page(
    request: Request,
    db: SessionDep,
    principal: Reader,
    done: Annotated[str, Query(max_length=20)] = "",
    province: Annotated[str, Query(pattern=r"^([1-9]\d0000)?$")] = "",
) -> Response:
    """The province's model (the reader's own; ``?province=`` for a reader of global scope)."""
    current = service.current_model(db, service.home_province(db, principal, province))
    return _model_page(request, db, principal, current, json.dumps(
        current.config, ensure_ascii=False, indent=2), done=DONE.get(done, ""),
        values=_model_values(current.config))  # fmt: skip


def _model_page(
    request: Request,
    db: Session,
    principal: Principal,
    current: CreditModel,
    text: str,
    *,
    done: str = "",
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    context = {
        "current": current,
        "versions": service.models_of(db, current.region_code),
        "text": text,
        "values": values or _model_values(current.config),
        "field_errors": errors_by_field(error.errors) if error else {},
        "band_rows": range(BAND_ROWS),
        "done": done,
        "error": error.on_page if error else "",
        "errors": [e.message for e in error.errors] if error else [],
        "may_edit": principal.can("credit:model"),
        **CHOICES,
    }
    return render(
        request, "credit/models.html", context, status_code=error.status if error else 200
    )


BAND_ROWS = 7  # grade lines on the form (the default model has five)


def _plain_number(value: Any) -> str:
    number = Decimal(str(value))
    return str(number.to_integral()) if number == number.to_integral() else str(number)


def _model_values(config: dict[str, Any]) -> dict[str, str]:
    """A model's config as the form's fields (``weight_self``, ``points_penalty``, ...)."""
    out = {"baseline": _plain_number(config.get("baseline", 0)),
           "appeal_days": str(config.get("appeal_days", 15))}  # fmt: skip
    for source in Source:
        out[f"weight_{source.value}"] = _plain_number(
            config.get("weights", {}).get(source.value, 0)
        )
    for kind in FactKind:
        rule = config.get("deductions", {}).get(kind.value, {})
        out[f"points_{kind.value}"] = _plain_number(rule.get("points", 0))
        out[f"cap_{kind.value}"] = _plain_number(rule.get("cap", 0))
    for i, (grade, minimum) in enumerate(config.get("bands", [])[:BAND_ROWS]):
        out[f"grade_{i}"], out[f"min_{i}"] = str(grade), _plain_number(minimum)
    person = config.get("person", {})
    penalty = person.get("deductions", {}).get("penalty", {})
    out["person_baseline"] = _plain_number(person.get("baseline", 100))
    out["person_points"] = _plain_number(penalty.get("points", 0))
    out["person_cap"] = _plain_number(penalty.get("cap", 0))
    return out


def _form_config(values: dict[str, str]) -> dict[str, Any]:
    """The form's fields as a model's config; each bad field named (422)."""
    errors: list[FieldError] = []

    def number(name: str, label: str, top: int | None = None) -> float | int:
        raw = values.get(name, "").strip()
        try:
            found = Decimal(raw)
        except InvalidOperation:
            found = Decimal("NaN")
        if not found.is_finite() or found < 0 or (top is not None and found > top):
            bound = f"0 到 {top} 之间的数" if top is not None else "不小于 0 的数"
            errors.append(FieldError(name, f"{label}须为{bound}"))
            return 0
        return int(found) if found == found.to_integral() else float(found)

    config: dict[str, Any] = {
        "baseline": number("baseline", "基准分", 100),
        "weights": {s.value: number(f"weight_{s.value}", f"{s.label}的权重") for s in Source},
        "deductions": {
            k.value: {
                "points": number(f"points_{k.value}", f"{k.label}的每次扣分", 100),
                "cap": number(f"cap_{k.value}", f"{k.label}的上限", 100),
            }
            for k in FactKind
        },
        "bands": [],
        "person": {
            "baseline": number("person_baseline", "关键岗位人员的基准分", 100),
            "deductions": {
                "penalty": {
                    "points": number("person_points", "人员行政处罚的每次扣分", 100),
                    "cap": number("person_cap", "人员行政处罚的上限", 100),
                }
            },
        },
        "appeal_days": number("appeal_days", "申诉期限", 90),
    }
    for i in range(BAND_ROWS):
        grade = values.get(f"grade_{i}", "").strip()
        if not grade and not values.get(f"min_{i}", "").strip():
            continue
        if not grade or len(grade) > 8:
            errors.append(FieldError(f"grade_{i}", "等级名称须为 1～8 个字"))
        config["bands"].append([grade, number(f"min_{i}", f"等级 {grade} 的得分下限", 100)])
    if errors:
        raise ValidationFailed(errors=errors)
    return config


@router.post("/credit/models", response_class=HTMLResponse)
@text_fields(multiline=("config", "note"))
def model_save(request: Request, db: SessionDep, principal: Modeller, form: PostedForm) -> Response:
    """A new version from the form's fields, or (``config``: 以 JSON 编辑) from its JSON."""
    text = form.get("config") or ""
    values = form.values()
    try:
        if "config" in values:
            try:
                config = json.loads(text)
            except ValueError as exc:
                raise ValidationFailed(errors=[FieldError("config", "模型配置须为 JSON")]) from exc
            if not isinstance(config, dict):
                raise ValidationFailed(errors=[FieldError("config", "模型配置须为 JSON 对象")])
        else:
            config = _form_config(values)
        service.new_version(db=db, principal=principal, config=config,
                            note=form.get("note") or "")  # fmt: skip
    except ValidationFailed as error:
        db.rollback()
        current = service.current_model(db, service.home_province(db, principal))
        shown = text or json.dumps(current.config, ensure_ascii=False, indent=2)
        kept = None if "config" in values else values
        return _model_page(request, db, principal, current, shown, error=error, values=kept)
    return redirect("/credit/models?done=model")
