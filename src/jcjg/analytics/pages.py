"""The analysis workbench (/analytics): choose a data set, dimensions, measures, filters and a
chart; see the table and the chart; export xlsx or PDF; save, share, schedule; the saved ones."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from jcjg.analytics import service
from jcjg.analytics.catalogue import CHARTS, DATASETS
from jcjg.analytics.choices import Schedule
from jcjg.analytics.lists import ANALYSES, dataset_label, owner_names
from jcjg.analytics.models import Analysis
from jcjg.analytics.schemas import AnalysisIn, Definition
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.core import listing
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import ValidationFailed
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import XLSX, ListParams, download, list_params
from jcjg.core.pagination import PageParams, count_rows, page_params
from jcjg.core.templating import redirect, render

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("analysis:read"))]
Manager = Annotated[Principal, Depends(requires("analysis:manage"))]
DEFAULT = {"dataset": "test_records", "dimensions": ["month"],
           "measures": ["records", "nonconforming_rate"], "chart": "bar"}  # fmt: skip


def _definition(query: Any) -> dict[str, Any]:
    """The definition the query string gives (not validated yet)."""
    if "dataset" not in query:
        return dict(DEFAULT)
    dataset = str(query.get("dataset"))
    ds = DATASETS.get(dataset)
    filters: dict[str, Any] = {}
    for key, value in query.items():
        if key.startswith("f_") and value:
            name = key[2:]
            known = ds.filters.get(name) if ds else None
            filters[name] = (
                int(value) if known and known.names == "institution" and value.isdigit() else value
            )
    return {
        "dataset": dataset,
        "dimensions": [d for d in query.getlist("dim") if d],
        "measures": [m for m in query.getlist("measure") if m],
        "since": query.get("since", ""),
        "until": query.get("until", ""),
        "filters": filters,
        "chart": query.get("chart", "table"),
    }


def _messages(error: ValidationError) -> list[str]:
    return [str(e["msg"]).removeprefix("Value error, ") for e in error.errors()]


RECENT = 10  # saved analyses the workbench shows; the rest on /analytics/saved


def _saved(db: Session, principal: Principal) -> list[Analysis]:
    stmt = service.analyses_stmt(principal).order_by(Analysis.id.desc()).limit(RECENT)
    return list(db.scalars(stmt))


def _build(db: Session, principal: Principal, raw: dict[str, Any]) -> tuple[Any, list[str]]:
    try:
        d = Definition.model_validate(raw)
    except ValidationError as error:
        return None, _messages(error)
    return d, []


@router.get("/analytics", response_class=HTMLResponse)
def workbench(
    request: Request, db: SessionDep, principal: Reader, saved: Id | None = None
) -> Response:
    row = service.get(db, principal, saved) if saved else None
    raw = row.definition if row else _definition(request.query_params)
    d, errors = _build(db, principal, raw)
    result = service.counted(request.app.state, db, principal, d) if d else None
    query = request.url.query if not row else ""
    context = {
        "datasets": DATASETS,
        "charts": CHARTS,
        "schedules": list(Schedule),
        "raw": raw,
        "d": d,
        "errors": errors,
        "result": result,
        "chart": result.chart(d.chart) if result and d else None,
        "description": service.describe(result, d) if result and d else [],
        "picks": service.filter_choices(db, principal, str(raw.get("dataset", ""))),
        "saved": row,
        "analyses": _saved(db, principal),
        "saved_total": count_rows(db, service.analyses_stmt(principal)),
        "query": query,
        "can_manage": principal.can("analysis:manage"),
        "every": request.app.state.settings.analysis_results_seconds,
    }
    return render(request, "analytics/workbench.html", context, status_code=422 if errors else 200)


@router.get("/analytics/export")
def export(request: Request, db: SessionDep, principal: Reader, settings: SettingsDep,
           saved: Id | None = None) -> Response:  # fmt: skip
    """``?format=xlsx|pdf`` of the analysis the query gives (or ``saved``)."""
    row = service.get(db, principal, saved) if saved else None
    raw = row.definition if row else _definition(request.query_params)
    d, errors = _build(db, principal, raw)
    if d is None:
        raise ValidationFailed("分析的定义有误：" + "；".join(errors))
    title = row.name if row else "统计分析"
    found = service.counted(request.app.state, db, principal, d)
    if request.query_params.get("format") == "pdf":
        data = service.pdf(found, d, title, settings.platform_name)
        return download(data, service.filename(title, "pdf"), "application/pdf")
    return download(service.xlsx(found, d, title), service.filename(title, "xlsx"), XLSX)


@router.get("/analytics/saved", response_class=HTMLResponse)
def saved_list(
    request: Request, db: SessionDep, principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=64)] = "",
    dataset: Annotated[str, Query(pattern=r"^(|" + "|".join(DATASETS) + ")$")] = "",
    owner: Annotated[str, Query(pattern=r"^(|mine)$")] = "",
    schedule: Annotated[str, Query(pattern=r"^(|any|none|daily|weekly|monthly)$")] = "",
) -> Response:  # fmt: skip
    """Every saved analysis the reader sees (its own, and those shared in its region):
    filters, count, pages, xlsx; cards on a phone."""
    chosen = {"": None, "any": None, "none": ""}.get(schedule, schedule)
    stmt = service.analyses_stmt(principal, q.strip(), owner == "mine", dataset, chosen)
    if params.exporting:
        return listing.export(request, db, ANALYSES, stmt, params, user_id=principal.user_id)
    context = listing.page_context(request, db, ANALYSES, stmt, paging, params)
    rows = context["rows"]
    context |= {
        "filters": {"q": q, "dataset": dataset, "owner": owner, "schedule": schedule},
        "owners": owner_names(db, rows),
        "dataset_label": dataset_label,
        "datasets": DATASETS,
        "schedules": list(Schedule),
        "can_manage": principal.can("analysis:manage"),
    }
    return render(request, "analytics/saved.html", context)


@router.post("/analytics/saved")
def save(request: Request, form: PostedForm, db: SessionDep, principal: Manager) -> Response:
    """Save the analysis of the page's query (hidden field ``query``) under a name."""
    from starlette.datastructures import QueryParams

    query = QueryParams(form.get("query", "") or "")
    raw = _definition(query)
    try:
        data = AnalysisIn.model_validate({
            "name": form.get("name", ""), "definition": raw,
            "shared": form.get("shared") == "1", "schedule": form.get("schedule", ""),
        })  # fmt: skip
    except ValidationError as error:
        raise ValidationFailed("无法保存：" + "；".join(_messages(error))) from error
    row = service.create(db, principal, data)
    return redirect(f"/analytics?saved={row.id}")


@router.post("/analytics/saved/{analysis_id}/delete")
def remove(analysis_id: Id, db: SessionDep, principal: Manager) -> Response:
    service.delete(db, principal, service.get(db, principal, analysis_id))
    return redirect("/analytics")
