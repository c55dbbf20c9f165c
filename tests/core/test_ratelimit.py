"""Rate limits that hold whatever process answers (issue 42 item 7, jcjg.core.ratelimit): the
buckets in the database (both backends) or on Redis (the one this machine runs), shared by
two apps as by two processes; a store that fails judged by the process's own buckets."""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import create_engine, func, select

from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.core.ratelimit import (
    DatabaseRateLimiter,
    Judged,
    RateBucket,
    RateLimiter,
    RedisRateLimiter,
    redis_client,
    store_of,
)
from jcjg.main import create_app
from tests.conftest import redis_url, upgraded_database_url

pytestmark = pytest.mark.sqlite  # the embedded default's SQL too


def _fallbacks(limiter: str, store: str) -> float:
    value = REGISTRY.get_sample_value(
        "jcjg_rate_limit_fallback_total", {"limiter": limiter, "store": store}
    )
    return value or 0.0


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    url, drop = upgraded_database_url(tmp_path)
    yield url
    drop()


def test_the_store_follows_the_settings() -> None:
    def store(**given: str) -> str:
        return store_of(Settings(env="test", secret_key="k" * 32, **given))

    assert store(database_url="sqlite:///x.db") == "memory"  # the embedded default: one process
    assert store(database_url="postgresql+psycopg://u@h/d") == "database"
    assert store(database_url="sqlite:///x.db", redis_url="redis://h:6379/0") == "redis"
    assert store(database_url="postgresql+psycopg://u@h/d", rate_limit_store="memory") == "memory"
    with pytest.raises(ValueError, match="rate_limit_store"):
        store(rate_limit_store="etcd")
    with pytest.raises(ValueError, match="JCJG_REDIS_URL"):
        store(rate_limit_store="redis")
    with pytest.raises(ValueError, match="需要 PostgreSQL"):
        store(database_url="sqlite:///x.db", rate_limit_store="database")


def test_two_processes_share_one_bucket_in_the_database(database: str) -> None:
    engine = make_engine(database)
    try:
        first, second = (DatabaseRateLimiter("verify", 3, engine) for _ in range(2))
        start = time.time()
        assert first.take("10.0.0.1", now=start) == (1, 0, 2)  # given, wait, left
        assert second.take("10.0.0.1", now=start) == (1, 0, 1)
        assert first.take("10.0.0.1", now=start) == (1, 0, 0)
        granted, wait, left = second.take("10.0.0.1", now=start)  # the third token was the first's
        assert (granted, left) == (0, 0)
        assert wait == pytest.approx(20.0)  # 3 a minute: one every 20 s
        assert first.take("10.0.0.2", now=start)[:2] == (1, 0)  # another client's own bucket
        # a refusal takes nothing: 20 s on, one request passes again, and only one
        assert first.take("10.0.0.1", now=start + 20)[:2] == (1, 0)
        assert second.take("10.0.0.1", now=start + 20)[0] == 0
        # a process whose clock is behind refills nothing and moves no one's clock back
        assert first.take("10.0.0.1", now=start - 600)[0] == 0
        assert second.take("10.0.0.1", now=start + 40)[:2] == (1, 0)
        # another limiter's bucket for the same client is its own
        assert DatabaseRateLimiter("ledger", 3, engine).take("10.0.0.1", now=start)[:2] == (1, 0)
        with make_sessionmaker(engine)() as db:
            rows = db.scalar(select(func.count()).select_from(RateBucket))
        assert rows == 3
        # an address longer than a key keeps within the column
        assert first.take("x" * 1000, now=start)[:2] == (1, 0)
    finally:
        engine.dispose()


