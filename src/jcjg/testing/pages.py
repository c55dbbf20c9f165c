"""Test records: the list with its flags, a record's page with the chain back to the sample,
each specimen's curve played back (ECharts), and the revisions beside the original values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import load_overrides, resolve_thresholds, rule_of
from jcjg.alerts.service import rule_title
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import by_code
from jcjg.core import listing
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import BadRequest, NotFound
from jcjg.core.forms import Day, Id
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagecache import shared_page
from jcjg.core.pagination import (
    PageParams,
    count_total,
    page_params,
    paginate,
)
from jcjg.core.templating import Panel, contributions, render, render_list, render_panels
from jcjg.core.workdays import BEIJING, beijing_date, working_days_between
from jcjg.generic.tabular import XLSX, to_xlsx
from jcjg.projects.models import Project
from jcjg.projects.service import names_of
from jcjg.regions import service as regions
from jcjg.sampling.models import Commission, Sample, SampleSeal
from jcjg.tenancy.models import Institution
from jcjg.testing import figures, fraud, onsite_stats, reuse, service, stats
from jcjg.testing.choices import NONCONFORMING_BY, RECORD_ACTIONS, Acquisition, Judgement, TestKind
from jcjg.testing.jobs import TALLY_EVERY
from jcjg.testing.lists import ONSITE_PLANS, ONSITE_RECORDS, RECORDS, flags, subject_flags
from jcjg.testing.models import (
    Curve,
    OnSitePlan,
    OnSiteRecord,
    Revision,
    Specimen,
    TestRecord,
)
from jcjg.testing.rules import LoadingRate, loading_rate_of
from jcjg.testing.stats import Filters

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("test_record:read"))]
# What other domains add to a test record's page (core.templating Panel): the hook
# ``testing.record_actions`` is called with (db, principal, record) and answers sections shown
# under the record's facts (video: 回放试验过程 and the photos taken from the recording).

_CHOICES: dict[str, Any] = {
    "kinds": {k.value: k for k in TestKind},
    "acquisitions": {a.value: a for a in Acquisition},
    "judgements": {j.value: j for j in Judgement},
    "nonconforming_by": NONCONFORMING_BY,
    "rule_title": rule_title,
}


# no I/O: async, so FastAPI calls it on the event loop, not in a thread of its own (a hop)
async def list_filters(
    kind: Annotated[str, Query(max_length=24)] = "",
    institution: Id | None = None,
    project: Id | None = None,
    item: Annotated[str, Query(max_length=12)] = "",
    since: Day | None = None,
    until: Day | None = None,
) -> Filters:
    for day, label in ((since, "开始日期"), (until, "截止日期")):
        problem = stats.day_problem(day, label)
        if problem:
            raise BadRequest(f"筛选条件不正确：{problem}")
    return Filters(kind, institution, project, item, since, until)


FiltersDep = Annotated[Filters, Depends(list_filters)]


@router.get("/testing/records", response_class=HTMLResponse)
@shared_page  # its scope's readers share it a few seconds (core.pagecache)
def record_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    filters: FiltersDep,
    q: Annotated[str, Query(max_length=64)] = "",
    flagged: Annotated[bool, Query()] = False,
    rule: Annotated[str, Query(max_length=64)] = "",
    nonconforming: Annotated[bool, Query()] = False,
) -> Response:
    """The test records within scope, filtered and sorted; ``?format=xlsx`` exports them."""
    stmt = filters.apply(restrict(select(TestRecord), principal, "read"))
    if q:
        stmt = stmt.where(TestRecord.number.like(f"%{q}%"))
    if flagged:
        stmt = stmt.where(
            cast(TestRecord.id, String).in_(stats.alerted_ids("test_record", open_only=True))
        )
    if rule:  # records the rule has found (open or closed: a late upload stays late)
        stmt = stmt.where(
            cast(TestRecord.id, String).in_(stats.alerted_ids("test_record", rule_id=rule))
        )
    if nonconforming:
        stmt = stmt.where(TestRecord.nonconforming_by != "")
    if params.exporting:
        return listing.export(request, db, RECORDS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, RECORDS.page_statement(stmt), paging, RECORDS.order_for(params))
    rows = paged.rows
    record_flags = flags(db, [r.id for r in rows])
    institutions = names_of(db, rows)["institutions"]
    query = filters.query() | {"q": q, "rule": rule}
    query |= {"flagged": "true"} if flagged else {}
    query |= {"nonconforming": "true"} if nonconforming else {}
    query = {k: v for k, v in query.items() if v}
    # the selects' choices are the scope's, kept as the alert list's are (core.memo)
    choices, _ = request.app.state.figures.get(
        ("testing:pickers", principal.scope_key), lambda: _pickers(db, principal)
    )
    return render_list(
        request,
        "testing/list.html",
        {
            "rows": rows,
            "total": total,
            "paging": paging,
            "paged": paged,
            "filters": filters,
            "q": q,
            "flagged": flagged,
            "rule": rule,
            "nonconforming": nonconforming,
            "narrowed": _narrowed(db, filters, rule),
            **choices,
            # what the form does not offer travels hidden (from a statistics page's link)
            "hidden": {
                k: v
                for k, v in query.items()
                if k in ("item", "rule")
                or (k == "institution" and not choices["institution_choices"])
                or (k == "project" and not choices["project_choices"])
            },
            "page_url": "/testing/records?" + urlencode(query) + ("&" if query else ""),
            "flags": record_flags,
            "institutions": institutions,
            "listing": Listing.of(request, RECORDS, params),
            **_CHOICES,
        },
        results="testing/_results.html",
        filters="testing/_filters.html",
    )


PICKER_MAX = 300  # choices a select offers; beyond, the filter comes only from links


def _pickers(db: Session, principal: Principal) -> dict[str, list[tuple[int, str]]]:
    """The institutions and projects of the reader's scope, for the list's selects (none
    when there are more than :data:`PICKER_MAX`, or just one: nothing to choose)."""
    labs: Sequence[Any] = []
    sites: Sequence[Any] = []
    if principal.can("institution:read"):
        labs = db.execute(
            restrict(select(Institution.id, Institution.name), principal, "read")
            .order_by(Institution.name)
            .limit(PICKER_MAX + 1)
        ).all()
    if principal.can("project:read"):
        sites = db.execute(
            restrict(select(Project.id, Project.name), principal, "read")
            .order_by(Project.name)
            .limit(PICKER_MAX + 1)
        ).all()

    def offered(rows: Sequence[Any]) -> list[tuple[int, str]]:
        return [(i, n) for i, n in rows] if 1 < len(rows) <= PICKER_MAX else []

    return {"institution_choices": offered(labs), "project_choices": offered(sites)}


def _narrowed(db: Session, filters: Filters, rule: str) -> list[str]:
    """What the filters not on the form narrow the list to, to show and undo."""
    narrowed = []
    if filters.institution:
        institution = db.get(Institution, filters.institution)
        narrowed.append(f"检测机构：{institution.name if institution else filters.institution}")
    if filters.project:
        project = db.get(Project, filters.project)
        narrowed.append(f"工程项目：{project.name if project else filters.project}")
    if filters.item:
        narrowed.append(f"检测项目：{filters.item}")
    if rule:
        narrowed.append(f"规则：{rule_title(rule)}")
    return narrowed


@router.get("/testing/stats", response_class=HTMLResponse)
@shared_page  # its scope's readers share it a few seconds (core.pagecache)
def record_statistics(
    request: Request,
    db: SessionDep,
    principal: Reader,
    filters: FiltersDep,
    by: Annotated[Literal["institution", "project", "item", "month"], Query()] = "institution",
    format: Annotated[Literal["html", "xlsx"], Query()] = "html",
) -> Response:
    found = stats.record_stats(db, principal, by, filters, request.app.state.figures)
    rows = found.rows
    if format == "xlsx":  # the same figures as a sheet; the export is audited
        sheet = stats.table(rows, by)
        detail = f"导出检测数据统计（按{stats.GROUPS[by]}，{len(rows)} 行）"
        if request.url.query:
            detail += "：" + request.url.query
        record_event(db, AuditAction.EXPORT, object_type="test_record", detail=detail[:1000])
        today = beijing_date(utcnow()).isoformat()
        name = quote(f"检测数据统计-{today}.xlsx")
        return Response(
            to_xlsx(sheet, "检测数据统计"),
            media_type=XLSX,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
        )
    totals = {
        name: sum(getattr(r, name) for r in rows)
        for name in ("records", "auto", "late", "flagged", "nonconforming")
    }
    return render(
        request,
        "testing/stats.html",
        {
            "rows": rows,
            "counted_at": found.counted_at,
            "tally_every": int(TALLY_EVERY.total_seconds() // 60),
            "by": by,
            "groups": stats.GROUPS,
            "filters": filters,
            "totals": totals,
            "total_row": stats.Row(key="", label="合计", **totals),
            "chart": stats.chart(rows, by),
            "xlsx_link": "/testing/stats?"
            + urlencode(filters.query() | {"by": by, "format": "xlsx"}),
            "link": lambda row, **more: (
                "/testing/records?" + urlencode(row.link(by, filters) | more)
            ),
            "all_link": lambda **more: "/testing/records?" + urlencode(filters.query() | more),
            **_CHOICES,
        },
    )


async def onsite_query(
    region: Annotated[str, Query(max_length=64)] = "",
    institution: Annotated[str, Query(max_length=64)] = "",
    project: Annotated[str, Query(max_length=64)] = "",
    item: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
) -> dict[str, str]:
    """The on-site filters as sent (checked by ``onsite_stats.parse_filters``, which says in
    Chinese what is wrong)."""
    return {"region": region, "institution": institution, "project": project, "item": item,
            "since": since, "until": until}  # fmt: skip


@router.get("/testing/onsite/stats", response_class=HTMLResponse)
def onsite_statistics(
    request: Request,
    db: SessionDep,
    principal: Reader,
    raw: Annotated[dict[str, str], Depends(onsite_query)],
    by: Annotated[str, Query(max_length=32)] = "institution",
    format: Annotated[str, Query(max_length=8)] = "html",
) -> Response:
    """On-site test records counted by institution, project, item or month, within scope;
    ``?format=xlsx`` the same figures as a sheet (audited)."""
    filters = onsite_stats.parse_filters(principal, raw)
    if format not in ("html", "xlsx"):
        raise BadRequest(f"导出格式“{format}”不正确：可选 Excel（xlsx）")
    rows = onsite_stats.onsite_stats(db, principal, onsite_stats.parse_group(by), filters)
    if format == "xlsx":
        sheet = onsite_stats.table(rows, by)
        detail = f"导出现场检测统计（按{stats.GROUPS[by]}，{len(rows)} 行）"
        if request.url.query:
            detail += "：" + request.url.query
        record_event(db, AuditAction.EXPORT, object_type="onsite_record", detail=detail[:1000])
        today = beijing_date(utcnow()).isoformat()
        name = quote(f"现场检测统计-{today}.xlsx")
        return Response(
            to_xlsx(sheet, "现场检测统计"),
            media_type=XLSX,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"},
        )
    listed = "/testing/onsite?"
    base = {"show": "records"} | filters.query()
    return render(
        request,
        "testing/onsite_stats.html",
        {
            "rows": rows,
            "total_row": onsite_stats.total(rows),
            "by": by,
            "groups": stats.GROUPS,
            "columns": onsite_stats.COLUMNS,
            "filters": filters,
            "choices": onsite_stats.choices(db, principal),
            "narrowed": _onsite_narrowed(db, filters, {}),
            "chart": onsite_stats.chart(rows, by),
            "xlsx_link": "/testing/onsite/stats?"
            + urlencode(filters.query() | {"by": by, "format": "xlsx"}),
            "link": lambda row, column="": (
                listed
                + urlencode({"show": "records"} | row.link(by, filters) | _column_query(column))
            ),
            "all_link": lambda column="": listed + urlencode(base | _column_query(column)),
        },
    )


def _column_query(column: str) -> dict[str, str]:
    """The on-site record list's filter for the records a column counts."""
    if not column:
        return {}
    _label, name, value = onsite_stats.COLUMNS[column]
    return {name: value}


