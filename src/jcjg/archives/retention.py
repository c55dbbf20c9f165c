"""Retention of test archives (001 9.1.3): raw records and reports at least 6 years; the
summaries of structural safety specimens and materials and the archives of main structures,
steel structures, foundations and municipal main structures 20 years. The years are data
(``JCJG_ARCHIVE_RETENTION_YEARS``: test item or specialty code prefix -> years, the longest
prefix wins, ``""`` the default). Nothing in retention can be deleted through the platform:
a delete of such a row is refused in the session, whoever asks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, object_session

from jcjg.core.errors import Conflict

DEFAULT_YEARS: dict[str, int] = {
    "": 6,  # raw records, reports, contracts
    "0102": 20,  # rebar
    "0103": 20,  # rebar mechanical splices
    "0104": 20,  # rebar welds
    "0108": 20,  # concrete
    "0111": 20,  # mortar
    "02": 20,  # main structure
    "03": 20,  # steel structure
    "04": 20,  # foundations
    "09": 20,  # bridges and underground works (municipal main structures)
}


def years_for(items: Iterable[str], table: Mapping[str, int] = DEFAULT_YEARS) -> int:
    """The retention in years of something covering test ``items`` (the longest of theirs)."""
    best = table.get("", 6)
    for item in items:
        match = max((p for p in table if item.startswith(p)), key=len, default="")
        best = max(best, table.get(match, best))
    return best


def until(start: dt.date, years: int) -> dt.date:
    """The last day of retention: ``years`` after ``start`` (29 February to 28)."""
    try:
        return start.replace(year=start.year + years)
    except ValueError:
        return start.replace(year=start.year + years, day=28)


class RetentionError(Conflict):
    """A delete of an archived row still in retention."""


# What is archived, and the date and items its retention counts from.
def _archived(obj: Any) -> tuple[dt.date, list[str]] | None:
    from jcjg.contracts.models import Contract
    from jcjg.reports.models import Report
    from jcjg.testing.models import (
        Curve,
        OnSitePlan,
        OnSiteRecord,
        Revision,
        Specimen,
        TestRecord,
    )

    if isinstance(obj, TestRecord):
        return obj.ended_at.date(), [obj.item_code]
    if isinstance(obj, Report):
        return obj.issued_on, list(obj.items)
    if isinstance(obj, Contract):
        return obj.signed_on, list(obj.items)
    if isinstance(obj, OnSiteRecord | OnSitePlan):
        moment = obj.started_at if isinstance(obj, OnSiteRecord) else obj.planned_start
        return moment.date(), [obj.item_code]
    if isinstance(obj, Specimen | Curve | Revision):  # as long as their record
        session = object_session(obj)
        record = session.get(TestRecord, obj.test_record_id) if session else None
        return (record.ended_at.date(), [record.item_code]) if record else (dt.date.max, [])
    return None


_table: dict[str, int] = dict(DEFAULT_YEARS)


def configure(table: Mapping[str, int] | None) -> None:
    """The retention table in force (from the settings)."""
    global _table
    _table = {**DEFAULT_YEARS, **(table or {})}


def retained_until(obj: Any) -> dt.date | None:
    found = _archived(obj)
    if found is None:
        return None
    start, items = found
    if start == dt.date.max:
        return dt.date.max
    return until(start, years_for(items, _table))


@event.listens_for(Session, "before_flush")
def _refuse_deletes(session: Session, flush_context: Any, instances: Any) -> None:
    today = dt.datetime.now(dt.UTC).date()
    for obj in session.deleted:
        kept = retained_until(obj)
        if kept is not None and kept >= today:
            shown = "与其原始记录同期" if kept == dt.date.max else f"至 {kept.isoformat()}"
            raise RetentionError(f"档案保存期内（{shown}），不能删除")
