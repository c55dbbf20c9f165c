"""Figures a page shows on every visit, kept for a few seconds per process and per scope.

A city authority's home adds up a year of alerts, records and nonconformities; its list pages
offer the institutions and projects found in them as filters. Thirty people of a station
opening these pages see the same figures, so a process computes them once per
``seconds`` for each key (the reader's scope and what the figures depend on) and the page says
when they were counted. What a person changes is theirs to see at once: a page whose figures
must follow the reader's own last step does not use this.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from jcjg.core.db import utcnow

T = TypeVar("T")


class TimedMemo:
    """``get(key, compute)``: the value computed for ``key`` less than ``seconds`` ago, else
    ``compute()`` (kept with the time it was counted). ``seconds`` 0 keeps nothing. At most
    ``max_entries`` keys; the oldest go first."""

    def __init__(self, seconds: float, max_entries: int = 2_000) -> None:
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any, Any]] = {}
        self._computing: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> tuple[T, Any]:
        """The value and when it was counted (UTC). Requests arriving while it is computed
        wait for that one computation instead of each doing it again; once a value has
        lapsed, one request computes it again while the others take the lapsed one (and its
        time) at once, instead of all waiting behind the computation (issue 44: every
        ``seconds`` a page's p99 was the figures' cost times the requests queued behind it)."""
        found = self._entries.get(key)
        if found is not None and time.monotonic() - found[0] < self.seconds:
            return found[1], found[2]
        if self.seconds <= 0:
            return compute(), utcnow()
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        if found is not None and not computing.acquire(blocking=False):
            return found[1], found[2]  # lapsed, and being computed again by another
        if found is not None:
            try:
                value = compute()
                return value, self.put(key, value)
            finally:
                computing.release()
        with computing:
            found = self._entries.get(key)
            if found is not None and time.monotonic() - found[0] < self.seconds:
                return found[1], found[2]
            value = compute()
            return value, self.put(key, value)

    def peek(self, key: Hashable) -> Any:
        """The value kept for ``key`` (None when none is, or it lapsed)."""
        found = self._entries.get(key)
        if found is not None and time.monotonic() - found[0] < self.seconds:
            return found[1]
        return None

    def put(self, key: Hashable, value: Any) -> Any:
        """Keep ``value`` for ``key`` from now; returns when it was counted (now, UTC)."""
        counted = utcnow()
        if self.seconds <= 0:
            return counted
        with self._lock:
            if len(self._entries) >= self.max_entries:
                oldest = sorted(self._entries, key=lambda k: self._entries[k][0])
                for old in oldest[: self.max_entries // 4]:
                    del self._entries[old]
                    self._computing.pop(old, None)
            self._entries[key] = (time.monotonic(), value, counted)
        return counted

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def forget_where(self, dropped: Callable[[Any], bool]) -> None:
        """Drop every value for which ``dropped(value)`` is true."""
        with self._lock:
            for key in [k for k, (_, value, _) in self._entries.items() if dropped(value)]:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._computing.clear()


# --- names by id ---------------------------------------------------------------------------------

_NAMES = TimedMemo(60.0, max_entries=100_000)
_RENAMED = "jcjg.core.memo.renamed"


def names_by_id(db: Session, model: Any, ids: Iterable[int]) -> dict[int, str]:
    """``model.name`` by id for these ids (those that exist), for list pages that show the
    institution or project of their rows. Names read are kept a minute per process; a row
    changed in a transaction committed here is read again at once."""
    wanted = {int(i) for i in ids if i is not None}
    out: dict[int, str] = {}
    missing = []
    for i in wanted:
        name = _NAMES.peek((model, i))
        if name is None:
            missing.append(i)
        else:
            out[i] = name
    if missing:
        for i, name in db.execute(select(model.id, model.name).where(model.id.in_(missing))):
            out[int(i)] = name
            _NAMES.put((model, int(i)), name)
    return out


@event.listens_for(Session, "after_flush")
def _note_renamed(session: Session, _: object) -> None:
    note_renamed(session, (*session.dirty, *session.deleted))


def note_renamed(session: Session, objs: Iterable[object]) -> None:
    """The names kept of ``objs`` (written by the session) are dropped when it commits: what a
    flush notes by itself, for writes made without one (``core.db.update_in_place``)."""
    for obj in objs:
        key = (type(obj), getattr(obj, "id", None))
        if _NAMES.peek(key) is not None:
            session.info.setdefault(_RENAMED, set()).add(key)


@event.listens_for(Session, "after_commit")
def _forget_renamed(session: Session) -> None:
    for key in session.info.pop(_RENAMED, ()):
        _NAMES.forget(key)


@event.listens_for(Session, "after_rollback")
def _nothing_renamed(session: Session) -> None:
    session.info.pop(_RENAMED, None)


def forget_names() -> None:
    _NAMES.clear()
