"""Periodic jobs: one mechanism, a table of schedules and a table of runs.

A job is a function with a name and an interval, listed by its domain (``DOMAIN.jobs``).
``jcjg worker`` (or the embedded worker thread of ``jcjg serve``) claims due jobs with a
conditional UPDATE, so several workers on PostgreSQL never run the same job twice at once, runs
each in its own transaction, and records status, duration and log of every run in ``job_run``.

A claim is a lease (``JCJG_JOB_LEASE_SECONDS``) that a thread renews while the job runs: a
worker killed in the middle of a job holds it no longer than the lease, and another worker runs
it when it is next due (the ledger's integration, every 5 s, within seconds: its promise to
integrate within a minute depends on it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import threading
import traceback
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import ForeignKey, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from jcjg.config import Settings, get_settings, settings_in_use
from jcjg.core import domains, metrics
from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import IdMixin

log = logging.getLogger("jcjg.jobs")

JobFunc = Callable[[Session, logging.Logger], None]


class JobSchedule(Base):
    """When each job runs next, and which worker holds it now."""

    __tablename__ = "job_schedule"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class JobRun(IdMixin, Base):
    """One run of a job: when, how it ended, and what it logged."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(ForeignKey("job_schedule.name"), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    status: Mapped[str] = mapped_column(String(16), default="running")  # running/succeeded/failed
    log: Mapped[str] = mapped_column(Text, default="")


# The moment a job run judges by when an operator runs it "as of" another time (a test of a
# deadline on a test deployment: ``jcjg jobs run alerts.escalate --as-of 2026-12-10T09:00+08:00``)
_AS_OF: ContextVar[dt.datetime | None] = ContextVar("jcjg_job_as_of", default=None)


def now() -> dt.datetime:
    """The time a job judges deadlines and windows by: its run's as-of time, else now. Jobs
    that judge time (``job(..., as_of=True)``) read it instead of ``utcnow()``."""
    return _AS_OF.get() or utcnow()


@dataclass(frozen=True)
class Job:
    """A periodic job: its name (``<domain>.<name>``), Chinese title, interval and function.
    A domain lists its jobs in its ``DOMAIN`` (``jobs=(...)``); calling the job runs it.
    ``as_of``: the job judges time by :func:`now`, so it can be run as of another time."""

    name: str
    title: str
    every: dt.timedelta
    func: JobFunc
    as_of: bool = False

    def __call__(self, db: Session, logger: logging.Logger) -> None:
        self.func(db, logger)


def job(
    name: str, *, title: str, every: dt.timedelta, as_of: bool = False
) -> Callable[[JobFunc], Job]:
    """Make ``func`` the periodic job ``name`` (Chinese ``title`` for the jobs page); it runs
    once its domain lists it in ``DOMAIN.jobs``. ``as_of``: it reads the time from
    :func:`now` (and so may be run as of another time)."""

    def make(func: JobFunc) -> Job:
        return Job(name, title, every, func, as_of)

    return make


_cache: tuple[int, dict[str, Job]] = (-1, {})


def registered() -> dict[str, Job]:
    """Every job of the installed domains, by name."""
    global _cache
    generation = domains.generation()
    if _cache[0] != generation:
        jobs: dict[str, Job] = {}
        for domain in domains.installed():
            for found in domain.jobs:
                if not isinstance(found, Job):
                    raise TypeError(f"{domain.name}: not a core.jobs.Job: {found!r}")
                jobs[found.name] = found
        _cache = (generation, jobs)
    return dict(_cache[1])


def _ensure_schedules(factory: sessionmaker[Session], now: dt.datetime) -> None:
    with factory() as db:
        known = set(db.scalars(select(JobSchedule.name)))
        for name in registered().keys() - known:
            db.add(JobSchedule(name=name, next_run_at=now))
        db.commit()


def _claim(
    factory: sessionmaker[Session], job_: Job, now: dt.datetime, lease: dt.timedelta
) -> dt.datetime | None:
    """Claim ``job_`` if it is due and nobody holds it: the end of the lease taken, else None."""
    until = now + lease
    with factory() as db:
        result = db.execute(
            update(JobSchedule)
            .where(
                JobSchedule.name == job_.name,
                JobSchedule.next_run_at <= now,
                or_(JobSchedule.locked_until.is_(None), JobSchedule.locked_until < now),
            )
            .values(locked_until=until, next_run_at=now + job_.every)
        )
        db.commit()
        return until if getattr(result, "rowcount", 0) == 1 else None


