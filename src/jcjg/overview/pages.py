"""The overview pages: an authority's overview of its region with the drill-down
(``/overview``), the public summary (``/public/overview``), and the supervision reports
(``/overview/reports``, their PDFs, and a report made on demand)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core import domains, listing
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import ValidationFailed
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.ratelimit import rate_limit
from jcjg.core.regioncodes import in_subtree, level_of
from jcjg.core.templating import redirect, render
from jcjg.overview import figures as fig
from jcjg.overview import service
from jcjg.overview.lists import REPORTS, period_label
from jcjg.overview.models import SupervisionReport
from jcjg.overview.periods import Period, PeriodKind
from jcjg.overview.sections import page_sections

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
public_router = APIRouter(
    include_in_schema=False,
    route_class=TransactionalRoute,
    dependencies=[Depends(rate_limit("verify"))],
)
Reader = Annotated[Principal, Depends(requires("overview:read"))]
ReportReader = Annotated[Principal, Depends(requires("supervision_report:read"))]
Maker = Annotated[Principal, Depends(requires("supervision_report:generate"))]
Public = Annotated[Principal, Depends(requires(None))]
REGION = Annotated[str, Query(max_length=6, description="行政区划代码")]
PERIOD = Annotated[str, Query(max_length=8, description="统计期间：2026、2026Q3 或 2026-10")]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _charts(data: dict[str, Any]) -> dict[str, Any]:
    """ECharts options drawn by static/js/overview.js (plain data: no functions)."""

    def bars(pairs: list[list[Any]], name: str) -> dict[str, Any]:
        return {"categories": [p[0] for p in pairs], "values": [p[1] for p in pairs],
                "name": name}  # fmt: skip

    t = data["testing"]
    return {
        "specialty": bars(data["institutions"]["by_specialty"], "检测机构（家）"),
        "nature": bars(data["institutions"]["by_nature"], "检测机构（家）"),
        "title": bars(data["staff"]["by_title"], "人员（人）"),
        "alerts": bars(data["alerts"]["by_rule"][:10], "预警（条）"),
        "months": {"categories": [m[0] for m in t["by_month"]],
                   "values": [m[1] for m in t["by_month"]],
                   "line": [m[2] for m in t["by_month"]], "name": "检测记录（条）",
                   "line_name": "不合格（条）"},
        "areas": {"categories": [a["name"] for a in data["areas"]],
                  "values": [a["institutions"] for a in data["areas"]], "name": "检测机构（家）"},
    }  # fmt: skip


def _context(db: Session, region_code: str, period: Period, *, public: bool) -> dict[str, Any]:
    day = service.today()
    as_of = service.as_of(period, day)
    data = fig.collect(db, region_code, period, as_of)
    county = bool(region_code) and level_of(region_code).value == "county"
    return {
        "data": data,
        "charts": _charts(data),
        "region_code": region_code,
        "region_name": service.name_of(db, region_code),
        "period": period,
        "as_of": as_of,
        "county": county,
        "public": public,
        "institutions": [] if public or not county else fig.institution_rows(db, region_code,
                                                                                 period),
        "top": [] if public else fig.top_institutions(db, region_code, period),
        "periods": _period_choices(day.year),
    }  # fmt: skip


def _period_choices(year: int) -> list[tuple[str, str]]:
    from jcjg.overview import periods

    out = []
    for y in (year, year - 1):
        out.append((f"{y}", f"{y}年"))
        out += [(periods.quarter(y, q).key, periods.quarter(y, q).label) for q in (1, 2, 3, 4)]
    return out


def _drill_xlsx(request: Request, db: Session, ctx: dict[str, Any]) -> Response:
    """The drill-down table as a sheet (the institutions at a county)."""
    if ctx["county"]:
        table = [["检测机构", "检测记录", "不合格", "预警"]] + [
            [r["name"], str(r["records"]), str(r["nonconforming"]), str(r["alerts"])]
            for r in ctx["institutions"]
        ]
    else:
        table = [["地区", "检测机构", "检测人员", "设备", "设备检定过期", "检测记录", "不合格",
                  "不合格率（%）", "预警", "未闭环不合格项"]] + [
            [a["name"], *(str(a[k]) for k in ("institutions", "people", "equipment", "overdue",
                                               "records", "nonconforming", "rate", "alerts",
                                               "nc_open"))]
            for a in ctx["data"]["areas"]
        ]  # fmt: skip
    title = f"行业概况-{ctx['region_name']}-{ctx['period'].key}"
    for hook in domains.hooks("list.exported"):
        hook(db, "overview", f"导出{title}（{len(table) - 1} 条）")
    return listing.download(listing.to_xlsx(table, "行业概况"), f"{title}.xlsx", XLSX)


@router.get("/overview", response_class=HTMLResponse)
def overview(
    request: Request, db: SessionDep, principal: Reader, region: REGION = "",
    period: PERIOD = "", format: Annotated[str, Query(pattern="^(html|xlsx)$")] = "html",
) -> Response:  # fmt: skip
    """The reader's region (or one below it: ``?region=``) in the period (the year by default)."""
    code = service.region_for(db, principal, region or None)
    chosen = service.period_for(period or None, service.today())
    ctx = _context(db, code, chosen, public=False)
    if format == "xlsx":
        return _drill_xlsx(request, db, ctx)
    ctx["crumbs"] = service.breadcrumbs(db, code, service.own_region(principal))
    ctx["sections"] = page_sections(db, principal, code, chosen)
    ctx["registry"] = principal.can("institution:read")
    return render(request, "overview/index.html", ctx)