def test_a_process_takes_more_at_a_time_only_while_it_spends_them(database: str) -> None:
    """1,200 a minute: at most 20 tokens per taking, spent here before the database is asked
    again; the last ones one by one, and none given twice. A client that sends fast is asked
    for more each time (1, 2, 4 ... 20); one that sends little takes one at a time."""
    engine = make_engine(database)
    try:
        first, second = (DatabaseRateLimiter("exchange", 1200, engine) for _ in range(2))
        assert first.max_batch == 20
        start = time.time()
        assert first.take("client:1", 20, now=start)[:2] == (20, 0)
        for _ in range(59):  # the other process takes the 1,180 left
            assert second.take("client:1", 20, now=start)[:2] == (20, 0)
        assert first.take("client:1", 20, now=start)[0] == 0  # none left
        assert second.take("client:1", 20, now=start + 0.11)[:2] == (1, 0)  # 2.2 refilled
        assert second.take("client:1", 20, now=start + 0.11)[:2] == (1, 0)
        assert second.take("client:1", 20, now=start + 0.11)[0] == 0

        asked: list[int] = []
        take = first.take

        def counted(
            key: str, n: int = 1, now: float | None = None, back: int = 0
        ) -> tuple[int, float, float]:
            asked.append(n)
            return take(key, n, now, back)

        first.take = counted  # type: ignore[method-assign]

        async def requests(n: int) -> list[float]:
            return [await first.wait("client:2") for _ in range(n)]

        began = time.monotonic()
        assert asyncio.run(requests(45)) == [0.0] * 45
        took = time.monotonic() - began
        assert asked == [1, 2, 4, 8, 16, 20]  # 51 taken for 45 requests
        with engine.connect() as conn:
            left = conn.scalar(select(RateBucket.tokens).where(RateBucket.bucket_key == "client:2"))
        # 1,200 - 51, refilled at 20 a second while the requests ran, never more than taken
        assert 1149 <= left <= 1149 + 20 * took + 0.01

        async def together(n: int) -> list[float]:  # requests of one client at once
            return list(await asyncio.gather(*(first.wait("client:3") for _ in range(n))))

        asked.clear()
        assert asyncio.run(together(30)) == [0.0] * 30
        assert sum(asked) <= 30 + 20  # what concurrent takings got is added, not overwritten
    finally:
        engine.dispose()


def test_a_client_at_its_rate_through_two_processes_keeps_its_burst(database: str) -> None:
    """A lab syncing at exactly 1,200 a minute, its requests dealt alternately to two
    processes (10 a second each): every request passes, and its bucket stays full but for what
    the processes hold for it. Tokens a process took ahead and did not spend in time go back
    at its next taking (lost, they drained the bucket by a quarter of the rate: 885 left after
    a minute, and refusals after four)."""
    engine = make_engine(database)
    clock = [time.time()]
    try:
        processes = [DatabaseRateLimiter("exchange", 1200, engine) for _ in range(2)]
        for process in processes:
            process.clock = process.wall = lambda: clock[0]

        async def sync(n: int) -> list[Judged]:
            answers = []
            for i in range(n):
                clock[0] += 0.05
                answers.append(await processes[i % 2].judge("client:1"))
            return answers

        answers = asyncio.run(sync(600))
        assert [i for i, judged in enumerate(answers) if judged.wait] == []
        assert min(judged.remaining for judged in answers[-10:]) >= 1200 - 2 * 20
    finally:
        engine.dispose()


def test_a_clock_ahead_does_not_stop_the_refills(database: str) -> None:
    engine = make_engine(database)
    try:
        here, ahead = (DatabaseRateLimiter("verify", 3, engine) for _ in range(2))
        start = time.time()
        for _ in range(3):
            assert here.take("10.0.0.1", now=start)[:2] == (1, 0)
        assert ahead.take("10.0.0.1", now=start + 3600)[:2] == (1, 0)  # a host an hour ahead
        assert here.take("10.0.0.1", now=start + 20)[:2] == (1, 0)
        assert here.take("10.0.0.1", now=start + 20)[:2] == (1, 0)
        assert here.take("10.0.0.1", now=start + 20)[0] == 0
        # refilled from the taker's clock again, not an hour from now
        assert here.take("10.0.0.1", now=start + 40)[:2] == (1, 0)
    finally:
        engine.dispose()


def test_idle_buckets_are_forgotten(database: str) -> None:
    engine = make_engine(database)
    try:
        limiter = DatabaseRateLimiter("verify", 3, engine)
        start = time.time()
        for n in range(5):
            limiter.take(f"10.0.0.{n}", now=start - 600)  # idle for ten minutes
        limiter._forgot = -math.inf  # the minute since the last clean-up has passed
        limiter.take("10.0.0.9", now=start)
        with make_sessionmaker(engine)() as db:
            keys = db.scalars(select(RateBucket.bucket_key)).all()
        assert keys == ["10.0.0.9"]
    finally:
        engine.dispose()


def test_a_failing_database_store_falls_back_to_the_process(tmp_path: Path) -> None:
    # a database without the table: every statement fails
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    limiter = DatabaseRateLimiter("ledger", 2, engine)
    before = _fallbacks("ledger", "database")
    waits = [asyncio.run(limiter.wait("10.0.0.9")) for _ in range(3)]
    assert waits[:2] == [0, 0]
    assert waits[2] > 0  # the limit holds in this process meanwhile
    assert _fallbacks("ledger", "database") - before == 3
    engine.dispose()