class _Lease:
    """A claimed job's hold on its schedule row, renewed by a thread while the job runs (every
    third of the lease), released when it ends. The hold is recognised by the ``locked_until``
    it last wrote: a worker whose lease lapsed (it stalled longer than the lease) and was taken
    over neither renews nor releases the new holder's."""

    def __init__(
        self, factory: sessionmaker[Session], name: str, until: dt.datetime, lease: dt.timedelta
    ) -> None:
        self.factory, self.name, self.until, self.lease = factory, name, until, lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name=f"jcjg-job-lease-{name}")

    def _held(self, db: Session, value: dt.datetime | None) -> bool:
        result = db.execute(
            update(JobSchedule)
            .where(JobSchedule.name == self.name, JobSchedule.locked_until == self.until)
            .values(locked_until=value)
        )
        db.commit()
        return bool(getattr(result, "rowcount", 0) == 1)

    def _renew(self) -> None:
        while not self._stop.wait(self.lease.total_seconds() / 3):
            until = utcnow() + self.lease
            try:
                with self.factory() as db:
                    renewed = self._held(db, until)
            except Exception as exc:  # the database busy or gone: try again at the next third
                # (on SQLite the job's own write transaction holds the one write lock: a job
                # that writes longer than the lease may lose it there)
                log.warning("job %s: its lease could not be renewed: %s", self.name, exc)
                continue
            if not renewed:
                log.warning("job %s: its lease lapsed and another worker holds it", self.name)
                return
            self.until = until

    def __enter__(self) -> _Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def release(self, db: Session) -> None:
        self._held(db, None)


def run_job(
    factory: sessionmaker[Session],
    job_: Job,
    settings: Settings | None = None,
    as_of: dt.datetime | None = None,
    *,
    lease: _Lease | None = None,
) -> JobRun:
    """Run ``job_`` now in its own transaction and record the run; with ``settings``, the job
    reads those (an app's) rather than the environment's; with ``as_of`` (a job declared
    ``as_of=True`` only), it judges time as of that moment (:func:`now`). ``lease``: the claim
    :func:`run_due` took, renewed while the job runs and released after (an operator's run,
    ``jcjg jobs run``, claims nothing and leaves a worker's claim alone)."""
    if as_of is not None and not job_.as_of:
        raise ValueError(f"定时任务 {job_.name} 不按时刻判断，不能指定 as-of 时间")
    with factory() as db:
        if db.get(JobSchedule, job_.name) is None:  # never scheduled yet: the run needs its row
            db.add(JobSchedule(name=job_.name, next_run_at=utcnow()))
            db.flush()
        run = JobRun(name=job_.name)
        db.add(run)
        db.commit()
        run_id = run.id
    buffer = io.StringIO()
    logger = logging.getLogger(f"jcjg.jobs.{job_.name}")
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    status = "succeeded"
    clock = _AS_OF.set(as_of)
    if as_of is not None:
        logger.warning("按指定时刻 %s 运行（as-of），而非当前时间", as_of.isoformat())
    try:
        # the lease's thread stops after the job's session has ended (a failed job's open
        # transaction would otherwise hold, on SQLite, the write lock a renewal waits for)
        with lease or contextlib.nullcontext(), factory() as db, settings_in_use(settings):
            job_.func(db, logger)
            db.commit()
    except Exception:
        status = "failed"
        buffer.write(traceback.format_exc())
        log.exception("job %s failed", job_.name)
    finally:
        _AS_OF.reset(clock)
        logger.removeHandler(handler)
    metrics.JOB_RUNS.labels(job_.name, status).inc()
    with factory() as db:
        run = db.get_one(JobRun, run_id)
        run.status = status
        run.finished_at = utcnow()
        run.log = buffer.getvalue()[-20_000:]
        db.commit()
        if lease is not None:
            lease.release(db)
        return run


def run_due(
    factory: sessionmaker[Session],
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> list[JobRun]:
    """Run every job that is due and not held by another worker."""
    _ensure_schedules(factory, now or utcnow())
    lease = dt.timedelta(seconds=(settings or get_settings()).job_lease_seconds)
    runs = []
    for job_ in registered().values():
        # the clock read again for each claim: the jobs before it in this pass may have taken
        # longer than a lease, and a claim ending before it is written is none
        until = _claim(factory, job_, now or utcnow(), lease)
        if until is not None:
            held = _Lease(factory, job_.name, until, lease)
            runs.append(run_job(factory, job_, settings, lease=held))
    return runs


def worker_loop(
    factory: sessionmaker[Session],
    stop: threading.Event,
    poll_seconds: float = 30.0,
    settings: Settings | None = None,
) -> None:
    """Run due jobs until ``stop`` is set (with ``settings``: an app's, see :func:`run_job`)."""
    while not stop.is_set():
        try:
            run_due(factory, settings=settings)
        except Exception:
            log.exception("worker pass failed")
        stop.wait(poll_seconds)
