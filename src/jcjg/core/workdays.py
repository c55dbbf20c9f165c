"""The Chinese statutory working-day calendar (holidays and adjusted working weekends).

Deadlines such as "reported 3 working days ahead" (003 IV(3)) or "uploaded within 5 working
days" count statutory working days: the ``chinese-calendar`` package knows each year's State
Council holiday notice. For a year the package does not know yet (it is updated when the notice
is published), Monday to Friday count as working days and a warning is logged once per year.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass

import chinese_calendar

log = logging.getLogger("jcjg.workdays")
_warned: set[int] = set()
MAX_SPAN_DAYS = 3660  # adding more working days than ten years' is a caller's mistake
# Statutory days are Beijing days (UTC+8 all year, no daylight saving).
BEIJING = dt.timezone(dt.timedelta(hours=8))


def beijing_date(moment: dt.datetime) -> dt.date:
    """The Beijing calendar day of an aware moment (what deadlines in days count)."""
    return moment.astimezone(BEIJING).date()


def beijing_minute(moment: dt.datetime) -> str:
    """An aware moment as findings and notes say it: Beijing time to the minute."""
    return moment.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def beijing_midnight(day: dt.date) -> dt.datetime:
    """The moment Beijing day ``day`` begins (aware): ``[midnight(d), midnight(d + 1))`` is
    the day, for comparing stored UTC times with Beijing days."""
    return dt.datetime.combine(day, dt.time(), BEIJING)


def is_workday(day: dt.date) -> bool:
    """Whether ``day`` is a statutory working day in China."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        if day.year not in _warned:
            _warned.add(day.year)
            log.warning("no statutory calendar for %s: counting Monday to Friday", day.year)
        return day.weekday() < 5


def add_working_days(day: dt.date, count: int) -> dt.date:
    """The ``count``-th working day after ``day`` (before it when negative); ``day`` itself
    never counts. ``add_working_days(friday, 1)`` is the next Monday in an ordinary week."""
    if abs(count) > MAX_SPAN_DAYS:
        raise ValueError("working-day span too large")
    step = dt.timedelta(days=1 if count >= 0 else -1)
    left = abs(count)
    while left:
        day += step
        if is_workday(day):
            left -= 1
    return day


def _weekdays_before(ordinal: int) -> int:
    """Mondays to Fridays from 0001-01-01 (a Monday, ordinal 1) up to the day before
    ``ordinal``."""
    weeks, rest = divmod(ordinal - 1, 7)
    return weeks * 5 + min(rest, 5)


@functools.cache
def _differences(year: int) -> tuple[tuple[dt.date, bool], ...]:
    """The days of ``year`` the statutory calendar counts differently from Monday to Friday,
    each with whether it is worked (none for a year the calendar does not know: that year
    counts Monday to Friday, with the warning :func:`is_workday` gives)."""
    if not covers(year):
        is_workday(dt.date(year, 6, 1))  # warns once for the year
        return ()
    return tuple((c.day, c.is_workday) for c in calendar_exceptions(year))


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after ``start`` up to and including ``end`` (negative when ``end`` is
    before ``start``): from a Friday to the next Monday is 1. Counted from the weeks and each
    year's holidays and worked weekends, not day by day: a span of decades a lab's message
    may hold costs what its years do (the rules count one for each contract and plan)."""
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    count = _weekdays_before(end.toordinal() + 1) - _weekdays_before(start.toordinal() + 1)
    for year in range(start.year, end.year + 1):
        for day, worked in _differences(year):
            if start < day <= end:
                count += 1 if worked else -1
    return sign * count


@dataclass(frozen=True)
class CalendarDay:
    """A day on which the statutory calendar differs from Monday to Friday: a holiday on a
    weekday (休), or a weekend day worked in exchange (班), with the holiday's Chinese name."""

    day: dt.date
    is_workday: bool
    holiday: str


_HOLIDAY_NAMES = {h.value: h.chinese for h in chinese_calendar.Holiday}


def covers(year: int) -> bool:
    """Whether the installed statutory calendar (``chinese-calendar``) knows ``year``; beyond
    it deadlines count Monday to Friday."""
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


def calendar_exceptions(year: int) -> list[CalendarDay]:
    """The days of ``year`` the deadlines count differently from Monday to Friday (empty when
    the calendar does not cover the year)."""
    if not covers(year):
        return []
    out: list[CalendarDay] = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        working = is_workday(day)
        if working != (day.weekday() < 5):
            _, name = chinese_calendar.get_holiday_detail(day)
            out.append(CalendarDay(day, working, _HOLIDAY_NAMES.get(name or "", name or "")))
        day += dt.timedelta(days=1)
    return out
