"""Penalty pages: the register (filters, count, export, cards on a phone), a decision's page,
recording one and correcting one."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, restrict
from jcjg.catalogue.regulations import by_code, cite_links
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import AppError, Conflict, ValidationFailed, errors_by_field
from jcjg.core.forms import Day, Id, PostedForm, form_id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.penalties import service
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.lists import PENALTIES
from jcjg.penalties.models import Penalty
from jcjg.penalties.schemas import PenaltyIn, PenaltyPatch
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("penalty:read"))]
Manager = Annotated[Principal, Depends(requires("penalty:manage"))]
KINDS = {k.value: k for k in PenaltyKind}
DONE = {"created": "处罚决定已登记，已通知该检测机构。", "corrected": "已更正，已通知该检测机构。"}
_FIELDS = (
    "number", "institution_id", "basis_code", "basis_article", "facts", "kind", "amount",
    "decided_on", "public_from", "public_until", "issuer",
)  # fmt: skip


@router.get("/penalties", response_class=HTMLResponse)
def penalty_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=64)] = "",
    kind: Annotated[str, Query(max_length=16)] = "",
    since: Day | None = None,
    until: Day | None = None,
    public: Annotated[str, Query(pattern="^(|yes|no)$")] = "",
) -> Response:
    """The decisions in reach, filtered and sorted; ``?format=xlsx`` exports them."""
    filters = service.Filters(q=q, kind=kind, since=since, until=until, public=public)
    stmt = service.penalties_stmt(principal=principal, filters=filters)
    if params.exporting:
        return listing.export(request, db, PENALTIES, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, PENALTIES.order_for(params))
    rows = list(paged.rows)
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, PENALTIES, params),
        "filters": {
            "q": q,
            "kind": kind,
            "since": since or "",
            "until": until or "",
            "public": public,
        },
        "names": service.institution_names(db, [p.institution_id for p in rows]),
        "today": beijing_date(utcnow()),
        "kinds": KINDS,
    }
    return render(request, "penalties/list.html", context)


def _choices(db: Session, principal: Principal) -> dict[str, Any]:
    institutions = list(
        db.scalars(
            restrict(select(Institution), principal, "read").order_by(Institution.name).limit(500)
        )
    )
    ids = [i.id for i in institutions]
    people = list(
        db.scalars(
            select(Person)
            .where(Person.institution_id.in_(ids), Person.key_role.is_not(None))
            .order_by(Person.institution_id, Person.name)
            .limit(2000)
        )
    )
    return {
        "institutions": institutions,
        "people": people,
        "names": {i.id: i.name for i in institutions},
        "regulations": service.bases(db, principal),
        "kinds": KINDS,
    }


def _form(
    request: Request,
    db: Session,
    principal: Principal,
    values: dict[str, Any],
    chosen: list[int],
    penalty: Penalty | None = None,
    error: AppError | None = None,
) -> Response:
    errors = errors_by_field(error.errors) if error else {}
    shown = {*_FIELDS, "person_ids", "reason"}
    context = {
        "values": values,
        "chosen": chosen,
        "errors": errors,
        "other_errors": [m for k, m in errors.items() if k not in shown],
        "error": error.on_page if error else "",
        "penalty": penalty,
        **_choices(db, principal),
    }
    status = error.status if error else 200
    return render(request, "penalties/form.html", context, status_code=status)


def _raw(form: PostedForm, fields: tuple[str, ...]) -> tuple[dict[str, Any], list[int]]:
    values = form.values()
    raw: dict[str, Any] = {k: values[k] for k in fields if values.get(k, "") != ""}
    ids = [form_id(v) for v in form.getlist("person_ids")]
    raw["person_ids"] = [i if i is not None else "无效" for i in ids]
    return raw, [i for i in ids if i is not None]


@router.get("/penalties/new", response_class=HTMLResponse)
def penalty_new(request: Request, db: SessionDep, principal: Manager) -> Response:
    today = beijing_date(utcnow())
    values = {
        "kind": "fine",
        "decided_on": today.isoformat(),
        "public_from": today.isoformat(),
        "public_until": (today + dt.timedelta(days=365)).isoformat(),
    }
    return _form(request, db, principal, values, [])


@router.post("/penalties", response_class=HTMLResponse)
@text_fields(multiline=("facts",))
def penalty_create(
    request: Request, db: SessionDep, principal: Manager, form: PostedForm
) -> Response:
    raw, chosen = _raw(form, _FIELDS)
    try:
        data = service.parse(PenaltyIn, raw)
        row = service.create(db=db, principal=principal, data=data)
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _form(request, db, principal, form.values(), chosen, error=error)
    return redirect(f"/penalties/{row.id}?done=created")


@router.get("/penalties/{penalty_id}", response_class=HTMLResponse)
def penalty_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    penalty_id: Id,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    penalty = service.get_penalty(db, principal, penalty_id)
    today = beijing_date(utcnow())
    context = {
        "p": penalty,
        "institution": db.get(Institution, penalty.institution_id),
        "persons": service.shown_persons(penalty, principal, today),
        "basis": cite_links(f"{penalty.basis_code} {penalty.basis_article}".strip(), by_code(db)),
        "kind": PenaltyKind(penalty.kind),
        "is_public": penalty.is_public(today),
        "may_correct": service.corrects(principal, penalty),
        "done": DONE.get(done, ""),
    }
    return render(request, "penalties/detail.html", context)


@router.get("/penalties/{penalty_id}/edit", response_class=HTMLResponse)
def penalty_edit(request: Request, db: SessionDep, principal: Manager, penalty_id: Id) -> Response:
    penalty = service.get_penalty(db, principal, penalty_id)
    values = {k: getattr(penalty, k) for k in _FIELDS}
    values["amount"] = "" if penalty.amount is None else f"{penalty.amount:.2f}"
    return _form(request, db, principal, values, list(penalty.person_ids), penalty)


_PATCH_FIELDS = (*tuple(f for f in _FIELDS if f not in ("number", "institution_id")), "reason")


@router.post("/penalties/{penalty_id}", response_class=HTMLResponse)
@text_fields(multiline=("facts", "reason"))
def penalty_correct(
    request: Request, db: SessionDep, principal: Manager, penalty_id: Id, form: PostedForm
) -> Response:
    penalty = service.get_penalty(db, principal, penalty_id)
    raw, chosen = _raw(form, _PATCH_FIELDS)
    if "amount" not in raw:
        raw["amount"] = None
    try:
        data = service.parse(PenaltyPatch, raw)
        service.correct(db=db, principal=principal, penalty=penalty, data=data)
    except ValidationFailed as error:
        db.rollback()
        penalty = service.get_penalty(db, principal, penalty_id)
        values = {
            **form.values(),
            "number": penalty.number,
            "institution_id": penalty.institution_id,
        }
        return _form(request, db, principal, values, chosen, penalty, error=error)
    return redirect(f"/penalties/{penalty_id}?done=corrected")
