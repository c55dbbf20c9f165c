"""Prometheus metrics of the process (000 8.2.4: the platform watches its own running).

What happens in a process is counted where it happens, with ``prometheus_client``: requests by
route and status with their latency (:class:`RequestMetrics`), exchange requests by outcome,
messages applied, job runs. Figures that live in the database (backlogs, lags, the ledger's
size) are read when ``/metrics`` is scraped, by the operations domain's collector.

Several processes (``uvicorn --workers N``, ``jcjg worker``): set ``PROMETHEUS_MULTIPROC_DIR``
to an empty folder shared by the processes of one host before they start (emptied at each
start); each process writes its counters there and a scrape of any of them sums them all
(prometheus_client's multiprocess mode, docs/operations/monitoring.md).
"""

from __future__ import annotations

import os
import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "jcjg_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "jcjg_http_request_duration_seconds",
    "Time to answer an HTTP request (to the start of the answer's body), by method and route",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
EXCHANGE_REQUESTS = Counter(
    "jcjg_exchange_requests",
    "Exchange requests by outcome: accepted, duplicate, awaiting_files, upload, rejected",
    ["outcome"],
)
EXCHANGE_APPLIED = Counter(
    "jcjg_exchange_messages_applied",
    "Accepted messages applied behind the answer, by result (applied or rejected)",
    ["result"],
)
JOB_RUNS = Counter("jcjg_job_runs", "Job runs by job and how they ended", ["job", "status"])
SHARED_PAGES = Counter(
    "jcjg_shared_pages",
    "Requests for pages a scope's readers share: given (kept) or drawn (core.pagecache)",
    ["outcome"],
)
RATE_LIMIT_FALLBACK = Counter(
    "jcjg_rate_limit_fallback",
    "Requests a process judged by its own buckets because the shared rate-limit store failed",
    ["limiter", "store"],
)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_DIR))


def route_of(scope: Scope) -> str:
    """The route template that answered (``/reports/{report_id}``), never the path itself: a
    label's values stay few. Static files and unmatched addresses are grouped."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if str(scope.get("path", "")).startswith("/static/"):
        return "/static"
    return "<unmatched>"


class RequestMetrics:
    """Counts each HTTP request and times it to the start of its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when nothing was sent

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                method, route = scope["method"], route_of(scope)
                HTTP_DURATION.labels(method, route).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            HTTP_REQUESTS.labels(scope["method"], route_of(scope), str(status)).inc()
