"""Pages of the data standard (数据标准): its versions, a version's elements, models and code
lists, and the revision's steps (draft, edit, submit, review and publish)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.config import get_settings
from jcjg.core import listing
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import ListParams, list_params, page_context
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.governance import docs, forms, service
from jcjg.governance.choices import DataType, StandardStatus
from jcjg.governance.lists import ELEMENTS, VERSIONS
from jcjg.governance.models import CodeList, DataElement, DataModel, DataStandard
from jcjg.governance.words import domain_words, type_words

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("data_standard:read"))]
Editor = Annotated[Principal, Depends(requires("data_standard:edit"))]
Reviewer = Annotated[Principal, Depends(requires("data_standard:review"))]
Paging = Annotated[PageParams, Depends(page_params)]
Params = Annotated[ListParams, Depends(list_params)]
ElementId = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_.]{0,79}$")]
DONE = {
    "created": "修订草案已建立：逐个修改数据元后提交审核。",
    "saved": "已保存。",
    "submitted": "已提交审核。",
    "published": "已发布并存证，自生效时间起按此版本校验报送的数据。",
    "returned": "已退回起草人。",
    "discarded": "草案已删除。",
}
_WORDS: dict[str, Any] = {
    "statuses": StandardStatus,
    "types": DataType,
    "domain_words": domain_words,
    "type_words": type_words,
}


def _readable(principal: Principal, version: DataStandard) -> DataStandard:
    """A version the reader may see: published ones, drafts only to who edits or reviews."""
    if version.status != StandardStatus.PUBLISHED and not (
        principal.can("data_standard:edit") or principal.can("data_standard:review")
    ):
        raise NotFound(f"数据标准第 {version.version} 版不存在")
    return version


def _local(moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(get_settings().tz).strftime("%Y-%m-%d %H:%M")


@router.get("/governance", response_class=HTMLResponse)
def standard_home(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Paging,
    params: Params,
    status: Annotated[str, Query(pattern=r"^(|draft|submitted|returned|published)$")] = "",
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The versions of the data standard, the one in force and those to come; ``?format=xlsx``
    exports the list."""
    stmt = select(DataStandard)
    drafting = principal.can("data_standard:edit") or principal.can("data_standard:review")
    if not drafting:  # labs and the others see what is published
        stmt = stmt.where(DataStandard.status == StandardStatus.PUBLISHED.value)
    if status:
        stmt = stmt.where(DataStandard.status == status)
    if params.exporting:
        return listing.export(request, db, VERSIONS, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, VERSIONS, stmt, paging, params)
    context.update(
        _WORDS,
        filters={"status": status},
        current=service.in_force(db),
        upcoming=service.upcoming(db),
        open_one=db.scalar(select(DataStandard).where(DataStandard.status.in_(service.OPEN)))
        if drafting
        else None,
        local=_local,
        done=DONE.get(done, ""),
    )
    return render(request, "governance/home.html", context)


@router.post("/governance/versions", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def draft_create(request: Request, db: SessionDep, principal: Editor, form: PostedForm) -> Response:
    draft = service.new_draft(
        db, principal, title=form.get("title") or "", note=form.get("note") or ""
    )
    return redirect(f"/governance/versions/{draft.version}?done=created")


def _version_context(db: Session, version: DataStandard) -> dict[str, Any]:
    changed = list(
        db.scalars(
            select(DataElement)
            .where(DataElement.standard_id == version.id, DataElement.changed.is_(True))
            .order_by(DataElement.element_id)
        )
    )
    before = {e.element_id: service.base_element(db, version, e.element_id) for e in changed}
    models = list(
        db.scalars(
            select(DataModel)
            .where(DataModel.standard_id == version.id)
            .order_by(DataModel.model_id)
        )
    )
    code_lists = list(
        db.scalars(
            select(CodeList).where(CodeList.standard_id == version.id).order_by(CodeList.list_id)
        )
    )
    return {
        "changed": changed,
        "before": before,
        "models": models,
        "code_lists": code_lists,
        "code_labels": {c.list_id: {x["code"]: x["label"] for x in c.codes} for c in code_lists},
    }


@router.get("/governance/versions/{version}", response_class=HTMLResponse)
def version_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    version: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    row = _readable(principal, service.get(db, version))
    context = {
        **_WORDS,
        **_version_context(db, row),
        "version": row,
        "local": _local,
        "done": DONE.get(done, ""),
        "errors": {},
        "form": {},
    }
    return render(request, "governance/version.html", context)


@router.get("/governance/versions/{version}/data-standard.md")
def version_markdown(db: SessionDep, principal: Reader, version: Id) -> Response:
    """The version as the exchange docs' data standard page (Markdown)."""
    row = _readable(principal, service.get(db, version))
    effective = _local(row.effective_at) if row.effective_at else "未发布"
    text = docs.markdown(
        service.content_of(db, row), version=row.version, title=row.title, effective=effective
    )
    return Response(
        text,
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="data-standard-v{row.version}.md"'},
    )


@router.get("/governance/versions/{version}/elements", response_class=HTMLResponse)
def element_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    version: Id,
    paging: Paging,
    params: Params,
    q: Annotated[str, Query(max_length=64)] = "",
    type: Annotated[
        str, Query(pattern=r"^(|string|integer|number|decimal|boolean|date|datetime|uuid|object)$")
    ] = "",
    model: Annotated[str, Query(max_length=64, pattern=r"^[a-z0-9_.]*$")] = "",
    changed: Annotated[str, Query(pattern=r"^(|yes)$")] = "",
) -> Response:
    """A version's data elements: by words, type, message type, changed in this version;
    ``?format=xlsx`` exports them."""
    row = _readable(principal, service.get(db, version))
    stmt = select(DataElement).where(DataElement.standard_id == row.id)
    if q:
        pattern = f"%{q}%"
        stmt = stmt.where(
            or_(
                DataElement.element_id.ilike(pattern),
                DataElement.name.ilike(pattern),
                DataElement.definition.ilike(pattern),
            )
        )
    if type:
        stmt = stmt.where(DataElement.type == type)
    models = {
        m.model_id: m
        for m in db.scalars(
            select(DataModel).where(DataModel.standard_id == row.id).order_by(DataModel.model_id)
        )
    }
    if model:
        chosen = models.get(model)
        used = sorted({f["element"] for f in chosen.fields}) if chosen else []
        stmt = stmt.where(DataElement.element_id.in_(used))
    if changed:
        stmt = stmt.where(DataElement.changed.is_(True))
    if params.exporting:
        return listing.export(request, db, ELEMENTS, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, ELEMENTS, stmt, paging, params)
    context.update(
        _WORDS,
        code_labels={
            c.list_id: {x["code"]: x["label"] for x in c.codes}
            for c in db.scalars(select(CodeList).where(CodeList.standard_id == row.id))
        },
        version=row,
        models=models,
        filters={"q": q, "type": type, "model": model, "changed": changed},
    )
    return render(request, "governance/elements.html", context)


