"""Counts of test records (000 4.3.4 items 4-5): by institution, project, test item or month,
with how many were acquired automatically, uploaded late, flagged by a rule now, and judged
nonconforming. One SQL query per table, within the reader's data scope. By institution, every
institution the reader may see is a row, those that uploaded nothing with zeros (a lab silent
for a month is what a regulator looks for); each row has its rates over its records.

A year of a province's records is not counted on every request: the job ``testing.tally``
rebuilds :class:`RecordTally` (the counts by month, region, institution, project, item and
kind) and the page adds its rows up, saying when they were counted. Only a page narrowed to
days (``since``, ``until``), or one asked for before the first tally, counts the records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, case, cast, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.auth.scopes import Principal, scope_clause
from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import by_code
from jcjg.core.db import UTCDateTime, beijing_month, utcnow
from jcjg.core.memo import TimedMemo
from jcjg.core.workdays import beijing_midnight
from jcjg.projects.models import Project
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import Acquisition
from jcjg.testing.models import RecordTally, TestRecord

GROUPS = {"institution": "检测机构", "project": "工程项目", "item": "检测项目", "month": "月份"}


def day_problem(day: dt.date | None, label: str) -> str | None:
    """Why a filter's day cannot be used (None: it can): the platform's records lie between
    2000 and 2100, and days far beyond overflow a day's arithmetic."""
    if day is not None and not 2000 <= day.year <= 2100:
        return f"{label} {day.isoformat()} 应在 2000 至 2100 年之间"
    return None


@dataclass(frozen=True)
class Filters:
    """What the list and the statistics both filter by (all optional)."""

    kind: str = ""
    institution: int | None = None
    project: int | None = None
    item: str = ""
    since: dt.date | None = None  # Beijing days, both ends included
    until: dt.date | None = None

    @property
    def by_day(self) -> bool:
        """Whether the filters narrow to days (which the monthly tally cannot answer)."""
        return self.since is not None or self.until is not None

    def apply(self, stmt: Any, model: Any = TestRecord) -> Any:
        """``stmt`` narrowed to the filters, on the records or (``model``) their tally."""
        if self.kind:
            stmt = stmt.where(model.kind == self.kind)
        if self.institution is not None:
            stmt = stmt.where(model.institution_id == self.institution)
        if self.project is not None:
            stmt = stmt.where(model.project_id == self.project)
        if self.item:
            stmt = stmt.where(model.item_code == self.item)
        if model is not TestRecord:
            return stmt
        if self.since is not None:
            stmt = stmt.where(TestRecord.ended_at >= beijing_midnight(self.since))
        if self.until is not None:
            stmt = stmt.where(
                TestRecord.ended_at < beijing_midnight(self.until + dt.timedelta(days=1))
            )
        return stmt

    def query(self) -> dict[str, str]:
        """The filters as list-page query parameters."""
        out = {
            "kind": self.kind,
            "institution": "" if self.institution is None else str(self.institution),
            "project": "" if self.project is None else str(self.project),
            "item": self.item,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
        }
        return {k: v for k, v in out.items() if v}


@dataclass(frozen=True)
class Row:
    key: str  # the group's value: institution or project id, item code, "2026-11"
    label: str
    records: int
    auto: int
    late: int  # records with a late_upload finding (open or closed)
    flagged: int  # records with an open alert of any rule
    nonconforming: int  # marked for the nonconformity register

    @property
    def conforming(self) -> int:
        return self.records - self.nonconforming

    def rate(self, part: int) -> float | None:
        """``part`` of the row's records, as a fraction (None: no records to divide by)."""
        return part / self.records if self.records else None

    def link(self, by: str, filters: Filters) -> dict[str, str]:
        """The list's filters for this row's records."""
        return group_query(filters.query(), by, self.key, filters.since, filters.until)


def group_query(
    query: dict[str, str], by: str, key: str, since: dt.date | None, until: dt.date | None
) -> dict[str, str]:
    """A list's ``query`` narrowed to one row of a statistics page: its group's value, or for
    a month (``key`` "2026-11") its days within ``since`` and ``until``."""
    query = dict(query)
    if by == "month":
        first = dt.date.fromisoformat(key + "-01")
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        query.update(since=max(first, since or first).isoformat(),
                     until=min(last, until or last).isoformat())  # fmt: skip
    elif key:
        query[by] = key
    return query


