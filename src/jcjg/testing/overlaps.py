"""Test records booked on one identity (a machine, a person) at overlapping times: the search
``impossible_timing`` and ``clash_across_institutions`` share.

Each identity's records are kept by their duration's class (durations below 2, 4, 8 ...
seconds) and, within a class, sorted by start. A record overlapping another by more than an
allowance ends after the other's start plus the allowance, so it started at most its class's
bound before that; and it started before the other's end minus the allowance. Each class is
searched by bisection between those two starts. A record of 1970 or a genuine week-long test
sits in a class of its own and costs a search one look, where a single bound for the whole
pool (the longest duration) would make every search return every earlier record. What a
search still looks at beyond the records it yields are records of the same identity and class
that started within that class's bound before the other and ended before it: only records of
one machine or person that overlap one another crowd a class's bound like that.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar


class Booked(Protocol):
    """What the search reads of a record."""

    @property
    def id(self) -> int: ...

    @property
    def started_at(self) -> dt.datetime: ...

    @property
    def ended_at(self) -> dt.datetime: ...


def overlap(a: Booked, b: Booked) -> dt.timedelta:
    """How long two records overlap (negative when they do not)."""
    return min(a.ended_at, b.ended_at) - max(a.started_at, b.started_at)


def _class_of(record: Booked) -> int:
    """The duration's class: ``c`` holds durations below 2**c seconds (a negative one in 0)."""
    seconds = (record.ended_at - record.started_at).total_seconds()
    return max(0, math.ceil(seconds)).bit_length()


K = TypeVar("K", bound=Hashable)
R = TypeVar("R", bound=Booked)


class Bookings(Generic[K, R]):
    """The records of a pool by identity, searchable for those overlapping a record by more
    than an allowance. ``examined`` counts the records the searches looked at (yielded or
    not), for the tests that bound the work."""

    def __init__(self, entries: Iterable[tuple[K, R]]) -> None:
        grouped: dict[K, dict[int, list[tuple[float, int, R]]]] = {}
        for key, record in entries:
            grouped.setdefault(key, {}).setdefault(_class_of(record), []).append(
                (record.started_at.timestamp(), record.id, record)
            )
        self._classes: dict[K, list[tuple[float, list[float], list[R]]]] = {}
        for key, classes in grouped.items():
            kept = []
            for c in sorted(classes):
                rows = sorted(classes[c], key=lambda row: (row[0], row[1]))
                # the class's bound, and a second more for the timestamps' rounding
                kept.append((float(2**c) + 1.0, [row[0] for row in rows], [row[2] for row in rows]))
            self._classes[key] = kept
        self.examined = 0

    def overlapping(self, key: K, record: Booked, allowed: dt.timedelta) -> Iterator[R]:
        """The records booked on ``key`` that overlap ``record`` by more than ``allowed``
        (``record`` itself among them if it is booked there), by class, then start, then id:
        an order that does not depend on which other records the pool holds."""
        start, end = record.started_at.timestamp(), record.ended_at.timestamp()
        slack = allowed.total_seconds()
        for bound, starts, records in self._classes.get(key, ()):
            low = bisect.bisect_left(starts, start + slack - bound)
            high = bisect.bisect_right(starts, end - slack + 1.0)
            for other in records[low:high]:
                self.examined += 1
                if overlap(record, other) > allowed:
                    yield other


# a finding lists this many clashes; a search stops at this many records clashing with one
LISTED, SOUGHT = 20, 200


def clashing(
    bookings: Bookings[K, R],
    record: Booked,
    keys: Iterable[K],
    allowed: dt.timedelta,
    keep: Callable[[K, R], bool],
) -> tuple[dict[int, tuple[R, list[K]]], bool]:
    """The records sent before ``record`` (lower ids) booked on any of its ``keys`` and
    overlapping it by more than ``allowed``, that ``keep`` keeps, by id with the keys they
    share; and whether the search was complete (it stops at ``SOUGHT`` records, in the
    bookings' order, so the same ones whatever else the pool holds)."""
    found: dict[int, tuple[R, list[K]]] = {}
    for key in keys:
        for other in bookings.overlapping(key, record, allowed):
            if other.id >= record.id or not keep(key, other):
                continue
            if other.id not in found:
                if len(found) == SOUGHT:
                    return found, False
                found[other.id] = (other, [])
            found[other.id][1].append(key)
    return found, True


def listed(lines: list[str], complete: bool) -> list[str]:
    """A finding's list of clashes: the first ``LISTED``, then how many more."""
    if len(lines) <= LISTED and complete:
        return lines
    more = len(lines) - LISTED
    return [*lines[:LISTED], f"……另有 {more} 处" + ("" if complete else "以上")]
