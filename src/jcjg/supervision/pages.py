"""Pages of supervision work: plans (list, form, the plan with its draw and checks), a check on
a phone (findings per item with photos and position, sign-off), the supervision log, and the
public results (``/public/spot-checks``, no login, no personal data)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.catalogue.regulations import citer
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import (
    AppError,
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    errors_by_field,
)
from jcjg.core.evidence import Upload
from jcjg.core.evidence import check as check_files
from jcjg.core.evidence import serve as serve_files
from jcjg.core.evidence import store as store_files
from jcjg.core.forms import Day, Id, PostedForm, form_id
from jcjg.core.listing import ListParams, list_params
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.ratelimit import rate_limit
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.documents.photos import take_photo
from jcjg.regions import service as regions
from jcjg.registry.service import institution_names
from jcjg.supervision import service
from jcjg.supervision.choices import (
    CheckStatus,
    CheckType,
    Conclusion,
    ItemResult,
    LogKind,
    PlanStatus,
)
from jcjg.supervision.lists import CHECK_ITEMS, LOG, PLANS, RELATIONS, officer_names
from jcjg.supervision.models import CheckFinding, CheckItem, SupervisionCheck, SupervisionPlan
from jcjg.supervision.schemas import CheckItemIn, FindingIn, LogIn, PlanIn, SignIn

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
public_router = APIRouter(
    include_in_schema=False,
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("verify"))],
)
Reader = Annotated[Principal, Depends(requires("supervision:read"))]
Writer = Annotated[Principal, Depends(requires("supervision:write"))]
LogReader = Annotated[Principal, Depends(requires("supervision_log:read"))]
LogWriter = Annotated[Principal, Depends(requires("supervision_log:write"))]
ItemKeeper = Annotated[Principal, Depends(requires("check_item:manage"))]
Public = Annotated[Principal, Depends(requires(None))]
Paging = Annotated[PageParams, Depends(page_params)]
Params = Annotated[ListParams, Depends(list_params)]
_WORDS: dict[str, Any] = {
    "plan_statuses": PlanStatus,
    "check_statuses": CheckStatus,
    "results": ItemResult,
    "conclusions": Conclusion,
    "log_kinds": LogKind,
}
DONE = {
    "created": "抽查计划已建立，请发起抽取。",
    "requested": "抽取请求已存证，待存证日志签发包含它的检查点后即可完成抽取。",
    "completed": "抽取已完成，结果已存证，检查任务已分派给抽中的执法人员。",
    "waiting": "存证日志尚未签发包含本次请求的检查点，请稍后再完成抽取。",
    "published": "抽查结果已公开。",
    "saved": "已保存。",
    "signed": "已签字确认。",
    "declared": "已申报：今后的抽取不会选派您检查该机构。",
    "withdrawn": "已撤回申报。",
    "item_added": "检查项已添加，此后抽取的检查都包含它。",
    "item_saved": "检查项已保存。",
}


def _list_context(
    request: Request, db: Session, stmt: Any, view: Any, paging: PageParams, params: ListParams
) -> dict[str, Any]:
    return {**listing.page_context(request, db, view, stmt, paging, params), **_WORDS}


# --- plans -------------------------------------------------------------------------------------


@router.get("/supervision/plans", response_class=HTMLResponse)
def plan_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    q: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(pattern=r"^(|draft|drawing|drawn|published)$")] = "",
) -> Response:
    stmt = service.plans_stmt(principal=principal, q=q, status=status)
    if params.exporting:
        return listing.export(request, db, PLANS, stmt, params, user_id=principal.user_id)
    context = _list_context(request, db, stmt, PLANS, paging, params)
    codes = {p.region_code for p in context["rows"]}
    context.update(
        filters={"q": q, "status": status},
        region_names=regions.display_names(db=db, codes=codes),
    )
    return render(request, "supervision/plans.html", context)


def _plan_form(
    request: Request, db: Session, principal: Principal, values: dict[str, Any],
    error: ValidationFailed | None = None,
) -> Response:  # fmt: skip
    root = principal.region_code
    pools = [regions.get(db=db, code=root)] if root else []
    pools += regions.children(db=db, code=root)
    context = {
        "values": values,
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.on_page if error else "",
        "region_choices": {r.code: regions.full_name(db=db, code=r.code) for r in pools},
        "cite": citer(db, links=True),
        **_WORDS,
    }
    return render(request, "supervision/plan_form.html", context, status_code=422 if error else 200)


@router.get("/supervision/plans/new", response_class=HTMLResponse)
def plan_new(request: Request, db: SessionDep, principal: Writer) -> Response:
    today = beijing_date(utcnow())
    values = {
        "region_code": principal.region_code or "", "basis": "jz57 第三十三条",
        "officers_per_check": "2", "recent_months": "12", "institution_count": "1",
        "period_start": today.isoformat(),
        "period_end": (today + dt.timedelta(days=30)).isoformat(),
    }  # fmt: skip
    return _plan_form(request, db, principal, values)


@router.post("/supervision/plans", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def plan_create(request: Request, db: SessionDep, principal: Writer, form: PostedForm) -> Response:
    values = dict(form.values())
    raw = {k: v for k, v in values.items() if k != "csrf_token" and v != ""}
    try:
        plan = service.create_plan(db=db, principal=principal, data=service.parse(PlanIn, raw))
    except ValidationFailed as error:
        db.rollback()
        return _plan_form(request, db, principal, values, error)
    return redirect(f"/supervision/plans/{plan.id}?done=created")


def _officer_names(db: Session, checks: list[SupervisionCheck]) -> dict[int, str]:
    return officer_names(db, {o["user_id"] for c in checks for o in c.officers})


@router.get("/supervision/plans/{plan_id}", response_class=HTMLResponse)
def plan_detail(
    request: Request, db: SessionDep, principal: Reader, plan_id: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:  # fmt: skip
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "read")
    checks = service.checks_of(db, plan.id)
    context = {
        "plan": plan,
        "draw": service.draw_of(db, plan.id),
        "checks": checks,
        "names": institution_names(db, {c.institution_id for c in checks}),
        "officers": _officer_names(db, checks),
        "region_name": regions.display_name(db=db, code=plan.region_code),
        "population": len(
            list(db.scalars(service.population_stmt(plan.region_code, plan.specialty)))
        ),
        "pool": len(list(db.scalars(service.officers_stmt(plan.region_code)))),
        "cite": citer(db, links=True),
        "done": DONE.get(done, ""),
        **_WORDS,
    }
    return render(request, "supervision/plan.html", context)


@router.post("/supervision/plans/{plan_id}/draw", response_class=HTMLResponse)
def plan_draw(db: SessionDep, principal: Writer, plan_id: Id) -> Response:
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "write")
    row = service.draw_of(db, plan.id)
    if row is None:
        service.request_draw(db=db, principal=principal, plan=plan)
        return redirect(f"/supervision/plans/{plan.id}?done=requested")
    done = service.complete(db=db, draw_row=row)
    return redirect(f"/supervision/plans/{plan.id}?done={'completed' if done else 'waiting'}")


@router.post("/supervision/plans/{plan_id}/publish", response_class=HTMLResponse)
def plan_publish(db: SessionDep, principal: Writer, plan_id: Id) -> Response:
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "write")
    service.publish(db=db, plan=plan)
    return redirect(f"/supervision/plans/{plan.id}?done=published")


@router.get("/supervision/plans/{plan_id}/draw/inputs.json")
def plan_inputs(db: SessionDep, principal: Reader, plan_id: Id) -> Response:
    plan = get_scoped(db, SupervisionPlan, plan_id, principal, "read")
    row = service.draw_of(db, plan.id)
    if row is None:
        raise NotFound("本计划尚未发起抽取")
    return JSONResponse(
        service.published_inputs(db, row),
        headers={"Content-Disposition": f'attachment; filename="{row.code}-inputs.json"'},
    )


# --- a check on a phone ------------------------------------------------------------------------


def _order_link(
    db: Session, principal: Principal, check: SupervisionCheck, plan: SupervisionPlan,
    found: dict[int, CheckFinding],
) -> str:  # fmt: skip
    """For an authority, once a check is signed with problems found: the rectification order's
    form with the institution chosen and the nonconforming items written in (edited there
    before it is issued)."""
    if check.status != CheckStatus.SIGNED or check.conclusion != Conclusion.NONCONFORMING:
        return ""
    if not principal.can("case:handle"):
        return ""
    # one line: a query string carries no line breaks (controls are refused)
    bad = [f for f in found.values() if f.result == ItemResult.NONCONFORMING]
    wanted = select(CheckItem.id, CheckItem.title).where(CheckItem.id.in_([f.item_id for f in bad]))
    titles = dict(db.execute(wanted).all())  # retired items' titles too
    lines = [f"{titles.get(f.item_id, '')}：{' '.join(f.finding.split())}" for f in bad]
    lead = f"{plan.title}（{plan.code}）{check.check_date or ''} 现场检查发现："
    text = (lead + "；".join(lines))[:1900]
    return "/rectification-orders/new?" + urlencode(
        {"institution_id": check.institution_id, "findings": text}
    )


def _check_page(
    request: Request, db: Session, principal: Principal, check: SupervisionCheck,
    error: ValidationFailed | None = None, done: str = "",
) -> Response:  # fmt: skip
    plan = db.get_one(SupervisionPlan, check.plan_id)
    items = service.items_for(db, check.check_type)
    found = service.findings_of(db, check.id)
    context = {
        "order_link": _order_link(db, principal, check, plan, found),
        "check": check,
        "plan": plan,
        "institution": institution_names(db, {check.institution_id}).get(check.institution_id, ""),
        "items": items,
        "found": found,
        "officers": _officer_names(db, [check]),
        "mine": service.is_officer(check, principal),
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.on_page if error else "",
        "done": DONE.get(done, ""),
        **_WORDS,
    }
    return render(request, "supervision/check.html", context, status_code=422 if error else 200)


@router.get("/supervision/checks/{check_id}", response_class=HTMLResponse)
def check_detail(
    request: Request, db: SessionDep, principal: Reader, check_id: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:  # fmt: skip
    return _check_page(
        request, db, principal, service.get_check(db, principal, check_id), done=done
    )


@router.post("/supervision/checks/{check_id}/findings", response_class=HTMLResponse)
@text_fields(multiline=("finding",))
def check_finding(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Writer, check_id: Id,
    form: PostedForm,
) -> Response:  # fmt: skip
    check = service.get_check(db, principal, check_id)
    values = form.values()
    raw = {
        "item_id": form_id(values.get("item_id", "")) or 0,
        "result": values.get("result", ""),
        "finding": values.get("finding", ""),
        "latitude": values.get("latitude") or None,
        "longitude": values.get("longitude") or None,
    }
    try:
        data = service.parse(FindingIn, raw)
        photo = form.file("photo")
        photos = [take_photo(settings, photo, "photo").sha256] if photo else []
        service.record_finding(db=db, principal=principal, check=check, data=data, photos=photos)
    except ValidationFailed as error:
        db.rollback()
        return _check_page(request, db, principal, check, error)
    return redirect(f"/supervision/checks/{check.id}?done=saved#item-{data.item_id}")


@router.post("/supervision/checks/{check_id}/sign", response_class=HTMLResponse)
@text_fields(multiline=("summary",))
def check_sign(
    request: Request, db: SessionDep, principal: Writer, check_id: Id, form: PostedForm
) -> Response:
    check = service.get_check(db, principal, check_id)
    values = form.values()
    try:
        data = service.parse(
            SignIn,
            {"conclusion": values.get("conclusion", ""), "summary": values.get("summary", "")},
        )
        service.sign(db=db, principal=principal, check=check, data=data)
    except ValidationFailed as error:
        db.rollback()
        return _check_page(request, db, principal, check, error)
    return redirect(f"/supervision/checks/{check.id}?done=signed")


@router.get("/supervision/photos/{check_id}/{sha256}")
def check_photo(
    db: SessionDep, settings: SettingsDep, principal: Reader, check_id: Id,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
) -> Response:  # fmt: skip
    check = service.get_check(db, principal, check_id)
    files = [
        {"sha256": p, "name": f"{p[:12]}.jpg", "media_type": "image/jpeg"}
        for f in service.findings_of(db, check.id).values()
        for p in f.photos
    ]
    return serve_files(settings, files, sha256)


# --- the supervision log -----------------------------------------------------------------------


def _log_institutions(db: Session, region_code: str | None) -> dict[int, str]:
    """The institutions a log entry may name: the region's and those filed in it."""
    if not region_code:
        return {}
    return {i.id: i.name for i in db.scalars(service.population_stmt(region_code))}


