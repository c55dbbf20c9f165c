"""The region browser page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.templating import render
from jcjg.regions import service

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)


@router.get("/regions", response_class=HTMLResponse)
def regions_page(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("region:read"))],
    code: str | None = None,
    historical: bool = False,
) -> Response:
    node = service.get(db=db, code=code) if code else None
    context = {
        "node": node,
        "path": service.ancestors(db=db, region=node) if node else [],
        "children": service.children(db=db, code=code, historical=historical),
        "count": service.count_in_subtree(db=db, code=code) if code else None,
        "historical": historical,
        "abolished": service.abolished_note(db=db, region=node)
        if node and node.valid_to_id
        else "",
        "history": service.history(db=db, code=code) if code else [],
        "editions": service.editions(db=db),
    }
    return render(request, "regions/browser.html", context)
