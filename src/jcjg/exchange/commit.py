"""Group commit: one writer per process stores the messages its requests accepted, many per
transaction.

A request that has checked its message hands it to the process's :class:`GroupCommitter` and
waits for the answer; the writer thread takes everything that has arrived (while it was
committing the previous batch, up to ``max_batch``), stores it with three statements
(:func:`jcjg.exchange.service.store`) and one commit, and answers each request (on
PostgreSQL a batch that ``fits_together``, up to ``TOGETHER_MAX`` messages, the default
``max_batch``, is one statement in autocommit: ``store_together``). A busy process
thus pays one commit (one WAL flush) for many messages, and an idle one adds no delay: a lone
message is written at once. Nothing is answered before its commit, so every acknowledged
message is durable. A batch that fails is written again message by message, so one bad
message costs only its own request.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jcjg.exchange import problems
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.service import Accepted, fits_together, store, store_committed_together

log = logging.getLogger("jcjg.exchange.commit")

Outcome = dict[str, Any] | ExchangeError


class GroupCommitter:
    """The process's one writer of accepted messages (started on first use)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        max_batch: int = 500,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._factory = factory
        self._max_batch = max_batch
        # PostgreSQL, sessions on an engine (not on a connection with its own transaction, as
        # in tests): a batch that fits_together is written in autocommit, one round trip
        bind = factory.kw.get("bind")
        self._autocommit = (
            bind.execution_options(isolation_level="AUTOCOMMIT")
            if isinstance(bind, Engine) and bind.dialect.name == "postgresql"
            else None
        )
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[tuple[Accepted, Future[Outcome]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0
        self.messages = 0

    def submit(self, item: Accepted) -> Future[Outcome]:
        """Queue ``item`` for the next batch; the future gives its outcome once committed."""
        future: Future[Outcome] = Future()
        self._start()
        self._queue.put((item, future))
        return future

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="jcjg-exchange-commit")
                thread.daemon = True
                thread.start()
                self._thread = thread

    def close(self) -> None:
        """Write what is queued, then stop the writer."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._write(batch)
            if stopping:
                return

    def _write(self, batch: list[tuple[Accepted, Future[Outcome]]]) -> None:
        try:
            self._commit([item for item, _ in batch])
        except Exception:
            if len(batch) == 1:
                log.exception("storing an accepted message failed")
                batch[0][1].set_exception(ExchangeError(problems.STORE_UNAVAILABLE))
                return
            log.warning("storing a batch of %d failed; storing one by one", len(batch))
            for one in batch:
                self._write([one])
            return
        for item, future in batch:
            assert item.outcome is not None
            future.set_result(item.outcome)

    def _commit(self, items: list[Accepted]) -> None:
        if self._autocommit is not None and fits_together(items):
            store_committed_together(self._autocommit, self._factory, items)
        else:
            with self._factory() as db:
                store(db, items)
                db.commit()
        self.batches += 1
        self.messages += len(items)
        if self._on_commit is not None:
            self._on_commit()
