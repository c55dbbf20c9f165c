"""Small reads of the registry shared by other domains' pages."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.tenancy.models import Institution


def institution_names(db: Session, ids: Iterable[int]) -> dict[int, str]:
    """Institution names by id, for list pages that show rows carrying ``institution_id`` (the
    rows themselves were read within scope)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(wanted)))
    return {int(i): name for i, name in rows}
