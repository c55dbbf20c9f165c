"""JSON API of the regulation library (法规库): the entries matching a search, a level, a status
and a region, and one entry with its full text (mobile numbers masked), what it replaced and
the platform's rules that cite it. For any account (a token or the session, like every
``/api/v1`` operation); the same entries are public on the pages (``/regulations``). Authorities
with ``regulation:manage`` add and correct their region's entries here as on the pages
(``/regulations/new``, ``/regulations/{id}/edit``, where the original PDF is uploaded)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.catalogue.library import RegulationIn, citing, entry_or_404, library_stmt, save
from jcjg.catalogue.lists import LEVEL_RANK
from jcjg.catalogue.regulations import Regulation, RegulationLevel, RegulationStatus
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.forms import Id
from jcjg.core.masking import mask_phones
from jcjg.core.pagination import Page, PageParams, count_rows, page_params
from jcjg.regions import service as regions

api = APIRouter(prefix="/api/v1/regulations", tags=["法规库"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("catalogue:read"))]
Manager = Annotated[Principal, Depends(requires("regulation:manage"))]


class RegulationRead(BaseModel):
    id: int
    code: str = Field(description="引用代号：规则和页面按它引用（如 002）")
    title: str = Field(description="名称（不含书名号）")
    citation: str = Field(description="引用时的写法：《名称》（文号；废止、被替代时注明）")
    issuer: str = Field(description="发布机关")
    number: str = Field(description="文号或标准号")
    level: RegulationLevel = Field(description="效力层级")
    level_label: str
    region_code: str = Field(description="发布地区的行政区划代码；空：全国")
    region_name: str
    status: RegulationStatus
    status_label: str
    issued_date: dt.date | None
    effective_date: dt.date | None
    repealed_date: dt.date | None
    replaced_by_id: int | None = Field(description="替代它的文件")
    has_full_text: bool
    file_url: str | None = Field(description="原件（PDF）的地址")
    url: str = Field(description="页面地址")


class CitingRule(BaseModel):
    id: str = Field(description="规则编号")
    title: str
    clause: str = Field(description="规则所依据的条款")


class RegulationDetail(RegulationRead):
    full_text: str = Field(description="全文（手机号码已脱敏）")
    note: str
    replaces: list[int] = Field(description="它替代的文件")
    rules: list[CitingRule] = Field(description="引用它的平台预警规则")


def _read(db: Session, entry: Regulation) -> dict[str, object]:
    return {
        "id": entry.id, "code": entry.code, "title": entry.title, "citation": entry.citation,
        "issuer": entry.issuer, "number": entry.number, "level": entry.level,
        "level_label": RegulationLevel(entry.level).label, "region_code": entry.region_code,
        "region_name": regions.display_name(db=db, code=entry.region_code) or "全国",
        "status": entry.status, "status_label": RegulationStatus(entry.status).label,
        "issued_date": entry.issued_date, "effective_date": entry.effective_date,
        "repealed_date": entry.repealed_date, "replaced_by_id": entry.replaced_by_id,
        "has_full_text": bool(entry.full_text),
        "file_url": f"{entry.href}/file" if entry.file_sha256 else None, "url": entry.href,
    }  # fmt: skip


@api.get("", summary="法规库：检索文件", response_model=Page[RegulationRead])
def list_regulations(
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str, Query(max_length=64, description="名称、文号、发布机关、代号或全文")] = "",
    level: RegulationLevel | None = None,
    status: RegulationStatus | None = None,
    region: Annotated[
        str,
        Query(
            pattern=r"^(|national|\d{6})$",
            description="national：全国的；行政区划代码：该地区及其上级地区发布、在该地区适用的",
        ),
    ] = "",
) -> Page[RegulationRead]:
    stmt = library_stmt(
        q=q.strip(), level=level.value if level else "", status=status.value if status else "",
        region=region,
    )  # fmt: skip
    total = count_rows(db, stmt)
    rows = db.scalars(
        stmt.order_by(LEVEL_RANK, Regulation.id).offset(paging.offset).limit(paging.limit)
    ).all()
    return Page(
        items=[RegulationRead.model_validate(_read(db, r)) for r in rows],
        total=total,
        offset=paging.offset,
        limit=paging.limit,
    )


@api.get("/{regulation_id}", summary="法规库：一份文件（含全文）", response_model=RegulationDetail)
def get_regulation(db: SessionDep, principal: Reader, regulation_id: Id) -> RegulationDetail:
    return _detail(db, entry_or_404(db, regulation_id))


@api.post(
    "", summary="法规库：新增本辖区发布的文件", status_code=201, response_model=RegulationDetail
)
def create_regulation(
    data: RegulationIn, db: SessionDep, principal: Manager, settings: SettingsDep
) -> RegulationDetail:
    """An authority adds an entry of its region (a national one: the platform administrator);
    a code already used: 409. The original (PDF) is uploaded on the entry's page."""
    entry = save(db=db, principal=principal, data=data, entry=None, upload=None, settings=settings)
    return _detail(db, entry)


@api.put(
    "/{regulation_id}", summary="法规库：更正一份文件（整条替换）", response_model=RegulationDetail
)
def replace_regulation(
    regulation_id: Id, data: RegulationIn, db: SessionDep, principal: Manager,
    settings: SettingsDep,
) -> RegulationDetail:  # fmt: skip
    """The entry's fields as given (the stored file kept); only its region's authority (403)."""
    entry = entry_or_404(db, regulation_id)
    saved = save(db=db, principal=principal, data=data, entry=entry, upload=None,
                 settings=settings)  # fmt: skip
    return _detail(db, saved)


def _detail(db: Session, entry: Regulation) -> RegulationDetail:
    replaces = db.scalars(
        select(Regulation.id).where(Regulation.replaced_by_id == entry.id).order_by(Regulation.id)
    ).all()
    return RegulationDetail.model_validate(
        _read(db, entry)
        | {
            "full_text": mask_phones(entry.full_text),
            "note": entry.note,
            "replaces": list(replaces),
            "rules": [{"id": i, "title": t, "clause": c} for i, t, c in citing(entry)],
        }
    )
