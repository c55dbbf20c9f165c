"""Small reads of the registry shared by other domains' pages and messages."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from jcjg.core.db import alive, memo
from jcjg.core.memo import names_by_id
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution


def institution_names(db: Session, ids: Iterable[int]) -> dict[int, str]:
    """Institution names by id, for list pages that show rows carrying ``institution_id`` (the
    rows themselves were read within scope)."""
    return names_by_id(db, Institution, ids)


_REGISTERED = "registry.person_id"  # a batch's memo: (_REGISTERED, institution id, number) -> id


def read_people_ahead(db: Session, wanted: Sequence[tuple[int, str]]) -> None:
    """The registered people a batch's messages name, as ``(institution id, ID number)``, read
    in one statement for the batch (their ids alone, not their rows and specialties) and kept
    in its memo for :func:`registered_person_ids` (one statement a message before). Only those
    found are kept: a message of the batch may register one not found (people are never
    deleted)."""
    kept = memo(db)
    pairs = sorted(set(wanted))
    if kept is None or not pairs:
        return
    for institution_id, number, person_id in db.execute(
        select(Person.institution_id, Person.id_number, Person.id).where(
            tuple_(Person.institution_id, Person.id_number).in_(pairs)
        )
    ):
        kept[(_REGISTERED, institution_id, number)] = int(person_id)


def registered_person_ids(
    db: Session, institution_id: int, id_numbers: Sequence[str | None]
) -> list[int]:
    """The ids of the institution's registered people among these ID numbers, in their order;
    numbers absent or not registered with the institution are left out."""
    wanted = [n for n in id_numbers if n]
    if not wanted:
        return []
    people: dict[str, int] = {}
    kept = memo(db)
    if kept is not None:  # those a batch read ahead, or the registry's messages kept as rows
        for number in wanted:
            found = kept.get((_REGISTERED, institution_id, number))
            row = kept.get(((Person, institution_id), number)) if found is None else None
            if row is not None and alive(row) and row.id is not None:
                found = int(row.id)
            if found is not None:
                people[number] = found
    missing = [n for n in wanted if n not in people]
    if missing:
        rows = db.execute(
            select(Person.id_number, Person.id).where(
                Person.institution_id == institution_id, Person.id_number.in_(missing)
            )
        )
        people.update((number, int(person_id)) for number, person_id in rows)
    return [people[n] for n in wanted if n in people]


def employed_on(day: dt.date) -> Any:
    """People employed on ``day``: started (or no start given) and not yet left."""
    return ((Person.employed_from.is_(None)) | (Person.employed_from <= day)) & (
        (Person.employed_until.is_(None)) | (Person.employed_until >= day)
    )


def people_elsewhere(
    db: Session, institution_id: int, id_numbers: Sequence[str | None], on: dt.date
) -> list[int]:
    """The ids of people registered with another institution and employed there on ``on``,
    among these ID numbers, when the number is not registered with ``institution_id`` itself
    (registered with both is certificate lending, the registry's rule): a report signed by
    someone of another lab (违法分包转包 evidence, 000 7.2.2(1))."""
    wanted = sorted({n.strip().upper() for n in id_numbers if n and n.strip()})
    if not wanted:
        return []
    rows = db.execute(
        select(Person.id, Person.institution_id, Person.id_number).where(
            Person.id_number.in_(wanted), employed_on(on)
        )
    ).all()
    own = {number for _, inst, number in rows if inst == institution_id}
    return sorted(pid for pid, inst, number in rows if inst != institution_id and number not in own)
