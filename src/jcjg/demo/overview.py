"""The overview in the demo region: the statistics' tally counted, and the supervision reports
of the closed months and quarters made as the job would (docs/overview.md)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.overview import service
from jcjg.testing.stats import refresh_tally


def load(db: Session, settings: Settings) -> int:
    """Count the tally and make the missing reports; how many were made."""
    refresh_tally(db)
    return len(service.catch_up(db, settings))