def alerted_ids(subject_type: str, *, rule_id: str = "", open_only: bool = False) -> Any:
    """The ids (as text) of the subjects of a type that alerts were raised on: of one rule
    (open or closed: a late upload stays late) or of any open one."""
    stmt = select(Alert.subject_id).where(Alert.subject_type == subject_type)
    if rule_id:
        stmt = stmt.where(Alert.rule_id == rule_id)
    if open_only:
        stmt = stmt.where(Alert.status == "open")
    return stmt.distinct()


@dataclass(frozen=True)
class Stats:
    rows: list[Row]
    counted_at: dt.datetime | None  # when the tally counted them; None: counted now


def record_stats(
    db: Session, principal: Principal, by: str, filters: Filters, kept: TimedMemo | None = None
) -> Stats:
    """One row per group within ``principal``'s scope, the largest groups first: added up
    from the tally, or counted from the records when the filters narrow to days or nothing
    has been tallied yet.

    ``kept`` (the app's figures, ``JCJG_PAGE_FIGURES_SECONDS``) keeps what the page as the menu
    opens it (no filter) added up from the tally, one entry per scope and grouping: a tally
    rebuilt is added up again at the next visit; only the groups' names, the institutions with
    nothing counted and the scope's filings may be that many seconds old (issue 44: on a
    province-year the sums and names are ~3 ms of the database a visit). A filtered page is
    added up each time: its filters would make an entry each."""
    if by not in GROUPS:
        raise ValueError(by)
    principal.require("test_record:read")
    counted_at = None if filters.by_day else _tallied_at(db)
    if counted_at is None or kept is None or filters != Filters():
        return _stats(db, principal, by, filters, counted_at)
    key = ("record_stats", principal.scope_key, by)
    found: Stats | None = kept.peek(key)
    if found is None or found.counted_at != counted_at:
        found = _stats(db, principal, by, filters, counted_at)
        kept.put(key, found)
    return found


def _stats(
    db: Session, principal: Principal, by: str, filters: Filters, counted_at: dt.datetime | None
) -> Stats:
    if counted_at is None:
        counts = db.execute(filters.apply(_live(by).where(scope_clause(TestRecord, principal))))
    else:
        counts = db.execute(filters.apply(_tallied(by), RecordTally).where(
            scope_clause(RecordTally, principal)))  # fmt: skip
    found = counts.all()
    labels = labels_of(db, by, [c[0] for c in found])
    rows = [
        Row(
            key="" if value is None else str(value),
            label=labels.get(value, "（未关联）" if value is None else str(value)),
            records=int(n),
            auto=int(auto or 0),
            late=int(late_n or 0),
            flagged=int(flagged_n or 0),
            nonconforming=int(bad or 0),
        )
        for value, n, auto, late_n, flagged_n, bad in found
    ]
    if by == "institution":
        rows += _silent(db, principal, filters, {r.key for r in rows})
    if by == "month":
        rows.sort(key=lambda r: r.key, reverse=True)
    else:
        rows.sort(key=lambda r: (-r.records, r.label))
    return Stats(rows, counted_at)


def _silent(db: Session, principal: Principal, filters: Filters, counted: set[str]) -> list[Row]:
    """The institutions in the reader's scope with no record counted: rows of zeros. Not for
    a page narrowed to a project (its labs are those that tested it) nor for a reader who may
    not list institutions."""
    if filters.project is not None or not principal.can("institution:read"):
        return []
    stmt = select(Institution.id, Institution.name).where(scope_clause(Institution, principal))
    if filters.institution is not None:
        stmt = stmt.where(Institution.id == filters.institution)
    return [
        Row(key=str(i), label=name, records=0, auto=0, late=0, flagged=0, nonconforming=0)
        for i, name in db.execute(stmt)
        if str(i) not in counted
    ]


def chart(rows: list[Row], by: str) -> dict[str, Any]:
    """What the page's chart draws (static/js/stats.js): per row its conforming and
    nonconforming records and its rate of nonconforming ones, in percent."""
    ordered = sorted(rows, key=lambda r: r.key) if by == "month" else rows
    return {
        "by": by,
        "labels": [r.label for r in ordered],
        "conforming": [r.conforming for r in ordered],
        "nonconforming": [r.nonconforming for r in ordered],
        "rate": [
            None if not r.records else round(100 * r.nonconforming / r.records, 1) for r in ordered
        ],
    }


