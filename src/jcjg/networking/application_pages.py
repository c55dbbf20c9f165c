"""Pages of the applications for access (000 6.0.7): the list (``/network/applications``,
filtered by status, paged, exported) and one application with its decision. Reading needs
``network_child:read`` within scope; approving or rejecting ``network_child:manage``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core import listing
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import Conflict, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import Column, Listing, ListParams, ListView, label, list_params, when
from jcjg.core.masking import mask_email, mask_phone
from jcjg.core.pagination import Key, Order, PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.exchange.clients import public_key_alg
from jcjg.networking import applications
from jcjg.networking.choices import ApplicationStatus
from jcjg.networking.models import Application
from jcjg.regions import service as regions

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("network_child:read"))]
Manager = Annotated[Principal, Depends(requires("network_child:manage"))]


def _cells(db: Session, rows: Sequence[Application]) -> list[list[str]]:
    places = regions.display_names(db=db, codes=(a.region_code for a in rows))
    return [
        [
            a.name,
            places.get(a.region_code, a.region_code),
            a.base_url,
            a.contact_name,
            mask_phone(a.contact_phone),
            label(ApplicationStatus, a.status),
            when(a.created_at),
            when(a.decided_at),
        ]
        for a in rows
    ]


APPLICATIONS = ListView(
    name="network_application",
    title="接入申请",
    columns=(
        Column("name", "申请平台", Application.name),
        Column("region", "行政区划", Application.region_code),
        Column("base_url", "平台地址", Application.base_url),
        Column("contact", "联系人"),
        Column("phone", "联系电话"),
        Column("status", "状态", Application.status),
        Column("created_at", "提交时间", Application.created_at),
        Column("decided_at", "审批时间", Application.decided_at),
    ),
    order=Order((Key(Application.id, lambda a: a.id),), (1,)),
    cells=_cells,
)


@router.get("/network/applications", response_class=HTMLResponse)
def applications_page(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[str, Query(pattern=r"^(pending|approved|rejected)?$")] = "",
) -> Response:
    """The applications within scope, the newest first; ``?format=xlsx`` exports them."""
    stmt = restrict(select(Application), principal, "read")
    if status:
        stmt = stmt.where(Application.status == status)
    if params.exporting:
        return listing.export(request, db, APPLICATIONS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, APPLICATIONS.order_for(params))
    rows = list(paged.rows)
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, APPLICATIONS, params),
        "status": status,
        "statuses": {s.value: s for s in ApplicationStatus},
        "places": regions.display_names(db=db, codes=(a.region_code for a in rows)),
        "mask_phone": mask_phone,
    }
    return render(request, "networking/applications.html", context)


def _detail(
    request: Request,
    db: Session,
    row: Application,
    *,
    errors: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    context = {
        "row": row,
        "status": ApplicationStatus(row.status),
        "place": regions.display_names(db=db, codes=[row.region_code]).get(row.region_code, ""),
        "phone": mask_phone(row.contact_phone),
        "email": mask_email(row.contact_email) if row.contact_email else None,
        "key_id": applications.key_id_for(row.public_key),
        "key_alg": public_key_alg(row.public_key),
        "errors": errors or {},
        "error": error,
    }
    return render(request, "networking/application.html", context, status_code=status_code)


@router.get("/network/applications/{application_id}", response_class=HTMLResponse)
def application_page(
    request: Request, application_id: Id, db: SessionDep, principal: Reader
) -> Response:
    return _detail(request, db, get_scoped(db, Application, application_id, principal, "read"))


@router.post("/network/applications/{application_id}/decision", response_class=HTMLResponse)
@text_fields(multiline=("reason",))
def decide(
    request: Request,
    application_id: Id,
    db: SessionDep,
    settings: SettingsDep,
    principal: Manager,
    form: PostedForm,
) -> Response:
    """Approve (the address checked, the child registered with the applicant's key) or reject
    with a reason; a refusal leaves the application as it was."""
    row = get_scoped(db, Application, application_id, principal, "manage")
    decision = str(form.get("decision") or "")
    try:
        if decision == "approve":
            child = applications.approve(
                db,
                settings,
                row,
                principal,
                skip_address_check=form.get("skip_address_check") == "1",
            )
            return redirect(f"/network/children/{child.id}?done=approved")
        if decision == "reject":
            applications.reject(db, row, principal, str(form.get("reason") or ""))
            return redirect(f"/network/applications/{row.id}?done=rejected")
        raise ValidationFailed("请选择批准或不批准")
    except (ValidationFailed, Conflict) as failed:
        db.rollback()
        row = get_scoped(db, Application, application_id, principal, "read")
        errors = errors_by_field(failed.errors) if isinstance(failed, ValidationFailed) else {}
        return _detail(
            request, db, row, errors=errors, error=failed.on_page, status_code=failed.status
        )
