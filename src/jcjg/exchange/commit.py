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
message costs only its own request. The writer keeps its autocommit connection between
batches while it is busy (see :meth:`GroupCommitter._connection`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from jcjg.exchange import problems
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.service import Accepted, fits_together, store, store_committed_together

log = logging.getLogger("jcjg.exchange.commit")

Outcome = dict[str, Any] | ExchangeError

# the writer's connection goes back to the pool after this long unused (see _connection)
HELD_SECONDS = 10.0


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
        self._held: Connection | None = None  # the autocommit connection kept between batches
        self._held_at = 0.0
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
            if thread.is_alive():  # still writing: its connection is still its own
                return
        self._release()

    def _run(self) -> None:
        try:
            self._loop()
        finally:  # stopped, or killed by what it could not answer: its connection goes back
            self._release()

    def _loop(self) -> None:
        while True:
            try:  # a writer idle for HELD_SECONDS gives its connection back
                first = self._queue.get(timeout=HELD_SECONDS if self._held is not None else None)
            except queue.Empty:
                self._release()
                continue
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

    def _connection(self) -> tuple[Connection, bool]:
        """The writer's autocommit connection, kept from one batch to the next: taking one
        from the pool for each batch (a ping, the isolation level set, then reset and rolled
        back on its return) cost a busy process ~3 % of its CPU and the database a statement
        a batch. An idle writer gives it back after :data:`HELD_SECONDS` (``_run``), and
        one unused that long is given back before a batch in any case: the next batch takes a
        fresh one (pinged) and meets no connection the server dropped meanwhile. One that
        fails a batch is dropped (``_together``). Also says whether it was taken just now."""
        assert self._autocommit is not None
        now = time.monotonic()
        if self._held is not None and now - self._held_at > HELD_SECONDS:
            self._release()
        fresh = self._held is None
        if self._held is None:
            self._held = self._autocommit.connect()
        self._held_at = now
        return self._held, fresh

    def _together(self, items: list[Accepted]) -> None:
        """:func:`store_committed_together` on the kept connection. Should the server have
        dropped it since the last batch (a restart, a failover), the batch is written once
        more on a fresh one (pinged), as a connection from the pool would have been: a lone
        message is not answered 503 for it. Any failure drops the connection."""
        for attempt in (1, 2):
            conn, fresh = self._connection()
            try:
                store_committed_together(conn, self._factory, items)
                return
            except Exception as exc:
                self._release(broken=True)
                dropped = isinstance(exc, DBAPIError) and exc.connection_invalidated
                if fresh or not dropped or attempt == 2:
                    raise
                log.info("the writer's connection was dropped; writing the batch on a new one")

    def _release(self, *, broken: bool = False) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        try:
            if broken:
                held.invalidate()
            held.close()
        except Exception:  # already gone: nothing to give back
            log.debug("releasing the writer's connection failed", exc_info=True)

    def _commit(self, items: list[Accepted]) -> None:
        if self._autocommit is not None and fits_together(items):
            self._together(items)
        else:
            with self._factory() as db:
                store(db, items)
                db.commit()
        self.batches += 1
        self.messages += len(items)
        if self._on_commit is not None:
            self._on_commit()