def _log_page(
    request: Request, db: Session, principal: Principal, paging: PageParams, params: ListParams,
    filters: dict[str, Any], values: dict[str, Any] | None = None,
    error: ValidationFailed | None = None,
) -> Response:  # fmt: skip
    stmt = service.log_stmt(
        principal=principal, kind=filters["kind"],
        since=filters["since"] or None, until=filters["until"] or None,
    )  # fmt: skip
    if params.exporting:
        return listing.export(request, db, LOG, stmt, params, user_id=principal.user_id)
    context = _list_context(request, db, stmt, LOG, paging, params)
    context.update(
        filters=filters,
        names=institution_names(
            db, {e.institution_id for e in context["rows"] if e.institution_id}
        ),
        institutions=_log_institutions(db, principal.region_code),
        values=values or {"entry_date": beijing_date(utcnow()).isoformat()},
        errors=errors_by_field(error.errors) if error else {},
        error=error.on_page if error else "",
    )
    return render(request, "supervision/log.html", context, status_code=422 if error else 200)


@router.get("/supervision/log", response_class=HTMLResponse)
def log_list(
    request: Request, db: SessionDep, principal: LogReader, paging: Paging, params: Params,
    kind: Annotated[str, Query(pattern=r"^(|" + "|".join(LogKind) + ")$")] = "",
    since: Day | None = None,
    until: Day | None = None,
) -> Response:  # fmt: skip
    filters = {"kind": kind, "since": since, "until": until}
    return _log_page(request, db, principal, paging, params, filters)