def _element_page(
    request: Request,
    db: Session,
    principal: Principal,
    version: DataStandard,
    element: DataElement,
    *,
    error: ValidationFailed | None = None,
    form: dict[str, Any] | None = None,
    done: str = "",
) -> Response:
    codes = db.scalar(
        select(CodeList).where(
            CodeList.standard_id == version.id, CodeList.list_id == (element.code_list or "")
        )
    )
    context = {
        **_WORDS,
        "version": version,
        "element": element,
        "base": service.base_element(db, version, element.element_id),
        "used_by": service.models_using(db, version, element.element_id),
        "codes": {c["code"]: c["label"] for c in codes.codes} if codes else {},
        "editable": version.status in service.EDITABLE and principal.can("data_standard:edit"),
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.detail if error else "",
        "form": form or {},
        "done": DONE.get(done, ""),
    }
    return render(request, "governance/element.html", context, status_code=422 if error else 200)


@router.get("/governance/versions/{version}/elements/{element_id}", response_class=HTMLResponse)
def element_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    version: Id,
    element_id: ElementId,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    row = _readable(principal, service.get(db, version))
    return _element_page(
        request, db, principal, row, service.element(db, row, element_id), done=done
    )


@router.post("/governance/versions/{version}/elements/{element_id}", response_class=HTMLResponse)
@text_fields(multiline=("definition",))
def element_update(
    request: Request,
    db: SessionDep,
    principal: Editor,
    version: Id,
    element_id: ElementId,
    form: PostedForm,
) -> Response:
    row = service.get(db, version)
    values: dict[str, Any] = {
        key: form.get(key) or ""
        for key in ("name", "definition", "unit", "clause", "minimum", "maximum",
                    "min_length", "max_length", "decimal_places")
    }  # fmt: skip
    values["enum"] = form.getlist("enum")
    try:
        service.edit_element(db, principal, version=row, element_id=element_id, values=values)
    except ValidationFailed as error:
        db.rollback()
        row = service.get(db, version)
        element = service.element(db, row, element_id)
        return _element_page(request, db, principal, row, element, error=error, form=values)
    return redirect(f"/governance/versions/{version}/elements/{element_id}?done=saved")


@router.post("/governance/versions/{version}/submit", response_class=HTMLResponse)
def version_submit(request: Request, db: SessionDep, principal: Editor, version: Id) -> Response:
    service.submit(db, principal, version=service.get(db, version))
    return redirect(f"/governance/versions/{version}?done=submitted")


@router.post("/governance/versions/{version}/discard", response_class=HTMLResponse)
def version_discard(request: Request, db: SessionDep, principal: Editor, version: Id) -> Response:
    service.discard(db, principal, version=service.get(db, version))
    return redirect("/governance?done=discarded")


@router.post("/governance/versions/{version}/review", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def version_review(
    request: Request, db: SessionDep, principal: Reviewer, version: Id, form: PostedForm
) -> Response:
    row = service.get(db, version)
    approve = form.get("decision") == "publish"
    values = {"note": form.get("note") or "", "effective_at": form.get("effective_at") or ""}
    try:
        moment = forms.moment(values["effective_at"]) if approve else None
        service.review(
            db,
            principal,
            version=row,
            approve=approve,
            effective_at=moment,
            note=values["note"],
            skew_seconds=get_settings().exchange_max_skew_seconds,
        )
    except ValidationFailed as error:
        db.rollback()
        row = service.get(db, version)
        context = {
            **_WORDS,
            **_version_context(db, row),
            "version": row,
            "local": _local,
            "done": "",
            "error": error.detail,
            "errors": errors_by_field(error.errors),
            "form": values,
        }
        return render(request, "governance/version.html", context, status_code=422)
    return redirect(f"/governance/versions/{version}?done={'published' if approve else 'returned'}")
