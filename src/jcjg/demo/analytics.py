"""Saved analyses in the demo: 九江's city authority keeps three (two shared with the region's
accounts, one run monthly), as a regulator would after a few weeks of use (docs/analytics.md)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.analytics.models import Analysis
from jcjg.analytics.schemas import Definition
from jcjg.auth.models import User

SAVED = (
    ("九江各县（区）检测不合格率（按月）", True, "monthly",
     {"dataset": "test_records", "dimensions": ["county", "month"],
      "measures": ["records", "nonconforming", "nonconforming_rate"], "chart": "line"}),
    ("各检测机构预警情况", True, "",
     {"dataset": "alerts", "dimensions": ["institution"], "measures": ["alerts"], "chart": "bar"}),
    ("检测项目用时分布（P50/P95）", False, "weekly",
     {"dataset": "test_records", "dimensions": ["item"],
      "measures": ["records", "duration_p50", "duration_p95"], "chart": "bar"}),
)  # fmt: skip


def load(db: Session) -> int:
    """Save the analyses the city authority does not have yet; how many were saved."""
    owner = db.scalars(select(User).where(User.username == "jj_city")).first()
    if owner is None:
        return 0
    have = set(db.scalars(select(Analysis.name).where(Analysis.owner_id == owner.id)))
    made = 0
    for name, shared, schedule, definition in SAVED:
        if name in have:
            continue
        checked = Definition.model_validate(definition).model_dump(mode="json")
        db.add(Analysis(name=name, owner_id=owner.id, region_code=owner.region_code,
                        shared=shared, schedule=schedule, definition=checked))  # fmt: skip
        made += 1
    db.flush()
    return made
