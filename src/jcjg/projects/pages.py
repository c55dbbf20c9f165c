"""Pages of projects: the list, entering and editing a project (the station, 003 IV(2)) and its
witnesses and samplers (003 IV(3)); what other domains keep of a project (its sample codes,
samples, contracts, reports ...) they add to its page through the hooks below."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.config import Settings
from jcjg.core import listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.domains import hooks
from jcjg.core.errors import FieldError, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import Column, Panel, contributions, redirect, render, render_panels
from jcjg.core.text import text_fields
from jcjg.documents.photos import check_photo, take_photo
from jcjg.projects import service
from jcjg.projects.choices import (
    MEMBER_PHOTO_PROBLEM,
    PROJECT_COLUMNS,
    PROJECT_PANELS,
    MemberRole,
    ProjectStatus,
)
from jcjg.projects.lists import PROJECTS
from jcjg.projects.models import Project
from jcjg.regions import service as regions

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("project:read"))]
Creator = Annotated[Principal, Depends(requires("project:create"))]
Updater = Annotated[Principal, Depends(requires("project:update"))]
Assigner = Annotated[Principal, Depends(requires("project:assign"))]
# What other domains add to the project pages (core.templating Panel and Column): the hook
# ``projects.panels`` is called with (db, principal, project) and answers the sections of the
# project's page after its members (samples, reports ...); ``projects.columns`` with (db,
# principal, project ids) and answers columns of the project list.
_CHOICES: dict[str, Any] = {
    "statuses": {s.value: s for s in ProjectStatus},
    "member_roles": {r.value: r for r in MemberRole},
}
FORM_FIELDS = (
    "code",
    "name",
    "region_code",
    "address",
    "site_latitude",
    "site_longitude",
    "site_radius_m",
    "site_polygon",
    "owner_unit",
    "contractor_unit",
    "supervisor_unit",
    "station",
    "permit_number",
    "curing_room",
    "cube_molds",
    "status",
    "notes",
)
DONE = {
    "created": "工程项目已登记。",
    "updated": "工程项目信息已保存。",
    "member": "人员已登记到项目。",
    "codes": "样品编码已发放，可打印标识。",
}


def _raw(values: dict[str, str]) -> dict[str, Any]:
    """Form text as the project schema's input: blanks left out, the polygon parsed."""
    raw: dict[str, Any] = {k: v for k, v in values.items() if k in FORM_FIELDS and v != ""}
    if "site_polygon" in raw:
        try:
            raw["site_polygon"] = json.loads(raw["site_polygon"])
        except ValueError:
            raw["site_polygon"] = "无效"  # the schema refuses it with a field error
    return raw


def _form(
    request: Request,
    values: dict[str, Any],
    *,
    project: Project | None = None,
    error: ValidationFailed | None = None,
) -> Response:
    context = {
        "values": values,
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.on_page if error else "",
        "project": project,
        **_CHOICES,
    }
    return render(request, "projects/form.html", context, status_code=422 if error else 200)


