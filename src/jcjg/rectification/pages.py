"""``/rectification-orders``: the orders within the reader's scope, issuing one (from an alert's
page too), each order's page with its steps and evidence; ``/public/rectification-orders``:
the published orders, to anyone without logging in (002 article 18)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.alerts.service import rule_title
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.catalogue.regulations import citer
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import FieldError, NotFound, ValidationFailed, errors_by_field
from jcjg.core.evidence import ACCEPT, Upload
from jcjg.core.evidence import serve as serve_evidence
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_rows, count_total, page_params, paginate
from jcjg.core.ratelimit import rate_limit
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.nonconformity.models import Nonconformity
from jcjg.rectification import service
from jcjg.rectification.choices import Ground, OrderAction, OrderStatus
from jcjg.rectification.lists import ORDERS
from jcjg.rectification.models import RectificationOrder
from jcjg.regions import service as regions
from jcjg.registry.service import institution_names
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
public_router = APIRouter(
    include_in_schema=False,
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("verify"))],
)
Reader = Annotated[Principal, Depends(requires("alert:read"))]
Issuer = Annotated[Principal, Depends(requires(service.HANDLE))]
Public = Annotated[Principal, Depends(requires(None))]
STATUS_FILTERS = [(s.value, s.label) for s in OrderStatus] + [("overdue", "整改逾期")]
STATUS_PATTERN = "^(" + "|".join(v for v, _ in STATUS_FILTERS) + ")?$"
MAX_INSTITUTIONS = 1000  # in the issuing form's chooser

_CHOICES: dict[str, Any] = {
    "grounds": list(Ground),
    "ground": Ground,
    "statuses": {s.value: s for s in OrderStatus},
    "order_actions": OrderAction,
    "status_filters": STATUS_FILTERS,
    "accept": ACCEPT,
}


@router.get("/rectification-orders", response_class=HTMLResponse)
def orders_page(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[str | None, Query(pattern=STATUS_PATTERN)] = None,
    institution_id: Id | None = None,
) -> Response:
    """The orders within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    today = beijing_date(utcnow())
    overdue = status == "overdue"
    stmt = service.search_stmt(
        principal,
        status=None if overdue else status or None,
        institution_id=institution_id,
        overdue_on=today if overdue else None,
    )
    if params.exporting:
        return listing.export(request, db, ORDERS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, ORDERS.order_for(params))
    rows = paged.rows
    filters = {"status": status or "", "institution_id": str(institution_id or "")}
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, ORDERS, params),
        "filters": filters,
        "institutions": service.institutions_with_orders(db, principal),
        "names": institution_names(db, {r.institution_id for r in rows}),
        "may_issue": principal.can(service.HANDLE),
        "today": today,
        **_CHOICES,
        "cite": citer(db, links=True),
    }
    return render(request, "rectification/list.html", context)