@router.post("/supervision/log", response_class=HTMLResponse)
@text_fields(multiline=("summary", "follow_up"))
def log_add(
    request: Request, db: SessionDep, settings: SettingsDep, principal: LogWriter,
    paging: Paging, params: Params, form: PostedForm,
) -> Response:  # fmt: skip
    values = dict(form.values())
    inst = values.get("institution_id", "")
    raw = {
        "kind": values.get("kind", ""), "entry_date": values.get("entry_date", ""),
        "institution_id": (form_id(inst) or 0) if inst else None,
        "participants": values.get("participants", ""), "summary": values.get("summary", ""),
        "follow_up": values.get("follow_up", ""),
    }  # fmt: skip
    uploads = [Upload(name=f.filename or "附件", data=f.data) for f in form.files_of("attachments")]
    try:
        problems = check_files(uploads, "attachments")
        if problems:
            raise ValidationFailed(errors=problems)
        data = service.parse(LogIn, raw)
        service.add_log(
            db=db, principal=principal, data=data, attachments=store_files(settings, uploads)
        )
    except ValidationFailed as error:
        db.rollback()
        filters = {"kind": "", "since": None, "until": None}
        return _log_page(request, db, principal, paging, params, filters, values, error)
    return redirect("/supervision/log")


# --- public (一公开) ---------------------------------------------------------------------------


