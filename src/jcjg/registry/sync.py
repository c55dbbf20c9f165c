"""When an institution's registry, sent over the exchange, is complete enough to be judged as a
whole (issue 25 item 2).

A lab's system sends its registry in several messages (staff, then equipment, then labs ...).
A rule that compares the whole (staffing against the standard: people, titles, machines and
floor area per specialty) would find a lab with staff but no machines yet below the standard
and close the alert a minute later when the machines arrive: a finding that never was. So such
a rule (``settles=SETTLING``) judges an institution's registry only when it is **settled**:

* its system said the sync is complete: a ``registry.sync`` message with ``complete: true``
  after its last registry message (judged at once); or
* no registry message came from it for the quiet period, ``JCJG_REGISTRY_QUIET_SECONDS``
  (600 s by default; judged by the minute job ``registry.settle``).

A lab with an active system (exchange client) that has sent no registry yet and has nobody on
the platform awaits its first sync: an empty registry is one that has not arrived (a
certificate recorded for it on the pages does not find it short of everything).

Until then a run of such a rule neither opens nor closes that institution's alerts. A
``registry.sync`` with ``complete: false`` says a sync begins (the registry is unsettled from
then, even before its first message). Writes on the pages are not a sync: they are judged at
once. An alert of such a rule that closes within the quiet period of its opening and that nobody
handled is withdrawn (``withdrawn``): lists and counts leave it out.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import exists, inspect, or_, select
from sqlalchemy.orm import Session

from jcjg.alerts import engine
from jcjg.alerts.engine import Settling
from jcjg.config import get_settings
from jcjg.core.db import memo, update_in_place, utcnow
from jcjg.core.jobs import job
from jcjg.exchange.choices import ClientKind, ClientStatus
from jcjg.exchange.models import Client
from jcjg.registry.models import Person, RegistrySync
from jcjg.tenancy.models import Institution

SETTLE_EVERY = dt.timedelta(minutes=1)


def quiet() -> dt.timedelta:
    return dt.timedelta(seconds=get_settings().registry_quiet_seconds)


def _row(db: Session, institution_id: int, at: dt.datetime) -> RegistrySync:
    row = db.get(RegistrySync, institution_id)
    if row is None:
        row = RegistrySync(institution_id=institution_id, changed_at=at)
        db.add(row)
    kept = memo(db)
    if kept is not None:  # a batch of messages: held, so the session's identity map answers
        kept[RegistrySync, institution_id] = row  # the next message's get without a query
    return row


def read_batch(db: Session, institutions: Sequence[Institution]) -> None:
    """The sync rows of a batch's ``institutions`` read at once and kept in its memo
    (``MessageType.batch_reads`` of the registry's messages): each lane's first message would
    otherwise read its own (:func:`_row`)."""
    kept = memo(db)
    if kept is None:
        return
    stmt = (
        select(RegistrySync)
        .where(RegistrySync.institution_id.in_(sorted({i.id for i in institutions})))
        .execution_options(populate_existing=True)  # the rows as they are now
    )  # a batch's institutions are at most its messages (exchange.apply.BATCH)
    for row in db.scalars(stmt):
        kept[RegistrySync, row.institution_id] = row


def touched(db: Session, institution_id: int, at: dt.datetime) -> None:
    """A registry message of the institution was applied (received at ``at``). The row the
    database holds is updated in place, without a flush (``core.db.update_in_place``, later:
    a batch's messages write it once per savepoint), its rules noted as a flush would have."""
    row = _row(db, institution_id, at)
    state = inspect(row)
    if not (state.persistent and not state.modified):
        row.changed_at = at
        return
    if row.changed_at != at:
        update_in_place(db, [(row, {"changed_at": at})], later=True)
    engine.note_written(db, [row])


def announced(db: Session, institution_id: int, at: dt.datetime, *, complete: bool) -> None:
    """The institution's system said its sync begins (``complete`` false) or is complete."""
    row = _row(db, institution_id, at)
    if complete:
        row.complete_at = at
    else:
        row.changed_at = at
        row.complete_at = None


def unsettled(db: Session, institution_ids: frozenset[int] | None, now: dt.datetime) -> set[int]:
    """Which of the institutions (None: any) have a registry still arriving at ``now``."""
    period = quiet()
    if not period:
        return set()
    stmt = select(RegistrySync.institution_id).where(
        RegistrySync.changed_at > now - period,
        or_(RegistrySync.complete_at.is_(None), RegistrySync.complete_at < RegistrySync.changed_at),
    )
    # awaiting its first sync: a lab with a system that has not sent its registry yet, and no
    # people on the platform (an empty registry is one that has not arrived)
    first = select(Client.institution_id).where(
        Client.institution_id.is_not(None),
        Client.kind == ClientKind.LIMS.value,
        Client.status == ClientStatus.ACTIVE.value,
        ~exists().where(RegistrySync.institution_id == Client.institution_id),
        ~exists().where(Person.institution_id == Client.institution_id),
    )
    if institution_ids is not None:
        wanted = sorted(institution_ids)
        stmt = stmt.where(RegistrySync.institution_id.in_(wanted))
        first = first.where(Client.institution_id.in_(wanted))
    return {*db.scalars(stmt), *(i for i in db.scalars(first) if i is not None)}


SETTLING = Settling(unsettled=unsettled, quiet=quiet)


def due(db: Session, now: dt.datetime) -> list[int]:
    """Institutions whose registry has settled since the rules last judged it."""
    settled = or_(
        RegistrySync.changed_at <= now - quiet(),
        RegistrySync.complete_at >= RegistrySync.changed_at,
    )
    stale = or_(RegistrySync.judged_at.is_(None), RegistrySync.judged_at < RegistrySync.changed_at)
    stmt = select(RegistrySync.institution_id).where(settled, stale)
    return sorted(db.scalars(stmt.order_by(RegistrySync.institution_id)))


def judge_settled(db: Session, now: dt.datetime) -> list[int]:
    """Run the rules that wait for a settled registry for the institutions :func:`due` names,
    and note them judged. Flushes, never commits."""
    ids = due(db, now)
    if not ids:
        return []
    for row in db.scalars(select(RegistrySync).where(RegistrySync.institution_id.in_(ids))):
        row.judged_at = now
    engine.take_pending(db)  # noting them judged is no reason to judge them again
    waiting = [r.id for r in engine.rules().values() if r.settles is SETTLING]
    engine.run_triggered(db, {rule_id: set(ids) for rule_id in waiting}, now=now)
    db.flush()
    return ids


@job("registry.settle", title="登记信息报送完成后的整体核查", every=SETTLE_EVERY)
def settle(db: Session, log: logging.Logger) -> None:
    """Judge the registries that settled (their quiet period passed, or their system said the
    sync is complete) with the rules that compare a whole registry."""
    ids = judge_settled(db, utcnow())
    db.commit()
    if ids:
        log.info("judged %d settled registries", len(ids))
