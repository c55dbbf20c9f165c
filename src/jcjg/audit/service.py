"""Writing the audit trail.

Change rows come from a SQLAlchemy ``after_flush`` listener, so no service can forget them and
they share the request's transaction (STYLE.md habit 1). Security events are written by
:func:`record_event`, in the request's transaction, or by :func:`record_event_now` in a
transaction of their own when the request's work is being rolled back; refused requests by
:func:`record_denial`, also in their own transaction (a denial must survive), once per
principal, route and minute with the repeats counted.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any, cast

import orjson
from sqlalchemy import Connection, Select, Table, event, insert, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, SessionTransaction, attributes, sessionmaker
from sqlalchemy.orm.unitofwork import UOWTransaction

from jcjg.audit.choices import AuditAction
from jcjg.audit.models import AuditLog, DenialCount
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.context import AuditContext, context_of
from jcjg.core.db import UTCDateTime, insert_or_update, utcnow
from jcjg.core.later import write_later
from jcjg.core.masking import mask_value
from jcjg.core.mixins import ChangeLogged, jsonable
from jcjg.core.pagination import count_rows
from jcjg.core.workdays import beijing_midnight

_NEVER_DIFFED = frozenset({"updated_at"})


def _row(
    ctx: AuditContext,
    action: str,
    obj: ChangeLogged | None = None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    object_repr: str | None = None,
) -> dict[str, Any]:
    region = getattr(obj, "region_code", None) if obj is not None else None
    institution = getattr(obj, "institution_id", None) if obj is not None else None
    if obj is not None:
        object_type = object_type or getattr(obj, "__tablename__", type(obj).__name__)
        object_id = object_id or str(getattr(obj, "id", None) or "")
        object_repr = object_repr or obj.audit_repr()[:200]
    return {
        "at": utcnow(),
        "action": action,
        "user_id": ctx.user_id,
        "username": ctx.username,
        "request_id": ctx.request_id,
        "ip": ctx.ip,
        "object_type": object_type,
        "object_id": object_id,
        "object_repr": object_repr,
        "before": before,
        "after": after,
        "detail": detail,
        "region_code": region if region is not None else ctx.region_code,
        "institution_id": institution if institution is not None else ctx.institution_id,
    }


def _diff(obj: ChangeLogged) -> tuple[dict[str, Any], dict[str, Any]]:
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    state = attributes.instance_state(obj)
    # an attribute set since the row was loaded keeps its loaded value here: the others have
    # no history to look at (a row of 20 columns of which one changed asks for one history)
    touched = state.committed_state
    if not touched:
        return before, after
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key not in touched or key in _NEVER_DIFFED or key in obj.__audit_untracked__:
            continue
        history = attributes.get_history(obj, key)
        if not history.has_changes():
            continue
        old = history.deleted[0] if history.deleted else None
        new = history.added[0] if history.added else None
        _note_change(obj, key, old, new, before, after)
    return before, after


def _note_change(
    obj: ChangeLogged, key: str, old: Any, new: Any, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """A column's change as its change row shows it: nothing when unchanged, a note for a
    column whose content is not recorded, masked personal data, JSON values."""
    if old == new:
        return
    if key in obj.__audit_exclude__:
        before[key] = after[key] = "（已修改，内容不记录）"
        return
    if key in obj.__audit_mask__:
        old = mask_value(key, old) if isinstance(old, str) else old
        new = mask_value(key, new) if isinstance(new, str) else new
    before[key] = jsonable(old)
    after[key] = jsonable(new)


@event.listens_for(Session, "before_flush")
def _refuse_audit_edits(session: Session, flush_context: UOWTransaction, instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        if isinstance(obj, AuditLog) and (obj in session.deleted or session.is_modified(obj)):
            raise PermissionError("audit rows are append-only")


@event.listens_for(Session, "after_flush")
def _write_changes(session: Session, flush_context: UOWTransaction) -> None:
    ctx = context_of(session)
    rows: list[dict[str, Any]] = []
    for obj in session.new:
        if isinstance(obj, ChangeLogged):
            rows.append(_row(ctx, AuditAction.CREATE, obj, after=obj.audit_snapshot()))
    for obj in session.dirty:
        # _diff finds what is_modified(include_collections=False) would, column by column
        if isinstance(obj, ChangeLogged):
            before, after = _diff(obj)
            if before or after:
                rows.append(_row(ctx, AuditAction.UPDATE, obj, before=before, after=after))
    for obj in session.deleted:
        if isinstance(obj, ChangeLogged):
            rows.append(_row(ctx, AuditAction.DELETE, obj, before=obj.audit_snapshot()))
    _keep(session, rows)


def record_updates(
    session: Session, changes: Sequence[tuple[ChangeLogged, Mapping[str, Any]]]
) -> None:
    """The change rows of UPDATEs written without the unit of work (``core.db.update_in_place``:
    no flush listener sees them), as :func:`_write_changes` would have written them: each
    object holds its new values, ``changes`` gives each the old ones of the columns written.
    Held with the flushes' rows when the session holds them (:func:`holding_changes`)."""
    ctx = context_of(session)
    rows: list[dict[str, Any]] = []
    for obj, old_values in changes:
        before: dict[str, Any] = {}
        after: dict[str, Any] = {}
        for key, old in old_values.items():
            if key in _NEVER_DIFFED or key in obj.__audit_untracked__:
                continue
            _note_change(obj, key, old, getattr(obj, key), before, after)
        if before or after:
            rows.append(_row(ctx, AuditAction.UPDATE, obj, before=before, after=after))
    _keep(session, rows)


