"""The analysis catalogue (统计分析要素配置, 000 4.2.5, 7.2.1): the data sets a reader may analyse,
their dimensions, measures and filters, declared once and whitelisted. A definition names keys
of this catalogue only; the engine (:mod:`jcjg.analytics.engine`) turns them into SQLAlchemy
Core, never into text a user wrote. docs/analytics.md states each definition exactly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, String, case, cast, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Float

from jcjg.alerts.choices import AlertStatus
from jcjg.alerts.models import Alert
from jcjg.core.db import beijing_month, beijing_quarter
from jcjg.nonconformity.models import Nonconformity
from jcjg.reports.models import Report
from jcjg.testing.models import RecordTally, TestRecord


class minutes_between(FunctionElement[float]):
    """Minutes from the second :class:`UTCDateTime` to the first, in SQL."""

    type = Float()
    inherit_cache = True


@compiles(minutes_between, "sqlite")
def _minutes_sqlite(element: minutes_between, compiler: Any, **kw: Any) -> str:
    end, start = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 1440.0)"


@compiles(minutes_between, "postgresql")
def _minutes_postgresql(element: minutes_between, compiler: Any, **kw: Any) -> str:
    end, start = (compiler.process(c, **kw) for c in element.clauses)
    # date_part answers double precision; EXTRACT answers numeric (PostgreSQL 14+), several
    # times slower to divide and sort
    return f"(date_part('epoch', {end} - {start}) / 60.0)"


def _substr(text: Any, start: int, length: int) -> Any:
    return func.substr(text, start, length, type_=String())


def quarter_of(month: Any) -> Any:
    """``"2026-Q4"`` of a ``"2026-11"`` month expression."""
    number = (cast(_substr(month, 6, 2), Integer) + 2) // 3
    return _substr(month, 1, 4).concat(literal("-Q")).concat(cast(number, String()))


def _quarter(month: Any) -> Any:
    """The quarter of the rows: from their timestamp when the month is a Beijing month of one
    (one conversion a row), otherwise from the month's text."""
    if isinstance(month, beijing_month):
        return beijing_quarter(*month.clauses)
    return quarter_of(month)


def province_of(code: Any) -> Any:
    return _substr(code, 1, 2).concat(literal("0000"))


def city_of(code: Any) -> Any:
    return _substr(code, 1, 4).concat(literal("00"))


@dataclass(frozen=True)
class Dimension:
    """A way to group rows: its label, the kind of its labels (how a value is named on the
    page) and its SQL on the rows and, when the tally can answer it, on the tally."""

    key: str
    label: str
    names: str  # "region", "institution", "project", "item", "rule", "choice:<kind>", "text"
    raw: Callable[[], Any]
    tallied: Callable[[], Any] | None = None


@dataclass(frozen=True)
class Measure:
    """A figure per group: ``kind`` "count" (an aggregate), "rate" (``part`` over ``whole``,
    two count measures, in percent) or "percentile" (``value`` at ``q``, by the database)."""

    key: str
    label: str
    kind: str
    raw: Callable[[], Any] | None = None
    tallied: Callable[[], Any] | None = None
    part: str = ""
    whole: str = ""
    value: Callable[[], Any] | None = None
    q: float = 0.0
    unit: str = ""
    digits: int = 0


@dataclass(frozen=True)
class Filter:
    key: str
    label: str
    raw: Callable[[], Any]
    tallied: Callable[[], Any] | None = None
    names: str = "text"


@dataclass(frozen=True)
class Dataset:
    key: str
    label: str
    entity: str  # the permission entity read (``<entity>:read``)
    model: Any
    month: Callable[[], Any]  # the Beijing month a row belongs to (the period filter)
    dimensions: dict[str, Dimension]
    measures: dict[str, Measure]
    filters: dict[str, Filter] = field(default_factory=dict)
    note: str = ""
    tally: Any = None  # the aggregate table that can answer counts, when there is one
    # the rows the data set counts at all (None: every row in the reader's scope)
    rows: Callable[[], Any] | None = None


def _dims(*dims: Dimension) -> dict[str, Dimension]:
    return {d.key: d for d in dims}


def _measures(*ms: Measure) -> dict[str, Measure]:
    return {m.key: m for m in ms}


def _filters(*fs: Filter) -> dict[str, Filter]:
    return {f.key: f for f in fs}


