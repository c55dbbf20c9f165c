"""core.workdays: the working days between two days, counted from weeks and each year's
differences, against walking the days one by one."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jcjg.core import workdays
from tests.conftest import examples

pytestmark = [pytest.mark.once, pytest.mark.property]


def _walked(start: dt.date, end: dt.date) -> int:
    sign = 1
    if end < start:
        start, end, sign = end, start, -1
    days = (start + dt.timedelta(days=n) for n in range(1, (end - start).days + 1))
    return sign * sum(workdays.is_workday(day) for day in days)


@settings(max_examples=examples(300), deadline=None)
@given(
    st.dates(dt.date(2003, 6, 1), dt.date(2029, 12, 31)),  # across the calendar's ends
    st.integers(-800, 800),
)
def test_working_days_between_counts_what_a_walk_counts(start, span):
    end = start + dt.timedelta(days=span)
    assert workdays.working_days_between(start, end) == _walked(start, end)


def test_a_span_of_decades_is_counted_not_refused():
    """A lab's contract signed decades ago: counted, in what its years cost (walking the
    days took 85 ms for ten years; beyond ten years it was refused, and the rule counting it
    failed for every institution)."""
    start, end = dt.date(1990, 1, 1), dt.date(2040, 12, 31)
    assert workdays.working_days_between(start, end) == _walked(start, end)
    assert workdays.working_days_between(end, start) == -_walked(start, end)
    friday = dt.date(2026, 11, 27)
    assert workdays.working_days_between(friday, friday + dt.timedelta(days=3)) == 1
    assert workdays.working_days_between(friday, friday) == 0