_HELD = "audit.held_changes"


def _keep(session: Session, rows: list[dict[str, Any]]) -> None:
    """Change rows: held with the session's others when it holds them (:class:`HeldChanges`),
    else written now."""
    if not rows:
        return
    held = session.info.get(_HELD)
    if held is not None:
        held.rows.extend(rows)
    else:
        insert_rows(session.connection(), rows)


# the columns of a change row, as _row makes them
_COLUMNS = (
    "at", "action", "user_id", "username", "request_id", "ip", "object_type", "object_id",
    "object_repr", "before", "after", "detail", "region_code", "institution_id",
)  # fmt: skip
_KEYS = frozenset(_COLUMNS)
_JSON = frozenset({"before", "after"})


@functools.cache
def _together() -> str:
    """The INSERT of change rows given as one JSON parameter (``%(rows)s``, each row with its
    place ``_o``), in their order: one text per process."""
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    table = cast(Table, AuditLog.__table__)
    name = {c: dialect.identifier_preparer.quote(c) for c in _COLUMNS}  # "before", "after"
    typed = ", ".join(f"{name[c]} {table.c[c].type.compile(dialect)}" for c in _COLUMNS)
    # a row's before and after of None are JSON null, as SQLAlchemy's JSON columns write them
    chosen = ", ".join(f"coalesce(r.{name[c]}, 'null'::json)" if c in _JSON else f"r.{name[c]}"
                       for c in _COLUMNS)  # fmt: skip
    # the names are the model's columns, the values one parameter: nothing of a request
    return (
        f"INSERT INTO audit_log ({', '.join(name.values())}) SELECT {chosen} "  # noqa: S608
        f"FROM json_to_recordset(%(rows)s::json) AS r({typed}, _o INTEGER) ORDER BY r._o"
    )


def _utc(value: Any, dialect: Dialect) -> str:
    """A change row's time as its column binds it (UTCDateTime: in UTC, a naive one refused),
    in ISO form."""
    return cast(dt.datetime, UTCDateTime().process_bind_param(value, dialect)).isoformat()


