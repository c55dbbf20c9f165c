"""Saved analyses: who sees them (the owner; when shared, the readers of the owner's region and
of regions above it), saving, changing, deleting (the owner only), running, exporting."""

from __future__ import annotations

import dataclasses
import io
import re
from typing import Any

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from jcjg.analytics import engine
from jcjg.analytics.catalogue import CHARTS, DATASETS
from jcjg.analytics.models import Analysis
from jcjg.analytics.schemas import AnalysisIn, AnalysisPatch, AnalysisRead, Definition
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, restrict, scope_clause
from jcjg.catalogue.models import TestItem
from jcjg.core.domains import rule_titles
from jcjg.core.errors import NotFound, PermissionDenied
from jcjg.core.memo import TimedMemo
from jcjg.core.text import printable
from jcjg.core.workdays import BEIJING
from jcjg.documents.pdf import Grid, RecordDocument, record_pdf
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution


def counted(state: Any, db: Session, principal: Principal, d: Definition) -> engine.Result:
    """``engine.run``'s answer, computed at most every ``JCJG_ANALYSIS_RESULTS_SECONDS`` per
    process for the reader's scope and the definition (``core.memo``; concurrent askers wait
    for one computation), with ``counted_at``: the page and the API say when it was counted.
    ``state`` is the app's (``request.app.state``); the memo is made on first use."""
    memo = getattr(state, "analyses", None)
    if memo is None:
        seconds = state.settings.analysis_results_seconds
        memo = state.analyses = TimedMemo(seconds, max_entries=500)
    key = ("analysis", principal.scope_key, d.model_dump_json())
    result, at = memo.get(key, lambda: engine.run(db, principal, d))
    return dataclasses.replace(result, counted_at=at)


def visible(principal: Principal) -> Any:
    """Mine, or shared and within my scope (my region and those below it)."""
    principal.require("analysis:read")
    mine = Analysis.owner_id == principal.user_id
    return or_(mine, and_(Analysis.shared.is_(True), scope_clause(Analysis, principal)))


def analyses_stmt(
    principal: Principal, q: str = "", mine_only: bool = False, dataset: str = "",
    schedule: str | None = None,
) -> Select[Any]:  # fmt: skip
    """The saved analyses ``principal`` sees: by name, mine only, data set, schedule (``""``
    unscheduled; None any)."""
    stmt = select(Analysis).where(visible(principal))
    if mine_only:
        stmt = stmt.where(Analysis.owner_id == principal.user_id)
    if q:
        stmt = stmt.where(Analysis.name.contains(q, autoescape=True))
    if dataset:
        stmt = stmt.where(Analysis.definition["dataset"].as_string() == dataset)
    if schedule is not None:
        stmt = stmt.where(Analysis.schedule == schedule)
    return stmt


def get(db: Session, principal: Principal, analysis_id: int) -> Analysis:
    found = db.scalars(select(Analysis).where(Analysis.id == analysis_id, visible(principal)))
    row = found.first()
    if row is None:
        raise NotFound()
    return row


def _own(principal: Principal, row: Analysis) -> None:
    if row.owner_id != principal.user_id:
        raise PermissionDenied("只有保存该分析的账号可以修改或删除它。")


def create(db: Session, principal: Principal, data: AnalysisIn) -> Analysis:
    principal.require("analysis:manage")
    assert principal.user_id is not None
    row = Analysis(
        name=data.name,
        owner_id=principal.user_id,
        region_code=principal.region_code,
        institution_id=principal.institution_id,
        shared=data.shared,
        definition=data.definition.model_dump(),
        schedule=data.schedule.value,
    )
    db.add(row)
    db.flush()
    return row


def update(db: Session, principal: Principal, row: Analysis, data: AnalysisPatch) -> Analysis:
    principal.require("analysis:manage")
    _own(principal, row)
    if data.name is not None:
        row.name = data.name
    if data.definition is not None:
        row.definition = data.definition.model_dump()
    if data.shared is not None:
        row.shared = data.shared
    if data.schedule is not None:
        row.schedule = data.schedule.value
    db.flush()
    return row


def delete(db: Session, principal: Principal, row: Analysis) -> None:
    principal.require("analysis:manage")
    _own(principal, row)
    db.delete(row)
    db.flush()


def definition_of(row: Analysis) -> Definition:
    return Definition.model_validate(row.definition)


def read(db: Session, principal: Principal, row: Analysis) -> AnalysisRead:
    owner = db.get(User, row.owner_id)
    return AnalysisRead(
        id=row.id, name=row.name, owner=owner.display_name if owner else "", shared=row.shared,
        mine=row.owner_id == principal.user_id, schedule=row.schedule,
        definition=row.definition, created_at=row.created_at, updated_at=row.updated_at,
        last_run_at=row.last_run_at,
    )  # fmt: skip


