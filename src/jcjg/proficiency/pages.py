"""Proficiency pages: the list of schemes, a new scheme with its invitations, a scheme's page
(statistics, scores and charts), a participant's result form, the evaluation and its PDF."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, restrict
from jcjg.catalogue import service as catalogue
from jcjg.catalogue.models import Parameter
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import FieldError, PermissionDenied, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.proficiency import report, service
from jcjg.proficiency import statistics as stats
from jcjg.proficiency.choices import AssignedMode, SchemeStatus, Source
from jcjg.proficiency.lists import SCHEMES
from jcjg.proficiency.models import ProficiencyResult, ProficiencyScheme
from jcjg.proficiency.schemas import ResultsIn, SchemeIn
from jcjg.tenancy.models import Institution

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("proficiency:read"))]
Manager = Annotated[Principal, Depends(requires("proficiency:manage"))]
Submitter = Annotated[Principal, Depends(requires("proficiency:submit"))]
_CHOICES: dict[str, Any] = {
    "statuses": {s.value: s for s in SchemeStatus},
    "modes": {m.value: m for m in AssignedMode},
    "scores": {s.value: s for s in stats.Score},
    "signals": {s.value: s for s in stats.Signal},
    "sources": {s.value: s for s in Source},
}
DONE = {
    "created": "能力验证已创建，已邀请参加机构。",
    "submitted": "结果已提交。截止日期前可以修改。",
    "evaluated": "统计评价已完成。",
    "invited": "已追加邀请。",
}


# --- the list -------------------------------------------------------------------------------------


@router.get("/proficiency/schemes", response_class=HTMLResponse)
def scheme_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The schemes in reach, filtered and sorted; ``?format=xlsx`` exports them."""
    stmt = service.schemes_stmt(principal=principal, status=status, q=q)
    if params.exporting:
        return listing.export(request, db, SCHEMES, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, SCHEMES.order_for(params))
    rows = list(paged.rows)
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, SCHEMES, params),
        "filters": {"q": q, "status": status},
        "tallies": service.counts(db, [s.id for s in rows]),
        "parameters": _parameter_names(db, [s.parameter_code for s in rows]),
        **_CHOICES,
    }
    return render(request, "proficiency/list.html", context)


def _parameter_names(db: Session, codes: list[str]) -> dict[str, str]:
    found = catalogue.by_code(db=db, model=Parameter, codes=codes)
    return {code: row.name for code, row in found.items()}


# --- a new scheme ---------------------------------------------------------------------------------


def _institutions(db: Session, principal: Principal) -> list[Institution]:
    stmt = restrict(select(Institution), principal, "read").order_by(Institution.code).limit(500)
    return list(db.scalars(stmt))


def _form(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, Any],
    chosen: list[int],
    error: ValidationFailed | None = None,
) -> Response:
    errors = errors_by_field(error.errors) if error else {}
    context = {
        "values": values,
        "chosen": chosen,
        "errors": errors,
        "other_errors": [m for k, m in errors.items() if k not in _SHOWN],
        "error": error.on_page if error else "",
        "institutions": _institutions(db, principal),
        "needs_region": principal.region_code is None,
        **_CHOICES,
    }
    return render(request, "proficiency/form.html", context, status_code=422 if error else 200)


_FIELDS = (
    "code",
    "title",
    "region_code",
    "parameter_code",
    "unit",
    "sample_count",
    "samples_sent_on",
    "deadline",
    "assigned_mode",
    "assigned_value",
    "assigned_uncertainty",
    "sigma_pt",
    "score",
    "notes",
)
_SHOWN = {*_FIELDS, "institution_ids", "region_code"}


def _raw(form: PostedForm) -> tuple[dict[str, Any], list[int]]:
    values = form.values()
    raw: dict[str, Any] = {k: values[k] for k in _FIELDS if values.get(k, "") != ""}
    ids = [form_id(v) for v in form.getlist("institution_ids")]
    raw["institution_ids"] = [i if i is not None else "无效" for i in ids]
    return raw, [i for i in ids if i is not None]


@router.get("/proficiency/schemes/new", response_class=HTMLResponse)
def scheme_new(request: Request, db: SessionDep, principal: Manager) -> Response:
    values = {"sample_count": "1", "assigned_mode": "consensus", "score": "z"}
    return _form(request, db, principal, values, [])


@router.post("/proficiency/schemes", response_class=HTMLResponse)
@text_fields(multiline=("notes",))
def scheme_create(
    request: Request, db: SessionDep, principal: Manager, form: PostedForm
) -> Response:
    raw, chosen = _raw(form)
    try:
        data = service.parse(SchemeIn, raw)
        scheme = service.create_scheme(db=db, principal=principal, data=data)
    except ValidationFailed as error:
        db.rollback()
        return _form(request, db, principal, form.values(), chosen, error)
    return redirect(f"/proficiency/schemes/{scheme.id}?done=created")


