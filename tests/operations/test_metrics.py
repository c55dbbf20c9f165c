"""``/metrics`` (docs/operations/monitoring.md): Prometheus's text for a platform administrator
or an allowed address, never for anyone else; requests counted by route and status; the
database's figures (backlog and apply lag, the ledger, each job's last run) as they stand; and
with several processes, every process's counters in one scrape."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session, sessionmaker

from jcjg.auth.choices import Role
from jcjg.config import Settings
from jcjg.core import jobs
from jcjg.operations.models import Backup
from tests.conftest import upgraded_database_url
from tests.exchange.conftest import make_lims
from tests.factories import Factory, login
from tests.servers import answering, free_port


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition by name and labels."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(text: str, name: str, **labels: str) -> float | None:
    return _samples(text).get((name, tuple(sorted(labels.items()))))


def _scrape(http: TestClient, token: str) -> str:
    """What Prometheus reads with an administrator's API token."""
    answer = http.get("/api/v1/metrics", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text[:500]
    assert answer.headers["content-type"].startswith("text/plain")
    return answer.text


@pytest.mark.sqlite
def test_only_an_operator_or_an_allowed_address_reads_the_metrics(
    client: TestClient, factory: Factory, settings: Settings, app: FastAPI
) -> None:
    for path in ("/metrics", "/api/v1/metrics"):
        refused = client.get(path)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
    for role in (Role.PROVINCIAL_AUTHORITY, Role.INSTITUTION_ADMIN):
        token = factory.token(factory.user(role, region_code="360000"))
        answer = client.get("/api/v1/metrics", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 403, role
    admin_user = factory.user(Role.PLATFORM_ADMIN)
    admin = factory.token(admin_user)
    text = _scrape(client, admin)
    assert "jcjg_exchange_backlog_messages" in text
    # a token is for the API: on /metrics, the administrator logs in (a page's rule)
    assert client.get("/metrics", headers={"Authorization": f"Bearer {admin}"}).status_code == 401
    browser = TestClient(app)
    login(browser, admin_user.username)
    assert browser.get("/metrics").status_code == 200

    settings.metrics_allow = "10.0.0.0/8"  # the Prometheus server's network
    inside = TestClient(app, client=("10.2.3.4", 40000)).get("/metrics")
    assert inside.status_code == 200
    outside = TestClient(app, client=("192.168.1.9", 40000)).get("/metrics")
    assert outside.status_code == 401  # anonymous, from elsewhere


@pytest.mark.sqlite
def test_requests_are_counted_by_route_template_and_status(
    client: TestClient, factory: Factory
) -> None:
    admin = factory.token(factory.user(Role.PLATFORM_ADMIN))
    labels = {"method": "GET", "route": "/healthz", "status": "200"}
    before = _value(_scrape(client, admin), "jcjg_http_requests_total", **labels) or 0
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    client.get("/reports/999999999")  # a route's template, not its address
    text = _scrape(client, admin)
    assert _value(text, "jcjg_http_requests_total", **labels) == before + 3
    assert any(
        name == "jcjg_http_requests_total" and dict(found).get("route") == "/reports/{report_id}"
        for name, found in _samples(text)
    )
    assert "/reports/999999999" not in text
    count = _value(text, "jcjg_http_request_duration_seconds_count", method="GET", route="/healthz")
    assert count is not None
    assert count >= 3


@pytest.mark.sqlite
def test_the_scrape_shows_the_turns_held_and_the_requests_waiting(
    client: TestClient, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scrape itself holds a turn of its process (core.admission); none waits."""
    # however slow the scrape on a busy machine, its turn is not lent away before it is read
    monkeypatch.setattr(client.app.state.admission, "lend_seconds", 60.0)
    admin = factory.token(factory.user(Role.PLATFORM_ADMIN))
    text = _scrape(client, admin)
    assert _value(text, "jcjg_request_turns_held") == 1
    assert _value(text, "jcjg_requests_waiting") == 0


@pytest.mark.sqlite
def test_the_figures_show_the_backlog_the_apply_lag_and_a_failing_job(
    client: TestClient,
    db: Session,
    settings: Settings,
    factory: Factory,
    session_factory: sessionmaker[Session],
) -> None:
    admin = factory.token(factory.user(Role.PLATFORM_ADMIN))
    quiet = _scrape(client, admin)
    assert _value(quiet, "jcjg_exchange_backlog_messages") == 0
    assert _value(quiet, "jcjg_exchange_apply_lag_seconds") == 0

    lims = make_lims(db, settings, factory)
    db.commit()
    lab = {"name": "力学室", "address": "九江市长虹大道 1 号", "area_m2": "100.00",
           "specialties": ["01"]}  # fmt: skip
    sent = lims.post_raw(client, "registry.labs", lims.message(labs=[lab]))
    assert sent.status_code == 202, sent.text
    time.sleep(0.05)
    waiting = _scrape(client, admin)
    assert _value(waiting, "jcjg_exchange_backlog_messages") == 1
    lag = _value(waiting, "jcjg_exchange_apply_lag_seconds")
    assert lag is not None
    assert lag > 0
    accepted = _value(waiting, "jcjg_exchange_requests_total", outcome="accepted")
    assert accepted is not None
    assert accepted >= 1

    def broken(db: Session, log: logging.Logger) -> None:
        raise RuntimeError("磁盘已满")

    failing = jobs.Job("test.failing", "总是失败", dt.timedelta(hours=1), broken)
    jobs.run_job(session_factory, failing)
    text = _scrape(client, admin)
    assert _value(text, "jcjg_job_last_run_failed", job="test.failing") == 1
    assert _value(text, "jcjg_job_runs_total", job="test.failing", status="failed") == 1
    assert (_value(text, "jcjg_data_disk_total_bytes") or 0) > 0
    assert _value(text, "jcjg_ledger_size_leaves") is not None
    assert _value(text, "jcjg_backup_last_success_timestamp_seconds") is None  # none yet
    finished = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
    db.add(Backup(started_at=finished, finished_at=finished, status="succeeded", kind="sqlite"))
    db.commit()
    text = _scrape(client, admin)
    assert _value(text, "jcjg_backup_last_success_timestamp_seconds") == finished.timestamp()


@pytest.mark.sqlite_run  # its own server processes, on a copy of the run's database
@pytest.mark.xdist_group("heavy-benches")  # not beside the benches that load both cores
def test_two_processes_are_counted_in_one_scrape(tmp_path: Path) -> None:
    """uvicorn with two workers in multiprocess mode: whichever worker answers a scrape, it
    counts every request either of them answered."""
    url, drop = upgraded_database_url(tmp_path)
    folder = tmp_path / "prometheus"
    folder.mkdir()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JCJG_ENV": "test",
        "JCJG_SECRET_KEY": "metrics-test-secret-key-0123456789",
        "JCJG_DATABASE_URL": url,
        "JCJG_DATA_DIR": str(tmp_path / "data"),
        "JCJG_EMBEDDED_WORKER": "false",
        "JCJG_METRICS_ALLOW": "127.0.0.1/32",
        "JCJG_METRICS_CACHE_SECONDS": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(folder),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "jcjg.main:create_app", "--factory", "--workers", "2",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        answering(base, server, "the server")
        # counted on /readyz, which nothing else asks: a /healthz that answering() gave up on
        # (2 s under load) may still be answered, and counted, after ``start`` was read
        labels = {"method": "GET", "route": "/readyz", "status": "200"}
        start = _value(
            httpx.get(f"{base}/metrics", timeout=30).text, "jcjg_http_requests_total", **labels
        )
        sent = 0
        with ThreadPoolExecutor(8) as pool:  # a new connection each, until both workers answered
            for _ in range(50):
                codes = list(
                    pool.map(
                        lambda _: httpx.get(f"{base}/readyz", timeout=30).status_code, range(20)
                    )
                )
                assert codes == [200] * 20
                sent += 20
                if len({p.stem.rsplit("_", 1)[-1] for p in folder.glob("counter_*.db")}) == 2:
                    break
        pids = {p.stem.rsplit("_", 1)[-1] for p in folder.glob("counter_*.db")}
        assert len(pids) == 2, pids  # both workers counted into the shared folder
        seen = {
            _value(
                httpx.get(f"{base}/metrics", timeout=30).text, "jcjg_http_requests_total", **labels
            )
            for _ in range(6)
        }
        assert seen == {(start or 0) + sent}  # whichever worker answers the scrape
    finally:
        server.terminate()
        server.wait(timeout=20)
        drop()
