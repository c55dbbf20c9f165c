"""公众服务 (``/public``): where the site opens for a visitor who is not logged in. Report
verification by 监管码 or by scanning the QR code first (what most of the public come for),
then every page anyone may open, as the domains declare them (``core.domains.PORTAL``), and the
staff's way to the login page. Phone first: one column of cards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core.deps import TransactionalRoute
from jcjg.core.domains import PUBLIC_HOME, portal_entries
from jcjg.core.templating import render

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)


@router.get(PUBLIC_HOME, response_class=HTMLResponse)
def portal(request: Request, principal: Annotated[Principal, Depends(requires(None))]) -> Response:
    return render(
        request,
        "home/portal.html",
        {"entries": portal_entries(), "anonymous": principal.is_anonymous},
    )
