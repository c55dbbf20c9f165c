"""The log of look-ups of supervision codes, batched: a scan of a valid code (or of a typo)
is kept in memory and written with the others every few seconds by a thread of the web
process and at shutdown (``JCJG_VERIFY_SCAN_FLUSH_SECONDS``), so a busy verification page does
not queue every request behind one database write. Scans of unknown or revoked codes are
written at once, in the request's transaction: they raise ``unknown_code_scanned``.
A crash loses at most the last few seconds of scans of valid codes."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from jcjg.reports.models import CodeScan

log = logging.getLogger("jcjg.reports")


class ScanLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[dict[str, Any]] = []

    def add(self, scan: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(scan)

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
            with factory() as db, db.begin():
                db.add_all(CodeScan(**row) for row in rows)  # valid codes: no rule to run
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