def _onsite_narrowed(
    db: Session, filters: onsite_stats.OnSiteFilters, marks: dict[str, str]
) -> list[str]:
    """What the on-site filters narrow to, in words (to show, and undo)."""
    out = []
    if filters.region:
        out.append(f"行政区划：{regions.display_name(db=db, code=filters.region)}")
    out += _narrowed(db, Filters(institution=filters.institution, project=filters.project,
                                 item=filters.item), "")  # fmt: skip
    if filters.since or filters.until:
        out.append(f"检测开始：{filters.since or '…'} 至 {filters.until or '…'}")
    labels = {(name, value): label for label, name, value in onsite_stats.COLUMNS.values()}
    out += [labels[mark] for mark in marks.items() if mark in labels]
    return out


@router.get("/testing/records/{record_id}", response_class=HTMLResponse)
def record_detail(request: Request, db: SessionDep, principal: Reader, record_id: Id) -> Response:
    record = get_scoped(db, TestRecord, record_id, principal, "read")
    specimens = db.scalars(
        select(Specimen).where(Specimen.test_record_id == record.id).order_by(Specimen.position)
    ).all()
    curves = {
        c.specimen_id: c for c in db.scalars(select(Curve).where(Curve.test_record_id == record.id))
    }
    revisions = db.scalars(
        select(Revision).where(Revision.test_record_id == record.id).order_by(Revision.id)
    ).all()
    alerts = subject_flags(db, "test_record", [record.id])[record.id]
    rates = _loading_rates(db, record, specimens, curves)
    codes = sorted({s.sample_code for s in specimens if s.sample_code})
    samples = db.scalars(select(Sample).where(Sample.sample_code.in_(codes))).all()
    sealed = set(
        db.scalars(
            select(SampleSeal.sample_id).where(SampleSeal.sample_id.in_([s.id for s in samples]))
        )
    )
    actions = contributions(RECORD_ACTIONS, Panel, db, principal, record)
    return render(
        request,
        "testing/detail.html",
        {
            "record": record,
            "actions": render_panels(request, actions),
            "institution": db.get(Institution, record.institution_id),
            "project": db.get(Project, record.project_id) if record.project_id else None,
            "commission": db.get(Commission, record.commission_id)
            if record.commission_id
            else None,
            "specimens": specimens,
            "curves": curves,
            "rates": rates,
            "revisions": revisions,
            "revised": service.current_values(db, record),
            "words": service.WORDS,  # raw values given as words: shown in Chinese
            "alerts": alerts if principal.can("alert:read") else [],
            "samples": samples,
            "sealed": sealed,
            **_CHOICES,
        },
    )