def _public_rows(db: Session, plans: list[SupervisionPlan]) -> list[dict[str, Any]]:
    out = []
    for plan in plans:
        checks = service.checks_of(db, plan.id)
        names = institution_names(db, {c.institution_id for c in checks})
        out.append({"plan": plan, "checks": checks, "names": names})
    return out


@public_router.get("/public/spot-checks", response_class=HTMLResponse)
def public_plans(request: Request, db: SessionDep, principal: Public, paging: Paging) -> Response:
    """The published plans and their results: institution, date, conclusion, summary; never an
    officer's name."""
    stmt = service.public_plans_stmt().order_by(SupervisionPlan.published_at.desc())
    plans = list(db.scalars(stmt.offset(paging.offset).limit(paging.limit)))
    context = {
        "rows": _public_rows(db, plans),
        "single": False,
        "cite": citer(db, links=True),
        **_WORDS,
    }
    return render(request, "supervision/public.html", context)


@public_router.get("/public/spot-checks/{code}", response_class=HTMLResponse)
def public_plan(
    request: Request, db: SessionDep, principal: Public,
    code: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z\-]+$")],
) -> Response:  # fmt: skip
    plan = db.scalars(
        service.public_plans_stmt().where(SupervisionPlan.code == code.upper())
    ).first()
    if plan is None:
        raise NotFound("没有公开这个编号的抽查计划")
    context = {
        "rows": _public_rows(db, [plan]),
        "single": True,
        "cite": citer(db, links=True),
        **_WORDS,
    }
    return render(request, "supervision/public.html", context)


