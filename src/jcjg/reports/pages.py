"""Reports for the logged-in: the list, a report's page (its code, QR, status, the records it
covers, the chain and the scans of its code) and the QR to print, as SVG or PNG."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from jcjg.alerts.service import rule_title
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.config import Settings
from jcjg.core import listing
from jcjg.core.blobs import BlobNotFound, blob_store
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.forms import Id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagecache import shared_page
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import Panel, render
from jcjg.documents.qr import qr_png, qr_svg
from jcjg.exchange.pages import human_bytes
from jcjg.projects.models import Project
from jcjg.projects.service import names_of
from jcjg.reports import chain
from jcjg.reports.choices import ReportStatus, ScanOutcome
from jcjg.reports.codes import SUPERVISION, verify_url
from jcjg.reports.lists import REPORTS
from jcjg.reports.models import CodeScan, Report
from jcjg.testing.choices import Judgement

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("report:read"))]
_CHOICES: dict[str, Any] = {
    "statuses": {s.value: s for s in ReportStatus},
    "judgements": {j.value: j for j in Judgement},
    "outcomes": {o.value: o for o in ScanOutcome},
    "display": SUPERVISION.display,
    "rule_title": rule_title,
}


@router.get("/reports", response_class=HTMLResponse)
@shared_page  # its scope's readers share it a few seconds (core.pagecache)
def report_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """The reports within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    stmt = restrict(select(Report), principal, "read")
    if q:
        needle = q.replace(" ", "").upper()
        stmt = stmt.where(
            or_(Report.number.like(f"%{q}%"), Report.supervision_code.like(f"%{needle}%"))
        )
    if status:
        stmt = stmt.where(Report.status == status)
    if params.exporting:
        return listing.export(request, db, REPORTS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt.options(*_NOT_LISTED), paging, REPORTS.order_for(params))
    rows = list(paged.rows)
    names = names_of(db, rows)["institutions"]
    return render(
        request,
        "reports/list.html",
        {
            "rows": rows,
            "total": total,
            "paging": paging,
            "paged": paged,
            "q": q,
            "status": status,
            "names": names,
            "listing": Listing.of(request, REPORTS, params),
            **_CHOICES,
        },
    )


# the JSON columns the list page does not show, not read for it (six JSON documents decoded a
# row, 126 a page before, issue 44); raiseload: reading one there is an error, not a query a row
_NOT_LISTED = tuple(
    defer(column, raiseload=True)
    for column in (Report.items, Report.results, Report.signatories, Report.signatory_person_ids,
                   Report.signatory_outsider_ids, Report.pdf_checks)
)  # fmt: skip


@router.get("/reports/{report_id}", response_class=HTMLResponse)
def report_detail(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Reader, report_id: Id
) -> Response:
    report = get_scoped(db, Report, report_id, principal, "read")
    scans = dict(
        db.execute(
            select(CodeScan.outcome, func.count())
            .where(CodeScan.report_id == report.id)
            .group_by(CodeScan.outcome)
        ).all()
    )
    url = verify_url(settings.base_url, report.supervision_code, report.token)
    return render(
        request,
        "reports/detail.html",
        {
            "report": report,
            "chain": chain.build(db, report),
            "verify_url": url,
            "qr": qr_svg(url, scale=4),
            "scans": scans,
            "pdf": _pdf_file(settings, report),
            **_CHOICES,
        },
    )


def _pdf_file(settings: Settings, report: Report) -> dict[str, str] | None:
    """The report's signed PDF as the page offers it: its name, size and address."""
    if report.pdf_sha256 is None:
        return None
    try:
        size = human_bytes(blob_store(settings).size(report.pdf_sha256))
    except BlobNotFound:
        size = "文件缺失"
    return {"name": _pdf_name(report), "size": size, "url": f"/reports/{report.id}/report.pdf"}


def _pdf_name(report: Report) -> str:
    return f"检测报告 {report.number}.pdf"


@router.get("/reports/{report_id}/report.pdf")
def report_pdf(db: SessionDep, settings: SettingsDep, principal: Reader, report_id: Id) -> Response:
    """The report's signed PDF, to whoever may read the report's page."""
    report = get_scoped(db, Report, report_id, principal, "read")
    if report.pdf_sha256 is None:
        raise NotFound("检测机构尚未上传报告文件")
    name = quote(_pdf_name(report))
    return Response(
        blob_store(settings).get(report.pdf_sha256),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="report-{report.id}.pdf"; '
            f"filename*=UTF-8''{name}",
            "Cache-Control": "private, no-store",
        },
    )


@router.get("/reports/{report_id}/qr.{kind}")
def report_qr(
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    report_id: Id,
    kind: Annotated[str, Path(pattern="^(svg|png)$")],
    scale: Annotated[int, Query(ge=2, le=40)] = 10,
) -> Response:
    """The report's QR to print: its verification URL with the token, full QR, quiet zone."""
    report = get_scoped(db, Report, report_id, principal, "read")
    url = verify_url(settings.base_url, report.supervision_code, report.token)
    name = f"jcjg-{report.supervision_code}.{kind}"
    headers = {
        "Content-Disposition": f'inline; filename="{name}"',
        "Cache-Control": "private, no-store",
    }
    if kind == "svg":
        return Response(qr_svg(url, scale), media_type="image/svg+xml", headers=headers)
    return Response(qr_png(url, scale), media_type="image/png", headers=headers)


def project_panels(db: Session, principal: Principal, project: Project) -> Iterable[Panel]:
    """The project page's reports, gathered by project (000 4.3.2 item 2)."""
    if not principal.can("report:read"):
        return
    reports = db.scalars(
        restrict(select(Report), principal, "read")
        .where(Report.project_id == project.id)
        .order_by(Report.issued_on.desc(), Report.id.desc())
        .limit(100)
    ).all()
    context = {
        "reports": reports,
        "report_statuses": {s.value: s for s in ReportStatus},
        "judgements": {j.value: j for j in Judgement},
    }
    yield Panel("reports/project_reports.html", context, order=60)
