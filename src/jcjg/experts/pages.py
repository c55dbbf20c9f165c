"""Pages of the expert pool and panels (the province's and cities' offices) and of the experts
themselves (我的评审, 我的专家信息; on a phone too)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core import listing
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.experts import service
from jcjg.experts.choices import (
    Conclusion,
    DrawStatus,
    Exclusion,
    MemberStatus,
    RegionPolicy,
    RelationKind,
    ReviewKind,
)
from jcjg.experts.lists import EXPERTS, PANELS, REVIEWS, institution_names, specialty_names
from jcjg.experts.models import Expert, Panel, PanelDraw, PanelMember
from jcjg.experts.schemas import SCORE_PARTS, AnswerIn, ExpertIn, OpinionIn, PanelIn, ProfileIn
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("expert:read"))]
Writer = Annotated[Principal, Depends(requires("expert:write"))]
Self = Annotated[Principal, Depends(requires("expert:self"))]
PanelReader = Annotated[Principal, Depends(requires("panel:read"))]
PanelWriter = Annotated[Principal, Depends(requires("panel:write"))]
Responder = Annotated[Principal, Depends(requires("panel:respond"))]
Paging = Annotated[PageParams, Depends(page_params)]
Params = Annotated[ListParams, Depends(list_params)]
RELATION_ROWS = 4
_WORDS: dict[str, Any] = {
    "kinds": ReviewKind,
    "relation_kinds": RelationKind,
    "policies": RegionPolicy,
    "member_statuses": MemberStatus,
    "draw_statuses": DrawStatus,
    "exclusions": Exclusion,
    "conclusions": Conclusion,
    "score_parts": SCORE_PARTS,
}
DONE = {
    "saved": "已保存。",
    "created": "评审组已建立，请发起抽取。",
    "requested": "抽取请求已存证，待存证日志签发包含它的检查点后即可完成抽取。",
    "completed": "抽取已完成，结果已存证并通知抽中的专家。",
    "waiting": "存证日志尚未签发包含本次请求的检查点，请稍后再完成抽取。",
    "answered": "已答复。",
    "submitted": "评审意见已提交并存证。",
}


def _list_context(
    request: Request, db: Session, stmt: Any, view: Any, paging: PageParams, params: ListParams
) -> dict[str, Any]:
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, view.order_for(params))
    return {
        "rows": list(paged.rows),
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, view, params),
        **_WORDS,
    }


# --- the pool ----------------------------------------------------------------------------------


@router.get("/experts", response_class=HTMLResponse)
def expert_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    q: Annotated[str, Query(max_length=64)] = "",
    specialty: Annotated[str, Query(max_length=8, pattern=r"^[0-9A-Za-z]*$")] = "",
    available: Annotated[str, Query(pattern=r"^(|yes|no)$")] = "",
) -> Response:
    """The experts of the pools within scope; ``?format=xlsx`` exports them (phones masked)."""
    stmt = service.experts_stmt(principal=principal, q=q, specialty=specialty, available=available)
    if params.exporting:
        return listing.export(request, db, EXPERTS, stmt, params, user_id=principal.user_id)
    context = _list_context(request, db, stmt, EXPERTS, paging, params)
    context.update(
        filters={"q": q, "specialty": specialty, "available": available},
        specialties=specialty_names(db),
    )
    return render(request, "experts/list.html", context)


def _relations_raw(form: PostedForm) -> list[dict[str, Any]]:
    out = []
    for i in range(RELATION_ROWS):
        organisation = (form.get(f"rel_org_{i}") or "").strip()
        if organisation:
            out.append(
                {
                    "kind": form.get(f"rel_kind_{i}") or "",
                    "organisation": organisation,
                    "credit_code": (form.get(f"rel_code_{i}") or "").strip() or None,
                    "note": form.get(f"rel_note_{i}") or "",
                }
            )
    return out


def _profile_raw(form: PostedForm) -> dict[str, Any]:
    values = form.values()
    return {
        "title": values.get("title", ""),
        "employer": values.get("employer", ""),
        "employer_credit_code": values.get("employer_credit_code") or None,
        "phone": values.get("phone", ""),
        "specialties": form.getlist("specialties"),
        "available": values.get("available") == "yes",
        "unavailable_until": values.get("unavailable_until") or None,
        "relations": _relations_raw(form),
    }


def _expert_raw(form: PostedForm) -> dict[str, Any]:
    values = form.values()
    raw = _profile_raw(form)
    user = values.get("user_id", "")
    raw.update(
        code=values.get("code", ""),
        name=values.get("name", ""),
        region_code=values.get("region_code", ""),
        note=values.get("note", ""),
        user_id=(form_id(user) or "无效") if user else None,
    )
    return raw


def _values_of(db: Session, expert: Expert) -> dict[str, Any]:
    values: dict[str, Any] = {
        k: getattr(expert, k) or ""
        for k in (
            "code",
            "name",
            "region_code",
            "title",
            "employer",
            "employer_credit_code",
            "phone",
            "note",
            "user_id",
        )
    }
    values["specialties"] = list(expert.specialties)
    values["available"] = "yes" if expert.available else "no"
    values["unavailable_until"] = (
        expert.unavailable_until.isoformat() if expert.unavailable_until else ""
    )
    for i, r in enumerate(service.relations(db, expert.id)[:RELATION_ROWS]):
        values.update(
            {
                f"rel_kind_{i}": r.kind,
                f"rel_org_{i}": r.organisation,
                f"rel_code_{i}": r.credit_code or "",
                f"rel_note_{i}": r.note,
            }
        )
    return values


def _form_values(form: PostedForm) -> dict[str, Any]:
    values: dict[str, Any] = dict(form.values())
    values["specialties"] = form.getlist("specialties")
    return values


def _pool_regions(db: Session, principal: Principal, current: str) -> dict[str, str]:
    """The pools an office keeps: its own region's and its cities' (a platform administrator:
    the provinces'), by name; the expert's current one kept when it is elsewhere."""
    root = principal.region_code
    rows = [regions.get(db=db, code=root)] if root else []
    rows += regions.children(db=db, code=root)
    out = {r.code: regions.full_name(db=db, code=r.code) for r in rows}
    if current and current not in out:
        out[current] = regions.display_name(db=db, code=current)
    return out


def _expert_accounts(db: Session, principal: Principal) -> dict[str, str]:
    """The expert-role accounts the office may link, by display name and login name."""
    stmt = select(User).where(User.role == Role.EXPERT.value, User.is_active.is_(True))
    rows = db.scalars(stmt.order_by(User.display_name, User.id)).all()
    return {
        str(u.id): f"{u.display_name}（{u.username}）"
        for u in rows
        if u.region_code is None or principal.covers_region(u.region_code)
    }


def _expert_form(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, Any],
    *,
    action: str,
    admin: bool,
    expert: Expert | None = None,
    error: ValidationFailed | None = None,
    done: str = "",
) -> Response:
    errors = errors_by_field(error.errors) if error else {}
    context = {
        "values": values,
        "errors": errors,
        "error": error.on_page if error else "",
        "done": DONE.get(done, ""),
        "expert": expert,
        "action": action,
        "admin": admin,
        "specialties": specialty_names(db),
        "accounts": _expert_accounts(db, principal) if admin else {},
        "pools": _pool_regions(db, principal, str(values.get("region_code") or ""))
        if admin
        else {},
        "rows": range(RELATION_ROWS),
        **_WORDS,
    }
    return render(request, "experts/form.html", context, status_code=422 if error else 200)


@router.get("/experts/new", response_class=HTMLResponse)
def expert_new(request: Request, db: SessionDep, principal: Writer) -> Response:
    values = {"region_code": principal.region_code or "", "available": "yes", "specialties": []}
    return _expert_form(request, db, principal, values, action="/experts", admin=True)


@router.post("/experts", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def expert_create(
    request: Request, db: SessionDep, principal: Writer, form: PostedForm
) -> Response:
    try:
        data = service.parse(ExpertIn, _expert_raw(form))
        expert = service.save_expert(db=db, principal=principal, data=data)
    except ValidationFailed as error:
        db.rollback()
        return _expert_form(
            request, db, principal, _form_values(form), action="/experts", admin=True, error=error
        )
    return redirect(f"/experts/{expert.id}?done=saved")


@router.get("/experts/{expert_id}", response_class=HTMLResponse)
def expert_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    expert_id: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    expert = get_scoped(db, Expert, expert_id, principal, "read")
    # the panels of this expert that the office may read (another region's reviews stay there)
    visible = restrict(select(Panel.id), principal, "read")
    history = db.execute(
        select(PanelMember, Panel)
        .join(Panel, Panel.id == PanelMember.panel_id)
        .where(PanelMember.expert_id == expert.id, Panel.id.in_(visible))
        .order_by(PanelMember.id.desc())
    ).all()
    context = {
        "expert": expert,
        "region_name": regions.display_name(db=db, code=expert.region_code),
        "relations": service.relations(db, expert.id),
        "history": history,
        "specialties": specialty_names(db),
        "done": DONE.get(done, ""),
        **_WORDS,
    }
    return render(request, "experts/detail.html", context)


@router.get("/experts/{expert_id}/edit", response_class=HTMLResponse)
def expert_edit(request: Request, db: SessionDep, principal: Writer, expert_id: Id) -> Response:
    expert = get_scoped(db, Expert, expert_id, principal, "write")
    return _expert_form(
        request,
        db,
        principal,
        _values_of(db, expert),
        action=f"/experts/{expert.id}/edit",
        admin=True,
        expert=expert,
    )


@router.post("/experts/{expert_id}/edit", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def expert_update(
    request: Request, db: SessionDep, principal: Writer, expert_id: Id, form: PostedForm
) -> Response:
    expert = get_scoped(db, Expert, expert_id, principal, "write")
    try:
        data = service.parse(ExpertIn, _expert_raw(form))
        service.save_expert(db=db, principal=principal, data=data, expert=expert)
    except ValidationFailed as error:
        db.rollback()
        return _expert_form(
            request,
            db,
            principal,
            _form_values(form),
            action=f"/experts/{expert_id}/edit",
            admin=True,
            expert=expert,
            error=error,
        )
    return redirect(f"/experts/{expert_id}?done=saved")


# --- panels ------------------------------------------------------------------------------------


@router.get("/panels", response_class=HTMLResponse)
def panel_list(
    request: Request,
    db: SessionDep,
    principal: PanelReader,
    paging: Paging,
    params: Params,
    q: Annotated[str, Query(max_length=64)] = "",
    kind: Annotated[str, Query(pattern=r"^(|qualification|dispute|spot_check|other)$")] = "",
) -> Response:
    """The panels within scope; ``?format=xlsx`` exports them."""
    stmt = service.panels_stmt(principal=principal, q=q, kind=kind)
    if params.exporting:
        return listing.export(request, db, PANELS, stmt, params, user_id=principal.user_id)
    context = _list_context(request, db, stmt, PANELS, paging, params)
    context.update(
        filters={"q": q, "kind": kind},
        specialties=specialty_names(db),
        names=institution_names(db, {p.institution_id for p in context["rows"]}),
    )
    return render(request, "experts/panels.html", context)


def _panel_form(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, Any],
    error: ValidationFailed | None = None,
) -> Response:
    errors = errors_by_field(error.errors) if error else {}
    institutions = db.scalars(
        restrict(select(Institution), principal, "read").order_by(Institution.name).limit(500)
    ).all()
    context = {
        "values": values,
        "errors": errors,
        "error": error.on_page if error else "",
        "institutions": institutions,
        "specialties": specialty_names(db),
        "rows": range(4),
        **_WORDS,
    }
    return render(request, "experts/panel_form.html", context, status_code=422 if error else 200)


@router.get("/panels/new", response_class=HTMLResponse)
def panel_new(request: Request, db: SessionDep, principal: PanelWriter) -> Response:
    values = {
        "region_code": principal.region_code or "",
        "kind": "qualification",
        "region_policy": "within",
        "count_0": "2",
    }
    return _panel_form(request, db, principal, values)


def _panel_raw(form: PostedForm) -> dict[str, Any]:
    values = form.values()
    requirements = []
    for i in range(4):
        code = values.get(f"specialty_{i}", "")
        if code:
            count = values.get(f"count_{i}", "")
            requirements.append(
                {
                    "specialty": code,
                    "count": int(count) if count.isdecimal() and len(count) < 4 else 0,
                }
            )
    institution = values.get("institution_id", "")
    return {
        "title": values.get("title", ""),
        "kind": values.get("kind", ""),
        "region_code": values.get("region_code", ""),
        "institution_id": (form_id(institution) or "无效") if institution else None,
        "region_policy": values.get("region_policy", "within"),
        "requirements": requirements,
        "review_date": values.get("review_date") or None,
        "note": values.get("note", ""),
    }


@router.post("/panels", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def panel_create(
    request: Request, db: SessionDep, principal: PanelWriter, form: PostedForm
) -> Response:
    try:
        data = service.parse(PanelIn, _panel_raw(form))
        panel = service.create_panel(db=db, principal=principal, data=data)
    except ValidationFailed as error:
        db.rollback()
        return _panel_form(request, db, principal, form.values(), error=error)
    return redirect(f"/panels/{panel.id}?done=created")


@router.get("/panels/{panel_id}", response_class=HTMLResponse)
def panel_detail(
    request: Request,
    db: SessionDep,
    principal: PanelReader,
    panel_id: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    panel = get_scoped(db, Panel, panel_id, principal, "read")
    rows = service.members(db, panel.id)
    experts = {
        e.id: e
        for e in db.scalars(select(Expert).where(Expert.id.in_({m.expert_id for m in rows})))
    }
    draws = service.draws(db, panel.id)
    context = {
        "panel": panel,
        "members": rows,
        "experts": experts,
        "draws": draws,
        "needed": service.still_needed(db, panel),
        "waiting": any(d.status == DrawStatus.REQUESTED for d in draws),
        "institution": db.get(Institution, panel.institution_id) if panel.institution_id else None,
        "specialties": specialty_names(db),
        "done": DONE.get(done, ""),
        **_WORDS,
    }
    return render(request, "experts/panel.html", context)


@router.post("/panels/{panel_id}/draws", response_class=HTMLResponse)
def panel_draw(panel_id: Id, db: SessionDep, principal: PanelWriter) -> Response:
    panel = get_scoped(db, Panel, panel_id, principal, "write")
    service.request_draw(db=db, principal=principal, panel=panel)
    return redirect(f"/panels/{panel.id}?done=requested")


@router.post("/panels/draws/{draw_id}/complete", response_class=HTMLResponse)
def draw_complete(draw_id: Id, db: SessionDep, principal: PanelWriter) -> Response:
    row = get_scoped(db, PanelDraw, draw_id, principal, "write")
    done = service.complete(db=db, draw_row=row)
    return redirect(f"/panels/{row.panel_id}?done={'completed' if done else 'waiting'}")


def _inputs_response(db: Session, row: PanelDraw) -> Response:
    body = json.dumps(service.published_inputs(db, row), ensure_ascii=False, indent=1)
    return Response(
        body,
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{row.code}.json"'},
    )


@router.get("/panels/draws/{draw_id}/inputs.json")
def draw_inputs(draw_id: Id, db: SessionDep, principal: PanelReader) -> Response:
    """The draw's published inputs, for ``jcjg-verify-draw``."""
    return _inputs_response(db, get_scoped(db, PanelDraw, draw_id, principal, "read"))


# --- the expert's own pages --------------------------------------------------------------------


@router.get("/my/reviews", response_class=HTMLResponse)
def my_reviews(
    request: Request,
    db: SessionDep,
    principal: Responder,
    paging: Paging,
    params: Params,
    status: Annotated[str, Query(pattern=r"^(|invited|accepted|declined|submitted)$")] = "",
) -> Response:
    """The panels the expert was drawn for; ``?format=xlsx`` exports them."""
    stmt = service.own_members_stmt(principal)
    if status:
        stmt = stmt.where(PanelMember.status == status)
    if params.exporting:
        return listing.export(request, db, REVIEWS, stmt, params, user_id=principal.user_id)
    context = _list_context(request, db, stmt, REVIEWS, paging, params)
    panels = {
        p.id: p
        for p in db.scalars(
            select(Panel).where(Panel.id.in_({m.panel_id for m in context["rows"]}))
        )
    }
    context.update(filters={"status": status}, panels=panels, specialties=specialty_names(db))
    return render(request, "experts/reviews.html", context)


def _review_page(
    request: Request,
    db: Session,
    member: PanelMember,
    *,
    values: dict[str, Any] | None = None,
    error: ValidationFailed | None = None,
    done: str = "",
) -> Response:
    panel = db.get_one(Panel, member.panel_id)
    institution = db.get(Institution, panel.institution_id) if panel.institution_id else None
    drawn_in = db.get(PanelDraw, member.draw_id) if member.draw_id else None
    pseudonym = next(
        (p for p, i in (drawn_in.candidates if drawn_in else {}).items() if i == member.expert_id),
        "",
    )
    context = {
        "member": member,
        "pseudonym": pseudonym,
        "panel": panel,
        "institution": institution,
        "values": values or {},
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.on_page if error else "",
        "done": DONE.get(done, ""),
        "specialties": specialty_names(db),
        **_WORDS,
    }
    return render(request, "experts/review.html", context, status_code=422 if error else 200)


@router.get("/my/reviews/{member_id}", response_class=HTMLResponse)
def my_review(
    request: Request,
    db: SessionDep,
    principal: Responder,
    member_id: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    member = service.own_member(db, principal, member_id)
    return _review_page(request, db, member, done=done)


@router.post("/my/reviews/{member_id}/answer", response_class=HTMLResponse)
def my_answer(
    request: Request, db: SessionDep, principal: Responder, member_id: Id, form: PostedForm
) -> Response:
    raw = {"accept": form.get("accept") == "yes", "reason": form.get("reason") or ""}
    try:
        service.answer(
            db=db, principal=principal, member_id=member_id, data=service.parse(AnswerIn, raw)
        )
    except ValidationFailed as error:
        db.rollback()
        member = service.own_member(db, principal, member_id)
        return _review_page(request, db, member, values=form.values(), error=error)
    return redirect(f"/my/reviews/{member_id}?done=answered")


@router.post("/my/reviews/{member_id}/opinion", response_class=HTMLResponse)
@text_fields(multiline=("opinion",))
def my_opinion(
    request: Request, db: SessionDep, principal: Responder, member_id: Id, form: PostedForm
) -> Response:
    values = form.values()
    scores = {
        k: int(values[k]) if values.get(k, "").isdecimal() and len(values[k]) < 4 else -1
        for k in SCORE_PARTS
    }
    raw = {
        "conclusion": values.get("conclusion", ""),
        "scores": scores,
        "opinion": values.get("opinion", ""),
    }
    try:
        service.submit_opinion(
            db=db, principal=principal, member_id=member_id, data=service.parse(OpinionIn, raw)
        )
    except ValidationFailed as error:
        db.rollback()
        member = service.own_member(db, principal, member_id)
        return _review_page(request, db, member, values=values, error=error)
    return redirect(f"/my/reviews/{member_id}?done=submitted")


@router.get("/my/reviews/{member_id}/draw.json")
def my_draw_inputs(db: SessionDep, principal: Responder, member_id: Id) -> Response:
    """The published inputs of the draw that drew this expert (to check their own pseudonym)."""
    member = service.own_member(db, principal, member_id)
    return _inputs_response(db, db.get_one(PanelDraw, member.draw_id))


@router.get("/my/expert", response_class=HTMLResponse)
def my_expert(
    request: Request,
    db: SessionDep,
    principal: Self,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    try:
        expert = service.own_expert(db, principal)
    except NotFound as missing:  # an expert account the province has not linked yet
        return render(request, "experts/unlinked.html", {"detail": missing.detail})
    return _expert_form(
        request,
        db,
        principal,
        _values_of(db, expert),
        action="/my/expert",
        admin=False,
        expert=expert,
        done=done,
    )


@router.post("/my/expert", response_class=HTMLResponse)
def my_expert_save(request: Request, db: SessionDep, principal: Self, form: PostedForm) -> Response:
    expert = service.own_expert(db, principal)
    try:
        service.save_profile(
            db=db, principal=principal, data=service.parse(ProfileIn, _profile_raw(form))
        )
    except ValidationFailed as error:
        db.rollback()
        expert = service.own_expert(db, principal)
        return _expert_form(
            request,
            db,
            principal,
            _form_values(form),
            action="/my/expert",
            admin=False,
            expert=expert,
            error=error,
        )
    return redirect("/my/expert?done=saved")
