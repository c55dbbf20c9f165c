"""Applying accepted messages behind the request: in order per institution with several
workers, leases, nothing half-applied, replay, the group committer, the status endpoints."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import inspect
import itertools
import json
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import Field
from sqlalchemy import delete, event, func, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from jcjg.audit.models import AuditLog
from jcjg.config import Settings
from jcjg.core import plausible
from jcjg.core.db import make_engine, make_sessionmaker, update_in_place, utcnow
from jcjg.core.domains import Domain, installed_with
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.exchange import apply
from jcjg.exchange.commit import GroupCommitter
from jcjg.exchange.models import Lane, Message
from jcjg.exchange.types import HandlerContext, MessageBase, message_type
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf, LedgerQueued
from jcjg.ledger.note import parse_checkpoint
from jcjg.projects.models import Project
from jcjg.registry.models import Equipment, Lab, Person, RegistrySync
from jcjg.reports.models import Report
from jcjg.sampling.models import Commission
from jcjg.testing.models import TestRecord
from tests.conftest import upgraded_database_url
from tests.exchange.conftest import Lims, apply_waiting, make_lims
from tests.factories import Factory, catalogue, id_number

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

LAB = {
    "name": "力学室",
    "address": "九江市长虹大道 1 号",
    "area_m2": "100.00",
    "specialties": ["01"],
}


@pytest.fixture(autouse=True)
def _catalogue(db: Session) -> None:
    catalogue(db, "01")
    db.commit()


def equipment(asset: str, lab_name: str = "力学室") -> dict[str, Any]:
    return {"asset_number": asset, "name": "万能试验机", "lab_name": lab_name}


# --- a database of its own, committed, for workers in threads ---------------------------------


class Region:
    """A committed database with labs' clients, and what the request path would store."""

    def __init__(self, tmp_path: Path) -> None:
        self.url, self._drop = upgraded_database_url(tmp_path)
        self.engine = make_engine(self.url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.settings = Settings(
            env="test",
            secret_key="apply-test-" + "0" * 24,
            database_url=self.url,
            data_dir=tmp_path / "data",
            embedded_worker=False,
            exchange_apply_workers=0,
        )
        with self.sessions() as db:
            catalogue(db, "01")
            db.commit()

    def lims(self, count: int = 1) -> list[Lims]:
        """``count`` institutions, each with an active client and a key."""
        with self.sessions() as db:
            factory = Factory(db, self.settings)
            return [make_lims(db, self.settings, factory) for _ in range(count)]

    def close(self) -> None:
        self.engine.dispose()
        self._drop()


@pytest.fixture
def region(tmp_path: Path) -> Iterator[Region]:
    made = Region(tmp_path)
    yield made
    made.close()


def _accept_all(region: Region, sends: list[tuple[Lims, str, dict[str, Any]]]) -> None:
    """POST every message through a serving app (its writer stores them), none applied."""
    from jcjg.main import create_app

    app = create_app(region.settings, engine=region.engine, session_factory=region.sessions)
    with TestClient(app) as http:
        for lims, kind, payload in sends:
            response = lims.post_raw(http, kind, payload)
            assert response.status_code == 202, response.text


def test_several_workers_apply_each_institution_in_order(region: Region) -> None:
    """Four institutions, each sending a lab and then equipment in that lab (which is rejected
    if applied before the lab) and then a change of the lab, in many small batches; three
    workers drain at once. Every message is applied, once, and in each institution's order."""
    labs = region.lims(4)
    sends: list[tuple[Lims, str, dict[str, Any]]] = []
    for step in range(6):
        for n, lims in enumerate(labs):
            name = f"室{step}"
            sends.append((lims, "registry.labs", lims.message(labs=[{**LAB, "name": name}])))
            sends.append(
                (lims, "registry.equipment", lims.message(equipment=[equipment(f"E{step}", name)]))
            )
            area = f"{100 + step * 10 + n}.00"
            sends.append(
                (lims, "registry.labs", lims.message(labs=[{**LAB, "name": name, "area_m2": area}]))
            )
    _accept_all(region, sends)
    counts = [0, 0, 0]

    def worker(n: int) -> None:
        holder = f"worker-{n}"
        counts[n] = apply.drain(region.sessions, region.settings, holder=holder)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(counts) == len(sends)
    with region.sessions() as db:
        rows = db.scalars(select(Message).order_by(Message.id)).all()
        assert {m.status for m in rows} == {"applied"}, [m.problem for m in rows if m.problem]
        for lims in labs:
            mine = [m for m in rows if m.institution_id == lims.institution.id]
            applied = [m.applied_at for m in mine]
            assert applied == sorted(applied)  # in acceptance order
            assert (
                db.scalar(
                    select(func.count()).where(Equipment.institution_id == lims.institution.id)
                )
                == 6
            )
        last = labs[-1]
        area = db.scalar(
            select(Lab.area_m2).where(Lab.institution_id == last.institution.id, Lab.name == "室5")
        )
        assert str(area) == f"{100 + 50 + 3}.00"
        assert (
            db.scalar(select(func.count()).select_from(Lane).where(Lane.holder.is_not(None))) == 0
        )
        assert db.scalar(select(func.sum(Lane.applied))) == len(sends)


def test_a_worker_applies_only_the_lanes_it_holds(region: Region) -> None:
    (lims,) = region.lims()
    _accept_all(region, [(lims, "registry.labs", lims.message(labs=[LAB]))])
    lane = f"i{lims.institution.id}"
    now = utcnow()
    with region.sessions() as db:
        assert apply.claim(db, lane, "a", now)
        assert not apply.claim(db, lane, "b", now)  # held
        assert apply.apply_batch(db, region.settings, lane, "b") == 0  # not its lease
        assert apply.claim(db, lane, "b", now + apply.LEASE + dt.timedelta(seconds=1))  # lapsed
        assert apply.apply_batch(db, region.settings, lane, "a") == 0  # taken over
        assert apply.apply_batch(db, region.settings, lane, "b") == 1
        assert db.scalar(select(Message.status)) == "applied"


def test_a_claim_does_not_wait_for_another_workers_batch(region: Region) -> None:
    """On PostgreSQL a lane whose row another worker's batch is writing (its lease renewed as
    the batch began, the transaction still open) is refused at once, not after that batch
    commits; once the batch is over the lane is judged by its lease as before, and a new
    lane's row is made and claimed."""
    if region.engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer: a claim cannot meet another's open batch")
    (lims,) = region.lims()
    _accept_all(region, [(lims, "registry.labs", lims.message(labs=[LAB]))])
    lane = f"i{lims.institution.id}"
    now = utcnow()
    with region.sessions() as batch, region.sessions() as other:
        assert apply.claim(batch, lane, "a", now)
        batch.execute(update(Lane).where(Lane.lane == lane).values(lease_until=now + apply.LEASE))
        other.execute(text("SET LOCAL lock_timeout = '3s'"))  # a claim that waited fails here
        assert not apply.claim(other, lane, "b", now + 2 * apply.LEASE)  # lapsed, but in use
        batch.commit()  # the batch is over and its lease (as renewed) is judged again
        assert not apply.claim(other, lane, "b", now)
        assert apply.claim(other, lane, "b", now + 2 * apply.LEASE)
        assert other.scalar(select(Lane.holder).where(Lane.lane == lane)) == "b"
        assert apply.claim(other, "r360403", "b", now)  # a lane no worker had yet
        assert other.scalar(select(Lane.holder).where(Lane.lane == "r360403")) == "b"


def test_a_worker_applies_the_lanes_it_holds_in_one_batch_and_leaves_the_others(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The waiting lanes a worker can take are applied together (one transaction: one end
    time for all their messages, each lane in its order, each lane's count), and a lane another
    worker holds is left to it, none of its messages applied."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # a slow machine: still one batch
    labs = region.lims(3)
    sends = [
        (lims, "registry.labs", lims.message(labs=[{**LAB, "name": f"室{n}"}]))
        for n in range(2)
        for lims in labs
    ]
    _accept_all(region, sends)
    lanes = [f"i{lims.institution.id}" for lims in labs]
    with region.sessions() as db:
        for lane in lanes[:2]:
            assert apply.claim(db, lane, "a", utcnow())  # held from earlier passes
        assert apply.claim(db, lanes[2], "b", utcnow())
    held: set[str] = set(lanes[:2])
    assert apply.drain(region.sessions, region.settings, holder="a", held=held) == 4
    assert held == set(lanes[:2])
    with region.sessions() as db:
        rows = db.scalars(select(Message).order_by(Message.id)).all()
        ended = {m.applied_at for m in rows if m.lane in lanes[:2]}
        assert len(ended) == 1  # one batch for both lanes
        assert [m.status for m in rows if m.lane == lanes[2]] == ["accepted", "accepted"]
        assert {lane: n for lane, n in db.execute(select(Lane.lane, Lane.applied))} == {
            lanes[0]: 2,
            lanes[1]: 2,
            lanes[2]: 0,
        }
        names = {
            lims.institution.id: db.scalars(
                select(Lab.name).where(Lab.institution_id == lims.institution.id)
            ).all()
            for lims in labs
        }
    assert sorted(names[labs[0].institution.id]) == ["室0", "室1"]
    assert names[labs[2].institution.id] == []
    apply.release_all(region.sessions, held, "a")
    with region.sessions() as db:
        apply.release(db, lanes[2], "b")
    assert apply.drain(region.sessions, region.settings, holder="a") == 2
    with region.sessions() as db:
        assert (
            db.scalar(select(func.count()).select_from(Lane).where(Lane.holder.is_not(None))) == 0
        )


def _statements_while_draining(
    region: Region, wanted: Callable[[str], bool], applied: int
) -> list[str]:
    """The statements ``wanted`` picks of those a drain of the waiting messages (``applied``
    of them, by one holder) runs."""
    read: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if wanted(statement):
            read.append(statement)

    event.listen(region.engine, "before_cursor_execute", seen)
    try:
        assert apply.drain(region.sessions, region.settings, holder="a") == applied
    finally:
        event.remove(region.engine, "before_cursor_execute", seen)
    return read


def _all_applied(region: Region, *columns: Any) -> list[Any]:
    """Every message applied (none rejected); then the rows of ``columns``."""
    with region.sessions() as db:
        assert db.scalars(select(Message.status).distinct()).all() == ["applied"]
        return list(db.execute(select(*columns)).all())


def test_a_batch_reads_its_institutions_sync_rows_at_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A registry message renews its institution's sync row: a batch of several institutions'
    messages reads their rows in one statement (MessageType.batch_reads), not one a lane."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # a slow machine: still one batch
    labs = region.lims(3)

    def send(prefix: str) -> None:
        _accept_all(
            region,
            [
                (lims, "registry.labs", lims.message(labs=[{**LAB, "name": f"{prefix}{n}"}]))
                for n in range(2)
                for lims in labs
            ],
        )

    send("室")  # the first sync: each institution's row made
    assert apply.drain(region.sessions, region.settings, holder="a") == 6
    send("楼")
    read = _statements_while_draining(
        region,  # the rows themselves (the rules' settling asks other things)
        lambda s: s.startswith("SELECT registry_sync.institution_id, registry_sync.changed_at"),
        6,
    )
    assert len(read) == 1, read
    with region.sessions() as db:
        latest = dict(
            db.execute(
                select(Message.institution_id, func.max(Message.received_at)).group_by(
                    Message.institution_id
                )
            ).all()
        )
        synced = dict(
            db.execute(select(RegistrySync.institution_id, RegistrySync.changed_at)).all()
        )
    assert synced == latest  # each row renewed by its institution's latest message


def test_a_batch_reads_of_its_messages_what_applying_them_needs(region: Region) -> None:
    """A batch reads its messages without their receipts, signatures and what the signatures
    cover (JSON made into Python objects, a message, for nothing), and their senders without
    their keys; no handler, conversion, hook (the test records' data quality rules, on by
    default, read when a message was signed) or end of a message reads them after, nor any
    other column of a message one by one: applied and refused messages alike, those columns
    intact."""
    labs = region.lims(2)
    sends = [
        (lims, kind, payload)
        for lims in labs
        for kind, payload in (
            ("registry.labs", lims.message(labs=[LAB])),
            ("registry.equipment", lims.message(equipment=[equipment("E1", LAB["name"])])),
            ("registry.equipment", lims.message(equipment=[equipment("E2", "无此室")])),
            ("test_record", _manual_record(lims, "JL-READ")),
        )
    ]
    _accept_all(region, sends)
    with region.sessions() as db:
        stored = {
            m.message_id: (m.receipt, m.request, m.signature_input, m.signature)
            for m in db.scalars(select(Message))
        }

    def reads_messages(statement: str) -> bool:
        return statement.startswith("SELECT") and (
            "FROM exchange_message" in statement or "exchange_client_key" in statement
        )

    read = _statements_while_draining(region, reads_messages, len(sends))
    assert read, "the batch reads its messages"
    for statement in read:
        assert "exchange_client_key" not in statement, statement
        assert "WHERE exchange_message.id =" not in statement, statement  # one message's column
        columns = statement.split("FROM exchange_message")[0]
        for unread in ("receipt", "request", "signature", "key_id", "results", "problem"):
            assert not re.search(rf"exchange_message\.{unread}\b", columns), statement
    with region.sessions() as db:
        rows = db.scalars(select(Message).order_by(Message.id)).all()
        assert Counter(m.status for m in rows) == {"applied": 6, "rejected": 2}
        assert {
            m.message_id: (m.receipt, m.request, m.signature_input, m.signature) for m in rows
        } == stored


def test_a_batch_reads_its_institutions_labs_at_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equipment messages name their labs: a batch of several institutions' messages reads
    the labs of them all in one statement (the registry's read ahead), not one a lane; a lab a
    message of the same batch adds is still found by the messages after it."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # a slow machine: still one batch
    labs = region.lims(3)
    _accept_all(
        region,
        [(lims, "registry.labs", lims.message(labs=[{**LAB, "name": "室0"}])) for lims in labs],
    )
    assert apply.drain(region.sessions, region.settings, holder="a") == 3
    sends = [
        (lims, "registry.equipment", lims.message(equipment=[equipment(f"E{n}", "室0")]))
        for n in range(2)
        for lims in labs
    ]
    (first, *_) = labs
    sends += [
        (first, "registry.labs", first.message(labs=[{**LAB, "name": "室1"}])),
        (first, "registry.equipment", first.message(equipment=[equipment("E9", "室1")])),
    ]
    _accept_all(region, sends)
    read = _statements_while_draining(
        region, lambda s: s.startswith("SELECT lab.") and "lab.institution_id" in s, 8
    )
    ahead = [r for r in read if "lab.institution_id IN" in r]
    assert len(ahead) == 1, read
    # the labs message's own look-up, and 室1 (added in the batch) when E9 names it
    assert len(read) == 3, read
    with region.sessions() as db:
        assert db.scalars(select(Message.status).distinct()).all() == ["applied"]
        placed = dict(
            db.execute(
                select(Equipment.asset_number, Lab.name).join(Lab, Equipment.lab_id == Lab.id)
            ).all()
        )
    assert placed["E9"] == "室1"
    assert {placed[f"E{n}"] for n in range(2)} == {"室0"}


def test_a_batch_reads_the_instruments_its_messages_name_at_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Equipment messages name their instruments by asset number: a batch reads those its
    messages name, of all its institutions, in one statement, not one a lane. An instrument
    none has yet (added by the batch) is looked for when named; each message's changes land."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # a slow machine: still one batch
    labs = region.lims(3)
    _accept_all(
        region,
        [(lims, "registry.labs", lims.message(labs=[{**LAB, "name": "室0"}])) for lims in labs],
    )
    _accept_all(
        region,
        [
            (lims, "registry.equipment", lims.message(equipment=[equipment(f"E{n}", "室0")]))
            for n in range(2)
            for lims in labs
        ],
    )
    assert apply.drain(region.sessions, region.settings, holder="a") == 9

    def renamed(asset: str, name: str) -> dict[str, Any]:
        return {**equipment(asset, "室0"), "name": name}

    sends = [
        (lims, "registry.equipment", lims.message(equipment=[renamed(f"E{n}", f"压力机{k}")]))
        for n in range(2)
        for k, lims in enumerate(labs)
    ]
    (first, *_) = labs
    sends.append((first, "registry.equipment", first.message(equipment=[renamed("E7", "新机")])))
    _accept_all(region, sends)
    read = _statements_while_draining(
        region,  # the instruments by number (the rules ask other things)
        lambda s: (
            s.startswith("SELECT equipment.")
            and "equipment.asset_number" in s.partition("FROM equipment")[2]
        ),
        7,
    )
    # the read ahead, and E7's own look-up (no instrument of that number yet)
    assert len(read) == 2, read
    names = _all_applied(region, Equipment.institution_id, Equipment.asset_number, Equipment.name)
    by_lab = {lims.institution.id: k for k, lims in enumerate(labs)}
    for institution_id, asset, name in names:
        expected = "新机" if asset == "E7" else f"压力机{by_lab[institution_id]}"
        assert name == expected, (institution_id, asset, name)
    assert len(names) == 7


def test_a_batch_reads_the_people_its_messages_name_at_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Staff messages name their people by ID number: a batch reads those its messages name,
    of all its institutions, in one statement, not one a lane; a number sent with a small
    check character (``x``) is read ahead as its record writes it (``X``). Someone none has
    yet (added by the batch) is looked for when named; each message's changes land. (The
    rules read people by ID number across institutions too: those are not these reads.)"""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # a slow machine: still one batch
    labs = region.lims(3)
    with_x = next(n for n in range(1000) if id_number(n).endswith("X"))
    numbers = [id_number(with_x), id_number(with_x + 1)]

    def person(number: str, years: int) -> dict[str, Any]:
        return {"id_number": number, "name": "张三", "years_in_testing": years}

    _accept_all(
        region,
        [
            (lims, "registry.staff", lims.message(people=[person(number, 1)]))
            for number in numbers
            for lims in labs
        ],
    )
    assert apply.drain(region.sessions, region.settings, holder="a") == 6
    sends = [
        (lims, "registry.staff", lims.message(people=[person(number.lower(), 10 + k)]))
        for number in numbers
        for k, lims in enumerate(labs)
    ]
    (first, *_) = labs
    newcomer = id_number(with_x + 2)
    sends.append((first, "registry.staff", first.message(people=[person(newcomer, 2)])))
    _accept_all(region, sends)
    by_number = re.compile(
        r"\(person\.institution_id, person\.id_number\) IN"  # the read ahead
        r"|person\.institution_id = \S+ AND person\.id_number IN"  # a handler's own
    )
    read = _statements_while_draining(
        region,
        lambda s: s.startswith("SELECT person.") and by_number.search(s) is not None,
        7,
    )
    # the read ahead, and the newcomer's own look-up (nobody of that number yet)
    assert len(read) == 2, read
    people = _all_applied(region, Person.institution_id, Person.id_number, Person.years_in_testing)
    by_lab = {lims.institution.id: k for k, lims in enumerate(labs)}
    for institution_id, number, years in people:
        expected = 2 if number == newcomer else 10 + by_lab[institution_id]
        assert years == expected, (institution_id, number, years)
    assert sorted(number for _, number, _ in people) == sorted([*numbers * 3, newcomer])


def _manual_record(lims: Lims, number: str) -> dict[str, Any]:
    """A test record typed in by hand (no curve): the least a record is."""
    ended = utcnow().replace(microsecond=0) - dt.timedelta(minutes=5)
    return lims.message(
        number=number,
        kind="concrete_compression",
        item_code="0108",
        started_at=(ended - dt.timedelta(minutes=6)).isoformat(),
        ended_at=ended.isoformat(),
        acquisition="manual",
        grade="C30",
        age_days=28,
        specimen_size_mm=150,
        specimens=[{"position": 1, "values": {"peak_kn": 800.0, "strength_mpa": 35.6}}],
        judgement="conforming",
    )


# a record's check that its number is not taken, and a batch's read ahead of those checks
_NUMBER_READ = re.compile(
    r"test_record\.institution_id = \S+ AND test_record\.number = "
    r"|\(test_record\.institution_id, test_record\.number\) IN"
)


def _number_reads(statement: str) -> bool:
    return (
        statement.startswith("SELECT test_record.") and _NUMBER_READ.search(statement) is not None
    )


def test_a_batch_reads_whether_its_records_numbers_are_taken_at_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test record first checks that its number is not taken: a batch of three
    institutions' records asks for all their numbers in one statement, not one a record."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # a slow machine: still one batch
    labs = region.lims(3)
    sends = [
        (lims, "test_record", _manual_record(lims, f"JL-{n}")) for n in range(2) for lims in labs
    ]
    _accept_all(region, sends)
    read = _statements_while_draining(region, _number_reads, 6)
    assert len(read) == 1, read
    assert len(_all_applied(region, TestRecord.id)) == 6


def test_a_record_is_written_with_the_platforms_result_in_one_statement(region: Region) -> None:
    """The platform's result is known from the values as sent: a record is inserted with it,
    not inserted and then updated (one statement a record fewer)."""
    (lims,) = region.lims(1)
    low = {**_manual_record(lims, "JL-LOW"), "specimens": [
        {"position": n, "values": {"peak_kn": 500.0}} for n in (1, 2, 3)
    ]}  # fmt: skip
    sends = [(lims, "test_record", low), (lims, "test_record", _manual_record(lims, "JL-ONE"))]
    _accept_all(region, sends)
    written = _statements_while_draining(
        region, lambda s: s.startswith(("INSERT INTO test_record ", "UPDATE test_record ")), 2
    )
    assert [s.split(" (")[0] for s in written] == ["INSERT INTO test_record"] * 2, written
    rows = _all_applied(
        region, TestRecord.number, TestRecord.platform_judgement, TestRecord.nonconforming_by,
        TestRecord.recomputed,
    )  # fmt: skip
    by_number = {number: (judged, by, recomputed) for number, judged, by, recomputed in rows}
    judged, by, recomputed = by_number["JL-LOW"]  # three cubes of 500 kN: 22.2 MPa, not C30
    assert (judged, by) == ("nonconforming", "platform")
    assert recomputed["conforming"] is False
    assert recomputed["values"]["strength_mpa"] == pytest.approx(22.2, abs=0.05)
    assert by_number["JL-ONE"][:2] == ("none", "")  # one specimen: nothing to recompute


def test_a_number_taken_before_or_earlier_in_the_batch_is_refused(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the read ahead knows of a number holds while the batch writes: a number taken
    before the batch is refused; one a record of the batch takes is refused to the next record
    sending it, including after a refusal rolled the group back and its records were applied
    again; the same number of another institution is its own."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)
    first, second, third = region.lims(3)
    _accept_all(region, [(first, "test_record", _manual_record(first, "JL-1"))])
    assert apply.drain(region.sessions, region.settings, holder="a") == 1
    sends = [
        (first, "test_record", _manual_record(first, "JL-1")),  # taken before the batch
        (first, "test_record", _manual_record(first, "JL-2")),
        (first, "test_record", _manual_record(first, "JL-2")),  # taken by the one before
        (second, "test_record", _manual_record(second, "JL-1")),  # another institution's
        (third, "test_record", _manual_record(third, "JL-2")),
        (first, "test_record", _manual_record(first, "JL-3")),
        (first, "test_record", _manual_record(first, "JL-3")),  # after the rolled-back groups
    ]
    _accept_all(region, sends)
    assert apply.drain(region.sessions, region.settings, holder="a") == 7
    with region.sessions() as db:
        rows = db.execute(
            select(Message.institution_id, Message.body, Message.status, Message.problem)
            .where(Message.message_type == "test_record")
            .order_by(Message.id)
        ).all()
        stored = db.execute(select(TestRecord.institution_id, TestRecord.number)).all()
    ended = [
        (institution_id, json.loads(body)["number"], status, problem)
        for institution_id, body, status, problem in rows[1:]
    ]
    taken = [(i, n) for i, n, status, _ in ended if status == "rejected"]
    one, two, three = (lims.institution.id for lims in (first, second, third))
    assert taken == [(one, "JL-1"), (one, "JL-2"), (one, "JL-3")], ended
    for _, _, status, problem in ended:
        if status == "rejected":
            assert [e["field"] for e in problem["errors"]] == ["number"], problem
    assert sorted(stored) == sorted(
        [(one, "JL-1"), (one, "JL-2"), (one, "JL-3"), (two, "JL-1"), (three, "JL-2")]
    )


def _commission(lims: Lims, number: str, project_code: str) -> dict[str, Any]:
    return lims.message(
        number=number, sequence=1, commissioned_on="2026-11-20", project_code=project_code,
        items=["0108"],
    )  # fmt: skip


# a handler's look-up of a project, a commission or registered people, and a batch's read ahead
# (a commission message's check of its sequence, one column, is not one)
_NAMED_READ = re.compile(
    r"^SELECT (project|commission|person)\.\w+, .*\sWHERE\s"
    r"(project\.code|\(commission\.institution_id, commission\.number\)|commission\.institution_id"
    r"|\(person\.institution_id, person\.id_number\)|person\.institution_id)",
    re.DOTALL,
)


def test_a_batch_reads_the_projects_commissions_and_inspectors_its_records_name_at_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test record names its project, its commission and its inspectors, a report its
    project, commission and signatories: a batch of three institutions' records and reports
    reads each kind once, not once a message, and so do commissions renewed beside them. A
    commission the batch registers itself (not there when it read ahead) is looked for by the
    record naming it, as is an inspector not registered (left out of the record's people);
    each record gets its own institution's rows; a project none has is refused as before."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # a slow machine: still one batch
    labs = region.lims(3)
    with region.sessions() as db:
        codes = [Factory(db, region.settings).project(region_code="360403").code for _ in labs]
        db.commit()
    staff = [[id_number(10 * k + n) for n in range(2)] for k in range(len(labs))]
    first_batch: list[tuple[Lims, str, dict[str, Any]]] = []
    for lims, code, numbers in zip(labs, codes, staff, strict=True):
        people = [{"id_number": n, "name": "张三", "years_in_testing": 3} for n in numbers]
        first_batch.append((lims, "registry.staff", lims.message(people=people)))
        first_batch.append((lims, "commission", _commission(lims, "WT-1", code)))
    _accept_all(region, first_batch)
    assert apply.drain(region.sessions, region.settings, holder="a") == 6
    stranger = id_number(900)  # registered nowhere

    def record(k: int, n: int, commission: str = "WT-1", **more: Any) -> dict[str, Any]:
        inspectors = [{"name": "张三", "id_number": number} for number in staff[k]]
        return {
            **_manual_record(labs[k], f"JL-{k}-{n}"),
            "project_code": codes[k],
            "commission_number": commission,
            "inspectors": inspectors,
            **more,
        }

    sends = [(labs[k], "test_record", record(k, n)) for n in range(2) for k in range(3)]
    sends.append((labs[0], "commission", _commission(labs[0], "WT-2", codes[0])))
    for lims, code in zip(labs, codes, strict=True):  # a commission renewed: read ahead too
        renewed = {**_commission(lims, "WT-1", code), "client_unit": "九江某建设有限公司"}
        sends.append((lims, "commission", renewed))
    inspectors = [
        {"name": "张三", "id_number": staff[0][0]},
        {"name": "李四", "id_number": stranger},
    ]
    sends.append((labs[0], "test_record", record(0, 9, "WT-2", inspectors=inspectors)))
    for k, lims in enumerate(labs):  # a report of each: the same read ahead, with the records
        signatories = [{"name": "张三", "id_number": number} for number in staff[k]]
        report = lims.message(number=f"BG-{k}", sequence=1, issued_on="2026-11-21",
                              project_code=codes[k], commission_number="WT-1",
                              items=["0108"], signatories=signatories)  # fmt: skip
        sends.append((lims, "report", report))
    _accept_all(region, sends)
    read = _statements_while_draining(region, lambda s: _NAMED_READ.search(s) is not None, 14)
    kinds = Counter(statement.split(".", 1)[0].removeprefix("SELECT ") for statement in read)
    # the records' and reports' read ahead of each kind, the commissions' of projects and
    # commissions; WT-2's own look-up (registered by the batch), and the record's naming it;
    # the stranger: 14, 14 and 10 without the read aheads
    assert kinds == {"project": 2, "commission": 4, "person": 2}, read
    with region.sessions() as db:
        reports = db.execute(
            select(Report.number, Report.institution_id, Project.code, Commission.number,
                   Report.signatory_person_ids)
            .join(Project, Project.id == Report.project_id)
            .join(Commission, Commission.id == Report.commission_id)
        ).all()  # fmt: skip
        people = dict(db.execute(select(Person.id_number, Person.id)).all())
        commissions = db.execute(
            select(Commission.institution_id, Commission.number, Commission.client_unit)
        ).all()
    by_id = {lims.institution.id: k for k, lims in enumerate(labs)}
    # the renewals landed on the commissions the batch read ahead; WT-2 was registered
    assert sorted((by_id[i], number, unit) for i, number, unit in commissions) == [
        (0, "WT-1", "九江某建设有限公司"), (0, "WT-2", ""),
        (1, "WT-1", "九江某建设有限公司"), (2, "WT-1", "九江某建设有限公司"),
    ]  # fmt: skip
    assert sorted(
        (number, by_id[institution_id], project, commission, signatories)
        for number, institution_id, project, commission, signatories in reports
    ) == [(f"BG-{k}", k, codes[k], "WT-1", [people[n] for n in staff[k]]) for k in range(3)]
    _accept_all(region, [(labs[1], "test_record", record(1, 9, project_code="XM-NONE"))])
    assert apply.drain(region.sessions, region.settings, holder="a") == 1
    with region.sessions() as db:
        rows = db.execute(
            select(Message.status, Message.problem)
            .where(Message.message_type == "test_record")
            .order_by(Message.id)
        ).all()
        stored = db.execute(
            select(TestRecord.number, TestRecord.institution_id, Project.code,
                   Commission.number, TestRecord.inspector_person_ids)
            .join(Project, Project.id == TestRecord.project_id)
            .join(Commission, Commission.id == TestRecord.commission_id)
        ).all()  # fmt: skip
    assert [status for status, _ in rows] == ["applied"] * 7 + ["rejected"]
    assert [e["field"] for e in rows[-1][1]["errors"]] == ["project_code"]
    assert len(stored) == 7
    for number, institution_id, project, commission, inspector_ids in stored:
        k = by_id[institution_id]
        assert number.startswith(f"JL-{k}-")
        assert project == codes[k]
        assert commission == ("WT-2" if number == "JL-0-9" else "WT-1")
        named = staff[k][:1] if number == "JL-0-9" else staff[k]
        assert inspector_ids == [people[n] for n in named]


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b'{"commission_number": "WT-1", "number": "JL-1"}',
         {"commission_number": ["WT-1"], "number": ["JL-1"]}),
        (b'{"number" : "JL-\\u0031", "x": 1}', {"number": ["JL-1"]}),  # escaped, spaced
        (b'{"note": "\\"number\\": \\"X\\"", "number": "JL-\\"2"}',
         {"number": ['JL-"2']}),  # a member's name in a string, a quote in one
        (b'{"numbers": ["JL-3"], "number": 4, "project_code": " "}', {}),  # none a string
        (b'{"project_code": " XM-1 ", "inspectors": [{"id_number": "1"}, {"id_number": "2"}]}',
         {"project_code": ["XM-1"], "id_number": ["1", "2"]}),  # stripped; in their order
        (b'{"number": "JL-\\u0000", "project_code": "\\ud800"}', {}),  # NUL; a lone surrogate
    ],
)  # fmt: skip
def test_what_a_record_names_is_found_in_its_bytes(
    body: bytes, named: dict[str, list[str]]
) -> None:
    """The read ahead finds what a record names without parsing its curves (a guess the
    handler's own reads stand behind); a key no query may hold is left out."""
    from jcjg.exchange.types import strings_named
    from jcjg.testing import messages

    assert strings_named(body, messages._NAMED, 10) == named
    assert strings_named(body, messages._NAMED, 1) == dict(itertools.islice(named.items(), 1))


@pytest.mark.parametrize(
    ("kind", "make", "key"),
    [
        ("test_record", lambda lims, n: _manual_record(lims, f"JL-{n}"), ("number",)),
        (
            "registry.equipment",
            lambda lims, n: lims.message(equipment=[equipment(f"E{n}", "室0")]),
            ("equipment", 0, "asset_number"),
        ),
    ],
)
def test_a_key_the_text_boundary_refuses_is_not_read_ahead(
    region: Region,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    make: Callable[[Lims, int], dict[str, Any]],
    key: tuple[Any, ...],
) -> None:
    """A message accepted before the text boundary and replayed may name a row by a key
    holding NUL, which PostgreSQL refuses in a query's text: the read ahead leaves it out (its
    handler refuses the message), and the rest of the batch is applied."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)
    (lims,) = region.lims(1)
    _accept_all(region, [(lims, "registry.labs", lims.message(labs=[{**LAB, "name": "室0"}]))])
    assert apply.drain(region.sessions, region.settings, holder="a") == 1
    _accept_all(region, [(lims, kind, make(lims, n)) for n in range(2)])
    with region.sessions() as db:  # the first as a message of before the boundary
        first = db.scalars(
            select(Message).where(Message.message_type == kind).order_by(Message.id)
        ).first()
        assert first is not None
        body = json.loads(first.body)
        *path, last = key
        holder = body
        for step in path:
            holder = holder[step]
        holder[last] = "N\u0000"
        first.body = json.dumps(body).encode()
        db.commit()
    assert apply.drain(region.sessions, region.settings, holder="a") == 2
    with region.sessions() as db:
        ended = (
            db.execute(
                select(Message.status).where(Message.message_type == kind).order_by(Message.id)
            )
            .scalars()
            .all()
        )
    assert ended == ["rejected", "applied"]


def test_on_sqlite_a_slow_read_ahead_does_not_spend_the_batchs_time(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a batch applies what fits in its time (SQLITE_BATCH_SECONDS), counted from
    the end of its read ahead: a read ahead longer than that time does not leave the batch one
    message (the next batch would read ahead again for the rest, and so on). The batch's clock
    is the test's: only the read ahead moves it."""
    if region.engine.dialect.name != "sqlite":
        pytest.skip("the batch's time is SQLite's")
    import time
    from types import SimpleNamespace

    (lims,) = region.lims()
    _accept_all(
        region,
        [(lims, "registry.labs", lims.message(labs=[{**LAB, "name": f"室{n}"}])) for n in range(6)],
    )
    real = apply._batch_reads
    calls: list[int] = []
    clock = [time.monotonic()]

    def slow(db: Session, rows: Any, owners: Any) -> None:
        calls.append(len(rows))
        clock[0] += 10.0  # far beyond the batch's time
        real(db, rows, owners)

    monkeypatch.setattr(
        apply, "time", SimpleNamespace(monotonic=lambda: clock[0], sleep=time.sleep)
    )
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 0.05)
    monkeypatch.setattr(apply, "_batch_reads", slow)
    assert apply.drain(region.sessions, region.settings, holder="a") == 6
    assert calls == [6]  # one batch, read ahead once


def test_workers_starting_together_share_the_lanes(region: Region) -> None:
    """A long-running worker claims one new lane a pass: two workers that start together each
    end up holding some of the lanes (the first does not take them all), and a lone worker
    still takes and applies every lane in one drain."""
    labs = region.lims(4)
    _accept_all(region, [(lims, "registry.labs", lims.message(labs=[LAB])) for lims in labs])
    first: set[str] = set()
    with region.sessions() as db:
        lanes = apply.waiting_lanes(db)
    assert apply.apply_lanes(region.sessions, region.settings, lanes, "a", held=first) == 1
    assert len(first) == 1  # one new lane this pass; the others left for whoever comes
    (theirs,) = [lims for lims in labs if f"i{lims.institution.id}" in first]
    _accept_all(region, [(theirs, "registry.labs", theirs.message(labs=[{**LAB, "name": "室9"}]))])
    second: set[str] = set()
    others: dict[str, float] = {}
    assert (
        apply.drain(region.sessions, region.settings, holder="b", held=second, others=others) == 3
    )
    assert len(second) == 3
    assert not first & second
    assert set(others) == first  # left to "a" for a while: only the lane it was refused


def test_a_long_running_worker_keeps_its_lanes_between_passes(region: Region) -> None:
    """A worker's apply loop keeps the leases of the lanes it drained (no claim and release
    for every message arriving on its own); another worker takes such a lane over only once
    the lease lapses, and a stopping worker gives its lanes up."""
    (lims,) = region.lims()
    lane = f"i{lims.institution.id}"
    held: set[str] = set()
    for n in range(2):
        _accept_all(
            region, [(lims, "registry.labs", lims.message(labs=[{**LAB, "name": f"室{n}"}]))]
        )
        assert apply.drain(region.sessions, region.settings, holder="a", held=held) == 1
        assert held == {lane}
        with region.sessions() as db:
            assert db.scalar(select(Lane.holder).where(Lane.lane == lane)) == "a"
    _accept_all(region, [(lims, "registry.labs", lims.message(labs=[{**LAB, "name": "室9"}]))])
    assert apply.drain(region.sessions, region.settings, holder="b") == 0  # a's lane
    apply.release_all(region.sessions, held, "a")
    assert held == set()
    assert apply.drain(region.sessions, region.settings, holder="b") == 1
    with region.sessions() as db:
        assert db.scalar(select(Lane.holder).where(Lane.lane == lane)) is None  # released


# --- nothing half-applied -----------------------------------------------------------------------


class Half(MessageBase):
    labs: list[dict[str, Any]] = Field(min_length=1)
    fail: str = "no"


@message_type("test.half", title="写一半", schema=Half, example={})
def _half(ctx: HandlerContext, message: Half) -> dict[str, Any]:
    """Writes its labs, then fails as it was told."""
    for lab in message.labs:
        ctx.db.add(
            Lab(
                institution_id=ctx.institution.id,
                region_code=ctx.institution.region_code,
                name=lab["name"],
                address="x",
                area_m2=1,
            )
        )
    ctx.db.flush()
    if message.fail == "refuse":
        raise ValidationFailed(errors=[FieldError("labs", "写到一半被拒绝")])
    if message.fail == "crash":
        raise RuntimeError("a bug in a handler")
    return {"labs": len(message.labs)}


HALF = Domain(name="half", title="写一半", message_types=(_half,))


def test_a_refusing_or_failing_handler_leaves_nothing_of_its_message(
    client: TestClient, db: Session, lims: Lims, caplog: pytest.LogCaptureFixture
) -> None:
    with installed_with(HALF):
        refused = lims.post(client, "test.half", lims.message(labs=[{"name": "甲"}], fail="refuse"))
        crashed = lims.post(client, "test.half", lims.message(labs=[{"name": "乙"}], fail="crash"))
        done = lims.post(client, "test.half", lims.message(labs=[{"name": "丙"}]))
    assert refused.rejected
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["message"] == "写到一半被拒绝"
    assert crashed.rejected
    assert crashed.status_code == 500
    assert crashed.json()["type"] == "/problems/internal"
    assert "a bug in a handler" not in crashed.text  # logged, not told
    assert "a bug in a handler" in caplog.text
    assert done.status_code == 200
    assert done.json()["results"] == {"labs": 1}
    db.expire_all()
    assert [lab.name for lab in db.scalars(select(Lab))] == ["丙"]


# --- replay ---------------------------------------------------------------------------------------


def test_a_refusal_in_a_group_leaves_the_others_applied_once(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages are applied in groups to one savepoint: a refused one rolls its group back,
    and those before it are applied again one by one. Each is applied once (one change row per
    write, its own), the refused one leaves nothing, and those after it form the next group."""
    (lims,) = region.lims()
    sends = [
        (lims, "registry.labs", lims.message(labs=[{**LAB, "name": "室0"}])),
        (lims, "registry.equipment", lims.message(equipment=[equipment("E1", "室0")])),
        (lims, "registry.labs", lims.message(labs=[{**LAB, "name": "室0", "area_m2": "90.00"}])),
        (lims, "registry.equipment", lims.message(equipment=[equipment("E2", "无")])),
        (lims, "registry.labs", lims.message(labs=[{**LAB, "name": "室1"}])),
        (lims, "registry.equipment", lims.message(equipment=[equipment("E3", "室1")])),
    ]
    _accept_all(region, sends)
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 60.0)  # one batch on SQLite too
    assert apply.drain(region.sessions, region.settings) == 6
    with region.sessions() as db:
        statuses = db.scalars(select(Message.status).order_by(Message.id)).all()
        assert statuses == ["applied"] * 3 + ["rejected"] + ["applied"] * 2
        assert {(lab.name, str(lab.area_m2)) for lab in db.scalars(select(Lab))} == {
            ("室0", "90.00"), ("室1", "100.00")}  # fmt: skip
        assert sorted(db.scalars(select(Equipment.asset_number))) == ["E1", "E3"]
        changes = db.execute(
            select(AuditLog.object_type, AuditLog.action, AuditLog.object_repr)
            .where(AuditLog.object_type.in_(["lab", "equipment"]))
            .order_by(AuditLog.id)
        ).all()
        assert [(kind, action) for kind, action, _ in changes] == [
            ("lab", "create"), ("equipment", "create"), ("lab", "update"),
            ("lab", "create"), ("equipment", "create")]  # fmt: skip
        assert not any("E2" in (text or "") for _, _, text in changes)


def test_a_refusal_leaves_each_institutions_sync_row_at_its_last_applied_message(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sync rows a batch read ahead (MessageType.batch_reads) and a refused message: its
    group rolled back, each institution's row still ends at its last applied message."""
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 600.0)  # one batch on SQLite too
    first, second = region.lims(2)
    _accept_all(
        region, [(lims, "registry.labs", lims.message(labs=[LAB])) for lims in (first, second)]
    )
    assert apply.drain(region.sessions, region.settings) == 2  # the rows exist
    sends = [
        (first, "registry.labs", first.message(labs=[{**LAB, "name": "室0"}])),
        (first, "registry.equipment", first.message(equipment=[equipment("E2", "无")])),
        (first, "registry.labs", first.message(labs=[{**LAB, "name": "室1"}])),
        (second, "registry.labs", second.message(labs=[{**LAB, "name": "室0"}])),
        (second, "registry.labs", second.message(labs=[{**LAB, "name": "室1"}])),
    ]
    _accept_all(region, sends)
    assert apply.drain(region.sessions, region.settings) == 5
    with region.sessions() as db:
        rows = db.scalars(select(Message).order_by(Message.id)).all()
        assert [m.status for m in rows[2:]] == [
            "applied",
            "rejected",
            "applied",
            "applied",
            "applied",
        ]
        latest = {m.institution_id: m.received_at for m in rows if m.status == "applied"}
        synced = dict(
            db.execute(select(RegistrySync.institution_id, RegistrySync.changed_at)).all()
        )
    assert synced == latest


def test_a_row_written_in_place_later_waits_for_its_savepoint_and_goes_with_it(
    client: TestClient, db: Session, lims: Lims
) -> None:
    """update_in_place(later=True): the UPDATE waits until the session's next statement or
    the savepoint's end (one statement for several messages' renewals of a row); a savepoint
    rolled back drops it and the object is read again, never holding what was not written."""
    lims.post(client, "registry.labs", lims.message(labs=[LAB]))
    lims.post(client, "registry.equipment", lims.message(equipment=[equipment("E1")]))
    row = db.scalars(select(Equipment)).one()
    stored = select(Equipment.model).where(Equipment.id == row.id)
    with db.begin_nested():
        update_in_place(db, [(row, {"model": "甲"})], later=True)
        update_in_place(db, [(row, {"model": "乙"})], later=True)
        assert row.model == "乙"
        assert db.connection().execute(stored).scalar() is None  # not yet written
    assert db.connection().execute(stored).scalar() == "乙"  # at the savepoint's end
    savepoint = db.begin_nested()
    update_in_place(db, [(row, {"model": "丙"})], later=True)
    assert db.scalar(stored) == "丙"  # a statement of the session's own writes it first
    update_in_place(db, [(row, {"model": "丁"})], later=True)
    savepoint.rollback()
    assert db.connection().execute(stored).scalar() == "乙"
    assert row.model == "乙"  # expired, read again


def test_replay_rebuilds_the_same_projections(client: TestClient, db: Session, lims: Lims) -> None:
    lims.post(client, "registry.labs", lims.message(labs=[LAB]))
    lims.post(client, "registry.equipment", lims.message(equipment=[equipment("E1")]))
    lims.post(client, "registry.labs", lims.message(labs=[{**LAB, "area_m2": "150.00"}]))
    bad = lims.post(client, "registry.equipment", lims.message(equipment=[equipment("E2", "无")]))
    assert bad.rejected

    def projection() -> list[tuple[Any, ...]]:
        db.expire_all()
        labs = [(lab.name, str(lab.area_m2)) for lab in db.scalars(select(Lab))]
        kit = [(e.asset_number, e.name) for e in db.scalars(select(Equipment))]
        statuses = list(db.scalars(select(Message.status).order_by(Message.id)))
        return [*labs, *kit, *statuses]

    before = projection()
    assert before == [("力学室", "150.00"), ("E1", "万能试验机"), "applied", "applied", "applied",
                      "rejected"]  # fmt: skip
    db.execute(delete(Equipment))
    db.execute(delete(Lab))
    db.commit()
    assert apply.replay(db, utcnow() - dt.timedelta(hours=1)) == 4
    db.commit()
    assert apply_waiting(client) == 4
    assert projection() == before


# --- the group committer --------------------------------------------------------------------------


def test_the_writer_stores_concurrent_requests_in_batches(region: Region) -> None:
    from jcjg.main import create_app

    (lims,) = region.lims()
    app = create_app(region.settings, engine=region.engine, session_factory=region.sessions)
    committer: GroupCommitter = app.state.exchange_committer
    payloads = [lims.message(labs=[{**LAB, "name": f"室{n}"}]) for n in range(40)]
    with TestClient(app) as http, concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda p: lims.post_raw(http, "registry.labs", p), payloads))
    assert [a.status_code for a in answers] == [202] * 40
    assert committer.messages == 40
    assert committer.batches < 40  # some commits carried several messages
    with region.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 40
        assert db.scalar(select(func.count()).select_from(LedgerQueued)) == 40


def test_the_writer_keeps_its_connection_while_busy_and_survives_losing_it(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL the writer keeps its autocommit connection from one batch to the next
    (one checkout for many batches); one unused for HELD_SECONDS goes back to the pool; and a
    connection the server dropped between two batches costs no message, not even a lone one:
    the batch is written again on a fresh connection."""
    from jcjg.exchange import commit

    if region.engine.dialect.name != "postgresql":
        pytest.skip("the one statement in autocommit is PostgreSQL's")
    (lims,) = region.lims()
    with region.sessions() as db:
        items = [
            _accepted(db, lims, json.dumps(lims.message(labs=[{**LAB, "name": f"室{n}"}]),
                                           ensure_ascii=False).encode())
            for n in range(6)
        ]  # fmt: skip
    checkouts: list[int] = []
    listener = (region.engine.pool, "checkout", lambda *_: checkouts.append(1))
    event.listen(*listener)
    writer = GroupCommitter(region.sessions)

    def batch(chosen: list[Any]) -> list[Any]:
        futures: list[Future[Any]] = [Future() for _ in chosen]
        writer._write(list(zip(chosen, futures, strict=True)))  # one batch, as its thread
        return [f.exception(timeout=10) or f.result() for f in futures]

    try:
        for item in items[:3]:
            assert batch([item])[0]["status"] == "accepted"
        assert len(checkouts) == 1  # three batches, one connection
        held = writer._held
        assert held is not None
        pid = held.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        with region.sessions() as db:  # the server drops it between two batches
            db.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            db.commit()
        assert batch(items[3:4])[0]["status"] == "accepted"  # alone: again on a fresh one
        assert writer._held is not held
        assert [a["status"] for a in batch(items[4:5])] == ["accepted"]
        checkouts.clear()
        monkeypatch.setattr(commit, "HELD_SECONDS", 0.0)
        time.sleep(0.01)
        assert batch(items[5:])[0]["status"] == "accepted"
        assert len(checkouts) == 1  # idle too long: back to the pool, a fresh one taken
    finally:
        event.remove(*listener)
        writer.close()
    assert writer._held is None  # closing the writer gives it back
    with region.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 6


def test_an_idle_writer_gives_its_connection_back(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's thread gives its kept connection back once nothing came for
    HELD_SECONDS: an idle process holds none."""
    from jcjg.exchange import commit

    if region.engine.dialect.name != "postgresql":
        pytest.skip("the one statement in autocommit is PostgreSQL's")
    (lims,) = region.lims()
    monkeypatch.setattr(commit, "HELD_SECONDS", 0.05)
    with region.sessions() as db:
        body = json.dumps(lims.message(labs=[{**LAB, "name": "室1"}]), ensure_ascii=False)
        item = _accepted(db, lims, body.encode())
    idle = GroupCommitter(region.sessions)
    try:
        assert idle.submit(item).result(timeout=10)["status"] == "accepted"
        deadline = time.monotonic() + 10
        while idle._held is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert idle._held is None
    finally:
        idle.close()


def test_a_batch_that_fails_is_stored_message_by_message(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One message the database refuses costs only its own request."""
    from jcjg.exchange import commit, service

    (lims,) = region.lims()
    real = service.store

    def picky(db: Session, batch: list[service.Accepted]) -> None:
        if any(item.message["message_id"] == poisoned for item in batch):
            raise RuntimeError("the database refused a row")
        real(db, batch)

    def picky_together(autocommit: Any, factory: Any, items: list[service.Accepted]) -> None:
        if any(item.message["message_id"] == poisoned for item in items):  # PostgreSQL
            raise RuntimeError("the database refused a row")
        real_together(autocommit, factory, items)

    real_together = service.store_committed_together
    monkeypatch.setattr(commit, "store", picky)
    monkeypatch.setattr(commit, "store_committed_together", picky_together)
    writer = GroupCommitter(region.sessions)
    items = []
    with region.sessions() as db:
        for n in range(3):
            payload = lims.message(labs=[{**LAB, "name": f"室{n}"}])
            body = json.dumps(payload, ensure_ascii=False).encode()
            items.append(_accepted(db, lims, body))
    poisoned = items[1].message["message_id"]
    # queued before the writer starts, so they go in one batch
    futures = [writer.submit(item) for item in items]
    outcomes = [f.exception(timeout=10) or f.result() for f in futures]
    writer.close()
    assert [o["status"] for o in (outcomes[0], outcomes[2])] == ["accepted", "accepted"]
    assert getattr(outcomes[1], "status", None) == 503
    with region.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 2


@pytest.mark.parametrize("way", ["committer", "session"])
def test_a_message_alone_is_stored_refused_as_a_replay_or_answered_as_a_copy(
    region: Region, way: str
) -> None:
    """A batch of one message (on PostgreSQL one statement, which the group committer runs in
    autocommit): stored with its nonce and leaf; its request again is a replay that writes
    nothing; a copy accepted before it was stored is answered ``duplicate``, one with other
    content 409, each leaving no nonce behind."""
    from jcjg.exchange import service
    from jcjg.exchange.models import SeenNonce

    (lims,) = region.lims()
    payload = lims.message(labs=[{**LAB, "name": "室1"}])
    body = json.dumps(payload, ensure_ascii=False).encode()
    other = json.dumps({**payload, "labs": [{**LAB, "name": "室2"}]}, ensure_ascii=False).encode()
    with region.sessions() as db:  # all checked before any is stored: copies in a race
        first, copy, conflicting = (_accepted(db, lims, b) for b in (body, body, other))
    writer = GroupCommitter(region.sessions)

    def stored(item: Any) -> Any:
        if way == "committer":
            future = writer.submit(item)
            return future.exception(timeout=10) or future.result()
        with region.sessions() as db:
            service.store(db, [item])
            db.commit()
        return item.outcome

    def written() -> tuple[int, int, set[str]]:
        with region.sessions() as db:
            return (
                db.scalar(select(func.count()).select_from(Message)) or 0,
                db.scalar(select(func.count()).select_from(LedgerQueued)) or 0,
                set(db.scalars(select(SeenNonce.nonce))),
            )

    try:
        answer = stored(first)
        assert answer["status"] == "accepted"
        assert answer["leaf_hash"] == first.leaf["leaf_hash"].hex()
        assert written() == (1, 1, {first.nonce["nonce"]})
        replayed = stored(first)  # the same request again
        assert getattr(replayed, "status", None) == 401
        assert written() == (1, 1, {first.nonce["nonce"]})
        assert stored(copy) == {**first.receipt, "status": "duplicate"}
        refused = stored(conflicting)
        assert getattr(refused, "status", None) == 409
        assert written() == (1, 1, {first.nonce["nonce"]})  # the copies' nonces taken back
    finally:
        writer.close()


def _stored(region: Region, batch: list[Any], way: str) -> list[Any]:
    """Each message's answer once ``batch`` is stored by the group committer (submitted at once:
    one batch, or a few should its writer take the first before the rest came) or by
    ``service.store`` in a session (one batch)."""
    from jcjg.exchange import service

    if way == "committer":
        writer = GroupCommitter(region.sessions)
        futures = [writer.submit(item) for item in batch]
        try:
            return [f.exception(timeout=10) or f.result() for f in futures]
        finally:
            writer.close()
    with region.sessions() as db:
        service.store(db, batch)
        db.commit()
    return [item.outcome for item in batch]


@pytest.mark.parametrize("way", ["committer", "session"])
def test_a_batch_with_a_replay_and_copies_is_answered_as_each_alone(
    region: Region, way: str
) -> None:
    """Messages stored together (on PostgreSQL one statement for a batch of up to
    ``TOGETHER_MAX``, in autocommit by the group committer; three statements on SQLite): a
    nonce twice is a replay, a copy of a message in the same batch ``duplicate``, one with
    other content 409; the others are stored, each with its leaf, and no copy keeps a nonce."""
    from jcjg.exchange import service
    from jcjg.exchange.models import SeenNonce

    (lims,) = region.lims()
    payload = lims.message(labs=[{**LAB, "name": "室1"}])
    body = json.dumps(payload, ensure_ascii=False).encode()
    other = json.dumps({**payload, "labs": [{**LAB, "name": "室2"}]}, ensure_ascii=False).encode()
    separate = json.dumps(lims.message(labs=[{**LAB, "name": "室3"}]), ensure_ascii=False)
    bodies = (body, separate.encode(), body, other, separate.encode())
    with region.sessions() as db:
        first, replay, copy, conflicting, alone = (_accepted(db, lims, b) for b in bodies)
    replay.nonce = dict(first.nonce)  # another message, signed with the first's nonce
    batch = [first, replay, copy, conflicting, alone]
    assert len(batch) <= service.TOGETHER_MAX
    answers = _stored(region, batch, way)
    assert answers[0]["status"] == "accepted"
    assert getattr(answers[1], "status", None) == 401
    assert answers[2] == {**first.receipt, "status": "duplicate"}
    assert getattr(answers[3], "status", None) == 409
    assert answers[4]["status"] == "accepted"
    with region.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 2
        leaves = set(db.scalars(select(LedgerQueued.leaf_hash)))
        assert leaves == {first.leaf["leaf_hash"], alone.leaf["leaf_hash"]}
        assert set(db.scalars(select(SeenNonce.nonce))) == {
            first.nonce["nonce"], alone.nonce["nonce"]}  # fmt: skip


@pytest.mark.parametrize("way", ["committer", "session"])
def test_a_batch_stored_together_holds_each_value_as_given(region: Region, way: str) -> None:
    """The batch's rows reach the tables as the request path made them (on PostgreSQL one
    statement for the batch, its rows sent as JSON: bytes in PostgreSQL's hex form, times
    with their offset): bodies with every byte value and a Chinese name,
    the signed times to the microsecond, the receipts and leaves; and one statement a batch
    of up to ``TOGETHER_MAX``, whatever its size (one text: prepared once, issue 44)."""
    from jcjg.exchange import service
    from jcjg.exchange.models import SeenNonce

    (lims,) = region.lims()
    bodies = [
        json.dumps(lims.message(labs=[{**LAB, "name": f"室{n} ☃"}]), ensure_ascii=False).encode()
        for n in range(service.TOGETHER_MAX)
    ]
    with region.sessions() as db:
        batch = [_accepted(db, lims, b) for b in bodies]
    batch[3].message["body"] = bytes(range(256)) * 3  # every byte value, as stored
    moment = dt.datetime(2026, 11, 29, 18, 1, 2, 345678, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    batch[5].nonce["seen_at"] = batch[5].message["received_at"] = moment
    seen: list[str] = []

    def statement(conn: Any, cursor: Any, text: str, *_: Any) -> None:
        seen.append(text)

    event.listen(region.engine, "before_cursor_execute", statement)
    try:
        for size in (1, 3, len(batch) - 4):  # batches of three sizes
            part, batch = batch[:size], batch[size:]
            assert [a["status"] for a in _stored(region, part, way)] == ["accepted"] * size
            with region.sessions() as db:
                for item in part:
                    row = db.scalars(select(Message).where(
                        Message.client_id == item.key[0], Message.message_id == item.key[1]
                    )).one()  # fmt: skip
                    for column, value in item.message.items():
                        assert getattr(row, column) == value, column
                    leaf = db.scalars(
                        select(LedgerQueued).where(LedgerQueued.leaf_hash == item.leaf["leaf_hash"])
                    ).one()
                    for column, value in item.leaf.items():
                        assert getattr(leaf, column) == value, column
                    nonce = db.get(SeenNonce, (item.nonce["key_id"], item.nonce["nonce"]))
                    assert nonce is not None
                    assert nonce.seen_at == item.nonce["seen_at"]
    finally:
        event.remove(region.engine, "before_cursor_execute", statement)
    if region.engine.dialect.name == "postgresql":
        written = [s for s in seen if "exchange_message" in s and "INSERT" in s]
        # one a batch (the committer's writer may take a part in more than one batch)
        assert len(written) == 3 if way == "session" else 3 <= len(written) <= 8
        assert len(set(written)) == 1  # the same text whatever the batch's size


@pytest.mark.parametrize("way", ["committer", "session"])
def test_a_copy_whose_first_is_a_replay_is_stored(
    region: Region, way: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In one batch, a message whose first copy is signed with a nonce already used and whose
    second is not: the first is a replay, the second stored and answered ``accepted`` (and a
    third copy ``duplicate``), as when each came alone; and a batch of more bytes of bodies
    than one statement takes (``TOGETHER_MAX_BYTES``) is stored by the three statements."""
    from jcjg.exchange import service
    from jcjg.exchange.models import SeenNonce

    (lims,) = region.lims()
    earlier, message = (
        json.dumps(lims.message(labs=[{**LAB, "name": f"室{n}"}]), ensure_ascii=False).encode()
        for n in (1, 2)
    )
    with region.sessions() as db:
        before = _accepted(db, lims, earlier)
        service.store(db, [before])
        db.commit()
        replayed, fresh, copy, other = (_accepted(db, lims, message) for _ in range(4))
    replayed.nonce = dict(before.nonce)  # its nonce was used by the message stored earlier
    other.message["message_id"] = str(uuid.uuid4())  # another message, of the same body
    batch = [replayed, fresh, copy, other]
    if way == "session":
        monkeypatch.setattr(service, "TOGETHER_MAX_BYTES", len(message))  # two bodies: too many
    answers = _stored(region, batch, way)
    assert getattr(answers[0], "status", None) == 401
    assert answers[1]["status"] == "accepted"
    assert answers[2] == {**fresh.receipt, "status": "duplicate"}
    assert answers[3]["status"] == "accepted"
    with region.sessions() as db:
        rows = db.scalars(select(Message).order_by(Message.id)).all()
        assert [(r.message_id, r.leaf_hash) for r in rows] == [
            (before.key[1], before.leaf["leaf_hash"]),
            (fresh.key[1], fresh.leaf["leaf_hash"]),
            (other.key[1], other.leaf["leaf_hash"]),
        ]
        leaves = db.scalars(select(LedgerQueued.leaf_hash).order_by(LedgerQueued.id)).all()
        assert leaves == [r.leaf_hash for r in rows]
        assert set(db.scalars(select(SeenNonce.nonce))) == {
            before.nonce["nonce"], fresh.nonce["nonce"], other.nonce["nonce"]}  # fmt: skip


def test_a_stored_batch_whose_copies_cannot_be_answered_is_not_written_again(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The group committer's batch is committed by its one statement (PostgreSQL, autocommit)
    before its copies are answered: should that fail, the copies are answered 503 and the
    stored message with its receipt, not written again message by message (its nonce, already
    committed, would make it a replay)."""
    from jcjg.exchange import service

    if region.engine.dialect.name != "postgresql":
        pytest.skip("the one statement in autocommit is PostgreSQL's")
    (lims,) = region.lims()
    body = json.dumps(lims.message(labs=[{**LAB, "name": "室1"}]), ensure_ascii=False).encode()
    with region.sessions() as db:
        first, copy = (_accepted(db, lims, body) for _ in range(2))

    def failing(db: Session, losers: list[service.Accepted]) -> None:
        raise RuntimeError("the connection was lost")

    monkeypatch.setattr(service, "_answer_losers", failing)
    writer = GroupCommitter(region.sessions)
    futures: list[Future[Any]] = [Future(), Future()]
    writer._write(list(zip((first, copy), futures, strict=True)))  # one batch, as its thread
    answers = [f.exception(timeout=10) or f.result() for f in futures]
    writer.close()  # its connection back to the pool
    assert writer.batches == 1
    assert answers[0] == first.receipt
    assert getattr(answers[1], "status", None) == 503
    with region.sessions() as db:
        assert db.scalar(select(func.count()).select_from(Message)) == 1


def _accepted(db: Session, lims: Lims, body: bytes) -> Any:
    """What the request path prepares for ``body`` (checked, not stored)."""
    from jcjg.exchange import cache
    from jcjg.exchange.auth import Caller
    from jcjg.exchange.service import accept
    from jcjg.exchange.signatures import Verified
    from jcjg.exchange.types import message_types

    key = cache.load_key(db, lims.key_id, lambda *_: None)  # the signature is not checked here
    assert key is not None
    caller = Caller(
        client=key.client,
        key=key,
        verified=Verified(label="sig1", keyid=key.key_id, alg="ed25519", created=0,
                          expires=None, nonce=uuid.uuid4().hex, tag=None, covered=(),
                          params={}, signature_params="", signature=b""),
        body=body,
        signature_input="sig1=()",
        signature="sig1=::",
    )  # fmt: skip
    return accept(db, caller, message_types()["registry.labs"])


# --- status --------------------------------------------------------------------------------------


def test_status_of_one_and_of_many(
    client: TestClient, db: Session, lims: Lims, hmac_lims: Lims
) -> None:
    first = lims.post_raw(client, "registry.labs", lims.message(labs=[LAB])).json()
    accepted = lims.status(client, "registry.labs", first["message_id"]).json()
    assert (accepted["status"], accepted["applied_at"], accepted["ledger"]) == (
        "accepted",
        None,
        None,
    )
    assert "results" not in accepted
    apply_waiting(client)
    ledger.integrate(db)
    db.commit()
    path = "/exchange/v1/status"
    unknown = str(uuid.uuid4())
    body = json.dumps({"message_ids": [first["message_id"].upper(), unknown]}).encode()
    answer = client.post(path, content=body, headers=lims.headers("POST", path, body))
    assert answer.status_code == 200, answer.text
    (doc,) = answer.json()["messages"]
    assert answer.json()["unknown"] == [unknown]
    assert doc["status"] == "applied"
    assert doc["results"]["created"] == 1
    found = doc["ledger"]
    root = parse_checkpoint(found["checkpoint"].split("\n\n")[0] + "\n").root
    leaf = bytes.fromhex(first["leaf_hash"])
    assert merkle.verify_inclusion(
        leaf, found["index"], found["size"], [bytes.fromhex(h) for h in found["hashes"]], root
    )
    assert db.get_one(LedgerLeaf, found["index"]).leaf_hash == leaf
    # another client's message is not found, by either way; nor under another type
    other = hmac_lims.status(client, "registry.labs", first["message_id"])
    assert other.status_code == 404
    assert other.json()["type"] == "/problems/exchange-message-unknown"
    assert lims.status(client, "registry.staff", first["message_id"]).status_code == 404
    assert lims.status(client, "registry.labs", "not-a-uuid").status_code == 404
    theirs = client.post(path, content=body, headers=hmac_lims.headers("POST", path, body))
    assert theirs.json() == {"messages": [], "unknown": [first["message_id"], unknown]}


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b'{"message_ids": []}',
        b'{"message_ids": "x"}',
        b'{"message_ids": [1]}',
        b'{"message_ids": ["not-a-uuid"]}',
        b'{"message_ids": ["a\\u0000b"]}',
        json.dumps({"message_ids": [str(uuid.uuid4()) for _ in range(101)]}).encode(),
        b"[1]",
        b"{not json",
    ],
    ids=["no-ids", "empty", "string", "number", "not-uuid", "nul", "too-many", "array", "bad"],
)
def test_bad_status_requests_are_422(client: TestClient, lims: Lims, body: bytes) -> None:
    path = "/exchange/v1/status"
    answer = client.post(path, content=body, headers=lims.headers("POST", path, body))
    assert answer.status_code == 422, answer.text
    assert answer.json()["type"] == "/problems/validation"


def test_status_requests_are_signed(client: TestClient, lims: Lims) -> None:
    path = f"/exchange/v1/messages/registry.labs/{uuid.uuid4()}"
    assert client.get(path).status_code == 401
    body = b'{"message_ids": []}'
    answer = client.post(
        "/exchange/v1/status", content=body, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 401


def test_the_sequencer_gives_promised_leaves_their_indices_in_order(db: Session) -> None:
    before = ledger.head(db).size
    promises = [ledger.promise("message:test", {"n": n}) for n in range(5)]
    for promise in promises:
        db.execute(LedgerQueued.__table__.insert().values(**promise.queued_row()))
    fact = ledger.notarise(db, "report:issue", {"n": "fact"})  # notarised at once, between
    db.commit()
    assert ledger.integrate(db) == 6
    db.commit()
    order = list(
        db.scalars(select(LedgerLeaf.leaf_hash).where(LedgerLeaf.leaf_index >= before)
                   .order_by(LedgerLeaf.leaf_index))
    )  # fmt: skip
    assert order == [fact.leaf_hash, *(p.leaf_hash for p in promises)]
    assert db.scalar(select(func.count()).select_from(LedgerQueued)) == 0
    assert ledger.verify_all(db).ok


def test_worker_once_applies_what_waits(region: Region) -> None:
    from click.testing import CliRunner

    from jcjg.cli import main
    from jcjg.config import get_settings

    (lims,) = region.lims()
    _accept_all(region, [(lims, "registry.labs", lims.message(labs=[LAB]))])
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            main,
            ["worker", "--once"],
            env={"JCJG_DATABASE_URL": region.url, "JCJG_ENV": "test",
                 "JCJG_SECRET_KEY": region.settings.secret_key},
        )  # fmt: skip
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "处理报送消息 1 条" in result.output
    with region.sessions() as db:
        assert db.scalar(select(Message.status)) == "applied"


def test_replay_from_the_command_line(region: Region) -> None:
    from click.testing import CliRunner

    from jcjg.cli import main
    from jcjg.config import get_settings

    (lims,) = region.lims()
    _accept_all(region, [(lims, "registry.labs", lims.message(labs=[LAB]))])
    apply.drain(region.sessions, region.settings)
    with region.sessions() as db:
        db.execute(delete(Lab))
        db.commit()
    env = {"JCJG_DATABASE_URL": region.url, "JCJG_ENV": "test",
           "JCJG_SECRET_KEY": region.settings.secret_key}  # fmt: skip
    get_settings.cache_clear()
    try:
        bad = CliRunner().invoke(main, ["exchange", "replay", "--since", "yesterday"], env=env)
        since = (utcnow() + dt.timedelta(hours=8) - dt.timedelta(days=1)).date().isoformat()
        result = CliRunner().invoke(main, ["exchange", "replay", "--since", since], env=env)
    finally:
        get_settings.cache_clear()
    assert bad.exit_code == 2
    assert result.exit_code == 0, result.output
    assert "重新置为待处理 1 条消息" in result.output
    assert "已处理 1 条" in result.output
    with region.sessions() as db:
        assert [lab.name for lab in db.scalars(select(Lab))] == ["力学室"]


def test_a_message_whose_type_is_gone_is_rejected(
    client: TestClient, db: Session, lims: Lims
) -> None:
    with installed_with(HALF):
        response = lims.post_raw(client, "test.half", lims.message(labs=[{"name": "甲"}]))
    assert response.status_code == 202
    apply_waiting(client)  # applied after the type was uninstalled
    status = lims.status(client, "test.half", response.json()["message_id"]).json()
    assert status["status"] == "rejected"
    assert "test.half" in status["problem"]["detail"]
    assert db.scalars(select(Lab)).all() == []


def test_on_sqlite_a_batch_stops_after_its_time_and_the_lane_still_drains(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 47: a batch's transaction holds SQLite's one write lock, so it stops taking
    messages once it has worked SQLITE_BATCH_SECONDS; the lane's next batch takes the rest."""
    (lims,) = region.lims()
    sends = [(lims, "registry.labs", lims.message(labs=[{**LAB, "name": f"室{n}"}]))
             for n in range(3)]  # fmt: skip
    _accept_all(region, sends)
    lane = f"i{lims.institution.id}"
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 0.0)
    with region.sessions() as db:
        assert apply.claim(db, lane, "a", utcnow())
        sqlite = db.get_bind().dialect.name == "sqlite"
        assert apply.apply_batch(db, region.settings, lane, "a") == (1 if sqlite else 3)
    assert apply.apply_lane(region.sessions, region.settings, lane, "a") == (2 if sqlite else 0)
    with region.sessions() as db:
        statuses = db.scalars(select(Message.status)).all()
        assert statuses == ["applied"] * 3


PREPARED: list[tuple[str, bool]] = []
SEEN: list[tuple[str, Half]] = []  # (who, the message object): prepare's and the handler's
HELD = {"bytes": 0}  # the bytes each preparation says it kept on its message


def _note_prepared(message: Half, settings: Settings) -> int:
    SEEN.append(("prepare", message))
    if message.fail == "prepare":
        raise RuntimeError("cannot be prepared")
    PREPARED.append((message.labs[0]["name"], isinstance(settings, Settings)))
    return HELD["bytes"]


@message_type("test.ahead", title="先准备", schema=Half, example={}, prepare=_note_prepared)
def _ahead(ctx: HandlerContext, message: Half) -> dict[str, Any]:
    """Prepared before its batch's transaction (a message that cannot be is still applied)."""
    SEEN.append(("handler", message))
    return {"labs": len(message.labs)}


AHEAD = Domain(name="ahead", title="先准备", message_types=(_ahead,))


def test_a_lanes_next_messages_are_prepared_before_its_batch(region: Region) -> None:
    """MessageType.prepare runs, outside the batch's transaction, for the lane's accepted
    messages of its type, oldest first; one that fails to prepare is left to its handler."""
    (lims,) = region.lims()
    PREPARED.clear()
    with installed_with(AHEAD):
        sends = [(lims, "test.ahead", lims.message(labs=[{"name": name}], fail=fail))
                 for name, fail in (("甲", "no"), ("乙", "prepare"), ("丙", "no"))]  # fmt: skip
        sends.append((lims, "registry.labs", lims.message(labs=[LAB])))  # no prepare: skipped
        _accept_all(region, sends)
        lane = f"i{lims.institution.id}"
        apply.prepare(region.sessions, region.settings, lane)
        assert PREPARED == [("甲", True), ("丙", True)]
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 4
    with region.sessions() as db:
        assert db.scalars(select(Message.status)).all() == ["applied"] * 4
    PREPARED.clear()
    apply.prepare(region.sessions, region.settings, lane)  # nothing waits: nothing prepared
    assert PREPARED == []


@pytest.mark.parametrize("room", [apply.PARSED_BYTES, 1])
def test_a_message_prepared_is_parsed_once_and_handled_as_prepared(
    region: Region, monkeypatch: pytest.MonkeyPatch, room: int
) -> None:
    """prepare() keeps the messages it parsed for apply_one: the next batches' prepare does not
    parse or prepare them again, and each handler is given the very message its prepare was
    (one prepare failed is still given it). Past PARSED_BYTES of bodies kept it looks no
    further ahead than the lane's next message. With conversion rules for its type a message
    is parsed again, converted, by apply_one."""
    (lims,) = region.lims()
    SEEN.clear()
    monkeypatch.setattr(apply, "SQLITE_BATCH_SECONDS", 0.0)  # a batch for each message
    monkeypatch.setattr(apply, "PARSED_BYTES", room)
    with installed_with(AHEAD):
        sends = [(lims, "test.ahead", lims.message(labs=[{"name": name}], fail=fail))
                 for name, fail in (("甲", "no"), ("乙", "prepare"), ("丙", "no"))]  # fmt: skip
        _accept_all(region, sends)
        lane = f"i{lims.institution.id}"
        apply.prepare(region.sessions, region.settings, lane)
        assert len(SEEN) == (3 if room > 1 else 1)
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 3
    prepared = [seen for who, seen in SEEN if who == "prepare"]
    handled = [seen for who, seen in SEEN if who == "handler"]
    names = [message.labs[0]["name"] for message in prepared]
    assert len(set(names)) == len(names)  # once each, though every batch prepares the next
    if region.engine.dialect.name == "sqlite":  # PostgreSQL's batches prepare nothing
        assert names == ["甲", "乙", "丙"]
    assert len(handled) == 3
    assert all(any(h is p for h in handled) for p in prepared)
    SEEN.clear()
    with installed_with(AHEAD):
        _accept_all(region, [(lims, "test.ahead", lims.message(labs=[{"name": "丁"}]))])
        apply.prepare(region.sessions, region.settings, lane)
        monkeypatch.setattr(
            apply, "conversions", lambda db, types: {"test.ahead": lambda row, data: data}
        )
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 1
    ((_, prepared_once), (_, handled_once)) = SEEN
    assert handled_once is not prepared_once  # parsed again, after its conversion
    assert handled_once == prepared_once


def test_what_a_preparation_keeps_on_its_message_counts_against_the_bound(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message of a few bytes whose preparation keeps megabytes on it (a test record sending
    its curves as uploaded files, read ahead) weighs what it holds: past PARSED_BYTES the older
    prepared messages are dropped and prepare looks no further ahead, so the store stays
    within its bound; every message is still applied."""
    (lims,) = region.lims()
    SEEN.clear()
    monkeypatch.setitem(HELD, "bytes", apply.PARSED_BYTES)
    with installed_with(AHEAD):
        _accept_all(region, [(lims, "test.ahead", lims.message(labs=[{"name": name}]))
                             for name in ("甲", "乙", "丙")])  # fmt: skip
        lane = f"i{lims.institution.id}"
        apply.prepare(region.sessions, region.settings, lane)
        assert [who for who, _ in SEEN] == ["prepare"]  # the first, and no further ahead
        assert apply._parsed.weight <= 2 * apply.PARSED_BYTES  # itself only, never more
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 3
    assert apply._parsed.weight == 0  # each one taken as applied, or never kept
    assert [who for who, _ in SEEN].count("handler") == 3


def test_a_stopping_apply_worker_is_woken_not_left_to_its_poll(region: Region) -> None:
    """A worker waits on the process's wake-up between passes, not on its stop event: closing
    the wake-up as the process stops ends it at once, where it slept out its poll (60 s here)
    before."""
    wakeup = apply.Wakeup()
    stop = threading.Event()
    run = apply.apply_loop(region.sessions, region.settings, 60.0, wakeup)
    workers = [threading.Thread(target=run, args=(stop,), daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    workers[0].join(timeout=1)  # both pass once and wait
    stop.set()
    workers[0].join(timeout=1)
    assert workers[0].is_alive()  # the stop event alone does not wake them
    wakeup.close()
    for worker in workers:
        worker.join(timeout=10)
        assert not worker.is_alive()


def test_the_apps_lifespan_wakes_its_apply_workers_to_stop(settings: Settings) -> None:
    """The exchange's app declares its wake-up as one to call when stopping."""
    from jcjg.main import create_app

    app = create_app(settings.model_copy(update={"exchange_apply_poll_seconds": 60.0}))
    wakeup = app.state.exchange_wakeup
    with TestClient(app):
        assert not wakeup._closed
    assert wakeup._closed


def _pass_beginnings(monkeypatch: pytest.MonkeyPatch, counted: Callable[[], bool]) -> list[float]:
    """When each pass over the waiting lanes began (monotonic), in the threads ``counted``
    says are the test's, as the worker's :class:`apply.Pace` noted it. A time taken later
    (at the pass's first call) is late by whatever a loaded machine delayed the thread
    meanwhile: two such delays made a gap look 18 ms short of the gather."""
    began: list[float] = []
    paced = apply.Pace.next_pass

    def next_pass(pace: apply.Pace, stop: threading.Event | None = None) -> bool:
        begins = paced(pace, stop)
        if begins and counted():
            began.append(pace.began)
        return begins

    monkeypatch.setattr(apply.Pace, "next_pass", next_pass)
    return began


def test_an_apply_worker_woken_at_every_commit_passes_at_most_every_gather(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Woken every few milliseconds (a busy process's commits), a worker begins a pass over the
    waiting lanes at most every ``gather`` seconds (a drain's first pass paced by the last
    drain's last), where without a gather it passes at nearly every wake-up; and a worker
    waiting out a long gather stops at once when its process stops."""
    mine: set[int] = set()  # the worker's thread (apply workers of other tests' apps may run)
    passes = _pass_beginnings(monkeypatch, lambda: threading.get_ident() in mine)
    monkeypatch.setattr(apply, "waiting_lanes", lambda db, limit=100: ["i1"])
    monkeypatch.setattr(apply, "apply_lanes", lambda *args, **kwargs: 0)  # one pass a drain

    def woken_for(gather: float, seconds: float) -> list[float]:
        passes.clear()
        wakeup, stop = apply.Wakeup(), threading.Event()
        loop = apply.apply_loop(region.sessions, region.settings, 60.0, wakeup, gather)

        def run(stop: threading.Event) -> None:
            mine.add(threading.get_ident())
            loop(stop)

        worker = threading.Thread(target=run, args=(stop,))
        worker.start()
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            wakeup.set()
            time.sleep(0.005)
        last = time.monotonic()
        while (not passes or passes[-1] < last) and gather < 10:  # the last wake-up's pass
            wakeup.set()
            time.sleep(0.01)
        stopping = time.monotonic()
        stop.set()
        wakeup.close()
        worker.join(timeout=10)
        assert not worker.is_alive()
        if gather >= 10:  # it was waiting out the gather: stopped without finishing the wait
            assert time.monotonic() - stopping < gather / 2
        return passes[:]

    gathered = woken_for(0.25, 1.0)
    gaps = [b - a for a, b in itertools.pairwise(gathered)]
    assert gaps
    assert min(gaps) >= 0.25 * 0.99
    assert len(woken_for(0.0, 0.5)) > len(gathered)
    assert len(woken_for(30.0, 0.3)) == 1  # the first pass at once, the next not yet due


def test_a_drain_behind_a_steady_stream_passes_at_most_every_gather(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages arriving all the time keep a drain going: each pass over the waiting lanes
    begins at least ``gather`` after the one before (what arrived meanwhile is one batch), or
    at once without a gather."""
    test = threading.get_ident()  # apply workers of other tests' apps may run meanwhile
    passes = _pass_beginnings(monkeypatch, lambda: threading.get_ident() == test)

    def applied(*args: Any, **kwargs: Any) -> int:
        if threading.get_ident() != test:
            return 0
        return 1 if len(passes) < 4 else 0  # three passes find messages, the fourth none

    monkeypatch.setattr(apply, "waiting_lanes", lambda db, limit=100: ["i1"])
    monkeypatch.setattr(apply, "apply_lanes", applied)
    for gather in (0.2, 0.0):
        passes.clear()
        assert apply.drain(region.sessions, region.settings, gather=apply.Pace(gather)) == 3
        gaps = [b - a for a, b in itertools.pairwise(passes)]
        assert len(passes) == 4
        if gather:
            assert min(gaps) >= gather * 0.99


class Readings(MessageBase):
    values: list[float] = Field(min_length=1)


@message_type("test.readings", title="读数", schema=Readings, example={})
def _readings(ctx: HandlerContext, message: Readings) -> dict[str, Any]:
    return {"values": len(message.values)}


READINGS = Domain(name="readings", title="读数", message_types=(_readings,))


def _walked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """What the plausibility check walks from now on: each value's length (a list, walked as
    one array) or 1."""
    walked: list[int] = []
    real = plausible.problems

    def spy(value: Any, path: str = "") -> Any:
        walked.append(len(value) if isinstance(value, list) else 1)
        return real(value, path)

    monkeypatch.setattr(plausible, "problems", spy)
    return walked


def test_a_body_is_parsed_once_at_acceptance_and_checked_again_at_its_apply(
    region: Region, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At its acceptance a message is parsed against its schema once, though its first try
    from memory needed the database (a sender not yet in memory): the second try keeps what
    the first parsed. At its apply it is checked again, plausibility and all: its bytes may
    have been accepted under an older schema or before a check existed (a replay, an
    upgrade), and a conversion may have rewritten them (a tiny number a conversion made is
    refused)."""
    (lims,) = region.lims()
    walked = _walked(monkeypatch)
    readings = [round(0.5 + n / 7, 3) for n in range(200)]  # long: walked as one array
    with installed_with(READINGS):
        _accept_all(region, [(lims, "test.readings", lims.message(values=readings))])
        assert walked == [200]  # once
        walked.clear()
        lane = f"i{lims.institution.id}"
        apply.prepare(region.sessions, region.settings, lane)
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 1
        assert walked == [200]
        _accept_all(region, [(lims, "test.readings", lims.message(values=readings))])

        def tiny(row: Message, data: dict[str, Any]) -> dict[str, Any]:
            return {**data, "values": [1e-310, *data["values"][1:]]}

        monkeypatch.setattr(apply, "conversions", lambda db, types: {"test.readings": tiny})
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 1
    with region.sessions() as db:
        statuses = db.scalars(select(Message.status).order_by(Message.id)).all()
        problem = db.scalars(select(Message.problem).order_by(Message.id.desc())).first()
    assert statuses == ["applied", "rejected"]
    assert problem is not None
    assert "number_too_small" in str(problem)


@pytest.mark.parametrize(
    "one_written_small",
    [b"1e-310", b"0." + b"0" * 310 + b"1", b'"1e-310"', b'"0.' + b"0" * 310 + b'1"'],
)
def test_a_large_body_is_read_again_at_its_apply_whatever_its_bytes_say(
    region: Region, monkeypatch: pytest.MonkeyPatch, one_written_small: bytes
) -> None:
    """At its acceptance a body over 16 kB whose numbers hold no exponent and no run of 300
    digits has its fields of numbers only taken as plausible (pydantic's strict JSON mode
    takes no number out of a string). Its apply validates the parsed body in Python mode,
    which reads ``"1e-310"`` as a number, and the bytes' count leaves strings out: so the apply
    reads its numbers again, plain bytes or not, and a stored body holding a number written
    small, as a number or as text (accepted under an older schema or a laxer check: here
    written into the stored row), is refused."""
    (lims,) = region.lims()
    walked = _walked(monkeypatch)
    readings = [12345.5, *(round(0.5 + n / 7, 3) for n in range(1, 2000))]
    lane = f"i{lims.institution.id}"
    with installed_with(READINGS):
        _accept_all(region, [(lims, "test.readings", lims.message(values=readings))])
        assert 2000 not in walked  # accepted without reading them again
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 1
        assert walked == [2000]  # read again at its apply, its bytes plain as they are
        _accept_all(region, [(lims, "test.readings", lims.message(values=readings))])
        with region.sessions() as db:
            stored = db.scalars(select(Message).order_by(Message.id.desc())).first()
            assert stored is not None
            assert len(stored.body) > 16 * 1024
            stored.body = stored.body.replace(b"12345.5", one_written_small, 1)
            db.commit()
        assert apply.apply_lane(region.sessions, region.settings, lane, "a") == 1
    with region.sessions() as db:
        statuses = db.scalars(select(Message.status).order_by(Message.id)).all()
        problem = db.scalars(select(Message.problem).order_by(Message.id.desc())).first()
    assert statuses == ["applied", "rejected"]
    assert "number_too_small" in str(problem)


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread: Linux")
@pytest.mark.parametrize("nice", [7, 0])
def test_an_apply_worker_runs_below_the_threads_that_answer(
    settings, engine, session_factory, monkeypatch, nice
) -> None:
    """A serving process's apply workers lower their own priority by exchange_apply_nice
    before their first pass (the answers come first); the other threads keep theirs."""
    from jcjg.exchange import domain
    from jcjg.main import create_app

    passed: dict[str, Any] = {}
    real_loop = apply.apply_loop

    def loop(*args: Any, **kwargs: Any) -> Callable[[threading.Event], None]:
        passed["nice"] = inspect.signature(real_loop).bind(*args, **kwargs).arguments["nice"]
        return real_loop(*args, **kwargs)

    monkeypatch.setattr(domain, "apply_loop", loop)
    create_app(  # the setting reaches the apply workers of the app
        settings.model_copy(update={"exchange_apply_workers": 1, "exchange_apply_nice": nice}),
        engine=engine,
        session_factory=session_factory,
    )
    assert passed == {"nice": nice}

    def priority() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen: list[int] = []
    stop = threading.Event()

    def first_pass(*_: Any, **__: Any) -> int:
        seen.append(priority())
        stop.set()
        return 0

    monkeypatch.setattr(apply, "drain", first_pass)
    base = priority()
    worker = threading.Thread(
        target=real_loop(session_factory, settings, 0.01, nice=nice), args=(stop,)
    )
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert seen == [min(19, base + nice)]
    assert priority() == base  # the calling thread's own is left alone
