"""Database layer: engine, declarative base with a naming convention, and a UTC datetime type.

The same code runs on the embedded SQLite file and on PostgreSQL. Times are stored timezone-aware
in UTC (DESIGN.md decision 5); a naive datetime is refused rather than guessed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    Insert,
    MetaData,
    String,
    Table,
    bindparam,
    create_engine,
    event,
    update,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
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
    # a writing transaction starts with BEGIN IMMEDIATE (below).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
    cursor.close()


# Execution option of a connection that only reads (``engine.execution_options(**{READ_ONLY:
# True})``): on SQLite its transactions begin DEFERRED and never wait for the write lock; a
# statement that writes through it is refused (:class:`WriteWhileReading`).
READ_ONLY = "jcjg_read_only"
# How long a writer waits for SQLite's write lock (the process's queue, then SQLite's own
# busy handler) before "database is locked".
BUSY_SECONDS = 10.0
# A write transaction holding SQLite's write lock longer than this is logged (jcjg.db): every
# other writer, and every page that must write, waits that long behind it.
SLOW_WRITE_SECONDS = 0.1
SLOW_WAIT_SECONDS = 1.0  # a writer that waited longer for the lock is logged (jcjg.db)
_WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)
log = logging.getLogger("jcjg.db")


class WriteWhileReading(RuntimeError):
    """A statement that writes on a connection that only reads (:data:`READ_ONLY`): what a
    request answering GET must write goes through :func:`write_later`."""


def _refuse_writes(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if conn.get_execution_options().get(READ_ONLY) and _WRITES.match(statement):
        raise WriteWhileReading(f"write on a read-only connection: {statement[:120]}")


class WriteGate:
    """The order in which this process's writers take SQLite's one write lock: first come,
    first served. SQLite's busy handler polls (sleeping up to 100 ms between tries), so a
    writer that commits and begins again at once (an apply worker's next batch) keeps the lock
    from one that waits: pages waited 10 s and failed. Here a writer queues behind the ones
    before it and gets the lock when the one holding it commits; writers of other processes
    still meet it through the busy handler. A ticket, not a thread's lock: a transaction may
    end in another thread than the one that began it (a request's commit)."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._next = 0  # the next ticket given
        self._serving = 0  # the ticket that may hold the lock
        self._abandoned: set[int] = set()  # tickets whose writers stopped waiting

    def acquire(self, timeout: float) -> int:
        with self._cond:
            ticket = self._next
            self._next += 1
            if not self._cond.wait_for(lambda: self._serving == ticket, timeout):
                # give the turn up: the writers behind must not wait for one that left
                self._abandoned.add(ticket)
                raise sqlite3.OperationalError("database is locked")
            return ticket

    def release(self) -> None:
        with self._cond:
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


_GATES: dict[str, WriteGate] = {}
_GATES_LOCK = threading.Lock()
_HELD = "jcjg_write_gate"  # in a pool connection's info while it holds its gate: (began, where)


def _gate_for(path: str) -> WriteGate:
    with _GATES_LOCK:
        gate = _GATES.get(path)
        if gate is None:
            gate = _GATES[path] = WriteGate()
        return gate


def _writer() -> str:
    """Who is beginning a write transaction: the thread and the innermost function of ours."""
    frame = sys._getframe(2)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.startswith("jcjg.") and module != __name__:
            where = f"{module}.{frame.f_code.co_name}"
            break
        frame = frame.f_back  # type: ignore[assignment]
    else:
        where = "?"
    return f"{where} ({threading.current_thread().name})"


def _sqlite_begin(conn: Any) -> None:
    # A writing transaction takes the write lock up front (IMMEDIATE), in the process's order
    # (WriteGate): it can never fail half-way with "database is locked" because another
    # writer got in between. A read-only one begins DEFERRED and reads beside the writer (WAL).
    if conn.get_execution_options().get(READ_ONLY):
        conn.exec_driver_sql("BEGIN")
        return
    gate = conn.engine.dialect.jcjg_gate
    record = conn.connection._connection_record
    started = time.monotonic()
    gate.acquire(BUSY_SECONDS)
    record.info[_HELD] = (time.monotonic(), _writer())
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        _release(gate, record)
        raise
    waited = time.monotonic() - started
    if waited > SLOW_WAIT_SECONDS:  # writers queue behind each other: the database is full
        log.warning("waited %d ms for the write lock", waited * 1000)


def _release(gate: WriteGate, record: Any) -> None:
    held = record.info.pop(_HELD, None) if record is not None else None
    if held is None:
        return
    gate.release()
    took = time.monotonic() - held[0]
    if took > SLOW_WRITE_SECONDS:
        log.warning("write lock held %d ms by %s", took * 1000, held[1])


def _gated(engine: Engine, path: str) -> None:
    """Writers of ``engine`` take SQLite's write lock in the order of the process's gate for
    the database file at ``path``, and give it back when their COMMIT or ROLLBACK is done."""
    dialect = engine.dialect
    gate = _gate_for(path)
    dialect.jcjg_gate = gate  # type: ignore[attr-defined]
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            _release(gate, _record_of(dbapi_connection))

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            _release(gate, _record_of(dbapi_connection))

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]

    def gone(dbapi_connection: Any, record: Any, *args: Any) -> None:
        _release(gate, record)  # closed or invalidated while it wrote

    event.listen(engine.pool, "close", gone)
    event.listen(engine.pool, "invalidate", gone)
    event.listen(engine.pool, "checkin", gone)


def _record_of(dbapi_connection: Any) -> Any:
    # the pool's fairy (a checked-out connection) knows its record; a raw DBAPI one does not
    return getattr(dbapi_connection, "_connection_record", None)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; SQLite gets its folder, foreign keys, WAL mode and its
    writers' order (:class:`WriteGate`)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connect_args = kwargs.pop("connect_args", {})
        connect_args.setdefault("check_same_thread", False)
        engine = create_engine(url, connect_args=connect_args, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        event.listen(engine, "before_cursor_execute", _refuse_writes)
        _gated(engine, str(Path(path).resolve()) if path and path != ":memory:" else url)
        _plain_savepoints(engine.dialect)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    event.listen(engine, "before_cursor_execute", _refuse_writes)
    _plain_savepoints(engine.dialect)
    return engine


def _plain_savepoints(dialect: Dialect) -> None:
    """``dialect``'s SAVEPOINT, RELEASE SAVEPOINT and ROLLBACK TO SAVEPOINT sent as the text
    SQLAlchemy would compile them to. SQLAlchemy never caches those statements (each savepoint
    has a name of its own, ``sa_savepoint_N``), so it compiled two of them for every savepoint
    (a savepoint and its release took 2-3 times as much CPU on SQLite): a rule's run on write,
    a group of messages applied, a nonce recorded each take one. The connection's
    ``savepoint`` events fire as before (before the dialect is called); ``before_execute``
    does not fire for these statements, ``before_cursor_execute`` does."""
    preparer = dialect.identifier_preparer

    def sender(verb: str) -> Any:
        def send(connection: Any, savepoint: str) -> None:
            # named as the compiler names it (quote() would keep every name in its cache)
            name = preparer.format_savepoint(None, savepoint)  # type: ignore[no-untyped-call]
            connection.exec_driver_sql(f"{verb} {name}")

        return send

    dialect.do_savepoint = sender("SAVEPOINT")  # type: ignore[method-assign]
    dialect.do_release_savepoint = sender("RELEASE SAVEPOINT")  # type: ignore[method-assign]
    dialect.do_rollback_to_savepoint = sender("ROLLBACK TO SAVEPOINT")  # type: ignore[method-assign]


def create_database(admin: Engine, name: str, template: str | None = None) -> None:
    """``CREATE DATABASE name`` on PostgreSQL (``admin``: an AUTOCOMMIT engine on another
    database), or a copy of ``template``; again for up to 30 s while the template is held
    (another copy being made, autovacuum visiting it)."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    sql = f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
    deadline = time.monotonic() + 30
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(text(sql))
            return
        except OperationalError as exc:
            if "is being accessed by other users" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# PostgreSQL's SQLSTATEs of a transaction that lost to another: lock_not_available (lock_timeout),
# deadlock_detected, serialization_failure
_PG_BUSY = frozenset({"55P03", "40P01", "40001"})


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` says the database could not take this write now (SQLite's "database
    is locked" after the wait, a PostgreSQL lock timeout, deadlock or serialization failure):
    worth another try later, not a fault of the request."""
    orig = getattr(error, "orig", None) or error
    if isinstance(orig, sqlite3.OperationalError):
        message = str(orig)
        return "locked" in message or "busy" in message
    return getattr(orig, "sqlstate", None) in _PG_BUSY


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


def _sqlite_seconds(element: FunctionElement[str], compiler: Any, **kw: Any) -> str:
    """A stored :class:`UTCDateTime` on SQLite (``'2025-12-31 15:59:59.999999'``) cut to its
    whole seconds: SQLite's date functions round the microseconds to milliseconds, which
    would put the last half-millisecond of a Beijing day, month or year in the next one."""
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 19)"


@compiles(beijing_month, "sqlite")
def _beijing_month_sqlite(element: beijing_month, compiler: Any, **kw: Any) -> str:
    return f"strftime('%Y-%m', {_sqlite_seconds(element, compiler, **kw)}, '+8 hours')"


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
    column = _sqlite_seconds(element, compiler, **kw)
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
    return f"strftime('%Y-%m-%d', {_sqlite_seconds(element, compiler, **kw)}, '+8 hours')"


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


def alive(row: Any) -> bool:
    """Whether a row a :func:`memo` kept is still the database's: not created in a savepoint
    that rolled back since (a message refused), nor deleted."""
    state = sa_inspect(row)
    return bool(state.persistent or state.pending)


_WRITTEN = "jcjg.core.db.written"
_LATER = "jcjg.core.db.in_place_later"


class _InPlaceLater:
    """UPDATEs by primary key :func:`update_in_place` was asked to write later: each row's
    latest values (a row two messages change is written once), on the connection of the
    transaction or savepoint that asked for them."""

    def __init__(self, connection: Any, transaction: Any) -> None:
        self.connection = connection
        self.transaction = transaction
        self.rows: dict[tuple[Any, tuple[Any, ...]], dict[str, Any]] = {}

    def write(self) -> None:
        by_columns: dict[tuple[Any, tuple[str, ...]], list[dict[str, Any]]] = {}
        for (mapper, key), values in self.rows.items():
            params = {f"_v_{name}": value for name, value in values.items()}
            params.update({f"_k_{c.key}": v for c, v in zip(mapper.primary_key, key, strict=True)})
            by_columns.setdefault((mapper, tuple(sorted(values))), []).append(params)
        self.rows.clear()
        for (mapper, names), rows in by_columns.items():
            stmt = update(mapper.local_table)
            for column in mapper.primary_key:
                stmt = stmt.where(column == bindparam(f"_k_{column.key}"))
            columns: dict[Any, Any] = {
                mapper.get_property(n).columns[0]: bindparam(f"_v_{n}") for n in names
            }
            self.connection.execute(stmt.values(columns), rows)


def update_in_place(
    db: Session, changes: Sequence[tuple[Any, Mapping[str, Any]]], *, later: bool = False
) -> None:
    """Write ``changes`` (persistent ORM objects, each with the new values of some of its
    columns, by attribute key) as Core UPDATEs by primary key, one ``executemany`` per set of
    columns, without the unit of work: the objects take the new values as loaded ones (no
    history, nothing left to flush). No flush listener sees these writes: the caller writes
    what they would have (the audit's change rows, the alert rules the rows trigger).

    ``later``: the statements wait, each row's latest values merged, until the session next
    runs a statement of its own (``Session.execute``, a query, a flush), begins a savepoint,
    or commits the transaction or savepoint that asked (:func:`write_in_place` writes them
    at once): a batch's messages that each renew the same few rows write them once per
    savepoint. A statement run on the connection itself (``db.connection().execute``) does
    not wait for them. Should the savepoint or the transaction roll back, those waiting are
    dropped; either way the objects written are then expired (read again), so the session
    never holds values the database no longer has."""
    if not changes:
        return
    pending: _InPlaceLater | None = db.info.get(_LATER)
    if pending is None:
        transaction = db.get_nested_transaction() or db.get_transaction()
        pending = _InPlaceLater(db.connection(), transaction)
        db.info[_LATER] = pending
    written: set[Any] = db.info.setdefault(_WRITTEN, set())
    for obj, values in changes:
        state = sa_inspect(obj)
        mapper = state.mapper
        key = tuple(getattr(obj, mapper.get_property_by_column(c).key) for c in mapper.primary_key)
        pending.rows.setdefault((mapper, key), {}).update(values)
        for name, value in values.items():
            set_committed_value(obj, name, value)
        written.add(obj)
    if not later:
        write_in_place(db)


def write_in_place(db: Session) -> None:
    """Write now what :func:`update_in_place` was asked to write later."""
    pending: _InPlaceLater | None = db.info.pop(_LATER, None)
    if pending is not None:
        pending.write()


@event.listens_for(Session, "do_orm_execute")
def _in_place_before_statement(state: Any) -> None:
    write_in_place(state.session)


@event.listens_for(Session, "before_flush")
def _in_place_before_flush(session: Session, flush_context: Any, instances: Any) -> None:
    write_in_place(session)


@event.listens_for(Session, "before_commit")
def _in_place_before_commit(session: Session) -> None:
    write_in_place(session)  # a savepoint's too: its RELEASE comes after


@event.listens_for(Session, "after_transaction_create")
def _in_place_before_savepoint(session: Session, transaction: Any) -> None:
    """A savepoint begins (its SAVEPOINT not sent yet): the rows waiting are the enclosing
    transaction's, written there on its connection."""
    if transaction.nested:
        write_in_place(session)


@event.listens_for(Session, "after_transaction_end")
def _in_place_dropped(session: Session, transaction: Any) -> None:
    pending: _InPlaceLater | None = session.info.get(_LATER)
    if pending is not None and pending.transaction is transaction:
        session.info.pop(_LATER, None)  # ended without a commit: rolled back or closed


@event.listens_for(Session, "after_rollback")
def _expire_written(session: Session) -> None:
    written: set[Any] | None = session.info.pop(_WRITTEN, None)
    for obj in written or ():
        state = sa_inspect(obj)
        if state.persistent and state.session_id == session.hash_key:
            session.expire(obj)


@event.listens_for(Session, "after_commit")
def _forget_written(session: Session) -> None:
    session.info.pop(_WRITTEN, None)