def _regional(model: Any, month: Callable[[], Any], tally: Any = None) -> list[Dimension]:
    """Region at three levels, institution and month/quarter: what every data set offers."""
    t = tally
    return [
        Dimension("province", "省", "region", lambda: province_of(model.region_code),
                  (lambda: province_of(t.region_code)) if t is not None else None),
        Dimension("city", "市", "region", lambda: city_of(model.region_code),
                  (lambda: city_of(t.region_code)) if t is not None else None),
        Dimension("county", "县（区）", "region", lambda: model.region_code,
                  (lambda: t.region_code) if t is not None else None),
        Dimension("institution", "检测机构", "institution", lambda: model.institution_id,
                  (lambda: t.institution_id) if t is not None else None),
        Dimension("month", "月份", "text", month,
                  (lambda: t.month) if t is not None else None),
        Dimension("quarter", "季度", "text", lambda: _quarter(month()),
                  (lambda: quarter_of(t.month)) if t is not None else None),
    ]  # fmt: skip


def _common_filters(model: Any, tally: Any = None) -> list[Filter]:
    t = tally
    return [
        Filter("region", "行政区划", lambda: model.region_code,
               (lambda: t.region_code) if t is not None else None, "region"),
        Filter("institution", "检测机构", lambda: model.institution_id,
               (lambda: t.institution_id) if t is not None else None, "institution"),
    ]  # fmt: skip


def _nonconforming() -> Any:
    return func.sum(case((TestRecord.nonconforming_by != "", 1), else_=0))


def _record_month() -> Any:
    return beijing_month(TestRecord.ended_at)


def _duration() -> Any:
    return minutes_between(TestRecord.ended_at, TestRecord.started_at)


def _upload_delay() -> Any:
    return minutes_between(TestRecord.received_at, TestRecord.ended_at)


def _percentiles(key: str, label: str, value: Callable[[], Any], unit: str) -> list[Measure]:
    return [
        Measure(f"{key}_avg", f"{label}平均值", "average", raw=lambda: func.avg(value()),
                unit=unit, digits=1),
        *(Measure(f"{key}_p{n}", f"{label} P{n}", "percentile", value=value, q=n / 100,
                  unit=unit, digits=1) for n in (50, 90, 95)),
    ]  # fmt: skip


T = RecordTally
TEST_RECORDS = Dataset(
    key="test_records",
    label="检测数据（原始记录）",
    entity="test_record",
    model=TestRecord,
    month=_record_month,
    tally=RecordTally,
    dimensions=_dims(
        *_regional(TestRecord, _record_month, RecordTally),
        Dimension("item", "检测项目", "item", lambda: TestRecord.item_code, lambda: T.item_code),
        Dimension("kind", "试验类别", "choice:test_kind", lambda: TestRecord.kind, lambda: T.kind),
        Dimension(
            "project", "工程项目", "project", lambda: TestRecord.project_id, lambda: T.project_id
        ),
        Dimension(
            "result",
            "检测结果",
            "choice:analytics_result",
            lambda: case((TestRecord.nonconforming_by != "", "nonconforming"), else_="conforming"),
        ),
        Dimension("acquisition", "采集方式", "choice:acquisition", lambda: TestRecord.acquisition),
    ),
    measures=_measures(
        Measure(
            "records",
            "记录数",
            "count",
            raw=lambda: func.count(TestRecord.id),
            tallied=lambda: func.sum(T.records),
        ),
        Measure(
            "nonconforming",
            "不合格数",
            "count",
            raw=_nonconforming,
            tallied=lambda: func.sum(T.nonconforming),
        ),
        Measure(
            "nonconforming_rate",
            "不合格率",
            "rate",
            part="nonconforming",
            whole="records",
            unit="%",
            digits=2,
        ),
        Measure(
            "manual",
            "人工录入数",
            "count",
            raw=lambda: func.sum(case((TestRecord.acquisition == "manual", 1), else_=0)),
            tallied=lambda: func.sum(T.records - T.auto),
        ),
        Measure(
            "manual_rate", "人工录入率", "rate", part="manual", whole="records", unit="%", digits=2
        ),
        *_percentiles("duration", "试验时长（分钟）", _duration, "分钟"),
        *_percentiles("upload_delay", "上传用时（分钟）", _upload_delay, "分钟"),
    ),
    filters=_filters(
        *_common_filters(TestRecord, RecordTally),
        Filter("item", "检测项目", lambda: TestRecord.item_code, lambda: T.item_code, "item"),
        Filter("kind", "试验类别", lambda: TestRecord.kind, lambda: T.kind, "choice:test_kind"),
        Filter(
            "result",
            "检测结果",
            lambda: case((TestRecord.nonconforming_by != "", "nonconforming"), else_="conforming"),
            None,
            "choice:analytics_result",
        ),
    ),
    note="按试验结束时间（北京时间）归月；“不合格”为检测机构或平台复算判定不合格、已列入不合格台账的记录。",
)


