"""Liveness and readiness probes for the reverse proxy and the orchestrator."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from jcjg.core.later import reading_session
from jcjg.core.migrate import is_current

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process answers."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is at the migrations' head."""
    checks: dict[str, str] = {}
    with reading_session(request.app.state.sessionmaker) as db:  # no wait for the writers
        try:
            conn = db.connection()
            conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
            checks["migrations"] = "ok" if is_current(conn) else "pending"
        except Exception as exc:  # any driver error means not ready
            checks["database"] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )
