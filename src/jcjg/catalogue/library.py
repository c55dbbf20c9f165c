"""The regulation library's pages (法规库, docs/regulations.md): ``/regulations`` for everyone,
logged in or not (search, filters, count, pages, xlsx; cards on a phone), an entry's page with
its full text or file, what replaced it and what it replaced, and the platform's rules that cite
it; authorities with ``regulation:manage`` add and correct entries of their region (national
ones: the platform administrator)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Select, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.auth.choices import ScopeKind
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.catalogue.lists import REGULATIONS
from jcjg.catalogue.regulations import (
    CITING,
    Regulation,
    RegulationLevel,
    RegulationStatus,
    by_code,
    cite_links,
    cites,
)
from jcjg.core import domains, listing
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import (
    AppError,
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    errors_by_field,
    field_errors_from_pydantic,
)
from jcjg.core.evidence import Upload, media_type
from jcjg.core.evidence import check as check_files
from jcjg.core.evidence import serve as serve_files
from jcjg.core.evidence import store as store_files
from jcjg.core.forms import Id, PostedForm, form_id
from jcjg.core.listing import ListParams, list_params
from jcjg.core.masking import mask_phones
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.ratelimit import rate_limit
from jcjg.core.templating import redirect, render
from jcjg.core.text import MultiLine, TextModel, text_fields
from jcjg.regions import service as regions

router = APIRouter(
    include_in_schema=False,
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("verify"))],
)
Public = Annotated[Principal, Depends(requires(None))]
Manager = Annotated[Principal, Depends(requires("regulation:manage"))]
Paging = Annotated[PageParams, Depends(page_params)]
Params = Annotated[ListParams, Depends(list_params)]
CODE = r"^[0-9A-Za-z][0-9A-Za-z/.\- ]{0,15}$"
REGION = r"^(\d{6})?$"
MAX_TEXT = 400_000
DONE = {"created": "已加入法规库。", "saved": "已保存修改。"}


class RegulationIn(TextModel):
    """An entry as a form gives it (the file apart)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=CODE, description="引用代号")
    title: str = Field(min_length=1, max_length=200, description="名称")
    issuer: str = Field(min_length=1, max_length=200, description="发布机关")
    number: str = Field(default="", max_length=100, description="文号或标准号")
    level: RegulationLevel = Field(description="效力层级")
    region_code: str = Field(
        default="",
        pattern=REGION,
        description="发布地区；空为全国性文件，只有平台管理员能录入，区域账号须填本辖区",
    )
    status: RegulationStatus = Field(
        default=RegulationStatus.IN_FORCE,
        description="状态；现行或征求意见稿不能有废止日期或替代文件，已被替代须填替代文件",
    )
    issued_date: dt.date | None = Field(default=None, description="发布日期")
    effective_date: dt.date | None = Field(default=None, description="施行日期（不能早于发布日期）")
    repealed_date: dt.date | None = Field(
        default=None, description="废止日期（不能早于施行日期，无施行日期时不早于发布日期）"
    )
    replaced_by_id: Id | None = Field(default=None, description="替代文件")
    full_text: MultiLine = Field(default="", max_length=MAX_TEXT, description="全文")
    note: MultiLine = Field(default="", max_length=2000, description="说明")

    @model_validator(mode="after")
    def _dates(self) -> RegulationIn:
        if self.issued_date and self.effective_date and self.effective_date < self.issued_date:
            raise ValueError("施行日期不能早于发布日期")
        start = self.effective_date or self.issued_date
        if self.repealed_date and start and self.repealed_date < start:
            raise ValueError("废止日期不能早于施行（发布）日期")
        if self.status is RegulationStatus.REPLACED and self.replaced_by_id is None:
            raise ValueError("状态为已被替代时，请选择替代它的文件")
        if self.status in (RegulationStatus.IN_FORCE, RegulationStatus.DRAFT) and (
            self.repealed_date or self.replaced_by_id
        ):
            raise ValueError("现行或征求意见稿的文件不能有废止日期或替代文件")
        return self


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


# --- reading -----------------------------------------------------------------------------------


def library_stmt(
    *, q: str = "", level: str = "", status: str = "", region: str = ""
) -> Select[Any]:
    """The library's entries matching a search (title, number, issuer, code, full text), a
    level, a status and an issuing region (``"national"``: national ones; a code: that region
    and the regions above it, whose documents apply there too)."""
    stmt = select(Regulation)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(
                Regulation.title.like(like), Regulation.number.like(like),
                Regulation.issuer.like(like), Regulation.code.like(like),
                Regulation.full_text.like(like),
            )
        )  # fmt: skip
    if level:
        stmt = stmt.where(Regulation.level == level)
    if status:
        stmt = stmt.where(Regulation.status == status)
    if region == "national":
        stmt = stmt.where(Regulation.region_code == "")
    elif region:
        above = {region, f"{region[:4]}00", f"{region[:2]}0000", ""}
        stmt = stmt.where(Regulation.region_code.in_(above))
    return stmt


def citing(entry: Regulation) -> list[tuple[str, str, str]]:
    """The platform's alert rules whose clause cites ``entry`` (by its code, or a standard by
    its number): (rule id, title, clause), by title."""
    out = []
    for domain in domains.installed():
        for rule in domain.rules:
            clause = getattr(rule, "clause", None)
            title = getattr(rule, "title", None)
            rule_id = getattr(rule, "id", None)
            if clause and title and rule_id and cites(clause, entry):
                out.append((rule_id, title, clause))
    return sorted(out, key=lambda found: found[1])


def citing_rules(db: Session, entry: Regulation) -> list[tuple[str, Any]]:
    """:func:`citing` and what the domains add (``CITING``: the rules' local bases), each title
    with its clause as links."""
    known = by_code(db)
    found = [(title, clause) for _, title, clause in citing(entry)]
    for declared in domains.hooks(CITING):
        found += declared(db, entry)
    return [(title, cite_links(clause, known)) for title, clause in found]


def entry_or_404(db: Session, regulation_id: int) -> Regulation:
    entry = db.get(Regulation, regulation_id)
    if entry is None:
        raise NotFound("法规库中没有这份文件")
    return entry


def _choices(db: Session) -> dict[str, Any]:
    used = sorted({c for c in db.scalars(select(Regulation.region_code).distinct()) if c})
    return {
        "levels": list(RegulationLevel),
        "statuses": list(RegulationStatus),
        "regions": regions.display_names(db=db, codes=used),
    }


@router.get("/regulations", response_class=HTMLResponse)
def library(
    request: Request, db: SessionDep, principal: Public, paging: Paging, params: Params,
    q: Annotated[str, Query(max_length=64)] = "",
    level: Annotated[str, Query(pattern=r"^(|" + "|".join(RegulationLevel) + ")$")] = "",
    status: Annotated[str, Query(pattern=r"^(|" + "|".join(RegulationStatus) + ")$")] = "",
    region: Annotated[str, Query(pattern=r"^(|national|\d{6})$")] = "",
) -> Response:  # fmt: skip
    stmt = library_stmt(q=q.strip(), level=level, status=status, region=region)
    if params.exporting:
        return listing.export(request, db, REGULATIONS, stmt, params, user_id=principal.user_id)
    context = listing.page_context(request, db, REGULATIONS, stmt, paging, params)
    rows = context["rows"]
    context |= {
        "filters": {"q": q, "level": level, "status": status, "region": region},
        "region_names": regions.display_names(db=db, codes={r.region_code for r in rows}),
        "may_manage": principal.can("regulation:manage"),
        **_choices(db),
    }
    return render(request, "catalogue/regulations.html", context)


@router.get("/regulations/new", response_class=HTMLResponse)
def entry_new(request: Request, db: SessionDep, principal: Manager) -> Response:
    values = {"region_code": principal.region_code or "", "status": "in_force",
              "level": "normative_document"}  # fmt: skip
    return _form(request, db, principal, values)


