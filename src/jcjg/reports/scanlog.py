"""The log of look-ups of supervision codes, batched: a scan of a valid code (or of a typo)
is kept in memory and written with the others every few seconds by a thread of the web
process and at shutdown (``JCJG_VERIFY_SCAN_FLUSH_SECONDS``), so a busy verification page does
not queue every request behind one database write. Scans of unknown or revoked codes are
written at once, in the request's transaction: they raise ``unknown_code_scanned``.
A crash loses at most the last few seconds of scans of valid codes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from itertools import chain
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from jcjg.reports.models import CodeScan

log = logging.getLogger("jcjg.reports")


class ScanLog:
    """Pending scans, each already in the database driver's terms (converted by the request
    that made it), written in few statements of the driver. Converting thousands of rows
    at once in the flushing thread (the ORM's or SQLAlchemy's work per row) holds the
    interpreter lock long enough to stall the web loop of the same process for a third of a
    second (seen in bench/verify.py)."""

    # rows per INSERT where the driver takes positional parameters (SQLite: one statement
    # rather than an executemany, which takes the interpreter lock back once per row and,
    # beside a busy web loop, holds the database's write lock for seconds); under SQLite's
    # 32766 parameters
    ROWS_PER_INSERT = 2000

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._lock = threading.Lock()
        self._pending: list[Any] = []
        self._keys: tuple[str, ...] = ()
        self._sql = ""
        self._convert: Callable[[dict[str, Any]], Any] = dict
        self._values: str | None = None

    def _prepare(self, keys: tuple[str, ...]) -> None:
        """The INSERT for rows with ``keys`` and the conversion of one row for it."""
        dialect = self._dialect
        table = cast(Table, CodeScan.__table__)
        compiled = insert(table).compile(dialect=dialect, column_keys=list(keys))
        order = tuple(compiled.positiontup or ()) if compiled.positional else keys
        pairs = [(k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) for k in order]

        def positional(row: dict[str, Any]) -> Any:
            return tuple(row[k] if p is None else p(row[k]) for k, p in pairs)

        def named(row: dict[str, Any]) -> Any:
            return {k: row[k] if p is None else p(row[k]) for k, p in pairs}

        with self._lock:
            if self._pending:  # rows of other keys (never, with scan_row): written first
                raise RuntimeError("scan rows changed shape with scans pending")
            self._keys, self._sql = keys, compiled.string
            self._convert = positional if compiled.positional else named
            self._values = None
            if compiled.positional:  # many rows per INSERT: "INSERT ... VALUES " + "(?, ...), ..."
                head, values = compiled.string.rsplit(" VALUES ", 1)
                self._sql, self._values = head + " VALUES ", values

    def add(self, scan: dict[str, Any]) -> None:
        """Keep ``scan`` (a :func:`jcjg.reports.service.scan_row`) for the next flush."""
        if tuple(scan) != self._keys:
            self._prepare(tuple(scan))
        values = self._convert(scan)
        with self._lock:
            self._pending.append(values)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self, factory: sessionmaker[Session]) -> int:
        """Write the pending scans in one transaction; on failure keep them for the next try."""
        with self._lock:
            rows, self._pending = self._pending, []
        if not rows:
            return 0
        try:
            with factory() as db, db.begin():  # valid codes: no rule to run
                connection = db.connection()
                if self._values is None:
                    connection.exec_driver_sql(self._sql, rows)
                else:
                    for start in range(0, len(rows), self.ROWS_PER_INSERT):
                        chunk = rows[start : start + self.ROWS_PER_INSERT]
                        sql = self._sql + ", ".join([self._values] * len(chunk))
                        connection.exec_driver_sql(sql, tuple(chain.from_iterable(chunk)))
        except Exception:
            log.exception("could not write %d code scans; keeping them for the next try", len(rows))
            with self._lock:
                self._pending[:0] = rows
            return 0
        return len(rows)


def flush_loop(
    scans: ScanLog, factory: sessionmaker[Session], stop: threading.Event, every: float
) -> None:
    """Flush every ``every`` seconds until ``stop`` is set, then once more."""
    while not stop.wait(every):
        scans.flush(factory)
    scans.flush(factory)