@public_router.get("/public/overview", response_class=HTMLResponse)
def public_overview(
    request: Request, db: SessionDep, principal: Public, region: REGION = "", period: PERIOD = ""
) -> Response:
    """The public summary: aggregated figures only, never a person's or institution's name."""
    code = service.public_region(db, region or None)
    chosen = service.period_for(period or None, service.today())
    ctx = _context(db, code, chosen, public=True)
    ctx["crumbs"] = []
    ctx["sections"] = []
    return render(request, "overview/public.html", ctx)


# --- the reports ---------------------------------------------------------------------------


@router.get("/overview/reports", response_class=HTMLResponse)
def report_list(
    request: Request, db: SessionDep, principal: ReportReader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    kind: Annotated[str, Query(pattern="^(month|quarter)?$")] = "",
    region: REGION = "",
) -> Response:  # fmt: skip
    stmt = restrict(select(SupervisionReport), principal, "read")
    if kind:
        stmt = stmt.where(SupervisionReport.kind == kind)
    if region:
        stmt = stmt.where(SupervisionReport.region_code == region)
    if params.exporting:
        return listing.export(request, db, REPORTS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, REPORTS.order_for(params))
    rows = list(paged.rows)
    names = {r.region_code: service.name_of(db, r.region_code) for r in rows}
    context = {
        "rows": rows, "total": total, "paging": paging, "paged": paged, "names": names,
        "listing": Listing.of(request, REPORTS, params), "filters": {"kind": kind,
                                                                     "region": region},
        "kinds": {k.value: k.label for k in (PeriodKind.MONTH, PeriodKind.QUARTER)},
        "period_label": period_label, "can_make": principal.can("supervision_report:generate"),
        "own": service.own_region(principal),
        "own_name": service.name_of(db, service.own_region(principal)),
        "done": request.query_params.get("done") == "made",
    }  # fmt: skip
    return render(request, "overview/reports.html", context)


@router.post("/overview/reports", response_class=HTMLResponse)
def report_make(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Maker, form: PostedForm
) -> Response:
    """A report for a past month or quarter of the reader's region, made now (or the one kept)."""
    code = service.region_for(db, principal, str(form.get("region") or "") or None)
    if not code:
        raise ValidationFailed("请选择一个地区")
    period = service.period_for(str(form.get("period") or "") or "-", service.today())
    made = service.make_report(db, settings, region_code=code, period=period,
                               user_id=principal.user_id)  # fmt: skip
    return redirect(f"/overview/reports?done=made#report-{made.report.id}")


@router.get("/overview/reports/{report_id}/pdf")
def report_pdf(
    db: SessionDep, settings: SettingsDep, principal: ReportReader, report_id: Id
) -> Response:
    row = get_scoped(db, SupervisionReport, report_id, principal, "read")
    name = f"supervision-report-{row.region_code}-{row.period}.pdf"
    return Response(service.pdf_of(settings, row), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{name}"',
                             "Cache-Control": "private, no-store"})  # fmt: skip


def in_region(principal: Principal, code: str) -> bool:
    own = service.own_region(principal)
    return not own or in_subtree(code, own)
