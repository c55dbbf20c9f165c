"""Sections other packages add to the overview and to the report: the extension points.

``OVERVIEW_SECTIONS`` (``"overview.sections"``): functions called with
``(db, principal, region_code, period)`` answering :class:`Section` objects, shown on
``/overview`` after the platform's own sections, in order (penalties, credit).
``OVERVIEW_REPORT_SECTIONS`` (``"overview.report_sections"``): functions called with
``(db, region_code, period)`` (no principal: the report is made by a job for the region's
authority) answering sections printed in the report before the handling (supervision work,
``supervision.service.summary``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core import domains
from jcjg.overview.periods import Period

OVERVIEW_SECTIONS = "overview.sections"
OVERVIEW_REPORT_SECTIONS = "overview.report_sections"


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Section:
    """A titled section: figures (label, value) as cards, an optional ECharts option (``chart``,
    plain JSON data) and an optional table."""

    title: str
    figures: Sequence[tuple[str, str]] = ()
    chart: dict[str, Any] | None = None
    table: Table | None = None
    note: str = ""
    key: str = field(default="")


def page_sections(
    db: Session, principal: Principal, region_code: str, period: Period
) -> list[Section]:
    out: list[Section] = []
    for hook in domains.hooks(OVERVIEW_SECTIONS):
        out.extend(hook(db, principal, region_code, period))
    return out


def report_sections(db: Session, region_code: str, period: Period) -> list[Section]:
    out: list[Section] = []
    for hook in domains.hooks(OVERVIEW_REPORT_SECTIONS):
        out.extend(hook(db, region_code, period))
    return out
