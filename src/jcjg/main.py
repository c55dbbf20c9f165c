"""The application factory: ``create_app()`` mounts every package's API and page routers."""

from __future__ import annotations

import gc
import importlib
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from jcjg import __version__
from jcjg.alerts import engine as alerts_engine
from jcjg.archives import retention
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event_now
from jcjg.config import Settings, get_settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.core.deps import RequestIdMiddleware, audit_context
from jcjg.core.errors import AppError, CsrfFailed, PermissionDenied, install_error_handlers
from jcjg.core.ratelimit import RateLimiter
from jcjg.exchange.monitor import Recorder, flush_loop
from jcjg.exchange.types import load_message_types
from jcjg.ledger import service as ledger
from jcjg.reports.chain import ChainCache
from jcjg.reports.fastpath import AnswerCache, VerifyFastPath
from jcjg.reports.fastpath import check_loop as check_answers_loop
from jcjg.reports.scanlog import ScanLog
from jcjg.reports.scanlog import flush_loop as scan_flush_loop

API_DESCRIPTION = """建设工程检测监管信息服务平台的 JSON 接口。

认证：浏览器会话（Cookie，写操作需带 `X-CSRF-Token` 头）或访问令牌（`Authorization: Bearer <令牌>`，
在“访问令牌”页面申请）。所有数据按账号的数据范围过滤：范围外的对象一律返回 404。
错误按 RFC 9457 返回 `application/problem+json`，`title`、`detail` 为中文，
校验错误在 `errors` 中逐字段说明。
"""


def _routers() -> list[object]:
    from jcjg.alerts import api as alerts_api
    from jcjg.alerts import pages as alerts_pages
    from jcjg.archives import pages as archives_pages
    from jcjg.audit import api as audit_api
    from jcjg.audit import pages as audit_pages
    from jcjg.auth import api as auth_api
    from jcjg.auth import pages as auth_pages
    from jcjg.catalogue import views as catalogue_views
    from jcjg.contracts import pages as contracts_pages
    from jcjg.core import health
    from jcjg.exchange import api as exchange_api
    from jcjg.exchange import pages as exchange_pages
    from jcjg.exchange import uploads as exchange_uploads
    from jcjg.generic import views as generic_views
    from jcjg.home import pages as home_pages
    from jcjg.ledger import api as ledger_api
    from jcjg.ledger import pages as ledger_pages
    from jcjg.nonconformity import pages as nonconformity_pages
    from jcjg.notify import pages as notify_pages
    from jcjg.projects import pages as projects_pages
    from jcjg.rectification import pages as rectification_pages
    from jcjg.regions import api as regions_api
    from jcjg.regions import pages as regions_pages
    from jcjg.registry import pages as registry_pages
    from jcjg.reports import pages as reports_pages
    from jcjg.reports import public as reports_public
    from jcjg.sampling import pages as sampling_pages
    from jcjg.testing import pages as testing_pages

    return [
        # The exchange first: its requests are the most frequent, and a request is matched
        # against the routers in this order.
        exchange_api.router,
        exchange_uploads.router,
        health.router,
        home_pages.router,
        auth_pages.router,
        notify_pages.router,
        nonconformity_pages.router,
        rectification_pages.router,
        rectification_pages.public_router,
        auth_api.router,
        regions_pages.router,
        regions_api.router,
        catalogue_views.pages,
        catalogue_views.api,
        registry_pages.router,
        generic_views.pages,
        generic_views.api,
        audit_pages.router,
        audit_api.router,
        ledger_pages.router,
        ledger_api.router,
        alerts_pages.router,
        projects_pages.router,
        sampling_pages.router,
        testing_pages.router,
        reports_pages.router,
        contracts_pages.router,
        archives_pages.router,
        reports_public.router,
        alerts_api.router,
        exchange_pages.router,
    ]


def _load_specs() -> None:
    importlib.import_module("jcjg.registry.specs")  # registers the registry's entity kinds
    load_message_types()  # every package's exchange message types


def _load_jobs() -> None:
    # Importing a jobs module registers its jobs.
    for module in (
        "jcjg.auth.jobs",
        "jcjg.ledger.jobs",
        "jcjg.alerts.jobs",
        "jcjg.exchange.jobs",
        "jcjg.notify.jobs",
    ):
        importlib.import_module(module)