# --- declared relations (回避申报) ----------------------------------------------------------------


def _relations_page(
    request: Request, db: Session, principal: Principal, paging: PageParams, params: ListParams,
    values: dict[str, Any] | None = None, error: AppError | None = None,
) -> Response:  # fmt: skip
    stmt = service.relations_stmt(principal=principal)
    if params.exporting:
        return listing.export(request, db, RELATIONS, stmt, params, user_id=principal.user_id)
    context = _list_context(request, db, stmt, RELATIONS, paging, params)
    rows = context["rows"]
    context.update(
        officers=officer_names(db, {r.user_id for r in rows}),
        names=institution_names(db, {r.institution_id for r in rows}),
        institutions=_log_institutions(db, principal.region_code),
        values=values or {},
        errors=errors_by_field(error.errors) if error else {},
        error=error.on_page if error else "",
        done=DONE.get(request.query_params.get("done", ""), ""),
    )
    status = error.status if error else 200
    return render(request, "supervision/relations.html", context, status_code=status)


@router.get("/supervision/relations", response_class=HTMLResponse)
def relation_list(
    request: Request, db: SessionDep, principal: Reader, paging: Paging, params: Params
) -> Response:
    """The region's officers' declared relations with institutions: never drawn to check them;
    an officer declares and withdraws their own."""
    return _relations_page(request, db, principal, paging, params)


@router.post("/supervision/relations", response_class=HTMLResponse)
def relation_add(
    request: Request, db: SessionDep, principal: Writer, paging: Paging, params: Params,
    form: PostedForm,
) -> Response:  # fmt: skip
    values = form.values()
    try:
        chosen = values.get("institution_id", "")
        institution_id = form_id(chosen) if chosen else None
        if institution_id is None:
            raise ValidationFailed(errors=[FieldError("institution_id", "请选择检测机构")])
        service.add_relation(
            db=db, principal=principal, institution_id=institution_id,
            note=values.get("note", ""),
        )  # fmt: skip
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _relations_page(request, db, principal, paging, params, values, error)
    return redirect("/supervision/relations?done=declared")