@router.get("/projects", response_class=HTMLResponse)
def project_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=24)] = "",
) -> Response:
    """The projects within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    stmt = service.projects_stmt(principal=principal, q=q, status=status)
    if params.exporting:
        return listing.export(request, db, PROJECTS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, PROJECTS.order_for(params))
    rows = paged.rows
    ids = [p.id for p in rows]
    columns = contributions(PROJECT_COLUMNS, Column, db, principal, ids)
    return render(
        request,
        "projects/list.html",
        {
            "rows": rows,
            "total": total,
            "paging": paging,
            "paged": paged,
            "q": q,
            "status": status,
            "columns": columns,
            "listing": Listing.of(request, PROJECTS, params),
            "places": regions.display_names(db=db, codes=(p.region_code for p in rows)),
            **_CHOICES,
        },
    )


@router.get("/projects/new", response_class=HTMLResponse)
def project_new(request: Request, principal: Creator) -> Response:
    return _form(request, {"region_code": principal.region_code or "", "site_radius_m": "300"})


@router.post("/projects", response_class=HTMLResponse)
@text_fields(multiline=("site_polygon", "notes"))
def project_create(
    request: Request, db: SessionDep, principal: Creator, form: PostedForm
) -> Response:
    values = form.values()
    try:
        project = service.create_project(db=db, principal=principal, raw=_raw(values))
    except ValidationFailed as error:
        db.rollback()
        return _form(request, values, error=error)
    return redirect(f"/projects/{project.id}?done=created")


def _project_context(
    request: Request, db: Session, principal: Principal, project: Project
) -> dict[str, Any]:
    members = service.members(db, project.id)
    panels = contributions(PROJECT_PANELS, Panel, db, principal, project)
    alerts = db.scalars(
        select(Alert)
        .where(Alert.project_id == project.id, Alert.status == "open")
        .order_by(Alert.id.desc())
        .limit(50)
    ).all()
    return {
        "project": project,
        "region_name": regions.display_name(db=db, code=project.region_code),
        "members": members,
        "panels": render_panels(request, panels),
        "alerts": alerts if principal.can("alert:read") else [],
        "today": utcnow().date(),
        **_CHOICES,
    }


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    project_id: Id,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "read")
    context = _project_context(request, db, principal, project)
    context.update({"done": DONE.get(done, ""), "member_values": {}, "member_errors": {}})
    return render(request, "projects/detail.html", context)


@router.get("/projects/{project_id}/edit", response_class=HTMLResponse)
def project_edit(request: Request, db: SessionDep, principal: Updater, project_id: Id) -> Response:
    project = get_scoped(db, Project, project_id, principal, "update")
    values: dict[str, Any] = {k: getattr(project, k) for k in FORM_FIELDS}
    values["site_polygon"] = json.dumps(project.site_polygon) if project.site_polygon else ""
    values = {k: "" if v is None else v for k, v in values.items()}
    return _form(request, values, project=project)


@router.post("/projects/{project_id}/edit", response_class=HTMLResponse)
@text_fields(multiline=("site_polygon", "notes"))
def project_update(
    request: Request, db: SessionDep, principal: Updater, project_id: Id, form: PostedForm
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "update")
    values = form.values()
    try:
        service.update_project(db=db, principal=principal, project_id=project.id, raw=_raw(values))
    except ValidationFailed as error:
        db.rollback()
        return _form(request, values, project=project, error=error)
    return redirect(f"/projects/{project_id}?done=updated")


def _check_member_photo(settings: Settings, photo: bytes) -> None:
    """Refuse a registered photo the identity checks could not use, before it is stored."""
    check_photo(settings, photo, "photo")
    for check in hooks(MEMBER_PHOTO_PROBLEM):
        problem = check(settings, photo)
        if problem:
            raise ValidationFailed(errors=[FieldError("photo", problem, "invalid")])


@router.post("/projects/{project_id}/members", response_class=HTMLResponse)
def member_add(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Assigner,
    project_id: Id,
    form: PostedForm,
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "assign")
    values = form.values()
    try:
        photo = form.file("photo")
        if photo:
            _check_member_photo(settings, photo)
        photo_sha256 = take_photo(settings, photo, "photo").sha256 if photo else None
        raw = {k: v for k, v in values.items() if v != ""}
        service.add_member(
            db=db, principal=principal, project_id=project.id, raw=raw, photo_sha256=photo_sha256
        )
    except ValidationFailed as error:
        db.rollback()
        project = get_scoped(db, Project, project_id, principal, "read")
        context = _project_context(request, db, principal, project)
        context.update(
            {
                "done": "",
                "member_values": values,
                "member_errors": errors_by_field(error.errors),
                "member_error": error.on_page,
            }
        )
        return render(request, "projects/detail.html", context, status_code=422)
    return redirect(f"/projects/{project_id}?done=member#members")
