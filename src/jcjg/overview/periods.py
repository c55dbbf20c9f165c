"""Periods of the overview and of the reports, in Beijing dates: a year ``2026``, a quarter
``2026Q3`` or a month ``2026-10``. Bounds are [start, end] inclusive dates; ``since`` and
``until`` the UTC instants of Beijing midnight at the start and after the end."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from jcjg.core.workdays import beijing_midnight

_YEAR = re.compile(r"(\d{4})")
_QUARTER = re.compile(r"(\d{4})Q([1-4])")
_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


class PeriodKind(StrEnum):
    YEAR = "year"
    QUARTER = "quarter"
    MONTH = "month"

    @property
    def label(self) -> str:
        return {"year": "年度", "quarter": "季度", "month": "月度"}[self.value]


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    key: str
    start: dt.date
    end: dt.date  # inclusive

    @property
    def since(self) -> dt.datetime:
        return beijing_midnight(self.start)

    @property
    def until(self) -> dt.datetime:
        return beijing_midnight(self.end + dt.timedelta(days=1))

    @property
    def label(self) -> str:
        y = self.start.year
        if self.kind is PeriodKind.YEAR:
            return f"{y}年"
        if self.kind is PeriodKind.QUARTER:
            return f"{y}年第{(self.start.month - 1) // 3 + 1}季度"
        return f"{y}年{self.start.month}月"

    @property
    def months(self) -> list[str]:
        """The ``YYYY-MM`` months it covers (the tally's months)."""
        out, day = [], self.start
        while day <= self.end:
            out.append(f"{day.year:04d}-{day.month:02d}")
            day = _next_month(day)
        return out

    def previous(self) -> Period:
        return containing(self.kind, self.start - dt.timedelta(days=1))


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def year(y: int) -> Period:
    return Period(PeriodKind.YEAR, f"{y:04d}", dt.date(y, 1, 1), dt.date(y, 12, 31))


def quarter(y: int, q: int) -> Period:
    start = dt.date(y, 3 * q - 2, 1)
    end = _next_month(dt.date(y, 3 * q, 1)) - dt.timedelta(days=1)
    return Period(PeriodKind.QUARTER, f"{y:04d}Q{q}", start, end)


def month(y: int, m: int) -> Period:
    start = dt.date(y, m, 1)
    return Period(PeriodKind.MONTH, f"{y:04d}-{m:02d}", start, _next_month(start) - dt.timedelta(1))


def containing(kind: PeriodKind, day: dt.date) -> Period:
    if kind is PeriodKind.YEAR:
        return year(day.year)
    if kind is PeriodKind.QUARTER:
        return quarter(day.year, (day.month - 1) // 3 + 1)
    return month(day.year, day.month)


def parse(text: str) -> Period | None:
    """The period ``text`` names, or None when it names none (years 2000-2099)."""
    if (m := _MONTH.fullmatch(text)) is not None:
        p = month(int(m[1]), int(m[2]))
    elif (m := _QUARTER.fullmatch(text)) is not None:
        p = quarter(int(m[1]), int(m[2]))
    elif (m := _YEAR.fullmatch(text)) is not None:
        p = year(int(m[1]))
    else:
        return None
    return p if 2000 <= p.start.year <= 2099 else None


def closed(kind: PeriodKind, today: dt.date, count: int) -> list[Period]:
    """The last ``count`` periods of ``kind`` that ended before ``today``, oldest first."""
    out = [containing(kind, today).previous()]
    while len(out) < count:
        out.append(out[-1].previous())
    return out[::-1]
