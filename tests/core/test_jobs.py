"""Periodic jobs: due jobs run once per interval, every run is recorded with its log."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import jcjg.auth.jobs
from jcjg.auth.models import UserSession
from jcjg.config import Settings
from jcjg.core import domains, jobs
from jcjg.core.db import make_engine, make_sessionmaker, utcnow
from jcjg.core.domains import Domain
from jcjg.core.jobs import Job, JobRun, JobSchedule, run_due, run_job
from tests.conftest import upgraded_database_url
from tests.factories import Factory

NOW = dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC)
EVERY = dt.timedelta(minutes=10)


@pytest.fixture
def only_jobs() -> Iterator[Callable[..., None]]:
    """Make the installed domains hold exactly the given jobs for this test (a throwaway domain
    of them in place of every domain's jobs; restored afterwards)."""
    with ExitStack() as stack:

        def install(*registered: Job) -> None:
            test = Domain(name="test_jobs", title="测试任务", jobs=registered)
            stack.enter_context(domains.installed_with(test, keep=domains.stripped("jobs")))

        yield install


@pytest.fixture
def own_sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a database of the test's own, each on a connection of its own: the tests
    that run jobs on several threads (two workers, a lease's renewals) cannot share the one
    connection ``session_factory`` rolls back at the end."""
    url, drop = upgraded_database_url(tmp_path)
    engine = make_engine(url)
    try:
        yield make_sessionmaker(engine)
    finally:
        engine.dispose()
        drop()


def _runs(factory: sessionmaker[Session], name: str) -> list[JobRun]:
    with factory() as db:
        return list(db.scalars(select(JobRun).where(JobRun.name == name).order_by(JobRun.id)))


def _greet(db: Session, log: logging.Logger) -> None:
    log.info("你好，共 %d 个计划任务", len(db.scalars(select(JobSchedule)).all()))


GREET = Job("test.greet", "测试任务", EVERY, _greet)


def test_a_due_job_runs_and_its_run_is_recorded(
    session_factory: sessionmaker[Session], only_jobs: Callable[..., None]
) -> None:
    only_jobs(GREET)
    runs = run_due(session_factory, NOW)
    assert [(r.name, r.status) for r in runs] == [("test.greet", "succeeded")]
    [run] = _runs(session_factory, "test.greet")
    assert run.status == "succeeded"
    assert "你好，共 1 个计划任务" in run.log
    assert "INFO" in run.log
    assert run.finished_at is not None
    assert run.started_at <= run.finished_at
    with session_factory() as db:
        schedule = db.get_one(JobSchedule, "test.greet")
    assert schedule.next_run_at == NOW + EVERY
    assert schedule.locked_until is None


def test_a_job_runs_once_per_interval(
    session_factory: sessionmaker[Session], only_jobs: Callable[..., None]
) -> None:
    only_jobs(GREET)
    assert len(run_due(session_factory, NOW)) == 1
    assert run_due(session_factory, NOW) == []  # same time: not due again
    assert run_due(session_factory, NOW + EVERY - dt.timedelta(seconds=1)) == []
    assert [r.status for r in run_due(session_factory, NOW + EVERY)] == ["succeeded"]
    assert len(_runs(session_factory, "test.greet")) == 2


def test_a_job_held_by_another_worker_is_not_run(
    session_factory: sessionmaker[Session], only_jobs: Callable[..., None]
) -> None:
    only_jobs(GREET)
    with session_factory() as db:
        db.add(
            JobSchedule(
                name="test.greet",
                next_run_at=NOW - EVERY,
                locked_until=NOW + dt.timedelta(minutes=5),
            )
        )
        db.commit()
    assert run_due(session_factory, NOW) == []
    assert _runs(session_factory, "test.greet") == []
    # The other worker's hold has lapsed (it died): the job runs again.
    assert len(run_due(session_factory, NOW + dt.timedelta(minutes=6))) == 1


def _fail(db: Session, log: logging.Logger) -> None:
    log.info("开始")
    db.add(JobSchedule(name="test.partial", next_run_at=utcnow()))
    db.flush()
    raise RuntimeError("数据源不可用")


FAIL = Job("test.fail", "总是失败的任务", EVERY, _fail)


def test_a_failing_job_is_recorded_with_its_traceback(
    session_factory: sessionmaker[Session],
    only_jobs: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    only_jobs(FAIL, GREET)
    runs = run_due(session_factory, NOW)
    assert {r.name: r.status for r in runs} == {"test.fail": "failed", "test.greet": "succeeded"}
    [run] = _runs(session_factory, "test.fail")
    assert run.status == "failed"
    assert run.finished_at is not None
    assert "开始" in run.log
    assert "Traceback (most recent call last)" in run.log
    assert "RuntimeError: 数据源不可用" in run.log
    assert "job test.fail failed" in caplog.text
    with session_factory() as db:
        assert db.get(JobSchedule, "test.partial") is None  # its writes were rolled back
        assert db.get_one(JobSchedule, "test.fail").locked_until is None
    # A failure does not stop the job for good: it is due again after its interval.
    assert [r.status for r in run_due(session_factory, NOW + EVERY)] == ["failed", "succeeded"]


def test_two_domains_with_one_job_name_are_refused() -> None:
    twice = [Domain(name=n, title="测试", jobs=(GREET,)) for n in ("test_a", "test_b")]
    with pytest.raises(domains.DomainConflict, match=r"job 'test\.greet'"):
        domains.check(twice)
    assert "test.greet" not in jobs.registered()


def test_the_job_decorator_makes_a_job_that_runs_once_a_domain_lists_it(
    only_jobs: Callable[..., None],
) -> None:
    decorated = jobs.job("test.registered", title="登记的任务", every=EVERY)(_greet)
    assert isinstance(decorated, Job)
    assert (decorated.title, decorated.every, decorated.func) == ("登记的任务", EVERY, _greet)
    assert "test.registered" not in jobs.registered()
    only_jobs(decorated)
    assert jobs.registered() == {"test.registered": decorated}


# --- the real job: auth.purge_sessions ---------------------------------------------------------


def test_purge_sessions_removes_expired_sessions_and_keeps_fresh_ones(
    session_factory: sessionmaker[Session],
    db: Session,
    factory: Factory,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jcjg.auth.jobs, "get_settings", lambda: settings)
    user = factory.user()
    now = utcnow()
    idle = dt.timedelta(minutes=settings.session_idle_minutes)
    max_age = dt.timedelta(hours=settings.session_max_hours)
    ages = {
        "fresh": (now - dt.timedelta(hours=1), now),
        "nearly_idle": (now - dt.timedelta(hours=1), now - idle + dt.timedelta(minutes=1)),
        "idle": (now - dt.timedelta(hours=1), now - idle - dt.timedelta(minutes=1)),
        "too_old": (now - max_age - dt.timedelta(minutes=1), now),
    }
    for label, (created, seen) in ages.items():
        db.add(
            UserSession(
                token_hash=secrets.token_hex(32),
                user_id=user.id,
                csrf_token=secrets.token_hex(16),
                created_at=created,
                last_seen_at=seen,
                user_agent=label,
            )
        )
    db.commit()

    # run_job, as a "run now" would: the job has never been scheduled in this database.
    run = run_job(session_factory, jobs.registered()["auth.purge_sessions"])

    assert run.status == "succeeded", run.log
    assert "removed 2 expired sessions" in run.log
    db.expire_all()
    kept = db.scalars(select(UserSession.user_agent).where(UserSession.user_id == user.id))
    assert sorted(kept) == ["fresh", "nearly_idle"]


def _which_sender(db: Session, log: logging.Logger) -> None:
    from jcjg.config import get_settings

    log.info("发件人 %s", get_settings().smtp_from)


def test_a_job_reads_the_settings_of_the_app_that_runs_it(
    session_factory: sessionmaker[Session], only_jobs: Callable[..., None], settings: Settings
) -> None:
    """An app's embedded worker passes its settings (a test server's SMTP, say); without them a
    job reads the environment's, and the app's do not leak out of the run."""
    from jcjg.config import get_settings

    only_jobs(Job("test.sender", "测试任务", EVERY, _which_sender))
    mine = settings.model_copy(update={"smtp_from": "jobs@app.example"})
    [run] = run_due(session_factory, NOW, settings=mine)
    assert "发件人 jobs@app.example" in run.log
    again = run_job(session_factory, jobs.registered()["test.sender"])
    assert f"发件人 {get_settings().smtp_from}" in again.log
    assert get_settings().smtp_from != "jobs@app.example"


def test_a_long_job_keeps_its_claim_and_a_killed_workers_claim_lapses(
    own_sessions: sessionmaker[Session], only_jobs: Callable[..., None], settings: Settings
) -> None:
    """A claim is a lease renewed while the job runs: a job running five times its lease is not
    run again beside itself; the claim of a worker that died mid-job (nothing renews it) lapses
    after the lease, and the next poll of another worker runs the job (a 30-minute claim kept
    the ledger's job from every worker once the one that held it was killed)."""
    started, finish = threading.Event(), threading.Event()

    def long(db: Session, log: logging.Logger) -> None:
        started.set()
        assert finish.wait(30)

    only_jobs(Job("test.long", "测试任务", dt.timedelta(0), long))
    mine = settings.model_copy(update={"job_lease_seconds": 1.0})
    first: list[JobRun] = []
    worker = threading.Thread(target=lambda: first.extend(run_due(own_sessions, settings=mine)))
    worker.start()
    try:
        assert started.wait(30)
        deadline = time.monotonic() + 5  # five leases: renewed four times or more
        while time.monotonic() < deadline:
            assert run_due(own_sessions, settings=mine) == []  # held, though always due
            time.sleep(0.25)
    finally:
        finish.set()
        worker.join(30)
    assert [r.status for r in first] == ["succeeded"]
    assert len(_runs(own_sessions, "test.long")) == 1
    with own_sessions() as db:
        assert db.get_one(JobSchedule, "test.long").locked_until is None  # released


def test_the_claim_of_a_worker_killed_mid_job_lapses_after_its_lease(
    own_sessions: sessionmaker[Session],
    only_jobs: Callable[..., None],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker claims the job and stops mid-run (its renewals stop, as when it is killed):
    another worker's poll runs the job once the lease has passed, not half an hour later."""
    calls: list[int] = []
    stuck = threading.Event()

    def once_stuck(db: Session, log: logging.Logger) -> None:
        calls.append(1)
        if len(calls) == 1:
            assert stuck.wait(30)  # the killed worker's run never ends

    only_jobs(Job("test.stuck", "测试任务", dt.timedelta(0), once_stuck))
    mine = settings.model_copy(update={"job_lease_seconds": 1.0})
    monkeypatch.setattr(jobs._Lease, "_renew", lambda self: None)  # a dead worker renews nothing
    dead = threading.Thread(target=run_due, args=(own_sessions,), kwargs={"settings": mine})
    dead.start()
    try:
        deadline = time.monotonic() + 30
        while not calls:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert run_due(own_sessions, settings=mine) == []  # held for its lease
        time.sleep(1.2)
        assert [r.status for r in run_due(own_sessions, settings=mine)] == ["succeeded"]
        assert len(calls) == 2
    finally:
        stuck.set()
        dead.join(30)


def test_an_operators_run_leaves_a_workers_claim_alone(
    session_factory: sessionmaker[Session], only_jobs: Callable[..., None]
) -> None:
    only_jobs(GREET)
    held = NOW + dt.timedelta(minutes=5)
    with session_factory() as db:
        db.add(JobSchedule(name="test.greet", next_run_at=NOW - EVERY, locked_until=held))
        db.commit()
    assert run_job(session_factory, jobs.registered()["test.greet"]).status == "succeeded"
    with session_factory() as db:
        assert db.get_one(JobSchedule, "test.greet").locked_until == held
    assert run_due(session_factory, NOW) == []  # the worker's claim still holds


def test_a_claim_late_in_a_pass_is_a_whole_lease(
    own_sessions: sessionmaker[Session], only_jobs: Callable[..., None], settings: Settings
) -> None:
    """Jobs in a pass run one after another: a job claimed after others that took longer than
    a lease still holds a whole lease (a claim timed from the pass's start would end before it
    was written, and another worker's poll could run the job beside it)."""
    held: list[bool] = []

    def slow(db: Session, log: logging.Logger) -> None:
        time.sleep(1.5)

    def mine(db: Session, log: logging.Logger) -> None:
        until = db.get_one(JobSchedule, "test.b_after").locked_until
        held.append(until is not None and until > utcnow())

    only_jobs(
        Job("test.a_slow", "测试任务", EVERY, slow), Job("test.b_after", "测试任务", EVERY, mine)
    )
    runs = run_due(own_sessions, settings=settings.model_copy(update={"job_lease_seconds": 1.0}))
    assert [r.status for r in runs] == ["succeeded", "succeeded"]
    assert held == [True]
