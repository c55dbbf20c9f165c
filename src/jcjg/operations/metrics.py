"""``GET /metrics``: Prometheus's text exposition of the process's counters (all processes'
in multiprocess mode) and of the platform's figures (:mod:`.figures`), for an operator's token
or session (``ops:metrics``) or an address in ``JCJG_METRICS_ALLOW``."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.orm import Session

from jcjg.auth.deps import PrincipalDep, Requires
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core import metrics
from jcjg.core.admission import Admission
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.memo import TimedMemo
from jcjg.networking.forward import configured
from jcjg.operations.figures import Figures, read

router = APIRouter(tags=["运行监控"], route_class=TransactionalRoute)


def _gauge(name: str, text: str, value: float, **labels: str) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, text, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def families(found: Figures) -> Iterator[Metric]:
    """The figures as Prometheus gauges (seconds, bytes and counts, as Prometheus names them)."""
    yield _gauge("jcjg_exchange_backlog_messages", "Accepted messages not yet applied",
                 found.exchange_backlog)  # fmt: skip
    yield _gauge("jcjg_exchange_apply_lag_seconds",
                 "How long the oldest accepted message has waited to be applied",
                 found.exchange_apply_lag)  # fmt: skip
    yield _gauge("jcjg_ledger_size_leaves", "Leaves sequenced in the ledger", found.ledger_size)
    yield _gauge("jcjg_ledger_queued_entries", "Entries promised but not yet sequenced",
                 found.ledger_queued)  # fmt: skip
    yield _gauge("jcjg_ledger_integrated_leaves", "The size of the ledger's integrated tree",
                 found.ledger_integrated)  # fmt: skip
    yield _gauge("jcjg_ledger_integration_delay_seconds",
                 "How long the oldest entry outside the integrated tree has waited",
                 found.ledger_integration_delay)  # fmt: skip
    if found.forward_configured:
        yield _gauge("jcjg_forward_backlog_leaves", "Leaves not yet forwarded to the upstream",
                     found.forward_backlog)  # fmt: skip
        yield _gauge("jcjg_forward_failures", "Forward attempts failed in a row",
                     found.forward_failures)  # fmt: skip
        if found.forward_last_at is not None:
            yield _gauge("jcjg_forward_last_success_timestamp_seconds",
                         "When the upstream last acknowledged a forward",
                         found.forward_last_at.timestamp())  # fmt: skip
    failed = GaugeMetricFamily("jcjg_job_last_run_failed", "1 when the job's last run failed",
                               labels=["job"])  # fmt: skip
    success = GaugeMetricFamily("jcjg_job_last_success_timestamp_seconds",
                                "When the job last ran to its end", labels=["job"])  # fmt: skip
    for name, state in sorted(found.jobs.items()):
        failed.add_metric([name], 1.0 if state.last_status == "failed" else 0.0)
        if state.last_success_at is not None:
            success.add_metric([name], state.last_success_at.timestamp())
    yield failed
    yield success
    cameras = GaugeMetricFamily("jcjg_video_cameras", "Cameras by recording status",
                                labels=["status"])  # fmt: skip
    for status, count in sorted(found.cameras.items()):
        cameras.add_metric([status], count)
    yield cameras
    yield _gauge("jcjg_data_disk_total_bytes", "Size of the disk holding the data folder",
                 found.disk_total)  # fmt: skip
    yield _gauge("jcjg_data_disk_free_bytes", "Free space on the disk holding the data folder",
                 found.disk_free)  # fmt: skip
    if found.backup_last_success is not None:
        yield _gauge("jcjg_backup_last_success_timestamp_seconds",
                     "When the last successful backup finished",
                     found.backup_last_success.timestamp())  # fmt: skip
    yield _gauge("jcjg_db_pool_size", "Connections the process's database pool keeps",
                 found.pool_size)  # fmt: skip
    yield _gauge("jcjg_db_pool_checked_out", "Connections of the pool in use now",
                 found.pool_checked_out)  # fmt: skip


class _Figures:
    """A collector of one reading (prometheus_client asks ``collect()``)."""

    def __init__(self, found: Figures) -> None:
        self.found = found

    def collect(self) -> Iterator[Metric]:
        return families(self.found)


def exposition(db: Session, settings: Settings, memo: TimedMemo) -> bytes:
    """The text a scrape gets: the processes' counters and the platform's figures (read at
    most once per ``memo``'s seconds)."""
    found, _at = memo.get(
        "figures", lambda: read(db, settings.data_dir, upstream=configured(settings))
    )
    registry = CollectorRegistry()
    if metrics.multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        counters = generate_latest(registry)
    else:
        counters = generate_latest(REGISTRY)
    own = CollectorRegistry()
    own.register(_Figures(found))
    return counters + generate_latest(own)


def _allowed_address(request: Request, settings: Settings) -> bool:
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in settings.metrics_allow_networks)


class OperatorOrAllowedAddress(Requires):
    """``ops:metrics`` (a platform administrator's session on ``/metrics``, its API token on
    ``/api/v1/metrics``), or a request from ``JCJG_METRICS_ALLOW`` (the monitoring server)."""

    async def __call__(self, request: Request, principal: PrincipalDep) -> Principal:
        if _allowed_address(request, request.app.state.settings):
            return principal
        return await super().__call__(request, principal)


Operator = Annotated[Principal, Depends(OperatorOrAllowedAddress("ops:metrics"))]
_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"description": "Prometheus 文本格式（text/plain; version=0.0.4）"}
}


class _Turns:
    """The answering process's admission (core.admission), read live at each scrape."""

    def __init__(self, admission: Admission | None) -> None:
        self.admission = admission

    def collect(self) -> Iterator[Metric]:
        admission = self.admission
        if admission is None:
            return
        yield _gauge("jcjg_request_turns_held",
                     "Turns of the process held now (a request past its lend holds none)",
                     admission.held)  # fmt: skip
        yield _gauge("jcjg_requests_waiting", "Requests waiting for their turn now",
                     admission.waiting)  # fmt: skip


def _metrics(request: Request, db: Session, settings: Settings) -> Response:
    body = exposition(db, settings, request.app.state.metrics_figures)
    turns = CollectorRegistry()
    turns.register(_Turns(getattr(request.app.state, "admission", None)))
    return Response(body + generate_latest(turns), media_type=CONTENT_TYPE_LATEST)


@router.get("/metrics", summary="运行指标（Prometheus 文本格式）", response_class=Response,
            responses=_ANSWER, include_in_schema=False)  # fmt: skip
def metrics_page(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Operator
) -> Response:
    """For the monitoring server's address, or a platform administrator logged in."""
    return _metrics(request, db, settings)


@router.get("/api/v1/metrics", summary="运行指标（Prometheus 文本格式，以 API 令牌采集）",
            response_class=Response, responses=_ANSWER)  # fmt: skip
def metrics_api(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Operator
) -> Response:
    """The same, for a platform administrator's API token (Prometheus's ``authorization``)."""
    return _metrics(request, db, settings)
