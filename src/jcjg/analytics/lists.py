"""The saved analyses' list: columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.analytics.catalogue import DATASETS
from jcjg.analytics.choices import Schedule
from jcjg.analytics.models import Analysis
from jcjg.auth.models import User
from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order

ANALYSIS_ORDER = Order(
    (
        Key(Analysis.updated_at, lambda a: a.updated_at),
        Key(Analysis.id, lambda a: a.id),
    ),
    (dt.datetime(2000, 1, 1, tzinfo=dt.UTC), 0),
)


def owner_names(db: Session, rows: Sequence[Analysis]) -> dict[int, str]:
    ids = {a.owner_id for a in rows}
    found = db.execute(select(User.id, User.display_name).where(User.id.in_(ids)))
    return {i: n for i, n in found}


def dataset_label(a: Analysis) -> str:
    ds = DATASETS.get(str(a.definition.get("dataset", "")))
    return ds.label if ds else ""


def _cells(db: Session, rows: Sequence[Analysis]) -> list[list[str]]:
    owners = owner_names(db, rows)
    return [
        [
            a.name,
            dataset_label(a),
            owners.get(a.owner_id, ""),
            "本地区共享" if a.shared else "仅本人",
            label(Schedule, a.schedule),
            when(a.last_run_at),
            when(a.updated_at),
        ]
        for a in rows
    ]


ANALYSES = ListView(
    name="analysis",
    title="保存的分析",
    columns=(
        Column("name", "名称", Analysis.name),
        Column("dataset", "数据集"),
        Column("owner", "建立人"),
        Column("shared", "共享", Analysis.shared),
        Column("schedule", "定期运行", Analysis.schedule),
        Column("last_run_at", "上次定期运行", Analysis.last_run_at),
        Column("updated_at", "更新时间", Analysis.updated_at),
    ),
    order=ANALYSIS_ORDER,
    cells=_cells,
)