# --- a scheme's page ------------------------------------------------------------------------------


def _chart_data(
    scheme: ProficiencyScheme, rows: list[ProficiencyResult], codes: dict[int, str]
) -> dict[str, Any]:
    """What the page's charts draw: per sample the score of each participant and the
    histogram of results; the Youden pairs of a two-sample scheme."""
    score = stats.Score(scheme.score)
    samples: dict[str, Any] = {}
    for sample, facts in (scheme.statistics or {}).items():
        mine = sorted(
            (r for r in rows if r.sample == sample), key=lambda r: codes.get(r.participant_id, "")
        )
        bins = stats.histogram([r.value for r in mine])
        samples[sample] = {
            "codes": [codes.get(r.participant_id, "") for r in mine],
            "scores": [getattr(r, score.value) for r in mine],
            "bins": [[round(lo, 6), round(hi, 6), n] for lo, hi, n in bins],
            "x_pt": facts.get("x_pt"),
        }
    pairs = report.youden_pairs(rows, codes) if scheme.sample_count == 2 else []
    return {
        "score": score.label,
        "unit": scheme.unit,
        "samples": samples,
        "youden": [{"code": c, "a": a, "b": b} for c, (a, b) in pairs],
    }


def _detail_context(db: Session, principal: Principal, scheme: ProficiencyScheme) -> dict[str, Any]:
    people = service.participants(db, scheme)
    codes = {p.id: p.code for p in people}
    all_rows = service.results(db, scheme)
    organiser = service.organises(principal, scheme)
    mine = service.participant_of(db, scheme, principal.institution_id)
    shown = service.visible_results(db, principal, scheme)
    submitted = {r.participant_id for r in all_rows}
    may_invite = service.manages(principal, scheme) and scheme.status == SchemeStatus.OPEN.value
    invited = {p.institution_id for p in people}
    return {
        "scheme": scheme,
        "participants": people,
        "codes": codes,
        "rows": sorted(shown, key=lambda r: (r.sample, codes.get(r.participant_id, ""))),
        "submitted": submitted,
        "organiser": organiser,
        "manages": service.manages(principal, scheme),
        "mine": mine,
        "may_submit": mine is not None
        and principal.can("proficiency:submit")
        and scheme.status == SchemeStatus.OPEN.value
        and beijing_date(utcnow()) <= scheme.deadline,
        "names": service.institution_names(db, [p.institution_id for p in people])
        if organiser
        else {},
        "parameter": _parameter_names(db, [scheme.parameter_code]).get(scheme.parameter_code, ""),
        "chart": _chart_data(scheme, all_rows, codes) if scheme.statistics else None,
        "samples": service.samples_of(scheme),
        "digits": report.figure_digits([r.value for r in all_rows]) if all_rows else 2,
        "fmt": report.fmt,
        "may_invite": may_invite,
        "candidates": [i for i in _institutions(db, principal) if i.id not in invited]
        if may_invite
        else [],
        **_CHOICES,
    }


@router.get("/proficiency/schemes/{scheme_id}", response_class=HTMLResponse)
def scheme_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    scheme_id: Id,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    scheme = service.get_scheme(db, principal, scheme_id)
    context = _detail_context(db, principal, scheme)
    context["done"] = DONE.get(done, "")
    return render(request, "proficiency/detail.html", context)


@router.post("/proficiency/schemes/{scheme_id}/evaluate", response_class=HTMLResponse)
def scheme_evaluate(
    request: Request, db: SessionDep, principal: Manager, scheme_id: Id
) -> Response:
    scheme = service.get_scheme(db, principal, scheme_id)
    try:
        service.evaluate(db=db, principal=principal, scheme=scheme, now=utcnow())
    except ValidationFailed as error:
        db.rollback()
        scheme = service.get_scheme(db, principal, scheme_id)
        context = _detail_context(db, principal, scheme)
        context["error"] = "；".join(e.message for e in error.errors) or error.detail
        return render(request, "proficiency/detail.html", context, status_code=422)
    return redirect(f"/proficiency/schemes/{scheme_id}?done=evaluated")


@router.post("/proficiency/schemes/{scheme_id}/participants", response_class=HTMLResponse)
def scheme_invite(
    request: Request, db: SessionDep, principal: Manager, scheme_id: Id, form: PostedForm
) -> Response:
    scheme = service.get_scheme(db, principal, scheme_id)
    try:
        ids = [form_id(v) for v in form.getlist("institution_ids")]
        if any(i is None for i in ids):
            raise ValidationFailed(errors=[FieldError("institution_ids", "检测机构无效")])
        service.invite(
            db=db, principal=principal, scheme=scheme, institution_ids=[i for i in ids if i]
        )
    except ValidationFailed as error:
        db.rollback()
        scheme = service.get_scheme(db, principal, scheme_id)
        context = _detail_context(db, principal, scheme)
        context["invite_error"] = "；".join(e.message for e in error.errors) or error.detail
        return render(request, "proficiency/detail.html", context, status_code=422)
    return redirect(f"/proficiency/schemes/{scheme_id}?done=invited")


