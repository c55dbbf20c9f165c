"""The catalogue's page (everyone logged in reads; the provincial authority edits) and API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.catalogue import service
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NOT_FOUND, AppError
from jcjg.core.forms import Id, PostedForm
from jcjg.core.openapi import answers
from jcjg.core.templating import redirect, render

pages = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
api = APIRouter(prefix="/api/v1/catalogue", tags=["资质目录"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("catalogue:read"))]
Editor = Annotated[Principal, Depends(requires("catalogue:update"))]


def _context(db: SessionDep, edition: str | None = None) -> dict[str, Any]:
    shown = service.edition(db=db, code=edition)
    editions = service.editions(db=db)
    return {
        "specialties": service.specialties(db=db, edition=shown),
        "requirements": service.REQUIREMENT_FIELDS,
        "editions": editions,
        # an earlier edition is shown for reference only; the latest one is the current
        "edition": shown or (editions[-1] if editions else None),
        "historical": shown is not None and shown.id != editions[-1].id,
    }


@pages.get("/catalogue", response_class=HTMLResponse)
def catalogue_page(
    request: Request,
    db: SessionDep,
    principal: Reader,
    edition: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return render(request, "catalogue/index.html", _context(db, edition))


@pages.post("/catalogue/specialties/{specialty_id}", response_class=HTMLResponse)
def requirements_save(
    request: Request, specialty_id: Id, db: SessionDep, principal: Editor, form: PostedForm
) -> Response:
    raw = {k: v for k, v in form.items() if k in service.REQUIREMENT_FIELDS}
    try:
        service.update_requirements(db=db, specialty_id=specialty_id, raw=raw)
    except AppError as error:
        db.rollback()
        context = _context(db) | {
            "error": "；".join(
                f"{service.REQUIREMENT_FIELDS.get(e.field, e.field)}：{e.message}"
                for e in error.errors
            )
            or error.detail,
        }
        return render(request, "catalogue/index.html", context, status_code=error.status)
    return redirect(f"/catalogue?saved=1#s{specialty_id}")


@pages.post("/catalogue/items/{test_item_id}/parameters")
def parameter_add(
    test_item_id: Id,
    db: SessionDep,
    principal: Editor,
    name: Annotated[str, Form(max_length=100)],
    required: Annotated[str, Form(pattern="^(0|1)$")] = "1",
    unit: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    param = service.add_parameter(
        db=db, test_item_id=test_item_id, name=name, required=required == "1", unit=unit
    )
    return redirect(f"/catalogue?saved=1#p{param.id}")


@pages.post("/catalogue/parameters/{parameter_id}/required")
def parameter_required(
    parameter_id: Id,
    db: SessionDep,
    principal: Editor,
    required: Annotated[str, Form(pattern="^(0|1)$")],
) -> Response:
    param = service.set_required(db=db, parameter_id=parameter_id, required=required == "1")
    return redirect(f"/catalogue?saved=1#p{param.id}")


def _tree(db: SessionDep, edition: str | None) -> list[dict[str, Any]]:
    return [
        {
            "id": s.id,
            "code": s.code,
            "name": s.name,
            "requirements": {k: getattr(s, k) for k in service.REQUIREMENT_FIELDS},
            "items": [
                {
                    "id": i.id,
                    "code": i.code,
                    "name": i.name,
                    "standards": i.standards,
                    "parameters": [
                        {
                            "id": p.id,
                            "code": p.code,
                            "name": p.name,
                            "required": p.required,
                            "unit": p.unit,
                        }
                        for p in i.parameters
                    ],
                }
                for i in s.items
            ],
        }
        for s in service.specialties(db=db, edition=service.edition(db=db, code=edition))
    ]


@api.get(
    "/specialties",
    summary="资质目录：专项 > 检测项目 > 参数",
    response_model=list[dict[str, Any]],
    responses=answers({404: (NOT_FOUND,)}),  # no such edition
)
def api_tree(
    db: SessionDep,
    principal: Reader,
    edition: Annotated[
        str | None, Query(max_length=32, description="目录版本（如 2023），缺省为现行版本")
    ] = None,
) -> list[dict[str, Any]]:
    return _tree(db, edition)


@api.get(
    "/editions",
    summary="资质目录的各版本（最后一个为现行版本）",
    response_model=list[dict[str, Any]],
)
def api_editions(db: SessionDep, principal: Reader) -> list[dict[str, Any]]:
    return [
        {
            "code": e.code,
            "title": e.title,
            "published_date": e.published_date.isoformat() if e.published_date else None,
            "loaded_at": e.loaded_at.isoformat(),
            "summary": e.summary,
        }
        for e in service.editions(db=db)
    ]


@api.patch(
    "/specialties/{specialty_id}/requirements",
    summary="修改专项的人员、设备、场所最低要求",
    response_model=dict[str, int],
)
def api_requirements(
    specialty_id: Id,
    db: SessionDep,
    principal: Editor,
    body: Annotated[dict[str, Any], Body(examples=[{"min_inspectors": 20}])],
) -> dict[str, int]:
    s = service.update_requirements(db=db, specialty_id=specialty_id, raw=body)
    return {k: getattr(s, k) for k in service.REQUIREMENT_FIELDS}
