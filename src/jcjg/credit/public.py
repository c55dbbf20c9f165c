"""The public lookup of institutions (``/public/institutions``, no login, rate-limited like the
report verification): qualification and its scope, certificates' validity, the latest published
credit grade, penalties within their publicity period and the rectification orders the
authority published (002 article 18). No personal data but the names a public penalty
decision carries, and only within its publicity period (docs/credit.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.catalogue.regulations import by_code
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.forms import Id
from jcjg.core.pagination import PageParams, count_rows, page_params
from jcjg.core.ratelimit import rate_limit
from jcjg.core.templating import render
from jcjg.core.workdays import beijing_date
from jcjg.credit import service
from jcjg.penalties import service as penalties
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.models import Penalty
from jcjg.rectification.models import RectificationOrder
from jcjg.registry.models import QualificationCertificate
from jcjg.tenancy.models import Institution

router = APIRouter(
    route_class=TransactionalRoute,
    include_in_schema=False,
    dependencies=[Depends(rate_limit("verify"))],
)
Public = Annotated[Principal, Depends(requires(None))]


@router.get("/public/institutions", response_class=HTMLResponse)
def lookup(
    request: Request,
    db: SessionDep,
    principal: Public,
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Search by name or unified social credit code (two characters at least)."""
    rows: list[Institution] = []
    total = 0
    if len(q.strip()) >= 2:
        like = f"%{q.strip()}%"
        stmt = (
            select(Institution)
            .where(or_(Institution.name.like(like), Institution.credit_code == q.strip().upper()))
            .order_by(Institution.name, Institution.id)
        )
        total = count_rows(db, stmt)
        rows = list(db.scalars(stmt.offset(paging.offset).limit(paging.limit)))
    grades = {i.id: service.latest_published(db, i.id) for i in rows}
    context = {"q": q, "rows": rows, "total": total, "paging": paging, "grades": grades}
    return render(request, "credit/public_list.html", context)


@router.get("/public/institutions/{institution_id}", response_class=HTMLResponse)
def institution(
    request: Request, db: SessionDep, principal: Public, institution_id: Id
) -> Response:
    inst = db.get(Institution, institution_id)
    if inst is None:
        raise NotFound("没有这家检测机构")
    today = beijing_date(utcnow())
    certificates = list(
        db.scalars(
            select(QualificationCertificate)
            .where(QualificationCertificate.institution_id == inst.id)
            .order_by(QualificationCertificate.valid_until.desc())
        )
    )
    public_penalties = list(
        db.scalars(
            penalties.public_stmt(today)
            .where(Penalty.institution_id == inst.id)
            .order_by(Penalty.decided_on.desc())
        )
    )
    orders = list(
        db.scalars(
            select(RectificationOrder)
            .where(RectificationOrder.institution_id == inst.id)
            .where(RectificationOrder.is_public.is_(True))
            .order_by(RectificationOrder.issued_at.desc())
            .limit(50)
        )
    )
    known = by_code(db)
    context = {
        "inst": inst,
        "today": today,
        "certificates": certificates,
        "grade": service.latest_published(db, inst.id),
        "penalties": public_penalties,
        "basis": {p.id: penalties.basis_text(p, known) for p in public_penalties},
        "kinds": {k.value: k for k in PenaltyKind},
        "orders": orders,
    }
    return render(request, "credit/public_institution.html", context)
