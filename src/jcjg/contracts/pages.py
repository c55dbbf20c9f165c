"""Contracts for the logged-in: the list, a contract's page and its PDF."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.contracts.lists import CONTRACTS
from jcjg.contracts.models import Contract
from jcjg.contracts.service import working_days_late
from jcjg.core import listing
from jcjg.core.blobs import blob_store
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.forms import Id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import Panel, render
from jcjg.projects.models import Project
from jcjg.projects.service import names_of

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("contract:read"))]


@router.get("/contracts", response_class=HTMLResponse)
def contract_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """The contracts within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    stmt = restrict(select(Contract), principal, "read")
    if q:
        stmt = stmt.where(Contract.number.like(f"%{q}%") | Contract.client_unit.like(f"%{q}%"))
    if params.exporting:
        return listing.export(request, db, CONTRACTS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, CONTRACTS.order_for(params))
    rows = list(paged.rows)
    context: dict[str, Any] = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, CONTRACTS, params),
        "q": q,
        "names": names_of(db, rows),
        "lag": {r.id: working_days_late(r) for r in rows},
    }
    return render(request, "contracts/list.html", context)


@router.get("/contracts/{contract_id}", response_class=HTMLResponse)
def contract_detail(
    request: Request, db: SessionDep, principal: Reader, contract_id: Id
) -> Response:
    contract = get_scoped(db, Contract, contract_id, principal, "read")
    context = {
        "contract": contract,
        "names": names_of(db, [contract]),
        "lag": working_days_late(contract),
    }
    return render(request, "contracts/detail.html", context)


@router.get("/contracts/{contract_id}/contract.pdf")
def contract_pdf(
    db: SessionDep, settings: SettingsDep, principal: Reader, contract_id: Id
) -> Response:
    contract = get_scoped(db, Contract, contract_id, principal, "read")
    return Response(
        blob_store(settings).get(contract.pdf_sha256),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="contract-{contract.id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


def project_panels(db: Session, principal: Principal, project: Project) -> Iterable[Panel]:
    """The project page's contracts, for those who read contracts (000 4.3.2 item 2)."""
    if not principal.can("contract:read"):
        return
    contracts = db.scalars(
        restrict(select(Contract), principal, "read")
        .where(Contract.project_id == project.id)
        .order_by(Contract.signed_on.desc())
        .limit(100)
    ).all()
    yield Panel("contracts/project_contracts.html", {"contracts": contracts}, order=50)
