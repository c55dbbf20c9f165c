"""The operations page (``/ops``, 000 8.2.4): how each part of the platform stands (exchange,
ledger, forwarding, database, backups, disks, jobs, cameras), the operator alerts open, and
the operator rules' thresholds, which a platform administrator sets here."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, make_url, select, text
from sqlalchemy.orm import Session

from jcjg.alerts.engine import rule_of
from jcjg.alerts.models import Alert
from jcjg.alerts.service import rule_title
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.forms import PostedForm
from jcjg.core.jobs import JobRun, registered
from jcjg.core.labels import label as label_of
from jcjg.core.templating import redirect, render
from jcjg.networking.forward import configured
from jcjg.operations.backup import last_success
from jcjg.operations.figures import read
from jcjg.operations.models import Backup, Reading, Threshold
from jcjg.operations.rules import APPLY_LAG, BACKLOG, DEFAULTS, DISK
from jcjg.operations.watch import RULES

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("ops:read"))]
Configurer = Annotated[Principal, Depends(requires("ops:configure"))]


def database_size(db: Session, settings: Settings) -> int | None:
    if settings.database_url.startswith("sqlite"):
        name = make_url(settings.database_url).database
        if not name or name == ":memory:":
            return None
        path = Path(name)
        return sum(p.stat().st_size for p in (path, Path(f"{name}-wal")) if p.exists())
    return int(db.scalar(text("SELECT pg_database_size(current_database())")) or 0)


def _jobs(db: Session, now: dt.datetime) -> list[dict[str, Any]]:
    since = now - dt.timedelta(hours=24)
    last = dict(db.execute(select(JobRun.name, func.max(JobRun.id)).group_by(JobRun.name)).all())
    runs = {r.id: r for r in db.scalars(select(JobRun).where(JobRun.id.in_(last.values())))}
    failures = dict(db.execute(
        select(JobRun.name, func.count())
        .where(JobRun.status == "failed", JobRun.started_at >= since).group_by(JobRun.name)
    ).all())  # fmt: skip
    return [
        {"title": job.title, "run": runs.get(last.get(name, -1)), "failures": failures.get(name, 0)}
        for name, job in sorted(registered().items())
    ]


def _thresholds(db: Session) -> list[dict[str, Any]]:
    saved = {(t.rule_id, t.key): t.value for t in db.scalars(select(Threshold))}
    found = []
    for rule_id in RULES:
        rule = rule_of(rule_id)
        if rule is None:
            continue
        found.append({
            "id": rule_id, "title": rule.title,
            "fields": [(key, rule.label(key), saved.get((rule_id, key), default))
                       for key, default in DEFAULTS[rule_id].items()],
        })  # fmt: skip
    return found


def _context(db: Session, settings: Settings, principal: Principal, **extra: Any) -> dict[str, Any]:
    now = utcnow()
    figures = read(db, settings.data_dir, upstream=configured(settings))
    backup = last_success(db)
    failed = db.scalars(
        select(Backup).where(Backup.status == "failed").order_by(Backup.id.desc()).limit(1)
    ).first()
    alerts = db.scalars(
        select(Alert).where(Alert.rule_id.in_(RULES), Alert.status == "open")
        .order_by(Alert.last_seen_at.desc())
    ).all()  # fmt: skip
    disks = db.scalars(
        select(Reading).where(Reading.name.startswith(DISK)).order_by(Reading.host, Reading.name)
    ).all()
    return {
        "now": now,
        "figures": figures,
        "database_kind": "SQLite（内置）"
        if settings.database_url.startswith("sqlite")
        else "PostgreSQL",
        "database_size": database_size(db, settings),
        "backup": backup,
        "backup_failed": failed if failed and (not backup or failed.id > backup.id) else None,
        "backup_age_hours": (
            (now - (backup.finished_at or backup.started_at)).total_seconds() / 3600
            if backup
            else None
        ),
        "alerts": alerts,
        "rule_title": rule_title,
        "disks": [
            {
                "row": d,
                "where": d.name.removeprefix(DISK),
                "free_percent": (d.value / d.total * 100) if d.total else None,
            }
            for d in disks
        ],
        "jobs": _jobs(db, now),
        "cameras": {label_of("camera_status", k): v for k, v in figures.cameras.items()},
        # what the watch judged (the rule's own reading), beside the live count
        "lag": db.scalar(select(Reading).where(Reading.host == "", Reading.name == APPLY_LAG)),
        "backlog": db.scalar(
            select(Reading.value).where(Reading.host == "", Reading.name == BACKLOG)
        ),
        "thresholds": _thresholds(db),
        "can_configure": principal.can("ops:configure"),
        "errors": {},
        "saved": False,
        **extra,
    }


@router.get("/ops", response_class=HTMLResponse)
def ops_page(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Reader
) -> Response:
    context = _context(db, settings, principal, saved=request.query_params.get("saved") == "1")
    return render(request, "operations/ops.html", context)


@router.post("/ops/thresholds", response_class=HTMLResponse)
def save_thresholds(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Configurer, form: PostedForm
) -> Response:
    """Every operator rule's thresholds at once; any bad value refuses them all."""
    values: dict[tuple[str, str], float] = {}
    errors: dict[str, str] = {}
    for rule_id in RULES:
        rule = rule_of(rule_id)
        if rule is None:
            continue
        for key in DEFAULTS[rule_id]:
            field = f"{rule_id}.{key}"
            raw = str(form.get(field) or "").strip()
            try:
                value = float(raw)
            except ValueError:
                errors[field] = f"{rule.label(key)}：请填写数字"
                continue
            if not 0 < value <= 1_000_000 or value != value:
                errors[field] = f"{rule.label(key)}：应大于 0 且不超过 1000000"
                continue
            values[rule_id, key] = value
    if errors:
        error = f"有 {len(errors)} 处需要修改，请按标红的提示改正后再保存。"
        context = _context(db, settings, principal, errors=errors, error=error)
        return render(request, "operations/ops.html", context, status_code=422)
    existing = {(t.rule_id, t.key): t for t in db.scalars(select(Threshold))}
    for (rule_id, key), value in values.items():
        row = existing.get((rule_id, key))
        if row is None:
            db.add(Threshold(rule_id=rule_id, key=key, value=value))
        elif row.value != value:
            row.value = value
    db.flush()
    return redirect("/ops?saved=1#thresholds")