# --- exports ------------------------------------------------------------------------------------


def _cell(value: Any) -> Any:
    """Numbers stay numbers; text is printable and never a formula."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return value
    shown = printable(str(value))
    return "'" + shown if shown.startswith(("=", "+", "-", "@", "\t", "\r")) else shown


def describe(result: engine.Result, d: Definition) -> list[tuple[str, str]]:
    """The definition in words (the export's first lines, the PDF's fields)."""
    ds = result.dataset
    filters = [f"{ds.filters[k].label}={v}" for k, v in d.filters.items()]
    period = f"{d.since or '最早'} 至 {d.until or '最新'}"
    counted = (
        f"汇总表（北京时间 {result.tallied_at.astimezone(BEIJING):%Y-%m-%d %H:%M} 汇总）"
        if result.tallied_at
        else "即时统计"
    )
    at = result.counted_at
    when = f"北京时间 {at.astimezone(BEIJING):%Y-%m-%d %H:%M:%S}" if at else ""
    return [
        ("数据集", ds.label),
        ("分组维度", "、".join(x.label for x in result.dimensions) or "（不分组）"),
        ("统计指标", "、".join(x.label for x in result.measures)),
        ("统计期间（月）", period),
        ("筛选条件", "；".join(filters) or "无"),
        ("统计方式", counted),
        ("统计时间", when),
        ("说明", ds.note),
    ]


def xlsx(result: engine.Result, d: Definition, title: str) -> bytes:
    """Sheet 1: the header row and one row per group, figures as numbers (rates in percent);
    sheet 2: the definition."""
    from openpyxl import Workbook  # openpyxl is imported by what exports, not at start

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "结果"
    for line in result.table():
        sheet.append([_cell(c) for c in line])
    about = book.create_sheet("说明")
    about.append(["名称", _cell(title)])
    for k, v in describe(result, d):
        about.append([k, _cell(v)])
    if result.truncated:
        about.append(["提示", f"结果超过 {engine.MAX_ROWS} 行，只导出前 {engine.MAX_ROWS} 行"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pdf(result: engine.Result, d: Definition, title: str, platform: str) -> bytes:
    """The analysis as a document: the definition, a chart (bar or line as chosen; a table
    only when so chosen or nothing to draw) and the table."""
    from jcjg.analytics.report import chart_png

    images = []
    if d.chart != "table" and result.values:
        images.append((CHARTS[d.chart], chart_png(result, d.chart, title)))
    n = len(result.header)
    grid = Grid("统计结果", result.header, result.shown(), tuple([1.0] * n))
    return record_pdf(
        RecordDocument(
            title="统计分析",
            subtitle=title,
            fields=describe(result, d),
            images=images,
            images_title="图示",
            grids=[grid],
            footer=f"{platform} 决策分析",
        )
    )


def filename(title: str, suffix: str) -> str:
    safe = re.sub(r"[\\/:*?\"<>|\s]+", "_", title).strip("_") or "统计分析"
    return f"{safe[:60]}.{suffix}"


MAX_CHOICES = 500  # institutions offered in a filter's list


def filter_choices(db: Session, principal: Principal, dataset: str) -> dict[str, list[Any]]:
    """For each filter of ``dataset`` that names something, the (value, label) pairs to pick
    from within the reader's scope: regions holding its institutions (with their cities and
    provinces), its institutions, test items, rules, the choices of a kind. A filter of free
    text has none (the page keeps a text box)."""
    ds = DATASETS.get(dataset)
    if ds is None:
        return {}
    out: dict[str, list[Any]] = {}
    registry = principal.can("institution:read")
    for key, f in ds.filters.items():
        if f.names in ("region", "institution") and not registry:
            continue
        if f.names == "region":
            codes = set(db.scalars(restrict(select(Institution.region_code).distinct(),
                                            principal, "read")))  # fmt: skip
            codes |= {f"{c[:4]}00" for c in codes} | {f"{c[:2]}0000" for c in codes}
            names = regions.display_names(db=db, codes=codes)
            out[key] = sorted((c, names.get(c, c)) for c in codes)
        elif f.names == "institution":
            stmt = restrict(select(Institution), principal, "read").order_by(Institution.name)
            out[key] = [(str(i.id), i.name) for i in db.scalars(stmt.limit(MAX_CHOICES))]
        elif f.names == "item":
            rows = db.execute(select(TestItem.code, TestItem.name).order_by(TestItem.code))
            out[key] = list({c: (c, f"{c} {n}") for c, n in rows}.values())
        elif f.names == "rule":
            out[key] = sorted(rule_titles().items(), key=lambda pair: pair[1])
        elif f.names in engine.CHOICES:
            out[key] = [(e.value, e.label) for e in engine.CHOICES[f.names]]
    return out
