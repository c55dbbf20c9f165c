"""Pagination shared by list endpoints and pages: offsets for the first pages, keysets beyond,
and totals that are exact where counting is cheap and the database's estimate where it is not.

A list of a year of a province's data (a million test records) cannot be counted, nor paged to
its 40,000th page by ``OFFSET``, on every request:

- :func:`count_total` counts at most ``ESTIMATE_ABOVE + 1`` rows; beyond that, on PostgreSQL,
  it gives the planner's estimate (``EXPLAIN``), shown as "约 N 条". SQLite, the small embedded
  database, counts exactly. A count a pre-aggregated table gives is passed in as exact.
- :func:`paginate` reads the first ``KEYSET_FROM`` rows by offset (page numbers, as users
  expect) and deeper pages by keyset: ``?after=<cursor>&page=N`` continues after the last row
  shown, ``?before=<cursor>&page=N`` goes back before the first, each an index range scan
  however deep, on the list's :class:`Order` (its sort keys, the last one unique).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Select,
    SmallInteger,
    and_,
    func,
    or_,
    select,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from jcjg.core.memo import TimedMemo

T = TypeVar("T")

ESTIMATE_ABOVE = 10_000  # totals beyond this are estimated where counting them is not cheap
KEYSET_FROM = 2_000  # rows reached by offset (page numbers); deeper pages by keyset
CURSOR_PATTERN = r"^-?[0-9]{1,20}(\.-?[0-9]{1,20}){0,3}$"


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class PageParams(BaseModel):
    offset: int = 0
    limit: int = 20
    after: str | None = None  # keyset cursor: the rows after this one
    before: str | None = None  # keyset cursor: the rows before this one
    number: int | None = None  # the page number a keyset page shows

    @property
    def page(self) -> int:
        return self.number or self.offset // self.limit + 1

    def pages(self, total: int | Total) -> int:
        return max(1, (int(total) + self.limit - 1) // self.limit)

    def numbers(self, total: int | Total, around: int = 2) -> list[int | None]:
        """The page numbers the pager links (``None``: a gap, shown as "…"): the first, the
        last, and ``around`` either side of this one; only pages reached by offset (within
        :data:`KEYSET_FROM` rows), deeper ones by the next and previous links."""
        pages, reachable = self.pages(total), max(1, KEYSET_FROM // self.limit)
        last, here = min(pages, reachable), self.page
        wanted = {1} | set(range(max(1, here - around), min(last, here + around) + 1))
        if pages <= reachable:
            wanted.add(last)
        shown: list[int | None] = []
        previous = 0
        for n in sorted(wanted):
            if previous and n - previous > 1:
                shown.append(None)
            shown.append(n)
            previous = n
        return shown


async def page_params(
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="跳过的条数")] = 0,
    limit: Annotated[int, Query(ge=1, le=200, description="每页条数")] = 20,
    after: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="从此位置之后（深页）")
    ] = None,
    before: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="到此位置之前（深页）")
    ] = None,
    page: Annotated[int | None, Query(ge=1, le=10_000_000, description="页码（深页）")] = None,
) -> PageParams:
    return PageParams(offset=offset, limit=limit, after=after, before=before, number=page)


def count_rows(db: Session, stmt: Select[Any]) -> int:
    """How many rows ``stmt`` gives (its ordering dropped: it does not change the count)."""
    return int(db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0)


# --- totals ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    """How many rows a list has: exact, or the database's estimate (``exact`` false, only
    beyond :data:`ESTIMATE_ABOVE`)."""

    value: int
    exact: bool = True

    def __int__(self) -> int:
        return self.value

    def __str__(self) -> str:
        return f"{self.value}" if self.exact else f"约 {self.value:,}"


# lists known to hold more than ESTIMATE_ABOVE rows, with the planner's estimate: for a minute
# they are neither counted again (counting 10,001 rows costs what the rest of the page does)
# nor estimated again (planning the scoped statement took a few ms of every page, issue 44)
_LARGE = TimedMemo(60.0, max_entries=10_000)


def count_total(db: Session, stmt: Select[Any]) -> Total:
    """The total of ``stmt``'s rows: exact up to :data:`ESTIMATE_ABOVE` (counting that many
    at most), beyond it the PostgreSQL planner's estimate; exact on SQLite."""
    stmt = stmt.order_by(None)
    if db.get_bind().dialect.name != "postgresql":
        return Total(count_rows(db, stmt))
    key = _statement_key(stmt)
    estimate = _LARGE.peek(key) if key is not None else None
    if estimate is None:
        bounded = count_rows(db, stmt.limit(ESTIMATE_ABOVE + 1))
        if bounded <= ESTIMATE_ABOVE:
            return Total(bounded)
        estimate = max(planner_rows(db, stmt), ESTIMATE_ABOVE + 1)
        if key is not None:
            _LARGE.put(key, estimate)
    return Total(estimate, exact=False)