def table(rows: list[Row], by: str) -> list[list[str]]:
    """The figures as a sheet (the export): a header, one line per row, the totals."""
    header = [GROUPS[by], "记录", "自动采集", "人工录入", "上传超时", "有预警", "不合格",
              "合格率", "不合格率", "上传超时率", "自动采集率"]  # fmt: skip
    total = Row(key="", label="合计", records=sum(r.records for r in rows),
                auto=sum(r.auto for r in rows), late=sum(r.late for r in rows),
                flagged=sum(r.flagged for r in rows),
                nonconforming=sum(r.nonconforming for r in rows))  # fmt: skip
    out = [header]
    for r in [*rows, total]:
        rates = [r.rate(r.conforming), r.rate(r.nonconforming), r.rate(r.late), r.rate(r.auto)]
        out.append(
            [r.label, *(str(n) for n in (r.records, r.auto, r.records - r.auto, r.late,
                                           r.flagged, r.nonconforming)),
             *("" if x is None else f"{100 * x:.1f}%" for x in rates)]
        )  # fmt: skip
    return out


def _live(by: str) -> Any:
    """The counts per group, from the records (unscoped, unfiltered)."""
    key = {
        "institution": TestRecord.institution_id,
        "project": TestRecord.project_id,
        "item": TestRecord.item_code,
        "month": beijing_month(TestRecord.ended_at),
    }[by]
    return _counted(key).group_by(key)


def _counted(*keys: Any) -> Any:
    """Each record once with its figures, grouped by ``keys`` (the caller's GROUP BY)."""
    late = alerted_ids("test_record", rule_id="late_upload").subquery()
    flagged = alerted_ids("test_record", open_only=True).subquery()
    record_id = cast(TestRecord.id, String)
    return (
        select(
            *keys,
            func.count(TestRecord.id),
            func.sum(case((TestRecord.acquisition == Acquisition.AUTO.value, 1), else_=0)),
            func.count(late.c.subject_id),
            func.count(flagged.c.subject_id),
            func.sum(case((TestRecord.nonconforming_by != "", 1), else_=0)),
        )
        .select_from(TestRecord)
        .outerjoin(late, late.c.subject_id == record_id)
        .outerjoin(flagged, flagged.c.subject_id == record_id)
    )


def _tallied(by: str) -> Any:
    key = {
        "institution": RecordTally.institution_id,
        "project": RecordTally.project_id,
        "item": RecordTally.item_code,
        "month": RecordTally.month,
    }[by]
    sums = (RecordTally.records, RecordTally.auto, RecordTally.late, RecordTally.flagged,
            RecordTally.nonconforming)  # fmt: skip
    return select(key, *(func.sum(c) for c in sums)).group_by(key)


def _tallied_at(db: Session) -> dt.datetime | None:
    """When the tally was last rebuilt (None: never, or there was nothing to count)."""
    return db.scalar(select(RecordTally.refreshed_at).limit(1))


def refresh_tally(db: Session) -> int:
    """Rebuild the tally from the records and their alerts, in the caller's transaction;
    returns how many rows it has."""
    now = utcnow()
    keys = (beijing_month(TestRecord.ended_at), TestRecord.region_code, TestRecord.institution_id,
            TestRecord.project_id, TestRecord.item_code, TestRecord.kind)  # fmt: skip
    counted = _counted(*keys, literal(now, UTCDateTime())).group_by(*keys)
    db.execute(delete(RecordTally))
    columns = ("month", "region_code", "institution_id", "project_id", "item_code", "kind",
               "refreshed_at", "records", "auto", "late", "flagged", "nonconforming")  # fmt: skip
    db.execute(insert(RecordTally).from_select(list(columns), counted))
    return int(db.scalar(select(func.count()).select_from(RecordTally)) or 0)


def labels_of(db: Session, by: str, values: list[Any]) -> dict[Any, str]:
    """The names of a statistics page's groups (institutions, projects, items) by value."""
    present = [v for v in values if v is not None]
    if not present or by == "month":
        return {}
    if by == "item":
        return {c: i.name for c, i in by_code(db=db, model=TestItem, codes=present).items()}
    column, name = {
        "institution": (Institution.id, Institution.name),
        "project": (Project.id, Project.name),
    }[by]
    return {k: v for k, v in db.execute(select(column, name).where(column.in_(present)))}
