"""Background exports of lists (``core.listing``): their progress page and their file, to the
account that asked for them only; and the audit row every export writes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core import listing
from jcjg.core.deps import SettingsDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.templating import render

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Token = Annotated[str, Path(pattern=listing.TOKEN_PATTERN)]
# every account may export the lists it reads; each export is its own (checked by its user id)
Account = Annotated[Principal, Depends(requires("account:manage"))]


def record_export(db: Session, object_type: str, detail: str) -> None:
    """The ``list.exported`` hook: the export written to the audit log, in its request."""
    record_event(db, AuditAction.EXPORT, object_type=object_type, detail=detail)


def _state(settings: SettingsDep, principal: Principal, token: str) -> dict[str, object]:
    state = listing.read_state(settings, token)
    if state is None or state.get("user_id") != principal.user_id:
        raise NotFound("没有这个导出任务")
    return state


@router.get("/exports/{token}", response_class=HTMLResponse)
def export_progress(
    request: Request, token: Token, settings: SettingsDep, principal: Account
) -> Response:
    """How far a background export has come; the download link once it is done."""
    state = _state(settings, principal, token)
    total = int(str(state["total"])) or 1
    percent = min(100, int(str(state["done"])) * 100 // total)
    context = {"state": state, "token": token, "percent": percent}
    return render(request, "exports/progress.html", context)


@router.get("/exports/{token}/file")
def export_file(token: Token, settings: SettingsDep, principal: Account) -> Response:
    state = _state(settings, principal, token)
    if state.get("status") != "done":
        raise NotFound("导出尚未完成")
    return FileResponse(
        listing.file_of(settings, token),
        media_type=str(state["media_type"]),
        filename=str(state["filename"]),
    )
