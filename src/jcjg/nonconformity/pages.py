"""``/nonconformities``: the register within the reader's scope with its summaries (by region,
institution, material and month), and each item's page with its handling."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core import labels, listing
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import ValidationFailed, errors_by_field
from jcjg.core.forms import Day, Id, PostedForm
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagecache import shared_page
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.nonconformity import service
from jcjg.nonconformity.choices import Handling, NcSource, NcStatus
from jcjg.nonconformity.lists import FOUND_BY, REGISTER, record_numbers
from jcjg.nonconformity.models import Nonconformity
from jcjg.projects.models import Project
from jcjg.projects.service import names_of
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import Judgement
from jcjg.testing.models import TestRecord

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("test_record:read"))]


def _value_label(key: str) -> str:
    """``strength_mpa`` -> 强度代表值（MPa）; a bar's ``2.yield_mpa`` -> 2 号屈服强度（MPa）."""
    return labels.label("field", key)


_CHOICES: dict[str, Any] = {
    "statuses": {s.value: s for s in NcStatus},
    "handlings": {h.value: h for h in Handling},
    "found_by": FOUND_BY,
    "reported_label": NcSource.REPORTED.label,  # who found an entry the lab reported itself
    "value_label": _value_label,
}


def _summary(
    db: Session, principal: Principal, by: str, today: dt.date
) -> tuple[list[service.SummaryRow], dict[str, str]]:
    """The register's counts by ``by`` within scope, and their keys' labels."""
    summary = service.summary(db, principal, by, today)
    return summary, _labels(db, by, [s.key for s in summary])


def _labels(db: Session, by: str, keys: list[str]) -> dict[str, str]:
    if by == "region":
        return dict(db.execute(select(Region.code, Region.name).where(Region.code.in_(keys))).all())
    if by == "institution":
        ids = [int(k) for k in keys if k.isdecimal()]
        rows = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
        return {str(i): n for i, n in rows}
    return {k: k for k in keys}


@router.get("/nonconformities", response_class=HTMLResponse)
@shared_page  # its scope's readers share it a few seconds (core.pagecache)
def register_page(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    status: Annotated[
        str | None, Query(pattern=r"^(open|handling|closed|unclosed|overdue)?$")
    ] = None,
    by: Annotated[str, Query(pattern=r"^(region|institution|material|month)$")] = "institution",
    institution_id: Id | None = None,
    region_code: Annotated[str | None, Query(pattern=r"^([1-9][0-9]{5})?$")] = None,
    project_id: Id | None = None,
    since: Day | None = None,
) -> Response:
    today = beijing_date(utcnow())
    narrowed: dict[str, Any] = {"institution_id": institution_id,
                                "region_code": region_code or None, "project_id": project_id,
                                "since": since}  # fmt: skip
    stmt = service.search_stmt(principal, status or None, today=today,
                               institution_id=institution_id, region_code=region_code or None,
                               project_id=project_id, since=since)  # fmt: skip
    if params.exporting:
        return listing.export(request, db, REGISTER, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, REGISTER.page_statement(stmt), paging, REGISTER.order_for(params))
    rows = paged.rows
    # the summary is the scope's figures: counted at most every JCJG_PAGE_FIGURES_SECONDS
    # per process (core.memo, as the home's); the list and its total are read each time
    (summary, summary_labels), _ = request.app.state.figures.get(
        ("nonconformity:summary", principal.scope_key, by, today),
        lambda: _summary(db, principal, by, today),
    )
    names = names_of(db, rows)
    records = record_numbers(db, rows)
    context = {
        "rows": rows,
        "total": total,
        "paging": paging,
        "paged": paged,
        "status": status or "",
        "by": by,
        "summary": summary,
        "labels": summary_labels,
        "institutions": names["institutions"],
        "projects": names["projects"],
        "records": records,
        "today": today,
        "listing": Listing.of(request, REGISTER, params),
        # the filters beside status and grouping, kept by the pager and the tabs
        "narrowed": {k: str(v) for k, v in narrowed.items() if v is not None},
        "narrowed_labels": _narrowed_labels(db, narrowed, names),
        **_CHOICES,
    }
    return render(request, "nonconformity/list.html", context)


def _narrowed_labels(db: Session, narrowed: dict[str, Any], names: dict[str, Any]) -> list[str]:
    """The list's narrowing filters in words (names only from the rows shown, which are in
    scope), to say what the list shows."""
    out = []
    if narrowed["institution_id"] is not None:
        i = narrowed["institution_id"]
        out.append(f"检测机构：{names['institutions'].get(i, f'#{i}')}")
    if narrowed["region_code"]:
        region = db.get(Region, narrowed["region_code"])
        out.append(f"行政区划：{region.name if region else narrowed['region_code']}及下辖")
    if narrowed["project_id"] is not None:
        p = narrowed["project_id"]
        out.append(f"工程项目：{names['projects'].get(p, f'#{p}')}")
    if narrowed["since"] is not None:
        out.append(f"{narrowed['since']} 起登记")
    return out


def verdict(item: Nonconformity, record: TestRecord | None) -> str:
    """Who judged what, in words: "机构判定合格，平台复核不合格" where the lab's conclusion and
    the platform's review differ, "机构判定与平台复核均不合格" where they agree."""
    if item.source == NcSource.REPORTED.value:
        return NcSource.REPORTED.label
    if record is None:
        return str(_CHOICES["found_by"].get(item.found_by, "—"))
    lab, platform = Judgement(record.lab_judgement), Judgement(record.platform_judgement)
    if lab is platform:
        return f"机构判定与平台复核均{lab.label}"
    lab_text = "机构未判定" if lab is Judgement.NONE else f"机构判定{lab.label}"
    platform_text = "平台未复核" if platform is Judgement.NONE else f"平台复核{platform.label}"
    return f"{lab_text}，{platform_text}"


def _detail(db: Session, principal: Principal, item: Nonconformity) -> dict[str, Any]:
    record = db.get(TestRecord, item.test_record_id) if item.test_record_id else None
    return {
        "item": item,
        "record": record,
        "verdict": verdict(item, record),
        "institution": db.get(Institution, item.institution_id),
        "project": db.get(Project, item.project_id) if item.project_id else None,
        "today": beijing_date(utcnow()),
        "may_record": item.status != NcStatus.CLOSED.value and service.may_record(principal, item),
        "may_close": item.status != NcStatus.CLOSED.value
        and principal.can("case:handle")
        and item.handling_origin is None,
        "form": {},
        "errors": {},
        **_CHOICES,
    }


@router.get("/nonconformities/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, item_id: Id, db: SessionDep, principal: Reader) -> Response:
    item = get_scoped(db, Nonconformity, item_id, principal, "read")
    return render(request, "nonconformity/detail.html", _detail(db, principal, item))


@router.post("/nonconformities/{item_id}", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def item_handling(
    request: Request, item_id: Id, db: SessionDep, principal: Reader, form: PostedForm
) -> Response:
    item = get_scoped(db, Nonconformity, item_id, principal, "read")
    values = form.values()
    try:
        service.record_handling(
            db=db, principal=principal, item=item, handling=values.get("handling", ""),
            note=values.get("note", ""), close=values.get("close") == "1", now=utcnow(),
        )  # fmt: skip
    except ValidationFailed as error:
        db.rollback()
        context = _detail(db, principal, item) | {
            "form": values,
            "errors": errors_by_field(error.errors),
        }
        return render(request, "nonconformity/detail.html", context, status_code=422)
    return redirect(f"/nonconformities/{item.id}")