def _statement_key(stmt: Select[Any]) -> tuple[Any, ...] | None:
    """A hashable key of the statement and its parameters' values (None: none can be made)."""
    cache_key = stmt._generate_cache_key()
    if cache_key is None:
        return None
    values = []
    for bind in cache_key.bindparams:
        value = bind.effective_value
        values.append(tuple(value) if isinstance(value, list) else value)
    try:
        key = (ESTIMATE_ABOVE, cache_key.key, tuple(values))
        hash(key)
    except TypeError:
        return None
    return key


class _Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>``, its parameters bound as the statement's own."""

    inherit_cache = False

    def __init__(self, stmt: Select[Any]) -> None:
        self.stmt = stmt


@compiles(_Explain)
def _explain(element: _Explain, compiler: SQLCompiler, **kw: Any) -> str:
    # a scope's sets as arrays, also for a table matched by a hash (auth.scopes.InSelect):
    # the planner guesses half the table for each hashed subplan, and "约 N 条" would say so
    kw["scope_arrays"] = True
    return f"EXPLAIN (FORMAT JSON) {compiler.process(element.stmt, **kw)}"


def planner_rows(db: Session, stmt: Select[Any]) -> int:
    """How many rows PostgreSQL's planner expects ``stmt`` to give (from the statistics
    ANALYZE keeps; nothing is read)."""
    plan = db.execute(_Explain(stmt)).scalar_one()
    return int(plan[0]["Plan"]["Plan Rows"])