def _loading_rates(
    db: Session, record: TestRecord, specimens: Sequence[Specimen], curves: dict[int, Curve]
) -> dict[int, LoadingRate]:
    """Each specimen's loading rate in its standard's unit with the range in force in the
    record's region (as the rule ``loading_rate`` judges it), by specimen id."""
    rule_ = rule_of("loading_rate")
    if rule_ is None:
        return {}
    limits = resolve_thresholds(rule_, load_overrides(db, rule_.id), record.region_code)
    out: dict[int, LoadingRate] = {}
    for specimen in specimens:
        curve = curves.get(specimen.id)
        found = loading_rate_of(record, specimen, curve, limits) if curve else None
        if found is not None:
            out[specimen.id] = found
    return out


@router.get("/testing/curves/{curve_id}.json")
def curve_points(
    db: SessionDep, settings: SettingsDep, principal: Reader, curve_id: Id
) -> Response:
    """A curve's points for playback: ``t`` (s), ``f`` (kN), ``d`` (mm, when measured)."""
    row = get_scoped(db, Curve, curve_id, principal, "read")
    body = service.curve_json(settings, row)
    return JSONResponse(body, headers={"Cache-Control": "private, max-age=3600"})


@router.get("/testing/curves/{curve_id}/compare/{other_id}")
def curve_comparison(
    db: SessionDep, settings: SettingsDep, principal: Reader, curve_id: Id, other_id: Id
) -> Response:
    """The evidence of a re-used curve drawn (SVG): the new curve's loading branch with the
    earlier curve shifted and scaled onto it, and below them the two residuals. The earlier
    curve is drawn only for a reader who may see it."""
    row = get_scoped(db, Curve, curve_id, principal, "read")
    try:
        other: Curve | None = get_scoped(db, Curve, other_id, principal, "read")
    except NotFound:
        other = None
    record = db.get(TestRecord, row.test_record_id)
    top = TestKind(record.kind).fingerprint_top if record else 0.9
    new = service.load_curve(settings, row)
    # without the other curve, the new one is drawn alone: the other's data stay theirs
    earlier = new if other is None else service.load_curve(settings, other)
    evidence = reuse.compare(new, earlier, top)
    drawn = reuse.overlay(new, earlier, evidence, top)
    body = overlay_svg(drawn, evidence, with_earlier=other is not None)
    return Response(
        body, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=3600"}
    )