def _alert_month() -> Any:
    return beijing_month(Alert.first_seen_at)


ALERTS = Dataset(
    key="alerts",
    label="预警",
    entity="alert",
    model=Alert,
    month=_alert_month,
    dimensions=_dims(
        *_regional(Alert, _alert_month),
        Dimension("rule", "预警规则", "rule", lambda: Alert.rule_id),
        Dimension("severity", "严重程度", "choice:severity", lambda: Alert.severity),
        Dimension("status", "预警状态", "choice:alert_status", lambda: Alert.status),
    ),
    measures=_measures(
        Measure("alerts", "预警数", "count", raw=lambda: func.count(Alert.id)),
        Measure(
            "open",
            "未处理数",
            "count",
            raw=lambda: func.sum(case((Alert.status == "open", 1), else_=0)),
        ),
        Measure("open_rate", "未处理率", "rate", part="open", whole="alerts", unit="%", digits=2),
    ),
    filters=_filters(
        *_common_filters(Alert),
        Filter("rule", "预警规则", lambda: Alert.rule_id, None, "rule"),
    ),
    note="按预警首次发现时间（北京时间）归月；已撤回的预警（登记同步中途的瞬时结果）不计。",
    rows=lambda: Alert.status != AlertStatus.WITHDRAWN.value,
)


def _nc_month() -> Any:
    return beijing_month(Nonconformity.found_at)


NONCONFORMITIES = Dataset(
    key="nonconformities",
    label="不合格台账",
    entity="test_record",  # the register is read with test_record:read
    model=Nonconformity,
    month=_nc_month,
    dimensions=_dims(
        *_regional(Nonconformity, _nc_month),
        Dimension("item", "检测项目", "item", lambda: Nonconformity.item_code),
        Dimension("status", "处理状态", "choice:nc_status", lambda: Nonconformity.status),
    ),
    measures=_measures(
        Measure("entries", "不合格项数", "count", raw=lambda: func.count(Nonconformity.id)),
        Measure(
            "closed",
            "已办结数",
            "count",
            raw=lambda: func.sum(case((Nonconformity.status == "closed", 1), else_=0)),
        ),
        Measure(
            "closed_rate", "办结率", "rate", part="closed", whole="entries", unit="%", digits=2
        ),
        *_percentiles(
            "days_to_close",
            "办结用时（天）",
            lambda: minutes_between(Nonconformity.closed_at, Nonconformity.found_at) / 1440.0,
            "天",
        ),
    ),
    filters=_filters(
        *_common_filters(Nonconformity),
        Filter("item", "检测项目", lambda: Nonconformity.item_code, None, "item"),
    ),
    note="按发现时间（北京时间）归月；办结用时只计已办结的条目。",
)


def _report_month() -> Any:
    return _substr(cast(Report.issued_on, String()), 1, 7)


REPORTS = Dataset(
    key="reports",
    label="检测报告",
    entity="report",
    model=Report,
    month=_report_month,
    dimensions=_dims(
        *_regional(Report, _report_month),
        Dimension("status", "报告状态", "choice:report_status", lambda: Report.status),
        Dimension("judgement", "报告结论", "choice:judgement", lambda: Report.judgement),
    ),
    measures=_measures(
        Measure("reports", "报告数", "count", raw=lambda: func.count(Report.id)),
        Measure(
            "withdrawn",
            "撤回数",
            "count",
            raw=lambda: func.sum(case((Report.status == "withdrawn", 1), else_=0)),
        ),
        Measure(
            "withdrawn_rate",
            "撤回率",
            "rate",
            part="withdrawn",
            whole="reports",
            unit="%",
            digits=2,
        ),
    ),
    filters=_filters(*_common_filters(Report)),
    note="按报告签发日期归月。",
)

DATASETS: dict[str, Dataset] = {d.key: d for d in (TEST_RECORDS, ALERTS, NONCONFORMITIES, REPORTS)}
CHARTS = {"table": "表格", "bar": "柱状图", "line": "折线图", "pie": "饼图"}
