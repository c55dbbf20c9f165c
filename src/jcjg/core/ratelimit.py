"""Per-client rate limits for public and exchange endpoints (token buckets), kept where every
process that answers sees them (000 8.1.3: several app processes behind one proxy).

Where the buckets are kept (``JCJG_RATE_LIMIT_STORE``, docs/operations/configuration.md):

- ``memory``: in this process. The embedded default (SQLite: one process serves).
- ``database`` (PostgreSQL): one row per limiter and client in ``rate_limit_bucket``, taken by
  one ``INSERT … ON CONFLICT DO UPDATE`` (portable SQL, tested on SQLite too): every process
  on the database shares it. The default on PostgreSQL without Redis.
- ``redis``: a hash per limiter and client on the Redis at ``JCJG_REDIS_URL``, taken by one
  Lua script (atomic, Redis's clock). The default when ``JCJG_REDIS_URL`` is set.

A shared store that fails (Redis down, the database refusing) does not refuse the request and
does not drop the limit: this process's own bucket judges it until the store answers again
(logged at most once a minute, counted in ``jcjg_rate_limit_fallback_total``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from fastapi import Request
from sqlalchemy import Float, String, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column
from starlette.types import Message, Scope, Send

from jcjg.core.db import Base
from jcjg.core.errors import AppError, problem_type
from jcjg.core.openapi import Contract

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from jcjg.config import Settings
    from jcjg.core.domains import AppSetup

log = logging.getLogger("jcjg.ratelimit")

TOO_MANY = problem_type("too-many-requests", 429, "请求过于频繁", "请求过于频繁，请稍后再试。")
FALLBACK_LOG_SECONDS = 60.0
# after a failure the store is asked again this much later (no request waits for its timeout)
RETRY_STORE_SECONDS = 5.0
# how long a process may spend the tokens it took ahead (see _Shared)
HOLD_SECONDS = 1.0
# a row stamped further ahead of a taker's clock is taken as stamped now (see _TAKE_SQL)
CLOCK_AHEAD_SECONDS = 2
# a bucket short of a token by less than this (sums of a rate's fractions) has one: a client
# sending exactly at its rate is never refused for a rounding
ROUNDING = 1e-3


@dataclass(frozen=True)
class Judged:
    """A limiter's answer to one request: ``wait`` 0 (a token taken) or the seconds until
    there is one; ``remaining`` the tokens its client has left after it (a shared store's as
    this process last saw them, refilled since, plus those it holds); ``full`` the seconds
    until its bucket is full again."""

    wait: float
    remaining: int
    full: float


class Limiter(Protocol):
    """What a route asks of a limiter: ``await wait(key)`` takes one request's token for
    ``key`` and returns 0, or the seconds to wait when none is left; ``await judge(key)`` the
    same with what is left (:class:`Judged`). ``per_minute`` tokens a minute refill a bucket
    of ``capacity``."""

    per_minute: int
    capacity: float

    async def wait(self, key: str) -> float: ...

    async def judge(self, key: str) -> Judged: ...


def capacity_of(per_minute: int, burst_seconds: float) -> float:
    """A bucket's size: ``burst_seconds`` of the rate, at least one token."""
    return max(1.0, per_minute * burst_seconds / 60.0)


