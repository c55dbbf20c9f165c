"""Audit log pages: search and one record with its before/after values."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from jcjg.audit import service
from jcjg.audit.choices import AuditAction
from jcjg.audit.lists import AUDIT
from jcjg.audit.models import AuditLog
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core import labels, listing
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import BadRequest
from jcjg.core.forms import Day, Id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import render

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
AuditReader = Annotated[Principal, Depends(requires("audit:read"))]


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    db: SessionDep,
    principal: AuditReader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    action: Annotated[str | None, Query(max_length=32)] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
    object_type: Annotated[str | None, Query(max_length=64)] = None,
    text: Annotated[str | None, Query(max_length=64)] = None,
    since: Day | None = None,
    until: Day | None = None,
) -> Response:
    """The audit rows within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    if since and until and until < since:
        raise BadRequest("筛选条件不正确：截止日期早于起始日期")
    filters = {"action": action, "username": username, "object_type": object_type, "text": text}
    found = service.within_days(service.search_stmt(**filters), since, until)
    stmt = restrict(found, principal, "read")
    if params.exporting:
        return listing.export(request, db, AUDIT, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, AUDIT.order_for(params))
    context = {
        "rows": paged.rows,
        "repeats": service.repeats(db, [r.id for r in paged.rows]),
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, AUDIT, params),
        "filters": {k: v or "" for k, v in filters.items()}
        | {
            "since": since.isoformat() if since else "",
            "until": until.isoformat() if until else "",
        },
        "actions": list(AuditAction),
        # the kinds of object the log names, by their Chinese names
        "object_types": sorted(labels.tables().get("entity", {}).items(), key=lambda kv: kv[1]),
    }
    return render(request, "audit/list.html", context)


@router.get("/audit/{log_id}", response_class=HTMLResponse)
def audit_detail(request: Request, log_id: Id, db: SessionDep, principal: AuditReader) -> Response:
    row = get_scoped(db, AuditLog, log_id, principal, "read")
    keys = sorted(set((row.before or {}).keys()) | set((row.after or {}).keys()))
    repeats = service.repeats(db, [row.id]).get(row.id)
    return render(request, "audit/detail.html", {"row": row, "keys": keys, "repeats": repeats})