@router.get("/proficiency/schemes/{scheme_id}/report.pdf")
def scheme_report(
    db: SessionDep, settings: SettingsDep, principal: Reader, scheme_id: Id
) -> Response:
    """The evaluation report; the organiser's copy carries the key to the participant codes."""
    scheme = service.get_scheme(db, principal, scheme_id)
    if scheme.status != SchemeStatus.EVALUATED.value:
        raise ValidationFailed("该能力验证尚未完成统计评价，暂无评价报告")
    people = service.participants(db, scheme)
    organiser = service.organises(principal, scheme)
    pdf = report.evaluation_pdf(
        scheme=scheme,
        participants=people,
        results=service.results(db, scheme),
        parameter_name=_parameter_names(db, [scheme.parameter_code]).get(scheme.parameter_code, ""),
        platform_name=settings.platform_name,
        names=service.institution_names(db, [p.institution_id for p in people])
        if organiser
        else None,
    )
    name = f"proficiency-{scheme.code}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


# --- a participant's results ----------------------------------------------------------------------


def _submit_form(
    request: Request,
    db: Session,
    principal: Principal,
    scheme: ProficiencyScheme,
    values: dict[str, Any],
    error: ValidationFailed | None = None,
) -> Response:
    # by the whole path: each sample's fields are named results.<n>.<field>
    errors = {e.field: e.message for e in error.errors} if error else {}
    context = {
        "scheme": scheme,
        "values": values,
        "errors": errors,
        "error": "结果未提交，请检查标出的项。" if error else "",
        "other_errors": [m for k, m in errors.items() if not k.startswith("results.")],
        "samples": service.samples_of(scheme),
        "mine": service.participant_of(db, scheme, principal.institution_id),
    }
    return render(request, "proficiency/submit.html", context, status_code=422 if error else 200)


def _participant(db: Session, principal: Principal, scheme: ProficiencyScheme) -> None:
    if service.participant_of(db, scheme, principal.institution_id) is None:
        raise PermissionDenied("本机构未受邀参加该能力验证")


@router.get("/proficiency/schemes/{scheme_id}/submit", response_class=HTMLResponse)
def submit_form(request: Request, db: SessionDep, principal: Submitter, scheme_id: Id) -> Response:
    scheme = service.get_scheme(db, principal, scheme_id)
    _participant(db, principal, scheme)
    mine = service.participant_of(db, scheme, principal.institution_id)
    values: dict[str, Any] = {}
    for r in service.results(db, scheme):
        if mine and r.participant_id == mine.id:
            n = service.samples_of(scheme).index(r.sample)
            values.update(
                {
                    f"results.{n}.value": f"{r.value:g}",
                    f"results.{n}.expanded_uncertainty": f"{r.expanded_uncertainty:g}"
                    if r.expanded_uncertainty
                    else "",
                    f"results.{n}.coverage_factor": f"{r.coverage_factor:g}",
                    f"results.{n}.method": r.method,
                }
            )
    return _submit_form(request, db, principal, scheme, values)


def _posted_results(scheme: ProficiencyScheme, form: PostedForm) -> dict[str, Any]:
    values = form.values()
    results = []
    for n, sample in enumerate(service.samples_of(scheme)):
        row: dict[str, Any] = {"sample": sample}
        for key in ("value", "expanded_uncertainty", "coverage_factor", "method"):
            text = values.get(f"results.{n}.{key}", "").strip()
            if text:
                row[key] = text
        results.append(row)
    return {"results": results}


@router.post("/proficiency/schemes/{scheme_id}/submit", response_class=HTMLResponse)
def submit_post(
    request: Request, db: SessionDep, principal: Submitter, scheme_id: Id, form: PostedForm
) -> Response:
    scheme = service.get_scheme(db, principal, scheme_id)
    _participant(db, principal, scheme)
    assert principal.institution_id is not None
    try:
        data = service.parse(ResultsIn, _posted_results(scheme, form))
        service.submit(
            db=db,
            scheme=scheme,
            institution_id=principal.institution_id,
            data=data,
            now=utcnow(),
            source=Source.PAGE,
        )
    except ValidationFailed as error:
        db.rollback()
        scheme = service.get_scheme(db, principal, scheme_id)
        return _submit_form(request, db, principal, scheme, form.values(), error)
    return redirect(f"/proficiency/schemes/{scheme_id}?done=submitted")
