"""Reports' part of an alert's evidence chain: a report (with its log entry) leads to its
records; a record, and a supervision code, lead to their reports."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.evidence import Link, Source, reading
from jcjg.reports.models import Report, ReportRecord


def describe(db: Session, kind: str, keys: Sequence[str]) -> list[Link]:
    ids = [int(k) for k in keys if k.isdecimal()]
    if kind != "report" or not ids:
        return []
    rows = db.scalars(select(Report).where(Report.id.in_(ids)).order_by(Report.id))
    return [
        Link(
            "检测报告",
            r.number,
            f"/reports/{r.id}",
            r.ledger_index,
            "report",
            str(r.id),
            reading(Report),
        )
        for r in rows
    ]


def related(db: Session, kind: str, keys: Sequence[str]) -> list[tuple[str, str]]:
    ids = [int(k) for k in keys if k.isdecimal()]
    if kind == "test_record":
        stmt = select(ReportRecord.report_id).where(ReportRecord.test_record_id.in_(ids))
        return [("report", str(i)) for i in sorted(set(db.scalars(stmt)))]
    if kind == "report":
        stmt = select(ReportRecord.test_record_id).where(ReportRecord.report_id.in_(ids))
        return [("test_record", str(i)) for i in sorted(set(db.scalars(stmt)))]
    if kind == "supervision_code":
        found = db.scalars(select(Report.id).where(Report.supervision_code.in_(keys)))
        return [("report", str(i)) for i in sorted(found)]
    return []


def source() -> Source:
    return Source(describe, related)
