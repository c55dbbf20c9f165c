"""Periodic work of the auth package."""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import delete
from sqlalchemy.orm import Session

from jcjg.auth.models import UserSession
from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.jobs import job


@job("auth.purge_sessions", title="清理过期会话", every=dt.timedelta(minutes=15))
def purge_sessions(db: Session, log: logging.Logger) -> None:
    """Delete sessions past their idle timeout or maximum age."""
    settings = get_settings()
    now = utcnow()
    idle_cutoff = now - dt.timedelta(minutes=settings.session_idle_minutes)
    age_cutoff = now - dt.timedelta(hours=settings.session_max_hours)
    result = db.execute(
        delete(UserSession).where(
            (UserSession.last_seen_at < idle_cutoff) | (UserSession.created_at < age_cutoff)
        )
    )
    log.info("removed %d expired sessions", getattr(result, "rowcount", 0))