class RateLimiter:
    """``per_minute`` requests per key, with bursts up to ``burst_seconds`` of that rate (a
    minute's: as many), in this process; ``clock`` monotonic seconds."""

    def __init__(
        self, per_minute: int, max_keys: int = 100_000, *, burst_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = capacity_of(per_minute, burst_seconds)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> float:
        """Take one token for ``key``; return 0, or the seconds to wait when none is left."""
        return self.take(key, now)[0]

    def take(self, key: str, now: float | None = None) -> tuple[float, float]:
        """Take one token for ``key``: 0 or the seconds to wait, and the tokens left."""
        now = self.clock() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1 - ROUNDING:
                tokens = max(0.0, tokens - 1)
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait, tokens

    def judged(self, key: str) -> Judged:
        wait, tokens = self.take(key)
        return Judged(wait, int(tokens), (self.capacity - tokens) / self.rate)

    async def wait(self, key: str) -> float:
        return self.check(key)

    async def judge(self, key: str) -> Judged:
        return self.judged(key)


class RateBucket(Base):
    """A client's bucket under one limiter, shared by every process on the database: its
    ``tokens`` at ``at`` (seconds since the epoch, the taking process's clock); ``granted``:
    how many the last taking process got (0: refused)."""

    __tablename__ = "rate_limit_bucket"

    limiter: Mapped[str] = mapped_column(String(40), primary_key=True)
    bucket_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    at: Mapped[float] = mapped_column(Float)
    granted: Mapped[int] = mapped_column(default=0)


# The SQL of one taking, over the row's old values: the tokens refilled since ``at`` and those
# given back (``:back``, taken ahead and not spent), at most the capacity; then as many as
# asked when there are that many, else one when there is one (short by less than ROUNDING),
# else none. A process whose clock is behind the row's refills nothing; a row stamped more
# than CLOCK_AHEAD_SECONDS ahead of the taker's clock (a host whose clock jumped forward) is
# taken as stamped now, so that one bad clock cannot stop everyone's refills. No value in the
# text.
_AHEAD = f"(rate_limit_bucket.at > :now + {CLOCK_AHEAD_SECONDS})"
_ELAPSED = "(CASE WHEN :now > rate_limit_bucket.at THEN :now - rate_limit_bucket.at ELSE 0 END)"
_GROWN = f"(rate_limit_bucket.tokens + {_ELAPSED} * :rate + :back)"
_REFILLED = f"(CASE WHEN {_GROWN} > :capacity THEN :capacity ELSE {_GROWN} END)"
_SHORT = f"{ROUNDING:.3f}"
_GRANTED = (
    f"(CASE WHEN {_REFILLED} >= :n - {_SHORT} THEN :n "
    f"WHEN {_REFILLED} >= 1 - {_SHORT} THEN 1 ELSE 0 END)"
)
_TAKE_SQL = text(
    "INSERT INTO rate_limit_bucket (limiter, bucket_key, tokens, at, granted) "  # noqa: S608
    "VALUES (:limiter, :bucket_key, :capacity - :n, :now, :n) "
    "ON CONFLICT (limiter, bucket_key) DO UPDATE SET "
    f"tokens = {_REFILLED} - {_GRANTED}, granted = {_GRANTED}, "
    f"at = CASE WHEN :now > rate_limit_bucket.at OR {_AHEAD} THEN :now "
    "ELSE rate_limit_bucket.at END "
    "RETURNING tokens, granted"
)
# a bucket untouched for two minutes is full again: as good as absent
_FORGET_SQL = text("DELETE FROM rate_limit_bucket WHERE at < :before")
FORGET_SECONDS = 120.0

# KEYS[1] the bucket; ARGV rate per second, capacity, tokens asked, seconds an idle bucket is
# kept, tokens given back (as in _TAKE_SQL). Returns "<granted> <seconds to wait> <tokens
# left>". Redis's own clock: one for every process.
_REDIS_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local asked = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1])
local at = tonumber(bucket[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
if now > at then
  tokens = tokens + (now - at) * rate
  at = now
end
tokens = math.min(capacity, tokens + tonumber(ARGV[5]))
local granted = 0
if tokens >= asked - SHORT then
  granted = asked
elseif tokens >= 1 - SHORT then
  granted = 1
end
tokens = tokens - granted
local wait = 0
if granted == 0 then
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(granted) .. ' ' .. tostring(wait) .. ' ' .. tostring(tokens)
""".replace("SHORT", _SHORT)


@dataclass
class _Held:
    """A client's tokens this process took ahead: ``tokens`` to spend before ``until``, and
    how many to ask for next time (doubled while they are all spent in time, halved when some
    expire, and given back: a client that sends little takes one at a time); ``left`` the
    tokens the store had left at ``seen`` (monotonic), for the client's RateLimit headers."""

    tokens: int = 0
    until: float = 0.0
    batch: int = 1
    left: float = 0.0
    seen: float = 0.0


class _Shared:
    """A shared store's limiter. A process may take several of a client's tokens at once and
    spend them for at most :data:`HOLD_SECONDS`: one store call per that many requests under
    load, and the limit never exceeded (tokens held and not spent in time are given back at
    the next taking, never given twice: a client sending at its rate through several processes
    keeps its burst; a client that sends little takes one at a time). While the store fails,
    this process's own bucket judges."""

    store = ""

    def __init__(
        self, name: str, per_minute: int, max_keys: int = 100_000, *, burst_seconds: float = 60.0
    ) -> None:
        self.name = name
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = capacity_of(per_minute, burst_seconds)
        # a second's worth at most, and never more than the bucket holds
        self.max_batch = max(1, min(per_minute // 60, int(self.capacity)))
        self.local = RateLimiter(per_minute, burst_seconds=burst_seconds)
        self.clock: Callable[[], float] = time.monotonic  # when held tokens lapse
        self.max_keys = max_keys
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._logged = -math.inf
        self._down_until = -math.inf

    async def wait(self, key: str) -> float:
        return (await self.judge(key)).wait

    async def judge(self, key: str) -> Judged:
        now = self.clock()
        held = self._held.pop(key, None) or _Held()
        self._held[key] = held  # the most recent last; the oldest forgotten first
        while len(self._held) > self.max_keys:
            self._held.popitem(last=False)
        if held.tokens > 0 and now < held.until:
            held.tokens -= 1
            return self._judged(held, now, 0.0)
        if held.tokens > 0:  # some expired unspent: ask for fewer, and give them back
            held.batch = max(1, held.batch // 2)
        elif now < held.until:  # all spent in time: ask for more
            held.batch = min(self.max_batch, held.batch * 2)
        back, held.tokens = held.tokens, 0
        if now < self._down_until:
            return self._here(key)
        try:
            granted, wait, left = await self._take(key, held.batch, back)
        except Exception as exc:  # the store is down: judged here, never refused for it
            if not isinstance(exc, self._failures()):
                raise
            self._down_until = self.clock() + RETRY_STORE_SECONDS
            self._fell_back(exc)
            return self._here(key)
        held.until = now + HOLD_SECONDS
        held.left, held.seen = left, now
        if granted > 1:  # added to what requests of this client took meanwhile
            held.tokens += granted - 1
        return self._judged(held, now, 0.0 if granted else wait)

    def _judged(self, held: _Held, now: float, wait: float) -> Judged:
        stored = min(self.capacity, held.left + max(0.0, now - held.seen) * self.rate)
        remaining = min(self.capacity, stored + held.tokens)
        return Judged(wait, int(remaining), (self.capacity - remaining) / self.rate)

    def _here(self, key: str) -> Judged:
        from jcjg.core.metrics import RATE_LIMIT_FALLBACK

        RATE_LIMIT_FALLBACK.labels(limiter=self.name, store=self.store).inc()
        return self.local.judged(key)

    async def _take(self, key: str, n: int, back: int) -> tuple[int, float, float]:
        raise NotImplementedError

    def _failures(self) -> tuple[type[BaseException], ...]:
        return (OSError,)

    def _fell_back(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._logged >= FALLBACK_LOG_SECONDS:
            self._logged = now
            log.warning(
                "rate limit %s: the %s store failed (%s); this process's own buckets judge "
                "until it answers",
                self.name, self.store, str(exc)[:200],
            )  # fmt: skip


def limiter_engine(url: str) -> Engine:
    """The database store's own small pool: a request waiting for its limit never waits for
    a connection of the requests' pool, and a database that does not answer within a second
    fails over to the process's buckets instead of holding the request."""
    from jcjg.core.db import make_engine

    return make_engine(
        url, pool_size=2, max_overflow=6, pool_timeout=0.5,
        connect_args={"connect_timeout": 2, "options": "-c statement_timeout=1000"},
    )  # fmt: skip


class DatabaseRateLimiter(_Shared):
    """The buckets in the database (``rate_limit_bucket``), one statement per taking; rows
    untouched for :data:`FORGET_SECONDS` deleted at most once a minute per process."""

    store = "database"

    def __init__(
        self, name: str, per_minute: int, engine: Engine, *, burst_seconds: float = 60.0
    ) -> None:
        super().__init__(name, per_minute, burst_seconds=burst_seconds)
        self.engine = engine
        self.wall: Callable[[], float] = time.time  # the bucket rows' clock
        self._forgot = time.monotonic()

    def take(
        self, key: str, n: int = 1, now: float | None = None, back: int = 0
    ) -> tuple[int, float, float]:
        """Take up to ``n`` tokens for ``key`` (at most the capacity), first giving back
        ``back`` taken before and not spent: how many were given, when none the seconds to
        wait for one, and the tokens left."""
        at = self.wall() if now is None else now
        values = {
            "limiter": self.name, "bucket_key": key[:200], "capacity": self.capacity,
            "rate": self.rate, "now": at, "n": max(1, min(n, int(self.capacity))),
            "back": float(back),
        }  # fmt: skip
        with self.engine.begin() as conn:
            tokens, granted = conn.execute(_TAKE_SQL, values).one()
            if time.monotonic() - self._forgot > 60:
                self._forgot = time.monotonic()
                conn.execute(_FORGET_SQL, {"before": at - FORGET_SECONDS})
        wait = 0.0 if granted else (1 - float(tokens)) / self.rate
        return int(granted), wait, float(tokens)

    async def _take(self, key: str, n: int, back: int) -> tuple[int, float, float]:
        return await anyio.to_thread.run_sync(self.take, key, n, None, back)

    def _failures(self) -> tuple[type[BaseException], ...]:
        import sqlite3

        return (SQLAlchemyError, OSError, sqlite3.Error)


def redis_client(url: str) -> Any:
    """A Redis client for the limiters (its pool serves every thread): half a second to
    connect or answer, then the process's own buckets judge."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


class RedisRateLimiter(_Shared):
    """The buckets on Redis: ``<prefix>:rate:<limiter>:<key>``, one script call per taking
    (from a worker thread), through ``client`` (:func:`redis_client`)."""

    store = "redis"

    def __init__(
        self, name: str, per_minute: int, client: Any, prefix: str = "jcjg", *,
        burst_seconds: float = 60.0,
    ) -> None:  # fmt: skip
        super().__init__(name, per_minute, burst_seconds=burst_seconds)
        self.prefix = prefix
        self.keep_seconds = 120  # a bucket is full again after a minute: then as if absent
        self.script = client.register_script(_REDIS_TAKE)

    def key(self, key: str) -> str:
        return f"{self.prefix}:rate:{self.name}:{key[:200]}"

    def take(self, key: str, n: int = 1, back: int = 0) -> tuple[int, float, float]:
        """Take up to ``n`` tokens for ``key`` on Redis (see DatabaseRateLimiter.take)."""
        asked = max(1, min(n, int(self.capacity)))
        answer = self.script(keys=[self.key(key)], args=[self.rate, self.capacity, asked,
                                                          self.keep_seconds, back])  # fmt: skip
        granted, wait, left = answer.split()
        return int(granted), float(wait), float(left)

    async def _take(self, key: str, n: int, back: int) -> tuple[int, float, float]:
        return await anyio.to_thread.run_sync(self.take, key, n, back)

    def _failures(self) -> tuple[type[BaseException], ...]:
        import redis

        return (redis.RedisError, OSError)


def store_of(settings: Settings) -> str:
    """The store ``JCJG_RATE_LIMIT_STORE`` names; ``auto``: redis when ``JCJG_REDIS_URL`` is
    set, the database on PostgreSQL, this process on SQLite."""
    if settings.rate_limit_store != "auto":
        return settings.rate_limit_store
    if settings.redis_url:
        return "redis"
    return "memory" if settings.database_url.startswith("sqlite") else "database"


def make_limiter(
    setup: AppSetup, name: str, per_minute: int, *, burst_seconds: float = 60.0
) -> Limiter:
    """The app's limiter ``name`` (``per_minute`` per client, bursts of ``burst_seconds`` of
    that rate) in the configured store."""
    settings = setup.settings
    store = store_of(settings)
    if store == "redis":
        client = getattr(setup.app.state, "rate_limit_redis", None)
        if client is None:  # one client (and pool) for the app's limiters
            client = setup.app.state.rate_limit_redis = redis_client(settings.redis_url)
            setup.on_shutdown(client.close)
        return RedisRateLimiter(
            name, per_minute, client, settings.redis_prefix, burst_seconds=burst_seconds
        )
    if store == "database":
        engine = getattr(setup.app.state, "rate_limit_engine", None)
        if engine is None:  # one small pool for the app's limiters
            engine = setup.app.state.rate_limit_engine = limiter_engine(settings.database_url)
            setup.on_shutdown(engine.dispose)
        return DatabaseRateLimiter(name, per_minute, engine, burst_seconds=burst_seconds)
    return RateLimiter(per_minute, burst_seconds=burst_seconds)


class ByRate:
    """Limiters of one kind at several rates, each made when first asked for (a client with a
    limit of its own is limited by the one of its rate; clients of one rate share it, each with
    its own buckets). Made at ``make(per_minute)``, in the app's store."""

    def __init__(self, make: Callable[[int], Limiter]) -> None:
        self._make = make
        self._made: dict[int, Limiter] = {}
        self._lock = threading.Lock()

    def __call__(self, per_minute: int) -> Limiter:
        found = self._made.get(per_minute)
        if found is None:
            with self._lock:
                found = self._made.get(per_minute)
                if found is None:
                    found = self._made[per_minute] = self._make(per_minute)
        return found


def limited(wait: float, headers: dict[str, str] | None = None) -> None:
    """429 with ``Retry-After`` (and ``headers``) when ``wait`` (a limiter's answer) is not 0;
    the page or the problem says the seconds too (a visitor reads no headers)."""
    if wait > 0:
        seconds = max(1, math.ceil(wait - ROUNDING))  # a token is there then
        raise AppError(
            f"请求过于频繁，请 {seconds} 秒后再试。",
            kind=TOO_MANY,
            headers={**(headers or {}), "Retry-After": str(seconds)},
        )


def _header(description: str, kind: str = "integer") -> dict[str, Any]:
    return {"description": description, "schema": {"type": kind}}


# The OpenAPI document's headers of a rate-limited 429 (a route's ``responses``)
RATE_LIMIT_HEADERS: dict[str, Any] = {
    "Retry-After": _header("多少秒后可以再发送"),
    "RateLimit-Limit": _header("令牌桶容量：可一次连续发送的请求数"),
    "RateLimit-Remaining": _header("本次请求后桶中剩余的请求数"),
    "RateLimit-Reset": _header("令牌桶重新装满还需的秒数"),
    "RateLimit-Policy": _header("速率与突发：每分钟次数;w=60;burst=桶容量", "string"),
}


def rate_headers(limiter: Limiter, judged: Judged) -> dict[str, str]:
    """The answer's ``RateLimit-*`` headers (draft-ietf-httpapi-ratelimit-headers, the
    separate-fields form): ``Limit`` the bucket's size (as many requests as may come at
    once), ``Remaining`` what is left of it, ``Reset`` the seconds until it is full again,
    ``Policy`` the steady rate a minute and the burst."""
    return {
        "RateLimit-Limit": str(int(limiter.capacity)),
        "RateLimit-Remaining": str(max(0, judged.remaining)),
        "RateLimit-Reset": str(max(0, math.ceil(judged.full))),
        "RateLimit-Policy": f"{limiter.per_minute};w=60;burst={int(limiter.capacity)}",
    }


def rate_headers_sender(scope: Scope, send: Send) -> Send:
    """``send`` adding to the answer the ``RateLimit-*`` headers its request's limit left in
    its state (``request.state.rate_limit_headers``), those it does not have already (a 429
    carries its own)."""
    state: dict[str, Any] = scope.setdefault("state", {})

    async def sending(message: Message) -> None:
        headers = state.get("rate_limit_headers")
        if headers and message["type"] == "http.response.start":
            raw = list(message.get("headers", ()))
            have = {name.lower() for name, _ in raw}
            raw += [
                (name.lower().encode(), value.encode())
                for name, value in headers.items()
                if name.lower().encode() not in have
            ]
            message = {**message, "headers": raw}
        await send(message)

    return sending


class RateLimit:
    """A route dependency limiting each client address under the app's limiter ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, request: Request) -> None:
        limiters: dict[str, Limiter] = request.app.state.rate_limiters
        limiter = limiters.get(self.name)
        if limiter is None:
            return
        client = request.client.host if request.client else "unknown"
        judged = await limiter.judge(client)
        headers = request.state.rate_limit_headers = rate_headers(limiter, judged)
        limited(judged.wait, headers)

    def openapi_contract(self, method: str, path: str) -> Contract:
        return Contract(statuses={429: (TOO_MANY,)}, headers={429: RATE_LIMIT_HEADERS})


def rate_limit(name: str) -> Callable[[Request], Awaitable[None]]:
    """The dependency limiting each client address under the app's limiter ``name``."""
    return RateLimit(name)
