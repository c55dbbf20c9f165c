"""Counts of test records (000 4.3.4 items 4-5): by institution, project, test item or month,
with how many were acquired automatically, uploaded late, flagged by a rule now, and judged
nonconforming. One SQL query per table, within the reader's data scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, case, cast, func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.auth.scopes import Principal, scope_clause
from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import by_code
from jcjg.core.db import beijing_month
from jcjg.core.workdays import beijing_midnight
from jcjg.projects.models import Project
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import Acquisition
from jcjg.testing.models import TestRecord

GROUPS = {"institution": "检测机构", "project": "工程项目", "item": "检测项目", "month": "月份"}


@dataclass(frozen=True)
class Filters:
    """What the list and the statistics both filter by (all optional)."""

    kind: str = ""
    institution: int | None = None
    project: int | None = None
    item: str = ""
    since: dt.date | None = None  # Beijing days, both ends included
    until: dt.date | None = None

    def apply(self, stmt: Any) -> Any:
        if self.kind:
            stmt = stmt.where(TestRecord.kind == self.kind)
        if self.institution is not None:
            stmt = stmt.where(TestRecord.institution_id == self.institution)
        if self.project is not None:
            stmt = stmt.where(TestRecord.project_id == self.project)
        if self.item:
            stmt = stmt.where(TestRecord.item_code == self.item)
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

    def link(self, by: str, filters: Filters) -> dict[str, str]:
        """The list's filters for this row's records."""
        query = filters.query()
        if by == "month":
            first = dt.date.fromisoformat(self.key + "-01")
            last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            since = max(first, filters.since) if filters.since else first
            until = min(last, filters.until) if filters.until else last
            query.update(since=since.isoformat(), until=until.isoformat())
        elif self.key:
            query[by] = self.key
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


def record_stats(db: Session, principal: Principal, by: str, filters: Filters) -> list[Row]:
    """One row per group within ``principal``'s scope, the largest groups first."""
    if by not in GROUPS:
        raise ValueError(by)
    principal.require("test_record:read")
    key = {
        "institution": TestRecord.institution_id,
        "project": TestRecord.project_id,
        "item": TestRecord.item_code,
        "month": beijing_month(TestRecord.ended_at),
    }[by]
    late = alerted_ids("test_record", rule_id="late_upload").subquery()
    flagged = alerted_ids("test_record", open_only=True).subquery()
    record_id = cast(TestRecord.id, String)
    stmt = (
        select(
            key,
            func.count(TestRecord.id),
            func.sum(case((TestRecord.acquisition == Acquisition.AUTO.value, 1), else_=0)),
            func.count(late.c.subject_id),
            func.count(flagged.c.subject_id),
            func.sum(case((TestRecord.nonconforming_by != "", 1), else_=0)),
        )
        .select_from(TestRecord)
        .outerjoin(late, late.c.subject_id == record_id)
        .outerjoin(flagged, flagged.c.subject_id == record_id)
        .where(scope_clause(TestRecord, principal))
        .group_by(key)
    )
    counts = db.execute(filters.apply(stmt)).all()
    labels = _labels(db, by, [c[0] for c in counts])
    rows = [
        Row(
            key="" if value is None else str(value),
            label=labels.get(value, "（未关联）" if value is None else str(value)),
            records=int(n),
            auto=int(auto or 0),
            late=int(late_n),
            flagged=int(flagged_n),
            nonconforming=int(bad or 0),
        )
        for value, n, auto, late_n, flagged_n, bad in counts
    ]
    if by == "month":
        return sorted(rows, key=lambda r: r.key, reverse=True)
    return sorted(rows, key=lambda r: (-r.records, r.label))


def _labels(db: Session, by: str, values: list[Any]) -> dict[Any, str]:
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
