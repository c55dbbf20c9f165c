"""Database layer: engine, declarative base with a naming convention, and a UTC datetime type.

The same code runs on the embedded SQLite file and on PostgreSQL. Times are stored timezone-aware
in UTC (DESIGN.md decision 5); a naive datetime is refused rather than guessed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, Insert, MetaData, String, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.sql.expression import FunctionElement
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> dt.datetime:
    """The current time, timezone-aware, in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A datetime stored in UTC and always read back timezone-aware.

    SQLite has no time zones, so values are normalised to UTC on the way in and tagged UTC on the
    way out; PostgreSQL stores ``timestamptz``.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: store timezone-aware times")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the sqlite3 module, begin transactions: SAVEPOINTs then work and
    # every transaction starts with BEGIN IMMEDIATE (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


# Execution option of a connection that only reads (``engine.execution_options(**{READ_ONLY:
# True})``): on SQLite its transactions begin DEFERRED and never wait for the write lock.
READ_ONLY = "jcjg_read_only"


def _sqlite_begin(conn: Any) -> None:
    # IMMEDIATE takes the write lock up front: a transaction that reads and then writes can
    # never fail half-way with "database is locked" because another writer got in between.
    # SQLite serialises writers anyway; readers of the embedded default wait (busy_timeout),
    # except the read-only ones (WAL lets them read beside the writer).
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite gets its folder, foreign keys and WAL mode."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions never expire their objects on commit: pages render after the commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work outside a request (CLI, jobs): commit on success, roll back on error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# Beijing time in PostgreSQL as a fixed offset: China has kept UTC+8 all year since 1991, and an
# interval needs no lookup in the time-zone database for each row ('Asia/Shanghai' does:
# a quarter of the time of a grouping by month over a province-year)
_BEIJING_PG = "INTERVAL '+08:00'"


class beijing_month(FunctionElement[str]):
    """The Beijing calendar month (``"2026-11"``) of a :class:`UTCDateTime` column, in SQL, for
    counts by month (statutory periods are Beijing ones: UTC+8 all year)."""

    type = String()
    inherit_cache = True


@compiles(beijing_month, "sqlite")
def _beijing_month_sqlite(element: beijing_month, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(beijing_month, "postgresql")
def _beijing_month_postgresql(element: beijing_month, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE {_BEIJING_PG}, 'YYYY-MM')"


class beijing_quarter(FunctionElement[str]):
    """The Beijing calendar quarter (``"2026-Q4"``) of a :class:`UTCDateTime` column, in SQL:
    one conversion a row where deriving it from :class:`beijing_month` text takes three."""

    type = String()
    inherit_cache = True


@compiles(beijing_quarter, "sqlite")
def _beijing_quarter_sqlite(element: beijing_quarter, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return (
        f"strftime('%Y', {column}, '+8 hours') || '-Q' || "
        f"((CAST(strftime('%m', {column}, '+8 hours') AS INTEGER) + 2) / 3)"
    )


@compiles(beijing_quarter, "postgresql")
def _beijing_quarter_postgresql(element: beijing_quarter, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE {_BEIJING_PG}, 'YYYY-\"Q\"Q')"


class beijing_day(FunctionElement[str]):
    """The Beijing calendar day (``"2026-11-20"``) of a :class:`UTCDateTime` column, in SQL, for
    counts by day (a day runs from 00:00 to 24:00 Beijing time, UTC+8 all year)."""

    type = String()
    inherit_cache = True


@compiles(beijing_day, "sqlite")
def _beijing_day_sqlite(element: beijing_day, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m-%d', {compiler.process(element.clauses, **kw)}, '+8 hours')"


@compiles(beijing_day, "postgresql")
def _beijing_day_postgresql(element: beijing_day, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char({column} AT TIME ZONE {_BEIJING_PG}, 'YYYY-MM-DD')"


def insert_ignoring_conflicts(db: Session, model: type[Any] | Table) -> Insert:
    """``INSERT ... ON CONFLICT DO NOTHING`` for ``model`` on the session's database (SQLite
    or PostgreSQL); with ``.returning(...)`` it gives back only the rows it inserted."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


def insert_or_update(
    db: Session,
    model: type[Any] | Table,
    values: Mapping[str, Any],
    *,
    keys: Sequence[str],
    set_: Mapping[str, Any],
) -> Insert:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET set_`` for ``model`` on the session's
    database (SQLite or PostgreSQL): the row inserted, or the one with the same ``keys``
    updated, in one statement (concurrent ones wait for each other on the unique index, so
    ``count + 1`` counts each); with ``.returning(...)`` it gives back the row either way."""
    if db.get_bind().dialect.name == "postgresql":
        pg = postgresql.insert(model).values(dict(values))
        return pg.on_conflict_do_update(index_elements=list(keys), set_=dict(set_))
    lite = sqlite.insert(model).values(dict(values))
    return lite.on_conflict_do_update(index_elements=list(keys), set_=dict(set_))


_MEMO = "jcjg.core.db.memo"


@contextmanager
def remembering(db: Session) -> Iterator[None]:
    """Within this block, lookups that opt in (:func:`memo`) keep what they read in ``db``
    for the rest of it: for reference data that no write in the block changes (the catalogue
    while a batch of messages is applied)."""
    db.info[_MEMO] = {}
    try:
        yield
    finally:
        db.info.pop(_MEMO, None)


def memo(db: Session) -> dict[Any, Any] | None:
    """The block's memo when ``db`` is :func:`remembering`, else None."""
    found: dict[Any, Any] | None = db.info.get(_MEMO)
    return found
