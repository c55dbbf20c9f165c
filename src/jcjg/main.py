"""The application factory: ``create_app()`` builds the app from the installed domains
(``jcjg.domains``): their routers, state, middleware and background threads."""

from __future__ import annotations

import gc
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from importlib import resources

from fastapi import APIRouter, FastAPI
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from starlette.routing import BaseRoute

from jcjg import __version__, domains
from jcjg.config import Settings, get_settings
from jcjg.core import dispatch, health
from jcjg.core.admission import Admission
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.core.deps import AddressTextMiddleware, RequestIdMiddleware, SettingsMiddleware
from jcjg.core.domains import AppSetup, Domain, configure_installed
from jcjg.core.handlers import ServerErrors, install_error_handlers
from jcjg.core.jobs import worker_loop
from jcjg.core.memo import TimedMemo
from jcjg.core.methods import MethodsMiddleware
from jcjg.core.metrics import RequestMetrics
from jcjg.core.openapi import install_openapi
from jcjg.core.pagecache import SharedPages
from jcjg.core.templating import wants_fragment

API_DESCRIPTION = """建设工程检测监管信息服务平台的 JSON 接口。

认证：浏览器会话（Cookie，写操作需带 `X-CSRF-Token` 头）或访问令牌（`Authorization: Bearer <令牌>`，
在“访问令牌”页面申请）；每个接口的 security 写明它接受哪一种，公开接口为空。
数据交换接口（/exchange/v1）以 RFC 9421 HTTP 消息签名认证（见数据交换文档）。
所有数据按账号的数据范围过滤：范围外的对象一律返回 404。
错误按 RFC 9457 返回 `application/problem+json`（ProblemDetails），`title`、`detail` 为中文，
校验错误在 `errors` 中逐字段说明；地址或查询参数不正确答 400，请求体不正确答 422。
每个地址都答 OPTIONS（204，Allow 列出它接受的方法），有 GET 的地址也答 HEAD。
"""

# Swagger UI from our own static files (no CDN on closed government networks), started by a
# script file of ours: the page takes the Content-Security-Policy every page has
API_DOCS_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>接口文档 · 建设工程检测监管信息服务平台</title>
<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js" defer></script>
<script src="/static/js/api-docs.js" defer></script>
</head>
<body>
<div id="swagger-ui" data-openapi="/api/v1/openapi.json"></div>
</body>
</html>
"""


def configure_domains(settings: Settings) -> tuple[Domain, ...]:
    """The installed domains, each configured with ``settings`` (ledger key, rule switch ...)."""
    domains.install()
    return configure_installed(settings)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    session_factory: sessionmaker[Session] | None = None,
) -> FastAPI:
    """Build the ASGI app from the installed domains. Tests pass their own settings, engine and
    session factory."""
    settings = settings or get_settings()
    engine = engine or make_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
    )
    session_factory = session_factory or make_sessionmaker(engine)
    installed = configure_domains(settings)
    app = FastAPI(
        title="建设工程检测监管信息服务平台 API",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        # the platform is watched through its own /metrics (docs/operations/monitoring.md);
        # FastAPI's native OpenTelemetry asked at every request whether a provider had been
        # configured (~3 µs a request: issue 44), and OTEL_* settings are not read
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.sessionmaker = session_factory
    app.state.rate_limiters = {}
    app.state.figures = TimedMemo(settings.page_figures_seconds)
    app.state.shared_pages = SharedPages(settings.shared_pages_seconds, wants_fragment)
    app.state.admission = Admission(settings.request_slots, settings.request_slot_lend_seconds)
    install_error_handlers(app)
    install_openapi(app, settings)
    setup = AppSetup(app=app, settings=settings, engine=engine, session_factory=session_factory)
    for domain in installed:
        if domain.setup_app is not None:
            domain.setup_app(setup)
    if settings.embedded_worker:
        setup.thread("jcjg-worker", _embedded_worker(session_factory, settings))
    app.router.lifespan_context = _lifespan(setup)
    app.add_middleware(SettingsMiddleware, settings=settings)  # get_settings() in a request
    app.add_middleware(MethodsMiddleware)  # OPTIONS and HEAD for every address
    app.add_middleware(AddressTextMiddleware)  # no controls in a path or query, anywhere
    app.add_middleware(ServerErrors)  # a 500 is an answer, the connection kept
    app.add_middleware(RequestMetrics)  # counted and timed as the client gets it
    app.add_middleware(RequestIdMiddleware)  # outermost: its headers on every answer

    static_dir = resources.files("jcjg") / "static"
    app.mount("/static", StaticFiles(directory=str(static_dir), check_dir=False), name="static")
    app.router.routes.extend(
        included_routes((health.router, *(r for d in installed for r in d.routes())))
    )

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs() -> HTMLResponse:
        return HTMLResponse(API_DOCS_PAGE)

    dispatch.install(app.router)  # a request asks the routes of its first segment only
    return app


# The inclusions of each set of routers made in this process (see included_routes).
_INCLUDED: dict[tuple[int, ...], tuple[tuple[APIRouter, ...], list[BaseRoute]]] = {}


def included_routes(routers: tuple[APIRouter, ...]) -> list[BaseRoute]:
    """``routers`` as an app includes them, made once per process and shared by every app the
    process builds. FastAPI builds an included route's dependencies, parameters and response
    models at the first request that passes it, once per inclusion: an app of its own
    inclusions spent most of a second of CPU on its first request (every test's app did),
    shared ones pay it once. What they hold comes from the routers alone, which are module
    objects every app shares anyway (nothing of an app's settings: those come with the
    request)."""
    key = tuple(map(id, routers))  # routers compare by value, and cannot be hashed
    if key not in _INCLUDED:
        holder = APIRouter()
        for router in routers:
            assert not router.on_startup, "a router with events"
            assert not router.on_shutdown, "a router with events"
            holder.include_router(router)
        _INCLUDED[key] = (routers, list(holder.routes))  # the routers kept: their ids stay
    return _INCLUDED[key][1]


def _embedded_worker(
    factory: sessionmaker[Session], settings: Settings
) -> Callable[[threading.Event], None]:
    def run(stop: threading.Event) -> None:
        worker_loop(factory, stop, settings.worker_poll_seconds, settings)

    return run


def _lifespan(setup: AppSetup) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Start the domains' background threads while the app serves; stop them after."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # what was loaded to start (modules, routes, templates) is kept for good: the
        # collector's full passes then look only at what requests make, not pausing every
        # answer for the whole application's objects (a pause the public page showed)
        gc.collect()
        gc.freeze()
        stop = threading.Event()
        threads = [
            threading.Thread(target=run, args=(stop,), name=name, daemon=True)
            for name, run in setup.threads
        ]
        for thread in threads:
            thread.start()
        yield
        stop.set()
        for wake in setup.stopping:
            wake()
        for thread in threads:
            thread.join(timeout=10)
        for close in setup.shutdown:
            close()

    return lifespan