def _finite(value: Any) -> bool:
    """Whether ``value`` holds no infinite or NaN number (orjson writes them as null, where
    the JSON columns refused them)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(_finite(v) for v in value)
    return True


def insert_rows(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write change rows (:func:`_row`'s): on PostgreSQL by one statement whose rows are one
    JSON parameter read by ``json_to_recordset`` (psycopg's ``executemany`` sent and bound
    each row apart, and SQLAlchemy processed each value: ~5 % of an exchange worker's CPU,
    issue 44). By ``executemany`` as before elsewhere, and for what the JSON parameter would
    not hold as the JSON columns do: a row of other columns, a value orjson refuses (an
    integer beyond 64 bits, a lone surrogate, a date or a Decimal, which the columns refuse
    too), a NUL character (which PostgreSQL refuses in a JSON text's strings, where a JSON
    column keeps it escaped) and a number that is not finite."""
    if conn.dialect.name != "postgresql" or any(row.keys() != _KEYS for row in rows):
        conn.execute(insert(AuditLog), rows)
        return
    given = [row | {"at": _utc(row["at"], conn.dialect), "_o": at} for at, row in enumerate(rows)]
    try:
        text = orjson.dumps(given, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except orjson.JSONEncodeError:
        text = None
    if (
        text is None
        or "\\u0000" in text
        or not all(_finite(row["before"]) and _finite(row["after"]) for row in rows)
    ):
        conn.execute(insert(AuditLog), rows)
        return
    conn.exec_driver_sql(_together(), {"rows": text})


class HeldChanges:
    """The change rows of a session's flushes, held to be written together: one statement
    (:func:`insert_rows`) for many flushes (the exchange's apply flushes once per message). The
    rows of a savepoint that rolls back are dropped with it; the holder writes the rest with
    :meth:`write` in the transaction or savepoint that made them, and whatever is still held
    at the transaction's COMMIT is written then."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows: list[dict[str, Any]] = []
        # where each open savepoint's rows begin
        self.marks: dict[SessionTransaction, int] = {}

    def write(self) -> None:
        if self.rows:
            insert_rows(self.session.connection(), self.rows)
            self.rows.clear()
            self.marks = dict.fromkeys(self.marks, 0)

    def drop(self, mark: int = 0) -> None:
        """Forget the rows held since ``mark``: their changes were rolled back."""
        del self.rows[mark:]


@contextmanager
def holding_changes(session: Session) -> Iterator[HeldChanges]:
    """Hold ``session``'s change rows (see :class:`HeldChanges`) within the block: those
    still held at its end are written, or dropped when it ends by an exception (its work is
    being rolled back)."""
    held = HeldChanges(session)
    session.info[_HELD] = held
    try:
        yield held
    except BaseException:
        held.drop()
        raise
    finally:
        session.info.pop(_HELD, None)
    held.write()


@event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session: Session, transaction: SessionTransaction) -> None:
    held = session.info.get(_HELD)
    if held is not None and transaction.nested:
        held.marks[transaction] = len(held.rows)


@event.listens_for(Session, "after_rollback")
def _drop_rolled_back(session: Session) -> None:
    held = session.info.get(_HELD)
    if held is not None:  # the savepoint rolled back is still the session's innermost one
        savepoint = session.get_nested_transaction()
        held.drop(held.marks.get(savepoint, 0) if savepoint is not None else 0)


@event.listens_for(Session, "after_transaction_end")
def _forget_savepoint(session: Session, transaction: SessionTransaction) -> None:
    held = session.info.get(_HELD)
    if held is not None:
        held.marks.pop(transaction, None)


@event.listens_for(Session, "before_commit")
def _write_held(session: Session) -> None:
    held = session.info.get(_HELD)
    if held is not None and not session.in_nested_transaction():
        session.flush()  # the commit's own flush would come after this
        held.write()


def record_event(
    db: Session,
    action: AuditAction,
    *,
    obj: ChangeLogged | None = None,
    detail: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    object_repr: str | None = None,
    context: AuditContext | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Record an event (or a change the flush listener cannot see) in ``db``'s transaction;
    in a request that only reads (the unmasked read of a page), once its reads are over, before
    its answer leaves (:func:`jcjg.core.later.write_later`)."""
    row = _row(
        context or context_of(db),
        action,
        obj,
        before=before,
        after=after,
        detail=detail,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
    )
    write_later(db, partial(_add_event, row=row))


def _add_event(db: Session, *, row: dict[str, Any]) -> None:
    db.add(AuditLog(**row))
    db.flush()


def record_event_now(
    factory: sessionmaker[Session],
    action: AuditAction,
    *,
    context: AuditContext,
    detail: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> None:
    """Record a security event in a transaction of its own, committed at once."""
    with factory() as session:
        row = _row(context, action, detail=detail, object_type=object_type, object_id=object_id)
        session.add(AuditLog(**row))
        session.commit()


DENIAL_KEY = ("action", "principal", "route", "minute")


def record_denial(
    factory: sessionmaker[Session],
    action: AuditAction,
    *,
    context: AuditContext,
    route: str,
    detail: str | None = None,
) -> None:
    """Record a refused request in a transaction of its own, committed at once: the first per
    principal (the account, or the address of an anonymous caller), route and minute as an
    audit row in full, its repeats counted beside it (:class:`DenialCount`), so that a caller
    refused again and again cannot grow the audit log without bound. The count is one
    ``INSERT ... ON CONFLICT DO UPDATE``: concurrent refusals each count, and only the one that
    inserted writes the audit row."""
    now = utcnow()
    who = f"user:{context.user_id}" if context.user_id is not None else f"ip:{context.ip or '-'}"
    minute = now.replace(second=0, microsecond=0)
    key = {"action": action.value, "principal": who[:80], "route": route[:300], "minute": minute}
    with factory() as session:
        upsert = insert_or_update(
            session,
            DenialCount,
            {**key, "count": 1, "last_at": now},
            keys=DENIAL_KEY,
            set_={"count": DenialCount.count + 1, "last_at": now},
        )
        ident, count = session.execute(upsert.returning(DenialCount.id, DenialCount.count)).one()
        if count == 1:
            row = AuditLog(**_row(context, action, detail=detail))
            session.add(row)
            session.flush()
            session.execute(
                update(DenialCount).where(DenialCount.id == ident).values(log_id=row.id)
            )
        session.commit()


def recent_moments(
    db: Session, action: AuditAction, *, ip: str, since: dt.datetime, limit: int
) -> list[dt.datetime]:
    """When the last ``limit`` events of ``action`` from address ``ip`` since ``since`` were
    recorded, newest first (the index by address and time answers it)."""
    stmt = (
        select(AuditLog.at)
        .where(AuditLog.ip == ip, AuditLog.at >= since, AuditLog.action == action.value)
        .order_by(AuditLog.at.desc())
        .limit(limit)
    )
    return list(db.scalars(stmt))


def repeats(db: Session, log_ids: Sequence[int]) -> dict[int, int]:
    """How many refused requests each of these audit rows stands for (rows of denials that
    were repeated within their minute; every other row stands for itself)."""
    if not log_ids:
        return {}
    rows = db.execute(
        select(DenialCount.log_id, DenialCount.count).where(DenialCount.log_id.in_(log_ids))
    )
    return {log_id: count for log_id, count in rows if log_id is not None and count > 1}


def search_stmt(
    *,
    action: str | None = None,
    username: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    request_id: str | None = None,
    text: str | None = None,
) -> Select[AuditLog]:
    """The audit rows matching the filters, newest first (unscoped: callers ``restrict``)."""
    stmt = select(AuditLog).order_by(AuditLog.id.desc())
    if action:
        stmt = stmt.where(AuditLog.action == action)
    if username:
        stmt = stmt.where(AuditLog.username == username)
    if object_type:
        stmt = stmt.where(AuditLog.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditLog.object_id == object_id)
    if request_id:
        stmt = stmt.where(AuditLog.request_id == request_id)
    if text:
        like = f"%{text}%"
        stmt = stmt.where(AuditLog.object_repr.like(like) | AuditLog.detail.like(like))
    return stmt


def within_days(
    stmt: Select[AuditLog], since: dt.date | None, until: dt.date | None
) -> Select[AuditLog]:
    """``stmt``'s rows from Beijing day ``since`` to ``until``, both included."""
    if since:
        stmt = stmt.where(AuditLog.at >= beijing_midnight(since))
    if until:
        stmt = stmt.where(AuditLog.at < beijing_midnight(until + dt.timedelta(days=1)))
    return stmt


def search(
    *, db: Session, principal: Principal, offset: int = 0, limit: int = 20, **filters: str | None
) -> tuple[Sequence[AuditLog], int]:
    """Audit rows within ``principal``'s scope matching ``filters``, newest first, and the total."""
    stmt = restrict(search_stmt(**filters), principal, "read")
    total = count_rows(db, stmt)
    return db.scalars(stmt.offset(offset).limit(limit)).all(), total