def _audit_denials(request: Request, error: AppError) -> None:
    """Permission denials and CSRF failures are audited even though the request rolled back."""
    if not isinstance(error, PermissionDenied | CsrfFailed):
        return
    action = AuditAction.CSRF_FAILED if isinstance(error, CsrfFailed) else AuditAction.DENIED
    record_event_now(
        request.app.state.sessionmaker,
        action,
        context=audit_context(request),
        detail=f"{request.method} {request.url.path}: {error.detail}"[:1000],
    )


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> FastAPI:
    """Build the ASGI app. Tests pass their own settings, engine and session factory."""
    settings = settings or get_settings()
    engine = engine or make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    session_factory = session_factory or make_sessionmaker(engine)
    _load_jobs()
    _load_specs()
    ledger.configure(settings)
    alerts_engine.configure(settings)  # JCJG_ALERTS_ON_WRITE, and registers every rule
    retention.configure(settings.archive_retention_years)  # and refuses deletes in retention

    recorder = Recorder()
    scan_log = ScanLog(engine.dialect)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # what was loaded to start (modules, routes, templates) is kept for good: the
        # collector's full passes then look only at what requests make, not pausing every
        # answer for the whole application's objects (a pause the public page showed)
        gc.collect()
        gc.freeze()
        stop = threading.Event()
        worker = None
        flusher = threading.Thread(
            target=flush_loop,
            args=(recorder, session_factory, stop, settings.exchange_stats_flush_seconds),
            name="jcjg-exchange-stats",
            daemon=True,
        )
        flusher.start()
        scans = threading.Thread(
            target=scan_flush_loop,
            args=(scan_log, session_factory, stop, settings.verify_scan_flush_seconds or 1),
            name="jcjg-code-scans",
            daemon=True,
        )
        if settings.verify_scan_flush_seconds:
            scans.start()
        checker = threading.Thread(
            target=check_answers_loop,
            args=(app.state.verify_answers, session_factory, stop),
            name="jcjg-verify-answers",
            daemon=True,
        )
        if settings.verify_page_cache_seconds:
            checker.start()
        if settings.embedded_worker:
            from jcjg.core.jobs import worker_loop

            worker = threading.Thread(
                target=worker_loop,
                args=(session_factory, stop, settings.worker_poll_seconds, settings),
                name="jcjg-worker",
                daemon=True,
            )
            worker.start()
        yield
        stop.set()
        flusher.join(timeout=10)
        if scans.is_alive():
            scans.join(timeout=10)
        if checker.is_alive():
            checker.join(timeout=10)
        if worker is not None:
            worker.join(timeout=5)

    app = FastAPI(
        title="建设工程检测监管信息服务平台 API",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.sessionmaker = session_factory
    app.state.on_app_error = _audit_denials
    app.state.rate_limiters = {
        "ledger": RateLimiter(settings.ledger_rate_limit_per_minute),
        "exchange": RateLimiter(settings.exchange_rate_limit_per_minute),
        "verify": RateLimiter(settings.verify_rate_limit_per_minute),
    }
    app.state.exchange_recorder = recorder
    app.state.scan_log = scan_log
    app.state.chain_cache = ChainCache()
    app.state.verify_answers = AnswerCache(settings.verify_page_cache_seconds)
    install_error_handlers(app)
    app.add_middleware(
        VerifyFastPath,
        answers=app.state.verify_answers,
        limiters=app.state.rate_limiters,
        scan_log=scan_log,
        factory=session_factory,
        salt=settings.secret_key,
        session_cookie=settings.session_cookie,
        write_at_once=not settings.verify_scan_flush_seconds,
    )
    app.add_middleware(RequestIdMiddleware)  # outermost: its headers on every answer

    static_dir = resources.files("jcjg") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir), check_dir=False), name="static")
    for router in _routers():
        app.include_router(router)  # type: ignore[arg-type]

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs() -> HTMLResponse:
        """Swagger UI from our own static files: no CDN on closed government networks."""
        return get_swagger_ui_html(
            openapi_url="/api/v1/openapi.json",
            title="接口文档 · 建设工程检测监管信息服务平台",
            swagger_js_url="/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/favicon.svg",
        )

    return app
