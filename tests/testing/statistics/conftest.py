"""The statistics' two labs: their records sent through the signed exchange and tallied once
per module, not once per test (six signed uploads and the rules behind them were seconds of
every test's set-up). Each test here runs in a savepoint of its module's transaction, which
holds the two labs' records (``connection``): what a test writes goes with its savepoint, what
the module wrote with the module."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker

from jcjg.config import Settings
from jcjg.main import create_app
from jcjg.projects.models import Project
from jcjg.testing.jobs import tally
from tests.conftest import settings_for_tests
from tests.exchange.conftest import Lims, make_lims
from tests.factories import Factory
from tests.testing.conftest import concrete_record


@dataclass(frozen=True)
class StatisticsRegion:
    connection: Connection
    settings: Settings
    labs: tuple[Lims, Lims, Project]


@pytest.fixture(scope="module")
def statistics_region(
    engine: Engine, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StatisticsRegion]:
    folder: Path = tmp_path_factory.mktemp("statistics")
    settings = settings_for_tests(
        secret_key="statistics-region-secret-key-0123456789",
        database_url=database_url,
        data_dir=folder / "data",
    )
    conn = engine.connect()
    outer = conn.begin()
    sessions = sessionmaker(
        bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    app = create_app(settings, engine=engine, session_factory=sessions)
    try:
        with sessions() as db, TestClient(app, headers={"accept": "application/json"}) as client:
            # numbered apart from the tests' factories (credit codes are made of the numbers)
            labs = _send(client, db, settings, Factory(db, settings, counter=[900_000]))
            db.expunge_all()  # the labs' rows as they were sent, for the tests' sessions
        yield StatisticsRegion(conn, settings, labs)
    finally:
        outer.rollback()
        conn.close()


def _send(
    client: TestClient, db: Session, settings: Settings, factory: Factory
) -> tuple[Lims, Lims, Project]:
    """Two labs' records: on time, late, too fast, judged nonconforming by the lab, one on a
    project, one from October (Beijing) ended in the last UTC hours of the month."""
    lab = make_lims(db, settings, factory)
    other = make_lims(db, settings, factory)
    project = factory.project(region_code="360403")
    db.commit()
    sends = [
        (lab, concrete_record(lab, number="ST-OK")[0] | {"project_code": project.code}),
        (lab, concrete_record(lab, number="ST-LATE", minutes_ago=180, seed=2)[0]),
        (lab, concrete_record(lab, number="ST-FAST", rate_mpa_s=1.5, seed=3)[0]),
        (lab, concrete_record(lab, number="ST-BAD", seed=4, judgement="nonconforming")[0]),
        (other, concrete_record(other, number="ST-B1", minutes_ago=200, seed=5)[0]),
    ]
    october, _ = concrete_record(other, number="ST-OCT", seed=6)
    october["ended_at"] = "2025-10-31T17:30:00+00:00"  # 1 November in Beijing
    october["started_at"] = "2025-10-31T17:20:00+00:00"
    sends.append((other, october))
    for lims, payload in sends:
        response = lims.post(client, "test_record", payload)
        assert response.status_code == 200, response.text
    db.expire_all()
    tally(db, logging.getLogger("test"))  # the job the page's numbers come from
    db.commit()
    for row in (lab.institution, lab.client, other.institution, other.client, project):
        db.refresh(row)
    return lab, other, project


@pytest.fixture(name="connection")
def in_the_statistics_region(statistics_region: StatisticsRegion) -> Iterator[Connection]:
    """The test's savepoint in the module's transaction (the ``connection`` of such a module)."""
    conn = statistics_region.connection
    point = conn.begin_nested()
    yield conn
    if point.is_active:
        point.rollback()


@pytest.fixture(name="settings")
def statistics_settings(statistics_region: StatisticsRegion) -> Settings:
    """The module's settings: its data folder holds the labs' curves."""
    return statistics_region.settings


@pytest.fixture
def region(statistics_region: StatisticsRegion) -> tuple[Lims, Lims, Project]:
    """The two labs (the second the other's) and the project of the first's record."""
    return statistics_region.labs