@router.get("/regulations/{regulation_id}", response_class=HTMLResponse)
def entry_page(
    request: Request, db: SessionDep, principal: Public, regulation_id: Id,
    done: Annotated[str, Query(max_length=16)] = "",
) -> Response:  # fmt: skip
    entry = entry_or_404(db, regulation_id)
    replaced = list(
        db.scalars(
            select(Regulation).where(Regulation.replaced_by_id == entry.id).order_by(Regulation.id)
        )
    )
    context = {
        "r": entry,
        "level": RegulationLevel(entry.level),
        "status": RegulationStatus(entry.status),
        "region_name": regions.full_name(db=db, code=entry.region_code)
        if entry.region_code
        else "全国",
        "replaced_by": db.get(Regulation, entry.replaced_by_id) if entry.replaced_by_id else None,
        "replaces": replaced,
        "rules": citing_rules(db, entry),
        "text": mask_phones(entry.full_text),
        "may_edit": may_edit(principal, entry.region_code),
        "done": DONE.get(done, ""),
    }
    return render(request, "catalogue/regulation.html", context)


@router.get("/regulations/{regulation_id}/file")
def entry_file(request: Request, db: SessionDep, principal: Public, regulation_id: Id) -> Response:
    entry = entry_or_404(db, regulation_id)
    if not entry.file_sha256:
        raise NotFound("这份文件没有上传原件")
    settings = request.app.state.settings
    files = [{"sha256": entry.file_sha256, "name": entry.file_name or f"{entry.code}.pdf"}]
    return serve_files(settings, files, entry.file_sha256)


# --- managing ------------------------------------------------------------------------------------


def may_edit(principal: Principal, region_code: str) -> bool:
    """An authority edits its region's entries (and those below); national ones only a
    principal of global scope (the platform administrator)."""
    if not principal.can("regulation:manage"):
        return False
    if not region_code:
        return principal.scope_kind is ScopeKind.GLOBAL
    return principal.covers_region(region_code)


def _parse(raw: dict[str, Any]) -> RegulationIn:
    try:
        return RegulationIn.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


def save(
    *, db: Session, principal: Principal, data: RegulationIn, entry: Regulation | None,
    upload: Upload | None, settings: Any,
) -> Regulation:  # fmt: skip
    """Create (``entry`` None) or correct an entry; refused outside the principal's region, for
    an unknown or circular replacement, a duplicate code, a file that is not a PDF."""
    if entry is not None and not may_edit(principal, entry.region_code):
        raise PermissionDenied("只能维护本辖区发布的文件")
    if not may_edit(principal, data.region_code):
        if data.region_code:
            raise _refuse("region_code", "只能维护本辖区发布的文件")
        raise _refuse("region_code", "全国性的法律法规和标准由平台管理员维护，请填写发布地区")
    _check_replacement(db, data, entry)
    stored = _stored_file(settings, upload)
    row = entry or Regulation()
    for name, value in data.model_dump().items():
        setattr(row, name, value.value if isinstance(value, RegulationLevel | RegulationStatus)
                else value)  # fmt: skip
    if stored is not None:
        row.file_sha256, row.file_name = stored["sha256"], stored["name"]
    if entry is None:
        db.add(row)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as exc:
        raise Conflict(f"引用代号 {data.code} 已被法规库中的另一份文件使用") from exc
    return row


def _check_replacement(db: Session, data: RegulationIn, entry: Regulation | None) -> None:
    if data.replaced_by_id is None:
        return
    target = db.get(Regulation, data.replaced_by_id)
    if target is None or (entry is not None and target.id == entry.id):
        raise _refuse("replaced_by_id", "替代文件不存在或就是本文件")
    if entry is not None and target.replaced_by_id == entry.id:
        raise _refuse("replaced_by_id", "两份文件不能互相替代")


