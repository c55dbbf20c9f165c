"""Pages and JSON API for every registered entity kind: ``/registry/{kind}`` and
``/api/v1/registry/{kind}``. The permission of each route is fixed (read: institution:read,
writes: institution:update, a new institution: institution:create, its status:
institution:status), and every query goes through ``restrict``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from jcjg.audit.choices import AuditAction
from jcjg.audit.models import AuditLog
from jcjg.audit.service import record_event
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core import listing
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import CONFLICT, AppError, NotFound, PermissionDenied, errors_by_field
from jcjg.core.forms import Id, Posted, PostedForm
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.openapi import answers
from jcjg.core.pagination import Page, PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.generic import service, tabular
from jcjg.generic.spec import MULTI, REF, REGION_REF, EntitySpec, specs
from jcjg.regions.models import Region
from jcjg.regions.service import display_names
from jcjg.tenancy.choices import InstitutionStatus
from jcjg.tenancy.models import Institution

pages = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
api = APIRouter(prefix="/api/v1/registry", tags=["检测机构登记"], route_class=TransactionalRoute)

Reader = Annotated[Principal, Depends(requires("institution:read"))]
Writer = Annotated[Principal, Depends(requires("institution:update"))]
Unmasker = Annotated[Principal, Depends(requires("personal_data:unmask"))]


def spec_of(kind: str) -> EntitySpec:
    spec = specs().get(kind)
    if spec is None:
        raise NotFound(f"没有“{kind}”这类登记信息")
    return spec


# --- serialisation -----------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def as_json(spec: EntitySpec, obj: Any, *, unmasked: bool = False) -> dict[str, Any]:
    """A record for the API: references by id, personal data masked unless asked."""
    data: dict[str, Any] = {"id": obj.id}
    if spec.is_institution:
        data |= {"code": obj.code, "status": obj.status}
    else:
        data |= {"institution_id": obj.institution_id}
    data["region_code"] = obj.region_code
    for f in spec.fields:
        value = getattr(obj, f.name)
        if f.kind == MULTI:
            value = [o.id for o in value]
        elif f.mask and value and not unmasked:
            value = f.display(value)
        data[f.name] = _jsonable(value)
    data["updated_at"] = obj.updated_at.isoformat()
    return data


def _labels(db: SessionDep, spec: EntitySpec, objs: list[Any]) -> dict[tuple[str, Any], str]:
    """Names for the REF ids shown on a page (labs, people, catalogue entries), and for the
    region codes of fields that name a region (``ref="region"``)."""
    wanted: dict[str, set[int]] = {}
    out: dict[tuple[str, Any], str] = {}
    for f in spec.fields:
        if f.ref == REGION_REF:
            codes = {getattr(o, f.name) for o in objs}
            for region, name in display_names(db=db, codes=codes).items():
                out[(REGION_REF, region)] = f"{name}（{region}）" if name != region else region
        elif f.kind == REF and f.ref:
            wanted.setdefault(f.ref, set()).update(
                getattr(o, f.name) for o in objs if getattr(o, f.name) is not None
            )
    for ref, ids in wanted.items():
        target, _ = service.targets()[ref]
        for row in db.scalars(select(target).where(target.id.in_(ids))):
            code = getattr(row, "code", None)
            out[(ref, row.id)] = f"{code} {row.name}" if code else row.name
    return out


def cell(spec: EntitySpec, obj: Any, name: str, labels: dict[tuple[str, Any], str]) -> str:
    f = spec.field(name)
    value = getattr(obj, name)
    if f.ref == REGION_REF and value:
        return labels.get((REGION_REF, value), str(value))
    if f.kind == MULTI:
        return "、".join(getattr(o, "name", str(o.id)) for o in value) or ""
    if f.kind == REF and value is not None and f.ref:
        return labels.get((f.ref, value), f"#{value}")
    return f.display(value)


# --- pages -------------------------------------------------------------------------------------


def _region_name(db: SessionDep, code: str | None) -> str:
    region = db.get(Region, code) if code else None
    return region.name if region else (code or "")


@pages.get("/registry", response_class=HTMLResponse)
def overview(request: Request, db: SessionDep, principal: Reader) -> Response:
    counts = []
    for spec in specs().values():
        _, total = service.list_rows(db=db, principal=principal, spec=spec, limit=1)
        counts.append((spec, total))
    return render(request, "generic/overview.html", {"counts": counts})


@pages.get("/registry/{kind}", response_class=HTMLResponse)
def list_page(
    request: Request,
    kind: str,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str | None, Query(max_length=64)] = None,
    institution_id: Id | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^([1-9][0-9]{5})?$")] = None,
) -> Response:
    """The registry's rows of one kind within scope, filtered and sorted; ``?format=xlsx``
    (or ``csv``) exports them with the same filters, personal data masked (the import's
    columns: an export can be edited and imported again)."""
    spec = spec_of(kind)
    view = tabular.list_view(spec)
    stmt = service.rows_stmt(
        principal=principal,
        spec=spec,
        q=q,
        institution_id=institution_id,
        region_code=region_code or None,
    )
    if params.exporting:
        return listing.export(request, db, view, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, view.order_for(params))
    rows = list(paged.rows)
    institutions = service.institutions_in_scope(db=db, principal=principal)
    context = {
        "spec": spec,
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "listing": Listing.of(request, view, params),
        "q": q or "",
        "institution_id": institution_id,
        "region_code": region_code or "",
        "region_name": _region_name(db, region_code),
        "institutions": institutions,
        "names": {i.id: i.name for i in institutions},
        "labels": _labels(db, spec, rows),
        "cell": cell,
    }
    return render(request, "generic/list.html", context)


def _form_context(
    db: SessionDep, principal: Principal, spec: EntitySpec, institution_id: Any, **extra: Any
) -> dict[str, Any]:
    # Choices (labs, people) only ever come from an institution the principal may maintain.
    institution_id = service.maintainable_institution_id(
        db=db, principal=principal, institution_id=institution_id
    )
    obj = extra.get("obj")  # an edit keeps the catalogue entries of earlier editions it has
    options = {
        f.name: service.ref_options(
            db=db, ref=f.ref, institution_id=institution_id, held=service.held_ids(obj, f.name)
        )
        for f in spec.fields
        if f.kind in (REF, MULTI) and f.ref
    }
    institutions = service.institutions_in_scope(db=db, principal=principal, action="update")
    return {"spec": spec, "options": options, "institutions": institutions, **extra}


def _form_values(spec: EntitySpec, form: Posted) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in spec.fields:
        if f.kind == MULTI:
            values[f.name] = [v for v in form.getlist(f.name) if v]
        elif f.kind == "bool":
            values[f.name] = form.get(f.name) == "on"
        elif f.name in form:
            values[f.name] = form.get(f.name)
    if "institution_id" in form:
        values["institution_id"] = form.get("institution_id")
    return values


def _current_values(spec: EntitySpec, obj: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in spec.fields:
        value = getattr(obj, f.name)
        if f.mask:
            continue  # personal data never goes into a form in clear; empty = unchanged
        if f.kind == MULTI:
            values[f.name] = [str(o.id) for o in value]
        elif f.kind == "pairs":
            values[f.name] = f.display(value)
        elif f.kind == "bool":
            values[f.name] = bool(value)
        else:
            values[f.name] = "" if value is None else str(_jsonable(value))
    return values


@pages.get("/registry/{kind}/new", response_class=HTMLResponse)
def new_page(
    request: Request,
    kind: str,
    db: SessionDep,
    principal: Writer,
    institution_id: Id | None = None,
) -> Response:
    spec = spec_of(kind)
    if spec.is_institution:
        principal.require("institution:create")
    if institution_id is None and principal.institution_id is not None:
        institution_id = principal.institution_id
    defaults = {f.name: f.default for f in spec.fields if f.default is not None}
    context = _form_context(
        db,
        principal,
        spec,
        institution_id,
        values={**defaults, "institution_id": str(institution_id or "")},
        errors={},
        obj=None,
    )
    return render(request, "generic/form.html", context)


@pages.post("/registry/{kind}", response_class=HTMLResponse)
@text_fields(own="*")  # every field is parsed by its spec (generic.spec: the text boundary)
def create_page(
    request: Request, kind: str, db: SessionDep, principal: Writer, form: PostedForm
) -> Response:
    spec = spec_of(kind)
    raw = _form_values(spec, form)
    try:
        obj = service.create_row(db=db, principal=principal, spec=spec, raw=raw)
    except PermissionDenied:
        raise  # a denial is a denial (and audited), not a form to fill again
    except AppError as error:
        db.rollback()
        context = _form_context(
            db,
            principal,
            spec,
            raw.get("institution_id"),
            values={k: v for k, v in raw.items()},
            errors=errors_by_field(error.errors),
            error=error.detail,
            obj=None,
        )
        return render(request, "generic/form.html", context, status_code=error.status)
    return redirect(f"/registry/{kind}/{obj.id}?saved=1")


def _detail(
    request: Request,
    db: SessionDep,
    principal: Principal,
    spec: EntitySpec,
    obj: Any,
    unmasked: bool = False,
) -> Response:
    institution = db.get(Institution, obj.institution_id)
    context = {
        "spec": spec,
        "obj": obj,
        "institution": institution,
        "labels": _labels(db, spec, [obj]),
        "cell": cell,
        "unmasked": unmasked,
        "statuses": list(InstitutionStatus),
        "has_personal": any(f.mask for f in spec.fields),
        "editable": service.can_update(db=db, principal=principal, spec=spec, obj=obj),
    }
    return render(request, "generic/detail.html", context)


@pages.get("/registry/{kind}/{row_id:int}", response_class=HTMLResponse)
def detail_page(
    request: Request, kind: str, row_id: Id, db: SessionDep, principal: Reader
) -> Response:
    spec = spec_of(kind)
    obj = service.get_row(db=db, principal=principal, spec=spec, row_id=row_id)
    return _detail(request, db, principal, spec, obj)


@pages.post("/registry/{kind}/{row_id:int}/unmask", response_class=HTMLResponse)
def unmask_page(
    request: Request, kind: str, row_id: Id, db: SessionDep, principal: Unmasker
) -> Response:
    spec = spec_of(kind)
    obj = service.get_row(db=db, principal=principal, spec=spec, row_id=row_id)
    masked = [f.label for f in spec.fields if f.mask]
    record_event(db, AuditAction.UNMASK, obj=obj, detail=f"查看{'、'.join(masked)}原文")
    return _detail(request, db, principal, spec, obj, unmasked=True)


@pages.get("/registry/{kind}/{row_id:int}/edit", response_class=HTMLResponse)
def edit_page(
    request: Request, kind: str, row_id: Id, db: SessionDep, principal: Writer
) -> Response:
    spec = spec_of(kind)
    obj = service.get_row(db=db, principal=principal, spec=spec, row_id=row_id, action="update")
    context = _form_context(
        db,
        principal,
        spec,
        obj.institution_id,
        values=_current_values(spec, obj),
        errors={},
        obj=obj,
    )
    return render(request, "generic/form.html", context)


@pages.post("/registry/{kind}/{row_id:int}", response_class=HTMLResponse)
@text_fields(own="*")  # every field is parsed by its spec (generic.spec: the text boundary)
def update_page(
    request: Request, kind: str, row_id: Id, db: SessionDep, principal: Writer, form: PostedForm
) -> Response:
    spec = spec_of(kind)
    obj = service.get_row(db=db, principal=principal, spec=spec, row_id=row_id, action="update")
    raw = _form_values(spec, form)
    raw.pop("institution_id", None)
    for f in spec.fields:  # masked fields left empty keep their value
        if f.mask and not str(raw.get(f.name) or "").strip():
            raw.pop(f.name, None)
    try:
        service.update_row(db=db, principal=principal, spec=spec, row_id=row_id, raw=raw)
    except AppError as error:
        db.rollback()
        obj = service.get_row(db=db, principal=principal, spec=spec, row_id=row_id, action="update")
        context = _form_context(
            db,
            principal,
            spec,
            obj.institution_id,
            values=raw,
            errors=errors_by_field(error.errors),
            error=error.detail,
            obj=obj,
        )
        return render(request, "generic/form.html", context, status_code=error.status)
    return redirect(f"/registry/{kind}/{row_id}?saved=1")


@pages.post("/registry/{kind}/{row_id:int}/delete")
def delete_page(kind: str, row_id: Id, db: SessionDep, principal: Writer) -> Response:
    service.delete_row(db=db, principal=principal, spec=spec_of(kind), row_id=row_id)
    return redirect(f"/registry/{kind}?deleted=1")


@pages.post("/registry/{kind}/{row_id:int}/status")
def status_page(
    kind: str,
    row_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("institution:status"))],
    form: PostedForm,
) -> Response:
    spec = spec_of(kind)
    if not spec.is_institution:
        raise NotFound("只有检测机构有状态")
    service.set_status(
        db=db, principal=principal, spec=spec, row_id=row_id, status=str(form.get("status", ""))
    )
    return redirect(f"/registry/{kind}/{row_id}?saved=1")


@pages.get("/registry/{kind}/{row_id:int}/history", response_class=HTMLResponse)
def history_page(
    request: Request, kind: str, row_id: Id, db: SessionDep, principal: Reader
) -> Response:
    spec = spec_of(kind)
    obj = service.get_row(db=db, principal=principal, spec=spec, row_id=row_id)
    # Only this record's own life: an id a deleted record once had may have been used again.
    stmt = (
        select(AuditLog)
        .where(
            AuditLog.object_type == spec.model.__tablename__,
            AuditLog.object_id == str(obj.id),
            AuditLog.institution_id == obj.institution_id,
            AuditLog.at >= obj.created_at - dt.timedelta(seconds=1),
        )
        .order_by(AuditLog.id.desc())
    )
    rows = db.scalars(stmt).all()
    return render(request, "generic/history.html", {"spec": spec, "obj": obj, "rows": rows})


def _download(data: bytes, filename: str, media_type: str) -> Response:
    from urllib.parse import quote

    disposition = f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})


@pages.get("/registry/{kind}/export")
def export_page(
    request: Request,
    kind: str,
    db: SessionDep,
    principal: Reader,
    format: Annotated[str, Query(pattern="^(csv|xlsx)$")] = "xlsx",
    unmasked: bool = False,
    institution_id: Id | None = None,
) -> Response:
    spec = spec_of(kind)
    if unmasked:
        principal.require("personal_data:unmask")
    rows = service.all_rows(db=db, principal=principal, spec=spec, institution_id=institution_id)
    table = tabular.export_rows(db=db, spec=spec, rows=rows, unmasked=unmasked)
    if unmasked and any(f.mask for f in spec.fields):
        record_event(
            db,
            AuditAction.UNMASK,
            object_type=spec.model.__tablename__,
            detail=f"导出{spec.label}（{len(rows)} 条）个人信息原文",
        )
    today = dt.datetime.now(dt.UTC).date().isoformat()
    if format == "csv":
        return _download(tabular.to_csv(table), f"{spec.label}-{today}.csv", "text/csv")
    return _download(tabular.to_xlsx(table, spec.label), f"{spec.label}-{today}.xlsx", tabular.XLSX)


@pages.get("/registry/{kind}/import", response_class=HTMLResponse)
def import_form(request: Request, kind: str, principal: Writer) -> Response:
    spec = spec_of(kind)
    if spec.is_institution:
        principal.require("institution:create")
    return render(request, "generic/import.html", {"spec": spec, "header": tabular.header(spec)})


@pages.get("/registry/{kind}/template")
def import_template(kind: str, principal: Writer) -> Response:
    spec = spec_of(kind)
    data = tabular.to_xlsx([tabular.header(spec)], spec.label)
    return _download(data, f"{spec.label}-导入模板.xlsx", tabular.XLSX)


@pages.post("/registry/{kind}/import", response_class=HTMLResponse)
async def import_upload(request: Request, kind: str, db: SessionDep, principal: Writer) -> Response:
    spec = spec_of(kind)
    if spec.is_institution:
        principal.require("institution:create")
    async with request.form() as form:  # closes the uploaded file's temporary copy
        return await _import(request, db, principal, spec, form)


async def _import(
    request: Request, db: SessionDep, principal: Principal, spec: EntitySpec, form: Any
) -> Response:
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        context = {"spec": spec, "header": tabular.header(spec), "error": "请选择要导入的文件"}
        return render(request, "generic/import.html", context, status_code=400)
    data = await upload.read(tabular.MAX_BYTES + 1)
    try:
        # Parsing and checking thousands of rows is CPU and database work: off the event loop.
        table = await run_in_threadpool(tabular.read_table, data, upload.filename or "")
    except AppError as error:
        context = {"spec": spec, "header": tabular.header(spec), "error": error.detail}
        return render(request, "generic/import.html", context, status_code=error.status)
    created, problems = await run_in_threadpool(
        lambda: tabular.import_rows(db=db, principal=principal, spec=spec, table=table)
    )
    context = {
        "spec": spec,
        "header": tabular.header(spec),
        "problems": problems,
        "created": created,
    }
    return render(request, "generic/import.html", context, status_code=422 if problems else 200)


# --- JSON API ----------------------------------------------------------------------------------


@api.get("/{kind}", summary="登记信息列表（按数据范围）", response_model=Page[dict[str, Any]])
def api_list(
    kind: str,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str | None, Query(max_length=64)] = None,
    institution_id: Id | None = None,
) -> Page[dict[str, Any]]:
    spec = spec_of(kind)
    rows, total = service.list_rows(
        db=db,
        principal=principal,
        spec=spec,
        q=q,
        institution_id=institution_id,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(
        items=[as_json(spec, r) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


# A duplicate, or a row others still refer to (the OpenAPI document)
CONFLICTS = answers({409: (CONFLICT,)})


@api.post(
    "/{kind}",
    summary="新增登记信息",
    status_code=201,
    response_model=dict[str, Any],
    responses=CONFLICTS,
)
@text_fields(own="*")  # every field is parsed by its spec (generic.spec: the text boundary)
def api_create(
    kind: str,
    db: SessionDep,
    principal: Writer,
    body: Annotated[dict[str, Any], Body(description="字段见 GET /api/v1/registry/{kind}/fields")],
) -> dict[str, Any]:
    spec = spec_of(kind)
    return as_json(spec, service.create_row(db=db, principal=principal, spec=spec, raw=body))


@api.get("/{kind}/fields", summary="字段说明", response_model=list[dict[str, Any]])
def api_fields(kind: str, principal: Reader) -> list[dict[str, Any]]:
    spec = spec_of(kind)
    return [
        {
            "name": f.name,
            "label": f.label,
            "kind": f.kind,
            "required": f.required,
            "max_length": f.max_length,
            "choices": [{"value": c.value, "label": c.label} for c in f.choices]  # type: ignore[attr-defined]
            if f.choices
            else None,
            "ref": f.ref,
            "masked": bool(f.mask),
            "help": f.help,
        }
        for f in spec.fields
    ]


@api.get("/{kind}/{row_id:int}", summary="登记信息详情", response_model=dict[str, Any])
def api_get(kind: str, row_id: Id, db: SessionDep, principal: Reader) -> dict[str, Any]:
    spec = spec_of(kind)
    return as_json(spec, service.get_row(db=db, principal=principal, spec=spec, row_id=row_id))


@api.patch(
    "/{kind}/{row_id:int}",
    summary="修改登记信息",
    response_model=dict[str, Any],
    responses=CONFLICTS,
)
@text_fields(own="*")  # every field is parsed by its spec (generic.spec: the text boundary)
def api_update(
    kind: str,
    row_id: Id,
    db: SessionDep,
    principal: Writer,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    spec = spec_of(kind)
    obj = service.update_row(db=db, principal=principal, spec=spec, row_id=row_id, raw=body)
    return as_json(spec, obj)


@api.delete(
    "/{kind}/{row_id:int}",
    summary="删除登记信息（检测机构除外）",
    status_code=204,
    responses=CONFLICTS,
)
def api_delete(kind: str, row_id: Id, db: SessionDep, principal: Writer) -> Response:
    service.delete_row(db=db, principal=principal, spec=spec_of(kind), row_id=row_id)
    return Response(status_code=204)


@api.post(
    "/{kind}/{row_id:int}/status",
    summary="暂停、撤销或恢复检测机构",
    response_model=dict[str, Any],
    responses=CONFLICTS,
)
def api_status(
    kind: str,
    row_id: Id,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("institution:status"))],
    body: Annotated[dict[str, str], Body(examples=[{"status": "suspended"}])],
) -> dict[str, Any]:
    spec = spec_of(kind)
    if not spec.is_institution:
        raise NotFound("只有检测机构有状态")
    obj = service.set_status(
        db=db, principal=principal, spec=spec, row_id=row_id, status=body.get("status", "")
    )
    return as_json(spec, obj)


@api.get(
    "/{kind}/{row_id:int}/personal-data",
    summary="个人信息原文（留痕）",
    response_model=dict[str, Any],
)
def api_unmask(kind: str, row_id: Id, db: SessionDep, principal: Unmasker) -> dict[str, Any]:
    spec = spec_of(kind)
    obj = service.get_row(db=db, principal=principal, spec=spec, row_id=row_id)
    fields = [f for f in spec.fields if f.mask]
    if not fields:
        raise NotFound("这类记录没有个人信息")
    record_event(db, AuditAction.UNMASK, obj=obj, detail="接口读取个人信息原文")
    return {f.name: getattr(obj, f.name) for f in fields}
