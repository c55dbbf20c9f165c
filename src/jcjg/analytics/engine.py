"""Running an analysis (统计分析规则配置, 000 7.2.1): a validated definition becomes one SQLAlchemy
Core query on the rows, or on their tally when it can answer (counts by month, region,
institution, project, item), always within the reader's data scope (``scope_clause``).
Percentiles are computed by the database: ``percentile_disc`` on PostgreSQL, the same nearest
rank by window functions on SQLite (the value at rank ⌈q·n⌉ of the group's n values, ascending)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select, text
from sqlalchemy.orm import Session

from jcjg.alerts.choices import AlertStatus, Severity
from jcjg.analytics.catalogue import DATASETS, Dataset, Dimension, Measure
from jcjg.analytics.choices import ResultKind
from jcjg.analytics.schemas import Definition
from jcjg.auth.scopes import Principal, in_prefix, scope_clause
from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import by_code
from jcjg.core.domains import rule_titles
from jcjg.core.regioncodes import scope_prefix
from jcjg.nonconformity.choices import NcStatus
from jcjg.projects.models import Project
from jcjg.regions.models import Region
from jcjg.reports.choices import ReportStatus
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import Acquisition, Judgement, TestKind

MAX_ROWS = 1000
WORK_MEM = "64MB"  # a province-year's sort of one measure fits (PostgreSQL)
CHOICES: dict[str, Any] = {
    "choice:test_kind": TestKind,
    "choice:acquisition": Acquisition,
    "choice:analytics_result": ResultKind,
    "choice:severity": Severity,
    "choice:alert_status": AlertStatus,
    "choice:nc_status": NcStatus,
    "choice:report_status": ReportStatus,
    "choice:judgement": Judgement,
}


@dataclass
class Result:
    """An analysis's answer: a header, rows of labelled group values and figures (numbers,
    ``None`` where a rate has nothing to divide by), and how it was counted."""

    dataset: Dataset
    dimensions: list[Dimension]
    measures: list[Measure]
    keys: list[tuple[Any, ...]] = field(default_factory=list)  # the group values
    labels: list[list[str]] = field(default_factory=list)  # the group values, named
    values: list[list[float | int | None]] = field(default_factory=list)
    tallied_at: dt.datetime | None = None  # counted from the tally refreshed then
    truncated: bool = False
    counted_at: dt.datetime | None = None  # when (service.counted: kept a while per scope)

    @property
    def header(self) -> list[str]:
        return [d.label for d in self.dimensions] + [_heading(m) for m in self.measures]

    def table(self) -> list[list[Any]]:
        """The header and one line per group: labels, then figures as numbers."""
        return [
            self.header,
            *([*lab, *val] for lab, val in zip(self.labels, self.values, strict=True)),
        ]

    def shown(self) -> list[list[str]]:
        """The lines as text (the page, the PDF)."""
        return [
            [*lab, *(_fmt(v, m) for v, m in zip(val, self.measures, strict=True))]
            for lab, val in zip(self.labels, self.values, strict=True)
        ]

    def chart(self, kind: str) -> dict[str, Any]:
        """What static/js/analytics.js draws: categories (the first dimension), one series per
        measure, or per value of the second dimension when there is one (the first measure)."""
        cats: list[str] = []
        for lab in self.labels:
            if lab and lab[0] not in cats:
                cats.append(lab[0])
        series: list[dict[str, Any]] = []
        if len(self.dimensions) == 2 and self.measures:
            m = self.measures[0]
            by: dict[str, dict[str, Any]] = {}
            for lab, val in zip(self.labels, self.values, strict=True):
                by.setdefault(lab[1], {})[lab[0]] = val[0]
            for name, points in by.items():
                series.append({"name": name, "data": [points.get(c) for c in cats]})
            unit = m.unit
        else:
            for i, m in enumerate(self.measures):
                series.append({"name": _heading(m), "data": [v[i] for v in self.values]})
            unit = self.measures[0].unit if self.measures else ""
        if not self.dimensions:
            cats = ["合计"]
        return {"kind": kind, "categories": cats, "series": series, "unit": unit}


def _heading(m: Measure) -> str:
    return f"{m.label}（%）" if m.unit == "%" else m.label


def _fmt(value: float | int | None, m: Measure) -> str:
    if value is None:
        return "—"
    if m.kind == "count":
        return str(int(value))
    return f"{value:.{m.digits}f}"


def _month_bounds(dataset: Dataset, d: Definition, tallied: bool) -> list[Any]:
    month = dataset.tally.month if tallied else dataset.month()
    out = []
    if d.since:
        out.append(month >= d.since)
    if d.until:
        out.append(month <= d.until)
    return out


def _filter_clauses(dataset: Dataset, d: Definition, tallied: bool) -> list[Any]:
    out = _month_bounds(dataset, d, tallied)
    if dataset.rows is not None and not tallied:
        out.append(dataset.rows())
    for key, value in d.filters.items():
        f = dataset.filters[key]
        column = f.tallied() if tallied and f.tallied else f.raw()
        if f.names == "region":
            out.append(in_prefix(column, scope_prefix(str(value))))
        else:
            out.append(column == value)
    return out


def can_tally(dataset: Dataset, d: Definition) -> bool:
    """Whether the tally answers: every dimension, filter and (counted) measure has its form
    on the tally, and no measure needs the rows (averages, percentiles)."""
    if dataset.tally is None or dataset.rows is not None:  # the tally keeps every row
        return False
    measures = [dataset.measures[k] for k in d.measures]
    counted = {p for m in measures if m.kind == "rate" for p in (m.part, m.whole)}
    counted |= {m.key for m in measures if m.kind == "count"}
    return (
        all(m.kind in ("count", "rate") for m in measures)
        and all(dataset.measures[k].tallied is not None for k in counted)
        and all(dataset.dimensions[k].tallied is not None for k in d.dimensions)
        and all(dataset.filters[k].tallied is not None for k in d.filters)
    )


def _tallied_at(db: Session, dataset: Dataset) -> dt.datetime | None:
    return db.scalar(select(dataset.tally.refreshed_at).limit(1))


def run(db: Session, principal: Principal, d: Definition) -> Result:
    """The analysis ``d`` on the data ``principal`` may read."""
    dataset = DATASETS[d.dataset]
    principal.require(f"{dataset.entity}:read")
    dims = [dataset.dimensions[k] for k in d.dimensions]
    measures = [dataset.measures[k] for k in d.measures]
    result = Result(dataset, dims, measures)
    tallied_at = _tallied_at(db, dataset) if can_tally(dataset, d) else None
    result.tallied_at = tallied_at
    postgres = db.get_bind().dialect.name == "postgresql"
    if postgres:  # the sorts of percentiles and groups in memory, not in temporary files
        db.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
    # PostgreSQL answers the percentiles in the same pass as the counts (ordered-set
    # aggregates); SQLite ranks each one with window functions, a query each. (Percentiles
    # need the rows: never from the tally.)
    figures = _counts(db, principal, dataset, d, tallied=tallied_at is not None,
                      percentiles=postgres)  # fmt: skip
    for m in measures:
        if m.kind == "percentile" and not postgres:
            _merge(figures, m.key, _percentile(db, principal, dataset, d, m))
    keys = sorted(figures, key=lambda k: _order(k, dims, figures, measures))
    result.truncated = len(keys) > MAX_ROWS
    keys = keys[:MAX_ROWS]
    names = _names(db, dims, keys)
    result.keys = keys
    result.labels = [[names[i].get(v, _plain(v)) for i, v in enumerate(k)] for k in keys]
    result.values = [[_value(figures[k], m) for m in measures] for k in keys]
    return result


def _order(key: tuple[Any, ...], dims: list[Dimension], figures: dict[Any, dict[str, Any]],
           measures: list[Measure]) -> tuple[Any, ...]:  # fmt: skip
    """Time dimensions first in time order; otherwise the largest first measure first."""
    plain = tuple("" if v is None else str(v) for v in key)
    if not dims or dims[0].key in ("month", "quarter") or not measures:
        return (plain,)
    first = _value(figures[key], measures[0])
    return (-(first or 0), plain)


def _merge(figures: dict[Any, dict[str, Any]], name: str, found: dict[Any, Any]) -> None:
    for key, value in found.items():
        figures.setdefault(key, {})[name] = value


def _value(row: dict[str, Any], m: Measure) -> float | int | None:
    if m.kind == "rate":
        whole = row.get(m.whole) or 0
        return round(100.0 * (row.get(m.part) or 0) / whole, m.digits) if whole else None
    value = row.get(m.key)
    if value is None:
        return 0 if m.kind == "count" else None
    if m.kind == "count":
        return int(value)
    return round(float(value), m.digits)


def _counts(db: Session, principal: Principal, dataset: Dataset, d: Definition,
            tallied: bool, percentiles: bool = False) -> dict[Any, dict[str, Any]]:  # fmt: skip
    """The aggregates (counts, sums, averages; the parts of rates) per group; with
    ``percentiles`` (PostgreSQL, on the rows) the percentiles too, each over its non-null
    values (``percentile_disc ... FILTER``), as :func:`_percentile` computes them."""
    model = dataset.tally if tallied else dataset.model
    dims = [dataset.dimensions[k] for k in d.dimensions]
    exprs = [(dim.tallied() if tallied and dim.tallied else dim.raw()).label(f"d{i}")
             for i, dim in enumerate(dims)]  # fmt: skip
    wanted: dict[str, Measure] = {}
    for k in d.measures:
        m = dataset.measures[k]
        for name in (m.part, m.whole) if m.kind == "rate" else (k,):
            wanted[name] = dataset.measures[name]
    aggs = [
        _aggregate(m, tallied).label(name)
        for name, m in wanted.items()
        if m.kind in ("count", "average")
    ]
    if percentiles:
        for name, m in wanted.items():
            if m.kind == "percentile":
                assert m.value is not None
                value = m.value()
                agg = func.percentile_disc(m.q).within_group(value)
                aggs.append(agg.filter(value.is_not(None)).label(name))
    if not aggs:  # only percentiles: the groups come from them
        return {}
    stmt = select(*exprs, *aggs).select_from(model)
    stmt = stmt.where(scope_clause(model, principal), *_filter_clauses(dataset, d, tallied))
    if exprs:
        stmt = stmt.group_by(*exprs)
    out: dict[Any, dict[str, Any]] = {}
    names = [a.name for a in aggs]
    for row in db.execute(stmt):
        key = tuple(row[: len(exprs)])
        out[key] = dict(zip(names, row[len(exprs) :], strict=True))
    return out


def _aggregate(m: Measure, tallied: bool) -> Any:
    made = m.tallied if tallied and m.tallied else m.raw
    assert made is not None
    return made()


def _percentile(db: Session, principal: Principal, dataset: Dataset, d: Definition,
                m: Measure) -> dict[Any, Any]:  # fmt: skip
    """The nearest-rank percentile ``m.q`` of ``m.value`` per group, by window functions (SQLite:
    PostgreSQL answers it with the counts, ``percentile_disc``, in :func:`_counts`)."""
    assert m.value is not None
    model = dataset.model
    dims = [dataset.dimensions[k].raw() for k in d.dimensions]
    value = m.value()
    where = and_(scope_clause(model, principal), value.is_not(None),
                 *_filter_clauses(dataset, d, tallied=False))  # fmt: skip
    labelled = [e.label(f"d{i}") for i, e in enumerate(dims)]
    rank = func.row_number().over(partition_by=dims or None, order_by=value)
    n = func.count().over(partition_by=dims or None)
    inner = select(*labelled, value.label("v"), rank.label("rn"), n.label("n"))
    inner_q = inner.select_from(model).where(where).subquery()
    percent = round(m.q * 100)
    wanted = (percent * inner_q.c.n + 99) // 100  # ⌈q·n⌉ in integers
    stmt = select(*(inner_q.c[f"d{i}"] for i in range(len(dims))), inner_q.c.v).where(
        inner_q.c.rn == wanted
    )
    return {tuple(row[:-1]): row[-1] for row in db.execute(stmt)}


def _plain(value: Any) -> str:
    return "（未关联）" if value is None or value == "" else str(value)


def _names(db: Session, dims: list[Dimension], keys: list[tuple[Any, ...]]) -> list[dict[Any, str]]:
    """How each dimension's values are named on the page."""
    out: list[dict[Any, str]] = []
    for i, dim in enumerate(dims):
        values = sorted({k[i] for k in keys if k[i] is not None}, key=str)
        out.append(_named(db, dim.names, values))
    return out


def _named(db: Session, kind: str, values: list[Any]) -> dict[Any, str]:
    if not values:
        return {}
    if kind == "region":
        rows = db.execute(select(Region.code, Region.name).where(Region.code.in_(values)))
        return {c: n for c, n in rows}
    if kind == "institution":
        rows = db.execute(
            select(Institution.id, Institution.name).where(Institution.id.in_(values))
        )
        return {i: n for i, n in rows}
    if kind == "project":
        return dict(
            db.execute(select(Project.id, Project.name).where(Project.id.in_(values))).tuples()
        )
    if kind == "item":
        return {c: i.name for c, i in by_code(db=db, model=TestItem, codes=values).items()}
    if kind == "rule":
        titles = rule_titles()
        return {v: titles.get(v, v) for v in values}
    enum = CHOICES.get(kind)
    if enum is not None:
        return {v: enum(v).label for v in values if v in {e.value for e in enum}}
    return {}