def test_two_processes_share_one_bucket_onredis_url() -> None:
    url = redis_url()
    prefix = f"jcjg-test-{secrets.token_hex(4)}"
    clients = [redis_client(url) for _ in range(2)]  # two processes' own
    first, second = (RedisRateLimiter("verify", 3, c, prefix) for c in clients)

    answers = [
        first.take("10.0.0.1"), second.take("10.0.0.1"), first.take("10.0.0.1"),
        second.take("10.0.0.1"), first.take("10.0.0.2"),
    ]  # fmt: skip
    assert [a[:2] for a in answers[:3]] == [(1, 0), (1, 0), (1, 0)]
    # what is left after each (Redis's clock refills meanwhile: 0.05 a second)
    assert [math.floor(a[2]) for a in answers[:3]] == [2, 1, 0]
    assert answers[3][0] == 0
    assert 19.0 < answers[3][1] <= 20.0
    assert answers[4][:2] == (1, 0)
    batched = RedisRateLimiter("exchange", 1200, clients[0], prefix)
    assert [batched.take("client:1", 20)[0] for _ in range(60)] == [20] * 60
    assert batched.take("client:1", 20)[0] <= 1  # what refilled meanwhile, one by one
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = sorted(k.decode() for k in client.scan_iter(f"{prefix}:*"))
        assert keys == [
            f"{prefix}:rate:exchange:client:1",
            f"{prefix}:rate:verify:10.0.0.1",
            f"{prefix}:rate:verify:10.0.0.2",
        ]
        assert 0 < client.ttl(keys[1]) <= 120  # an idle bucket goes
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
        for each in clients:
            each.close()


def test_redis_down_is_judged_here_and_asked_again_later(refused_port: int) -> None:
    down = redis_client(f"redis://127.0.0.1:{refused_port}/0")
    limiter = RedisRateLimiter("exchange", 2, down, "t")
    before = _fallbacks("exchange", "redis")

    async def run() -> tuple[list[float], float]:
        started = time.monotonic()
        waits = [await limiter.wait("client:1") for _ in range(3)]
        return waits, time.monotonic() - started

    waits, took = asyncio.run(run())
    assert waits[:2] == [0, 0]
    assert waits[2] > 0
    assert _fallbacks("exchange", "redis") - before == 3
    assert took < 2.0  # one failed connection, then not asked again for a while
    down.close()


@pytest.mark.parametrize("store", ["database", "redis"])
def test_a_limit_holds_whichever_app_answers(store: str, database: str, tmp_path: Path) -> None:
    """Two apps (two processes behind one proxy) on one database: the ledger's 4 a minute
    per address hold across both; kept in each process, 8 would pass."""
    if store == "database" and database.startswith("sqlite"):
        pytest.skip("the database store is PostgreSQL's (refused on SQLite by the settings)")
    given = (
        {"redis_url": redis_url(), "redis_prefix": f"jcjg-test-{secrets.token_hex(4)}"}
        if store == "redis"
        else {}
    )
    settings = Settings(
        env="test", secret_key="k" * 32, database_url=database, data_dir=tmp_path / "data",
        ledger_rate_limit_per_minute=4, embedded_worker=False, rate_limit_store=store,
        **given,
    )  # fmt: skip
    apps = [create_app(settings) for _ in range(2)]
    assert {type(app.state.rate_limiters["ledger"]).__name__ for app in apps} == {
        "DatabaseRateLimiter" if store == "database" else "RedisRateLimiter"
    }
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        answers = [(one, two)[n % 2].get("/ledger/key").status_code for n in range(6)]
        assert answers == [200, 200, 200, 200, 429, 429]
        refused = two.get("/ledger/key")
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert "请求过于频繁" in refused.json()["title"]
        seconds = int(refused.headers["Retry-After"])
        assert 1 <= seconds <= 16
        assert refused.json()["detail"] == f"请求过于频繁，请 {seconds} 秒后再试。"


def test_the_memory_store_is_each_processs_own() -> None:
    limiter = RateLimiter(2)
    assert [limiter.check("a", now=0), limiter.check("a", now=0)] == [0, 0]
    assert limiter.check("a", now=0) == pytest.approx(30.0)
    assert limiter.check("a", now=30) == 0
