"""What a request that only reads must still write: after its reads, in a short transaction.

A request answering GET (HEAD, OPTIONS) reads in a session of its own kind (:func:`reading`):
on SQLite its transaction begins DEFERRED and reads beside the writers (WAL) instead of queuing
for the one write lock behind the worker, the simulator and the jobs; a statement that writes
through it is refused (:class:`jcjg.core.db.WriteWhileReading`). What such a request must write
(the audit row of an unmasked read, a session's last use) is handed to :func:`write_later`; once
the endpoint has answered and its reads are over, :func:`write_pending` writes it all in one
transaction of its own, with the request's audit context, before the answer leaves. A request
that changes data (POST, PUT, PATCH, DELETE) keeps one all-or-nothing transaction, and
``write_later`` writes in it at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.orm.unitofwork import UOWTransaction

from jcjg.core.context import AUDIT_KEY, context_of
from jcjg.core.db import READ_ONLY, WriteWhileReading, is_busy, transaction

_READING = "jcjg.reading"
_LATER = "jcjg.later"
log = logging.getLogger("jcjg.db")

Write = Callable[[Session], object]


def reading_session(factory: sessionmaker[Session]) -> Session:
    """A session that only reads (see the module's text). Bound to an engine, its connections
    say so (:data:`jcjg.core.db.READ_ONLY`: DEFERRED on SQLite); bound to one connection (a
    test's), it shares that connection's transaction and only the session refuses writes."""
    bind = factory.kw["bind"]
    db = factory(bind=_reading_engine(bind)) if isinstance(bind, Engine) else factory()
    db.info[_READING] = True
    return db


def _reading_engine(engine: Engine) -> Engine:
    """``engine`` whose connections only read, made once per engine (an ``OptionEngine``: made
    for every reading request, it was ~1.4 % of a page's CPU under load, issue 44)."""
    reading_engine: Engine | None = engine.__dict__.get(_READING)
    if reading_engine is None:
        reading_engine = engine.execution_options(**{READ_ONLY: True})
        engine.__dict__[_READING] = reading_engine
    return reading_engine


def reading(db: Session | None) -> bool:
    """Whether ``db`` is a session that only reads."""
    return db is not None and bool(db.info.get(_READING))


@event.listens_for(Session, "before_flush")
def _refuse_flush(session: Session, flush_context: UOWTransaction, instances: object) -> None:
    if reading(session) and (
        session.new or session.deleted or any(session.is_modified(o) for o in session.dirty)
    ):
        changed = [type(o).__name__ for o in (*session.new, *session.dirty, *session.deleted)]
        raise WriteWhileReading(f"a reading session changes {', '.join(sorted(set(changed)))}")


@event.listens_for(Session, "do_orm_execute")
def _refuse_statements(state: ORMExecuteState) -> None:
    if reading(state.session) and (state.is_insert or state.is_update or state.is_delete):
        raise WriteWhileReading(f"a reading session executes {str(state.statement)[:120]}")


def write_later(db: Session, write: Write, *, required: bool = True) -> None:
    """Have ``write(session)`` done: now in ``db``'s transaction when ``db`` may write, else
    after the reads, before the answer leaves (:func:`write_pending`). ``required``: the answer
    depends on it (an unmasked read is audited or not shown); else a failure is only logged (a
    session's last use)."""
    if not reading(db):
        write(db)
        return
    db.info.setdefault(_LATER, []).append((write, required))


def pending(db: Session) -> bool:
    """Whether ``db`` (a reading session) holds writes :func:`write_pending` will do."""
    return bool(db.info.get(_LATER))


def write_pending(db: Session, factory: sessionmaker[Session]) -> None:
    """Write what :func:`write_later` kept for ``db`` (a reading session whose reads are over)
    in one transaction of its own, in ``db``'s audit context. It waits its turn for the write
    lock (:class:`jcjg.core.db.WriteGate`); when it cannot get it, a required write raises
    (the caller answers 503), the others are logged and dropped."""
    later: list[tuple[Write, bool]] = db.info.pop(_LATER, [])
    if not later:
        return
    context = db.info.get(AUDIT_KEY)
    try:
        with transaction(factory) as session:
            if context is not None:
                session.info[AUDIT_KEY] = replace(context)
            else:
                context_of(session)
            for write, _ in later:
                write(session)
    except Exception as error:
        if any(required for _, required in later) or not is_busy(error):
            raise
        log.warning("a reading request's writes were dropped", exc_info=True)
