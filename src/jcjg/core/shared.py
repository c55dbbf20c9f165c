"""Data the platform derives, shared as data sets (docs/sharing.md, "Derived sources").

A data set of the catalogue holds, as its source, either lab messages of one or several types or
one **derived source**: records a domain keeps itself (its published penalty decisions ...). A
domain offers such a source under the :data:`SHARED_SOURCES` hook (``() -> [SharedSource]``);
governance compiles, publishes, masks and serves it without importing the domain's models.

A source's ``rows`` answers the records the public may read *today* (a decision within its
publicity period), oldest first after the position ``after``, at most ``limit`` of them, chosen
by the query's filters (:class:`SourceFilters`). Each :class:`SharedRow` carries its paging
position (``key``), its institution and region (the filters' and the items' fields) and its
``data``: a JSON object whose fields are the source's ``fields`` (paths as in the data standard,
``persons[].id_number``); ``personal`` names those that never leave unmasked.

A source's ``versions`` answers, cheaply, every record public *today* by its key with a token
that changes whenever the record does (a digest of the update times of the decision and of
the registry rows it shows): governance's deliver job
polls it, fetches the rows whose token it has not seen (``SourceFilters.keys``) and delivers
them to the subscriptions in force as new (``published``) or corrected (docs/sharing.md,
"Deliveries of derived data"). The domain calls nothing of governance's."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_
from sqlalchemy.orm import Session

from jcjg.core import domains
from jcjg.core.regioncodes import prefix_bounds
from jcjg.core.workdays import beijing_midnight

# A domain's hook: () -> [SharedSource]
SHARED_SOURCES = "sharing.sources"


@dataclass(frozen=True)
class SourceFilters:
    """What a consumer's query selects: an institution's code, a region (a prefix: ``3604``
    the whole city), a period of the record's day (Beijing days, both included)."""

    institution_code: str = ""
    region_code: str = ""
    day_from: dt.date | None = None
    day_to: dt.date | None = None
    keys: tuple[int, ...] = ()  # only these records (by ``SharedRow.key``); () for all

    def applied(
        self,
        stmt: Select[Any],
        *,
        key: Any,
        institution_code: Any,
        region_code: Any,
        day: Any,
        moments: bool = False,
    ) -> Select[Any]:
        """``stmt`` narrowed to these filters, given a source's columns: its paging key, its
        institution's code, its region code and its day (``moments``: a column of UTC times,
        whose Beijing day counts)."""
        if self.keys:
            stmt = stmt.where(key.in_(self.keys))
        if self.institution_code:
            stmt = stmt.where(institution_code == self.institution_code)
        if self.region_code:
            low, high = prefix_bounds(self.region_code)
            stmt = stmt.where(and_(region_code >= low, region_code < high))
        if self.day_from:
            start = beijing_midnight(self.day_from) if moments else self.day_from
            stmt = stmt.where(day >= start)
        if self.day_to:
            if moments:
                stmt = stmt.where(day < beijing_midnight(self.day_to + dt.timedelta(days=1)))
            else:
                stmt = stmt.where(day <= self.day_to)
        return stmt


@dataclass(frozen=True)
class SharedRow:
    key: int  # the paging position: increasing, unique within the source
    record_id: str  # what the record is known by (a decision's number)
    institution_code: str | None
    region_code: str
    day: dt.date  # the record's day (a decision's date)
    data: dict[str, Any]


@dataclass(frozen=True)
class SharedSource:
    code: str  # ``penalty.decision``: a data set's type, never a message type's name
    title: str  # 行政处罚决定
    fields: dict[str, str]  # path -> its Chinese name
    personal: tuple[str, ...]  # paths that must be masked
    rows: Callable[[Session, SourceFilters, dt.date, int, int], Sequence[SharedRow]]
    # (db, filters, today, after, limit) -> the rows
    versions: Callable[[Session, dt.date], Mapping[int, str]]
    # (db, today) -> {key: version token} of every record public today


def sources() -> dict[str, SharedSource]:
    """The derived sources the installed domains offer, by code."""
    return {s.code: s for declared in domains.hooks(SHARED_SOURCES) for s in declared()}
