"""The analytics domain's periodic work: running scheduled analyses for their owners."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.analytics import engine, service
from jcjg.analytics.choices import Schedule
from jcjg.analytics.models import Analysis
from jcjg.auth.models import User
from jcjg.auth.sessions import principal_for
from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import job
from jcjg.notify.service import notify

PERIODS = {"daily": dt.timedelta(days=1), "weekly": dt.timedelta(days=7),
           "monthly": dt.timedelta(days=30)}  # fmt: skip


def due(row: Analysis, now: dt.datetime) -> bool:
    period = PERIODS.get(row.schedule)
    return period is not None and (row.last_run_at is None or now - row.last_run_at >= period)


@job("analytics.scheduled", title="定期运行保存的分析", every=dt.timedelta(hours=1))
def scheduled(db: Session, log: logging.Logger) -> None:
    """Each scheduled analysis that is due runs on its owner's data scope; the owner is told
    in the inbox, with the link to its spreadsheet (``/analytics/export?saved=<id>``)."""
    now = utcnow()
    settings = get_settings()
    ran = 0
    for row in db.scalars(select(Analysis).where(Analysis.schedule != "")):
        owner = db.get(User, row.owner_id)
        if owner is None or not owner.is_active or not due(row, now):
            continue
        principal = principal_for(db=db, user=owner, settings=settings)
        result = engine.run(db, principal, service.definition_of(row))
        row.last_run_at = now
        every = Schedule(row.schedule).label
        notify(
            db,
            [owner],
            kind="analysis",
            title=f"定期分析：{row.name}",
            body=f"已按计划（{every}）运行，共 {len(result.values)} 行；点开下载 Excel。",
            link=f"/analytics/export?saved={row.id}&format=xlsx",
            severity="info",
            now=now,
        )
        ran += 1
    log.info("%d scheduled analyses run", ran)