@router.post("/supervision/relations/{relation_id}/withdraw", response_class=HTMLResponse)
def relation_withdraw(
    request: Request, db: SessionDep, principal: Writer, relation_id: Id
) -> Response:
    service.withdraw_relation(db=db, principal=principal, relation_id=relation_id)
    return redirect("/supervision/relations?done=withdrawn")


# --- check items (the checklists) ----------------------------------------------------------------


def _items_page(
    request: Request, db: Session, principal: Principal, paging: PageParams, params: ListParams,
    filters: dict[str, str], values: dict[str, Any] | None = None, error: AppError | None = None,
    editing: int | None = None,
) -> Response:  # fmt: skip
    stmt = service.check_items_stmt(**filters)
    if params.exporting:
        return listing.export(request, db, CHECK_ITEMS, stmt, params, user_id=principal.user_id)
    context = _list_context(request, db, stmt, CHECK_ITEMS, paging, params)
    context.update(
        filters=filters,
        check_types=CheckType,
        values=values or {},
        editing=editing,
        errors=errors_by_field(error.errors) if error else {},
        error=error.on_page if error else "",
        done=DONE.get(request.query_params.get("done", ""), ""),
        manage=principal.can("check_item:manage"),
    )
    status = error.status if error else 200
    return render(request, "supervision/items.html", context, status_code=status)


@router.get("/supervision/items", response_class=HTMLResponse)
def item_list(
    request: Request, db: SessionDep, principal: Reader, paging: Paging, params: Params,
    q: Annotated[str, Query(max_length=64)] = "",
    check_type: Annotated[str, Query(pattern=r"^(|institution)$")] = "",
    status: Annotated[str, Query(pattern=r"^(|active|inactive)$")] = "",
) -> Response:  # fmt: skip
    """The checklists the officers fill on their phones: each check type's items with what to
    look at; the administrator adds, rewords, reorders and retires them."""
    filters = {"q": q, "check_type": check_type, "status": status}
    return _items_page(request, db, principal, paging, params, filters)


def _item_values(form: PostedForm) -> dict[str, Any]:
    values: dict[str, Any] = form.values()
    values["is_active"] = "1" if values.get("is_active") else ""
    return values


def _item_in(values: dict[str, Any]) -> CheckItemIn:
    sort = values.get("sort") or "0"
    return service.parse(
        CheckItemIn,
        {
            "check_type": values.get("check_type") or CheckType.INSTITUTION.value,
            "code": values.get("code", ""),
            "title": values.get("title", ""),
            "guidance": values.get("guidance", ""),
            "sort": sort,
            "is_active": bool(values.get("is_active")),
        },
    )


_NO_FILTERS = {"q": "", "check_type": "", "status": ""}


@router.post("/supervision/items", response_class=HTMLResponse)
@text_fields(multiline=("guidance",))
def item_add(
    request: Request, db: SessionDep, principal: ItemKeeper, paging: Paging, params: Params,
    form: PostedForm,
) -> Response:  # fmt: skip
    values = _item_values(form)
    try:
        service.save_check_item(db=db, principal=principal, data=_item_in(values))
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _items_page(request, db, principal, paging, params, _NO_FILTERS, values, error)
    return redirect("/supervision/items?done=item_added")


@router.post("/supervision/items/{item_id}", response_class=HTMLResponse)
@text_fields(multiline=("guidance",))
def item_save(
    request: Request, db: SessionDep, principal: ItemKeeper, paging: Paging, params: Params,
    item_id: Id, form: PostedForm,
) -> Response:  # fmt: skip
    values = _item_values(form)
    try:
        service.save_check_item(db=db, principal=principal, data=_item_in(values), item_id=item_id)
    except ValidationFailed as error:
        db.rollback()
        return _items_page(
            request, db, principal, paging, params, _NO_FILTERS, values, error, editing=item_id
        )
    return redirect(f"/supervision/items?done=item_saved#item-{item_id}")