def _form_context(
    db: Session,
    principal: Principal,
    institution: Institution | None,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    wanted = [i for i in map(form_id, form.get("alert_ids", ())) if i is not None]
    alerts, ncs = (
        ([], []) if institution is None else service.candidates(db, principal, institution, wanted)
    )
    choices: list[Institution] = []
    if institution is None:
        stmt = select(Institution).order_by(Institution.name, Institution.id)
        choices = list(db.scalars(restrict(stmt, principal, "read").limit(MAX_INSTITUTIONS)))
    return {
        "institution": institution,
        "institution_choices": choices,
        "alerts": alerts,
        "nonconformities": ncs,
        "rule_title": rule_title,
        "form": form,
        "errors": errors or {},
        "today": beijing_date(utcnow()),
        "default_deadline": service.default_deadline(utcnow()),
        **_CHOICES,
        "cite": citer(db, links=True),
    }


@router.get("/rectification-orders/new", response_class=HTMLResponse)
def new_order_page(
    request: Request,
    db: SessionDep,
    principal: Issuer,
    institution_id: Id | None = None,
    alert_id: Id | None = None,
    findings: Annotated[str, Query(max_length=2000)] = "",
) -> Response:
    """The issuing form: first the institution, then the rest; from an alert's page the
    institution and the alert come chosen; from a spot check's page the institution and the
    problems found (``findings``, to edit before issuing)."""
    form: dict[str, Any] = {"grounds": (), "alert_ids": (), "nonconformity_ids": ()}
    if findings:
        form["findings"] = findings
    institution = None
    if alert_id is not None:
        alert = get_scoped(db, Alert, alert_id, principal, "read")
        form["alert_ids"] = (str(alert.id),)
        if institution_id is None:
            institution_id = alert.institution_id
    if institution_id is not None:
        institution = service.visible_institution(db, principal, str(institution_id))
        if institution is None:
            raise NotFound()
        form["institution_id"] = str(institution.id)
    context = _form_context(db, principal, institution, form)
    return render(request, "rectification/new.html", context)


@router.post("/rectification-orders/new", response_class=HTMLResponse)
@text_fields(multiline=("findings", "requirement"))
def new_order(request: Request, db: SessionDep, principal: Issuer, form: PostedForm) -> Response:
    values = form.values()
    draft = service.Draft(
        institution_id=values.get("institution_id", ""),
        grounds=tuple(form.getlist("grounds")),
        findings=values.get("findings", ""),
        requirement=values.get("requirement", ""),
        deadline=values.get("deadline", ""),
        alert_ids=tuple(form.getlist("alert_ids")),
        nonconformity_ids=tuple(form.getlist("nonconformity_ids")),
    )
    try:
        order = service.issue(db=db, principal=principal, draft=draft, now=utcnow())
    except ValidationFailed as error:
        db.rollback()
        institution = service.visible_institution(db, principal, draft.institution_id)
        shown = values | {
            "grounds": draft.grounds,
            "alert_ids": draft.alert_ids,
            "nonconformity_ids": draft.nonconformity_ids,
        }
        context = _form_context(db, principal, institution, shown, errors_by_field(error.errors))
        return render(request, "rectification/new.html", context, status_code=422)
    return redirect(f"/rectification-orders/{order.id}?done=issue")


def _seen(db: Session, principal: Principal, model: Any, ids: list[int]) -> list[Any]:
    entity = model.__permission_entity__
    if not ids or not principal.can(f"{entity}:read"):
        return []
    return list(db.scalars(restrict(select(model).where(model.id.in_(ids)), principal, "read")))


def _detail(db: Session, principal: Principal, order: RectificationOrder) -> dict[str, Any]:
    # what the reader may see of the cited items; the others show by number only
    alerts = {a.id: a for a in _seen(db, principal, Alert, order.alert_ids)}
    ncs = {n.id: n for n in _seen(db, principal, Nonconformity, order.nonconformity_ids)}
    return {
        "order": order,
        "status": service.status_of(order),
        "institution": db.get(Institution, order.institution_id),
        "region_name": regions.display_name(db=db, code=order.region_code),
        "cited_alerts": [(i, alerts.get(i)) for i in order.alert_ids],
        "cited_nonconformities": [(i, ncs.get(i)) for i in order.nonconformity_ids],
        "rule_title": rule_title,
        "events": service.events_of(db, order),
        "actions": service.allowed_actions(principal, order),
        "needs_note": service.NEEDS_NOTE,
        "default_deadline": service.default_deadline(utcnow()),
        "today": beijing_date(utcnow()),
        "form": {},
        "errors": {},
        **_CHOICES,
        "cite": citer(db, links=True),
    }


@router.get("/rectification-orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, order_id: Id, db: SessionDep, principal: Reader) -> Response:
    order = get_scoped(db, RectificationOrder, order_id, principal, "read")
    return render(request, "rectification/detail.html", _detail(db, principal, order))


@router.post("/rectification-orders/{order_id}", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def order_step(
    request: Request,
    order_id: Id,
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    form: PostedForm,
) -> Response:
    """One step of the order (answer, return, close, publish, unpublish), PC or phone."""
    order = get_scoped(db, RectificationOrder, order_id, principal, "read")
    values = form.values()
    try:
        action = OrderAction(values.get("action", ""))
    except ValueError:
        raise ValidationFailed(errors=[FieldError("action", "未知的操作")]) from None
    try:
        service.act(
            db=db, settings=settings, principal=principal, order=order, action=action,
            now=utcnow(), note=values.get("note", ""), deadline=values.get("deadline") or None,
            evidence=[Upload(f.filename, f.data) for f in form.files_of("evidence")],
        )  # fmt: skip
    except ValidationFailed as error:
        db.rollback()
        context = _detail(db, principal, order) | {
            "form": values | {"action": action.value},
            "errors": errors_by_field(error.errors),
        }
        return render(request, "rectification/detail.html", context, status_code=422)
    return redirect(f"/rectification-orders/{order.id}?done={action.value}")


@router.get("/rectification-orders/{order_id}/evidence/{sha256}")
def order_evidence(
    order_id: Id,
    sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
) -> Response:
    """A file the institution uploaded with an answer (to those who see the order)."""
    order = get_scoped(db, RectificationOrder, order_id, principal, "read")
    files = [f for event in service.events_of(db, order) for f in event.evidence]
    return serve_evidence(settings, files, sha256)


# --- public (002 article 18) -------------------------------------------------------------------


def _public_context(db: Session, rows: list[RectificationOrder]) -> dict[str, Any]:
    codes = {r.region_code for r in rows}
    return {
        "rows": rows,
        "names": institution_names(db, {r.institution_id for r in rows}),
        "accounts": service.public_accounts(db, rows),
        "regions": dict(sorted(regions.display_names(db=db, codes=codes).items())),
        "today": beijing_date(utcnow()),
        **_CHOICES,
        "cite": citer(db, links=True),
    }


@public_router.get("/public/rectification-orders", response_class=HTMLResponse)
def public_orders(
    request: Request,
    db: SessionDep,
    principal: Public,
    paging: Annotated[PageParams, Depends(page_params)],
) -> Response:
    """The published orders: what was found and required, by when, and how it stands; never
    a person's name, an account or an evidence file."""
    stmt = service.public_stmt()
    total = count_rows(db, stmt)
    rows = list(db.scalars(stmt.offset(paging.offset).limit(paging.limit)))
    context = _public_context(db, rows) | {"total": total, "paging": paging, "single": False}
    return render(request, "rectification/public.html", context)


@public_router.get("/public/rectification-orders/{number}", response_class=HTMLResponse)
def public_order(
    request: Request,
    db: SessionDep,
    principal: Public,
    number: Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z\-]+$")],
) -> Response:
    order = db.scalars(
        service.public_stmt().where(RectificationOrder.number == number.upper())
    ).first()
    if order is None:
        raise NotFound("没有公布这个编号的整改通知")
    context = _public_context(db, [order]) | {"total": 1, "paging": None, "single": True}
    return render(request, "rectification/public.html", context)