def _stored_file(settings: Any, upload: Upload | None) -> dict[str, Any] | None:
    """The uploaded original kept in the blob store (a PDF of at most 20 MB), or None."""
    if upload is None:
        return None
    problems = check_files([upload], "file")
    if not problems and media_type(upload.data) != "application/pdf":
        problems = [FieldError("file", f"{upload.name} 不是 PDF 文件", "type")]
    if problems:
        raise ValidationFailed(errors=problems)
    return store_files(settings, [upload])[0]


_FIELDS = (
    "code", "title", "issuer", "number", "level", "region_code", "status", "issued_date",
    "effective_date", "repealed_date", "replaced_by_id", "full_text", "note",
)  # fmt: skip


def _raw(values: dict[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = {k: values[k] for k in _FIELDS if values.get(k, "") != ""}
    if "replaced_by_id" in raw:
        raw["replaced_by_id"] = form_id(raw["replaced_by_id"]) or "无效"
    return raw


def _form(
    request: Request, db: Session, principal: Principal, values: dict[str, Any],
    entry: Regulation | None = None, error: AppError | None = None,
) -> Response:  # fmt: skip
    errors = errors_by_field(error.errors) if error else {}
    root = principal.region_code
    pools = ([regions.get(db=db, code=root)] if root else []) + (
        regions.children(db=db, code=root) if root else []
    )
    others = select(Regulation).order_by(Regulation.level, Regulation.code)
    if entry is not None:
        others = others.where(Regulation.id != entry.id)
    context = {
        "values": values,
        "entry": entry,
        "errors": errors,
        "other_errors": [m for k, m in errors.items() if k not in (*_FIELDS, "file")],
        "error": error.on_page if error else "",
        "region_choices": {r.code: regions.full_name(db=db, code=r.code) for r in pools},
        "national": principal.scope_kind is ScopeKind.GLOBAL,
        "others": list(db.scalars(others)),
        **_choices(db),
    }
    status = error.status if error else 200
    return render(request, "catalogue/regulation_form.html", context, status_code=status)


@router.post("/regulations", response_class=HTMLResponse)
@text_fields(multiline=("full_text", "note"))
def entry_create(
    request: Request, db: SessionDep, principal: Manager, form: PostedForm
) -> Response:
    values = form.values()
    files = form.files_of("file")
    upload = Upload(name=files[0].filename or "原件.pdf", data=files[0].data) if files else None
    try:
        row = save(db=db, principal=principal, data=_parse(_raw(values)), entry=None,
                   upload=upload, settings=request.app.state.settings)  # fmt: skip
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _form(request, db, principal, values, error=error)
    return redirect(f"/regulations/{row.id}?done=created")


@router.get("/regulations/{regulation_id}/edit", response_class=HTMLResponse)
def entry_edit(request: Request, db: SessionDep, principal: Manager, regulation_id: Id) -> Response:
    entry = entry_or_404(db, regulation_id)
    if not may_edit(principal, entry.region_code):
        raise PermissionDenied("只能维护本辖区发布的文件")
    values = {k: getattr(entry, k) for k in _FIELDS}
    values = {k: ("" if v is None else v) for k, v in values.items()}
    return _form(request, db, principal, values, entry)


@router.post("/regulations/{regulation_id}", response_class=HTMLResponse)
@text_fields(multiline=("full_text", "note"))
def entry_save(
    request: Request, db: SessionDep, principal: Manager, regulation_id: Id, form: PostedForm
) -> Response:
    entry = entry_or_404(db, regulation_id)
    values = form.values()
    files = form.files_of("file")
    upload = Upload(name=files[0].filename or "原件.pdf", data=files[0].data) if files else None
    try:
        save(db=db, principal=principal, data=_parse(_raw(values)), entry=entry, upload=upload,
             settings=request.app.state.settings)  # fmt: skip
    except (ValidationFailed, Conflict) as error:
        db.rollback()
        return _form(request, db, principal, values, entry_or_404(db, regulation_id), error=error)
    return redirect(f"/regulations/{regulation_id}?done=saved")