# --- keyset pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    """One sort key of a list: the expression, how to read its value off a row, and whether
    it sorts descending. Values are whole numbers in cursors: datetimes as microseconds since
    the epoch (UTC), dates as ordinals."""

    column: Any
    read: Callable[[Any], Any]
    descending: bool = True


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _encode(value: Any) -> str:
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return str((moment - _EPOCH) // dt.timedelta(microseconds=1))
    if isinstance(value, dt.date):
        return str(value.toordinal())
    return str(int(value))


def _fits(key: Key, value: Any) -> bool:
    """Whether an integer column of ``key`` can hold ``value`` (bound to it with a cast on
    PostgreSQL, out of range is an error there)."""
    kind = getattr(key.column, "type", None)
    if not isinstance(value, int) or not isinstance(kind, Integer):
        return True
    bits = 64 if isinstance(kind, BigInteger) else 16 if isinstance(kind, SmallInteger) else 32
    bound: int = 2 ** (bits - 1)
    return -bound <= value < bound


def _decode(text: str, like: Any) -> Any:
    if isinstance(like, dt.datetime):
        return _EPOCH + dt.timedelta(microseconds=int(text))
    if isinstance(like, dt.date):
        return dt.date.fromordinal(max(1, int(text)))
    return int(text)


@dataclass(frozen=True)
class Order:
    """A list's order for keyset paging: its keys, the last unique (the row's id).
    ``sample`` gives one value of each key's type, to read cursors back. ``offset_only``: an
    order chosen by sorting on a column (``core.listing``), paged by offset however deep."""

    keys: tuple[Key, ...]
    sample: tuple[Any, ...]
    offset_only: bool = False

    def clauses(self) -> list[Any]:
        return [k.column.desc() if k.descending else k.column.asc() for k in self.keys]

    def cursor(self, row: Any) -> str:
        return ".".join(_encode(k.read(row)) for k in self.keys)

    def values(self, cursor: str) -> list[Any] | None:
        """The cursor's values, or None (the first page) when it has not one per key or a
        value no row can have (beyond its column's integer range, or no date)."""
        parts = cursor.split(".")
        if len(parts) != len(self.keys):
            return None
        try:
            values = [_decode(p, s) for p, s in zip(parts, self.sample, strict=True)]
        except (OverflowError, ValueError):
            return None
        fits = all(_fits(k, v) for k, v in zip(self.keys, values, strict=True))
        return values if fits else None

    def beyond(self, values: list[Any], *, backwards: bool = False) -> ColumnElement[bool]:
        """Rows after the cursor's row in this order (before it, ``backwards``): a row
        comparison ``(a, b) < (x, y)`` when every key sorts the same way (an index on the keys
        answers it as a range), else nested comparisons (``a > x OR (a = x AND b < y)``)."""
        if len({k.descending for k in self.keys}) == 1:  # a row comparison: an index range
            later = self.keys[0].descending != backwards
            row, cursor = tuple_(*(k.column for k in self.keys)), tuple_(*values)
            return row < cursor if later else row > cursor
        clause: ColumnElement[bool] | None = None
        for key, value in reversed(list(zip(self.keys, values, strict=True))):
            later = key.descending != backwards
            step = key.column < value if later else key.column > value
            clause = step if clause is None else or_(step, and_(key.column == value, clause))
        assert clause is not None
        return clause


@dataclass(frozen=True)
class Paged(Generic[T]):
    """One page of a list and where its pager leads: query strings (``offset=…&limit=…`` or
    ``after=…&page=…``) of the previous and the next page, ``None`` at either end."""

    rows: Sequence[T]
    number: int
    previous: str | None
    next: str | None


def paginate(db: Session, stmt: Select[Any], params: PageParams, order: Order) -> Paged[Any]:
    """The page ``params`` asks for of ``stmt`` (ordered by ``order`` here; an order it has
    is dropped): by offset, or by keyset after or before a cursor."""
    stmt = stmt.order_by(None)
    limit = params.limit
    cursor = None if order.offset_only else params.after or params.before
    values = order.values(cursor) if cursor else None
    if values is not None and params.before:
        found = list(
            db.scalars(
                stmt.where(order.beyond(values, backwards=True))
                .order_by(*_reversed(order))
                .limit(limit + 1)
            )
        )
        more_before = len(found) > limit
        rows = found[:limit][::-1]
        number = max(1, params.number or 1) if more_before else 1
        return _links(order, rows, number, limit, more_before=more_before, more_after=True)
    if values is not None:
        stmt, number = stmt.where(order.beyond(values)), max(1, params.number or 1)
        found = list(db.scalars(stmt.order_by(*order.clauses()).limit(limit + 1)))
        return _links(order, found[:limit], number, limit, more_before=True,
                      more_after=len(found) > limit)  # fmt: skip
    found = list(db.scalars(stmt.order_by(*order.clauses()).offset(params.offset).limit(limit + 1)))
    number = params.offset // limit + 1
    paged = _links(order, found[:limit], number, limit, more_before=params.offset > 0,
                   more_after=len(found) > limit)  # fmt: skip
    if params.offset % limit and params.offset > 0:  # an offset between pages: back to it
        back = f"offset={max(0, params.offset - limit)}&limit={limit}"
        return Paged(paged.rows, number, back, paged.next)
    return paged


def _reversed(order: Order) -> list[Any]:
    return [k.column.asc() if k.descending else k.column.desc() for k in order.keys]


def _links(order: Order, rows: Sequence[Any], number: int, limit: int, *, more_before: bool,
           more_after: bool) -> Paged[Any]:  # fmt: skip
    """Page ``number``'s links: by offset while the page is within :data:`KEYSET_FROM` rows,
    by the cursor of its first or last row beyond."""
    previous = following = None
    if more_before and number > 1:
        offset = (number - 2) * limit
        previous = (
            f"offset={offset}&limit={limit}"
            if offset < KEYSET_FROM or not rows or order.offset_only
            else f"before={order.cursor(rows[0])}&page={number - 1}&limit={limit}"
        )
    if more_after and rows:
        offset = number * limit
        following = (
            f"offset={offset}&limit={limit}"
            if offset < KEYSET_FROM or order.offset_only
            else f"after={order.cursor(rows[-1])}&page={number + 1}&limit={limit}"
        )
    return Paged(rows, number, previous, following)