def _path(xs: Sequence[float], ys: Sequence[float], box: tuple[float, float, float, float],
          x_range: tuple[float, float], y_range: tuple[float, float]) -> str:  # fmt: skip
    left, top, width, height = box
    (x0, x1), (y0, y1) = x_range, y_range
    sx = width / ((x1 - x0) or 1.0)
    sy = height / ((y1 - y0) or 1.0)
    points = " ".join(
        f"{left + (x - x0) * sx:.1f},{top + height - (y - y0) * sy:.1f}"
        for x, y in zip(xs, ys, strict=True)
    )
    return f"M{points}" if points else ""


def _time_scale(evidence: reuse.Evidence) -> str:
    """The time scale the earlier curve was aligned by, when it is not 1 (as the facts round
    it)."""
    scale = round(evidence.time_scale, 4)
    return "" if scale == 1 else f"，时间比例 {scale:.4f}"


def overlay_svg(drawn: reuse.Overlay, evidence: reuse.Evidence, *, with_earlier: bool) -> str:
    """Two panels, 720 x 560, large enough to read on a phone: the loading branches (kN over
    the new curve's seconds), then the residuals sample by sample over a stretch in the middle."""
    blue, orange = "#1f5fa8", "#d9730d"
    t = drawn.t or [0.0, 1.0]
    rt = drawn.rt or [0.0, 1.0]
    forces = drawn.new + (drawn.earlier if with_earlier else [])
    residuals = drawn.new_residual + (drawn.earlier_residual if with_earlier else [])
    f_range = (min(forces, default=0.0), max(forces, default=1.0))
    r_peak = max((abs(v) for v in residuals), default=1.0) or 1.0
    top_box, low_box = (70.0, 60.0, 630.0, 180.0), (70.0, 340.0, 630.0, 150.0)
    legend = "蓝：本曲线" + ("　橙虚线：另一曲线（已对齐）" if with_earlier else "")
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720 560" role="img" '
        'font-family="sans-serif" font-size="20">',
        "<title>两条曲线对齐后的叠加与残差比对</title>",
        '<rect width="720" height="560" fill="#fff"/>',
        f'<text x="10" y="26">力值（kN），{legend}</text>',
        f'<text x="10" y="{top_box[1] + 16}" font-size="16">{f_range[1]:.0f}</text>',
        f'<text x="10" y="{top_box[1] + top_box[3]}" font-size="16">{f_range[0]:.0f}</text>',
        f'<text x="70" y="266" font-size="16">{t[0]:.1f} 秒</text>',
        f'<text x="700" y="266" font-size="16" text-anchor="end">{t[-1]:.1f} 秒</text>',
        f'<text x="10" y="300">残差（中段 {len(drawn.rt)} 点，逐点）</text>',
        f'<text x="10" y="326" font-size="18">相关系数 {evidence.correlation:.3f}，'
        f"比对 {evidence.points} 点，平移 {evidence.lag_s:.2f} 秒{_time_scale(evidence)}</text>",
        f'<text x="70" y="516" font-size="16">{rt[0]:.1f} 秒</text>',
        f'<text x="700" y="516" font-size="16" text-anchor="end">{rt[-1]:.1f} 秒</text>',
    ]
    for box in (top_box, low_box):
        parts.append(
            f'<rect x="{box[0]}" y="{box[1]}" width="{box[2]}" height="{box[3]}" '
            'fill="none" stroke="#bbb"/>'
        )
    series = [(drawn.new, drawn.new_residual, blue, "")]
    if with_earlier:
        series.append((drawn.earlier, drawn.earlier_residual, orange, ' stroke-dasharray="6 4"'))
    for force, residual, colour, dash in series:
        parts.append(
            f'<path d="{_path(t, force, top_box, (t[0], t[-1]), f_range)}" fill="none" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        parts.append(
            f'<path d="{_path(rt, residual, low_box, (rt[0], rt[-1]), (-r_peak, r_peak))}" '
            f'fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
    if not with_earlier:
        parts.append(
            '<text x="385" y="430" text-anchor="middle" fill="#666">另一条曲线属于其他机构，'
            "仅监管人员可见</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts)


@router.get("/testing/institutions/{institution_id}/near-line")
def near_line(
    db: SessionDep,
    principal: Reader,
    institution_id: Id,
    kind: Annotated[
        Literal[
            "concrete_compression",
            "rebar_tensile",
            "mortar_strength",
            "masonry_mortar",
            "rebar_splice",
            "brick_compression",
            "block_compression",
            "rock_compression",
        ],
        Query(),
    ] = "concrete_compression",
    since: Day | None = None,
    band: Annotated[float, Query(ge=1, le=20)] = 5,
) -> Response:
    """The evidence of ``results_above_line`` drawn (SVG): the institution's groups of one kind
    since ``since`` (six months back by default), 1 % by 1 % around the line; only the records
    the reader may read count, none at all is 404."""
    start = since or (utcnow() - dt.timedelta(days=183)).date()
    stmt = restrict(
        select(TestRecord.grade, TestRecord.age_days, TestRecord.recomputed).where(
            TestRecord.institution_id == institution_id,
            TestRecord.kind == kind,
            TestRecord.started_at >= dt.datetime.combine(start, dt.time(), BEIJING),
        ),
        principal,
        "read",
    )
    rows = db.execute(stmt).all()
    if not rows:
        raise NotFound("没有可查看的检测记录")
    margins = [
        m for grade, age, recomputed in rows
        if (m := fraud.margin(kind, grade or "", age, recomputed or {})) is not None
    ]  # fmt: skip
    pile = fraud.pile_above(margins, (0, 0), band=band)
    body = figures.near_line_svg(margins, pile, band, TestKind(kind).label)
    return Response(body, media_type="image/svg+xml", headers={"Cache-Control": "private"})


# --- on-site tests -------------------------------------------------------------------------------


@router.get("/testing/onsite", response_class=HTMLResponse)
def onsite_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    raw: Annotated[dict[str, str], Depends(onsite_query)],
    show: Annotated[Literal["plans", "records"], Query()] = "plans",
    q: Annotated[str, Query(max_length=64)] = "",
    flagged: Annotated[bool, Query()] = False,
    plan: Annotated[Literal["", "with", "without"], Query()] = "",
    late: Annotated[bool, Query()] = False,
    outside: Annotated[bool, Query()] = False,
    unlocated: Annotated[bool, Query()] = False,
) -> Response:
    """On-site plans (with how far ahead each came and its records) or on-site records; the
    records narrowed as the on-site statistics' numbers link to them."""
    model: type[OnSitePlan] | type[OnSiteRecord] = OnSitePlan if show == "plans" else OnSiteRecord
    stmt = restrict(select(model), principal, "read")
    if q:
        stmt = stmt.where(model.number.like(f"%{q}%"))
    if flagged:
        found = stats.alerted_ids(model.__tablename__, open_only=True)
        stmt = stmt.where(cast(model.id, String).in_(found))
    narrowed: list[str] = []
    kept: dict[str, str] = {}
    if show == "records":
        filters = onsite_stats.parse_filters(principal, raw)
        stmt = _onsite_marked(filters.apply(stmt), plan, late, outside, unlocated)
        marks = {"plan": plan, "late": "true" if late else "", "outside": "true" if outside else "",
                 "unlocated": "true" if unlocated else ""}  # fmt: skip
        marks = {k: v for k, v in marks.items() if v}
        narrowed = _onsite_narrowed(db, filters, marks)
        kept = filters.query() | marks
    view = ONSITE_PLANS if show == "plans" else ONSITE_RECORDS
    if params.exporting:
        return listing.export(request, db, view, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, view.order_for(params))
    rows: list[Any] = list(paged.rows)
    records_per_plan: dict[int, int] = {}
    if show == "plans" and rows:
        counted = db.execute(
            select(OnSiteRecord.plan_id, func.count())
            .where(OnSiteRecord.plan_id.in_([r.id for r in rows]))
            .group_by(OnSiteRecord.plan_id)
        )
        records_per_plan = {plan_id: n for plan_id, n in counted if plan_id is not None}
    return render(
        request,
        "testing/onsite_list.html",
        {
            "rows": rows,
            "show": show,
            "total": total,
            "paging": paging,
            "paged": paged,
            "listing": Listing.of(request, view, params),
            "q": q,
            "flagged": flagged,
            "flags": subject_flags(db, model.__tablename__, [r.id for r in rows]),
            "names": names_of(db, rows),
            # the test items by name (the code is the catalogue's, not the reader's)
            "items": {
                code: item.name
                for code, item in by_code(
                    db=db, model=TestItem, codes={r.item_code for r in rows}
                ).items()
            },
            "lead": {r.id: _lead(r) for r in rows} if show == "plans" else {},
            "records_per_plan": records_per_plan,
            "rule_title": rule_title,
            "narrowed": narrowed,
            "kept": kept,
        },
    )


def _onsite_marked(stmt: Any, plan: str, late: bool, outside: bool, unlocated: bool) -> Any:
    """On-site records narrowed to those a column of the statistics counts."""
    if plan:
        has_plan = OnSiteRecord.plan_id.is_not(None)
        stmt = stmt.where(has_plan if plan == "with" else OnSiteRecord.plan_id.is_(None))
    if late:
        found = stats.alerted_ids("onsite_record", rule_id=onsite_stats.LATE_RULE)
        stmt = stmt.where(cast(OnSiteRecord.id, String).in_(found))
    if outside:
        stmt = stmt.where(OnSiteRecord.distance_m > 0)
    if unlocated:
        stmt = stmt.where(OnSiteRecord.distance_m.is_(None))
    return stmt


def _lead(plan: OnSitePlan) -> tuple[int, float]:
    """How far ahead of its planned start a plan came: working days and hours."""
    days = working_days_between(beijing_date(plan.received_at), beijing_date(plan.planned_start))
    return days, (plan.planned_start - plan.received_at).total_seconds() / 3600


@router.get("/testing/onsite/plans/{plan_id}", response_class=HTMLResponse)
def onsite_plan_detail(
    request: Request, db: SessionDep, principal: Reader, plan_id: Id
) -> Response:
    plan = get_scoped(db, OnSitePlan, plan_id, principal, "read")
    records = list(
        db.scalars(
            restrict(select(OnSiteRecord), principal, "read")
            .where(OnSiteRecord.plan_id == plan.id)
            .order_by(OnSiteRecord.started_at)
        )
    )
    return render(
        request,
        "testing/onsite_plan.html",
        {
            "plan": plan,
            "records": records,
            "lead": _lead(plan),
            "names": names_of(db, [plan]),
            "alerts": subject_flags(db, "onsite_plan", [plan.id])[plan.id]
            if principal.can("alert:read")
            else [],
            "rule_title": rule_title,
        },
    )


@router.get("/testing/onsite/records/{record_id}", response_class=HTMLResponse)
def onsite_record_detail(
    request: Request, db: SessionDep, principal: Reader, record_id: Id
) -> Response:
    record = get_scoped(db, OnSiteRecord, record_id, principal, "read")
    plan = db.get(OnSitePlan, record.plan_id) if record.plan_id else None
    return render(
        request,
        "testing/onsite_record.html",
        {
            "record": record,
            "plan": plan,
            "names": names_of(db, [record]),
            "alerts": subject_flags(db, "onsite_record", [record.id])[record.id]
            if principal.can("alert:read")
            else [],
            "rule_title": rule_title,
        },
    )


Digest = Annotated[str, Path(pattern="^[0-9a-f]{64}$")]


@router.get("/testing/onsite/records/{record_id}/media/{digest}")
def onsite_media(
    db: SessionDep, settings: SettingsDep, principal: Reader, record_id: Id, digest: Digest
) -> Response:
    """A key photo or clip of an on-site record (only the record's own files)."""
    record = get_scoped(db, OnSiteRecord, record_id, principal, "read")
    if digest not in (*record.photos, *record.clips):
        raise NotFound()
    data = blob_store(settings).get(digest)
    return Response(
        data,
        media_type=media_type(data),
        headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


def media_type(data: bytes) -> str:
    """The type of a photo or clip from its first bytes (what phones and cameras send)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    if data.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    return "application/octet-stream"


def project_panels(db: Session, principal: Principal, project: Project) -> Iterable[Panel]:
    """The project page's nonconforming test results."""
    if not principal.can("test_record:read"):
        return
    records = db.scalars(
        restrict(select(TestRecord), principal, "read")
        .where(TestRecord.project_id == project.id, TestRecord.nonconforming_by != "")
        .order_by(TestRecord.ended_at.desc())
        .limit(100)
    ).all()
    context = {"nonconforming": records, "nonconforming_by": NONCONFORMING_BY}
    yield Panel("testing/project_nonconforming.html", context, order=70)
