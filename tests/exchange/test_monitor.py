"""Monitoring (000 6.0.4): the request tally, its flush, and the rules client_silent and
client_error_spike, each with a case that fires and one that does not."""

from __future__ import annotations

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from jcjg.alerts import engine
from jcjg.alerts.models import Alert
from jcjg.client.signing import load_key
from jcjg.exchange.models import Client, ClientStat
from jcjg.exchange.monitor import Recorder
from jcjg.exchange.rules import is_working_hour, working_hours_between
from tests.exchange.conftest import Lims
from tests.factories import catalogue

SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    """A Beijing-time moment as UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


def test_working_hours_follow_the_statutory_calendar() -> None:
    assert is_working_hour(at("2026-11-20 09:00"))  # a Friday
    assert not is_working_hour(at("2026-11-20 19:00"))  # evening
    assert not is_working_hour(at("2026-11-21 10:00"))  # Saturday
    assert not is_working_hour(at("2026-10-02 10:00"))  # National Day holiday (Friday)
    # Friday 16:00 to Monday 10:00: 17-18 on Friday (1) and 8-9 on Monday (1) are whole hours.
    assert working_hours_between(at("2026-11-20 16:30"), at("2026-11-23 10:00")) == 3


def test_recorder_flush_adds_to_stored_counters(
    db: Session, session_factory: sessionmaker[Session], lims: Lims
) -> None:
    recorder = Recorder()
    now = dt.datetime(2026, 11, 20, 2, 30, tzinfo=dt.UTC)
    for latency in (10.0, 30.0):
        recorder.record(lims.client.id, "registry.labs", "accepted", 100, latency, now=now)
    recorder.record(lims.client.id, "registry.labs", "validation", 50, 5.0, now=now)
    assert recorder.flush(session_factory) == 2
    recorder.record(lims.client.id, "registry.labs", "accepted", 100, 50.0, now=now)
    assert recorder.flush(session_factory) == 1
    assert recorder.flush(session_factory) == 0
    db.expire_all()
    rows = {
        r.outcome: r
        for r in db.scalars(select(ClientStat).where(ClientStat.client_id == lims.client.id))
    }
    accepted = rows["accepted"]
    assert (accepted.count, accepted.bytes, accepted.latency_ms_max) == (3, 300, 50.0)
    assert accepted.latency_ms_sum == pytest.approx(90.0)
    assert accepted.hour == dt.datetime(2026, 11, 20, 2, tzinfo=dt.UTC)
    assert rows["validation"].count == 1
    client = db.get(Client, lims.client.id)
    assert client is not None
    assert client.last_seen_at == now  # only successes count as seen


def test_requests_are_tallied_by_outcome(
    client: TestClient, db: Session, session_factory: sessionmaker[Session], lims: Lims
) -> None:
    catalogue(db, "01")
    db.commit()
    labs = [{"name": "力学室", "address": "一路 1 号", "area_m2": "10", "specialties": ["01"]}]
    lims.post(client, "registry.labs", lims.message(labs=labs))
    lims.post(client, "registry.labs", lims.message(labs=[]))
    # A forged signature naming this client's key is not charged to it (anyone can name a
    # key id); a genuine but stale one is.
    impostor = Lims(lims.institution, lims.client, lims.key_id, load_key("ed25519", b"\x01" * 32))
    assert impostor.post(client, "registry.labs", lims.message(labs=labs)).status_code == 401
    stale = lims.post(client, "registry.labs", lims.message(labs=labs), created=1_000_000)
    assert stale.status_code == 401
    recorder: Recorder = client.app.state.exchange_recorder  # type: ignore[attr-defined]
    recorder.flush(session_factory)
    db.expire_all()
    outcomes = {
        (r.message_type, r.outcome): r.count
        for r in db.scalars(select(ClientStat).where(ClientStat.client_id == lims.client.id))
    }
    assert outcomes == {
        ("registry.labs", "accepted"): 1,
        ("registry.labs", "validation"): 1,
        ("registry.labs", "exchange-signature-stale"): 1,
    }


def _alerts(db: Session, rule_id: str) -> list[Alert]:
    db.expire_all()
    return list(db.scalars(select(Alert).where(Alert.rule_id == rule_id, Alert.status == "open")))


def test_client_silent_fires_after_working_hours_without_data(db: Session, lims: Lims) -> None:
    client = db.get(Client, lims.client.id)
    assert client is not None
    client.last_seen_at = at("2026-11-19 09:00")  # Thursday morning
    db.flush()
    engine.run_rule(db, "client_silent", now=at("2026-11-19 16:00"))  # 6 working hours later
    assert _alerts(db, "client_silent") == []
    engine.run_rule(db, "client_silent", now=at("2026-11-20 10:00"))  # 10 working hours later
    [alert] = _alerts(db, "client_silent")
    assert alert.subject_id == str(client.id)
    assert alert.institution_id == lims.institution.id
    # Data again: the alert closes on the next run.
    client.last_seen_at = at("2026-11-20 09:59")
    db.flush()
    engine.run_rule(db, "client_silent", now=at("2026-11-20 10:00"))
    assert _alerts(db, "client_silent") == []


def test_client_silent_fires_across_a_weekend(db: Session, lims: Lims) -> None:
    """Friday 17:00 to Monday 17:00: one hour on Friday and eight on Monday."""
    client = db.get(Client, lims.client.id)
    assert client is not None
    client.last_seen_at = at("2026-11-20 16:59")
    db.flush()
    engine.run_rule(db, "client_silent", now=at("2026-11-23 17:00"))
    assert [a.subject_id for a in _alerts(db, "client_silent")] == [str(client.id)]


def test_client_silent_does_not_count_weekends(db: Session, lims: Lims) -> None:
    client = db.get(Client, lims.client.id)
    assert client is not None
    client.last_seen_at = at("2026-11-20 15:00")  # Friday afternoon
    db.flush()
    engine.run_rule(db, "client_silent", now=at("2026-11-23 09:00"))  # Monday 9:00
    assert _alerts(db, "client_silent") == []


def _stat(db: Session, client_id: int, hour: dt.datetime, outcome: str, count: int) -> None:
    db.add(
        ClientStat(
            client_id=client_id,
            hour=hour,
            message_type="registry.labs",
            outcome=outcome,
            count=count,
            bytes=0,
            latency_ms_sum=0.0,
            latency_ms_max=0.0,
        )
    )
    db.flush()


def test_client_error_spike_fires_above_the_ratio(db: Session, lims: Lims) -> None:
    now = dt.datetime(2026, 11, 20, 3, 40, tzinfo=dt.UTC)
    hour = now.replace(minute=0)
    _stat(db, lims.client.id, hour, "accepted", 30)
    _stat(db, lims.client.id, hour, "exchange-signature-invalid", 5)
    engine.run_rule(db, "client_error_spike", now=now)
    assert _alerts(db, "client_error_spike") == []  # 5/35 = 14 %
    _stat(db, lims.client.id, hour, "exchange-signature-stale", 10)
    engine.run_rule(db, "client_error_spike", now=now)
    [alert] = _alerts(db, "client_error_spike")
    assert alert.facts["被拒数"] == 15
    assert any("exchange-signature-stale" in r for r in alert.facts["主要原因"])
    # An hour later the window has moved on: closed.
    engine.run_rule(db, "client_error_spike", now=now + dt.timedelta(hours=1))
    assert _alerts(db, "client_error_spike") == []


def test_client_error_spike_does_not_count_files_missing(db: Session, lims: Lims) -> None:
    """A healthy lab: every fifth request is the files-missing step before a resend (20 %+),
    with a few real refusals below the threshold: no alert. Real refusals above it still fire."""
    now = dt.datetime(2026, 11, 20, 3, 40, tzinfo=dt.UTC)
    hour = now.replace(minute=0)
    _stat(db, lims.client.id, hour, "accepted", 40)
    _stat(db, lims.client.id, hour, "exchange-files-missing", 12)
    _stat(db, lims.client.id, hour, "exchange-signature-invalid", 2)
    engine.run_rule(db, "client_error_spike", now=now)
    assert _alerts(db, "client_error_spike") == []  # 2/54 refused; 14/54 would be 26 %
    _stat(db, lims.client.id, hour, "exchange-signature-stale", 12)
    engine.run_rule(db, "client_error_spike", now=now)
    [alert] = _alerts(db, "client_error_spike")
    assert alert.facts["被拒数"] == 14  # 14/66 = 21 %: the files-missing step is not among them
    assert not any("exchange-files-missing" in r for r in alert.facts["主要原因"])


def test_client_error_spike_needs_enough_requests(db: Session, lims: Lims) -> None:
    now = dt.datetime(2026, 11, 20, 3, 40, tzinfo=dt.UTC)
    _stat(db, lims.client.id, now.replace(minute=0), "exchange-signature-invalid", 10)
    engine.run_rule(db, "client_error_spike", now=now)
    assert _alerts(db, "client_error_spike") == []  # 10 < 20 requests


def test_jobs_forget_old_nonces_and_run_the_client_rules(db: Session, lims: Lims) -> None:
    import logging

    from jcjg.core.db import utcnow
    from jcjg.exchange import jobs
    from jcjg.exchange.models import SeenNonce

    now = utcnow()
    db.add_all(
        [
            SeenNonce(key_id=lims.key_id, nonce="old", seen_at=now - dt.timedelta(hours=1)),
            SeenNonce(key_id=lims.key_id, nonce="fresh", seen_at=now),
        ]
    )
    client = db.get(Client, lims.client.id)
    assert client is not None
    client.last_seen_at = now - dt.timedelta(days=30)  # silent for weeks of working days
    db.flush()
    jobs.cleanup(db, logging.getLogger("test"))
    assert [n.nonce for n in db.scalars(select(SeenNonce))] == ["fresh"]
    jobs.monitor(db, logging.getLogger("test"))
    assert [a.subject_id for a in _alerts(db, "client_silent")] == [str(client.id)]
