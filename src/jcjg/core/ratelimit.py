"""A per-client rate limit for public endpoints (token bucket, kept in this process).

Several app processes each keep their own buckets; a shared Redis limiter can replace
:class:`RateLimiter` behind the same ``check`` call when the platform scales out.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from fastapi import Request

from jcjg.core.errors import AppError, problem_type
from jcjg.core.openapi import Contract

TOO_MANY = problem_type(
    "too-many-requests", 429, "请求过于频繁", "请求过于频繁，请稍后再试（见 Retry-After 头）。"
)


class RateLimiter:
    """``per_minute`` requests per key, with bursts up to the same number."""

    def __init__(self, per_minute: int, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> float:
        """Take one token for ``key``; return 0, or the seconds to wait when none is left."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) / self.rate
            self._buckets[key] = (tokens, now)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


class RateLimit:
    """A route dependency limiting each client address under the app's limiter ``name`` (in
    memory: async, so it runs on the event loop, not in the thread pool)."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def __call__(self, request: Request) -> None:
        limiters: dict[str, RateLimiter] = request.app.state.rate_limiters
        limiter = limiters.get(self.name)
        if limiter is None:
            return
        client = request.client.host if request.client else "unknown"
        wait = limiter.check(client)
        if wait > 0:
            raise AppError(kind=TOO_MANY, headers={"Retry-After": str(int(wait) + 1)})

    def openapi_contract(self, method: str, path: str) -> Contract:
        return Contract(statuses={429: (TOO_MANY,)})


def rate_limit(name: str) -> Callable[[Request], Awaitable[None]]:
    """The dependency limiting each client address under the app's limiter ``name``."""
    return RateLimit(name)
