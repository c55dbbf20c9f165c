"""The scheme list's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, when
from jcjg.core.pagination import Key, Order
from jcjg.proficiency import service
from jcjg.proficiency.choices import AssignedMode, SchemeStatus
from jcjg.proficiency.models import ProficiencyScheme
from jcjg.proficiency.statistics import Score

# newest deadline first, then by test number
SCHEME_ORDER = Order(
    (
        Key(ProficiencyScheme.deadline, lambda s: s.deadline, descending=True),
        Key(ProficiencyScheme.id, lambda s: s.id, descending=True),
    ),
    (dt.date(2000, 1, 1), 0),  # the keys' types, to read cursors back
)


def _cells(db: Session, rows: Sequence[ProficiencyScheme]) -> list[list[str]]:
    tallies = service.counts(db, [s.id for s in rows])
    return [
        [
            s.code,
            s.title,
            f"{s.parameter_code}（{s.unit}）" if s.unit else s.parameter_code,
            str(s.sample_count),
            when(s.samples_sent_on),
            when(s.deadline),
            AssignedMode(s.assigned_mode).label,
            Score(s.score).label,
            str(tallies[s.id]["invited"]),
            str(tallies[s.id]["submitted"]),
            str(tallies[s.id]["action"]),
            SchemeStatus(s.status).label,
        ]
        for s in rows
    ]


SCHEMES = ListView(
    name="proficiency_scheme",
    title="能力验证",
    columns=(
        Column("code", "试验编号", ProficiencyScheme.code),
        Column("title", "名称", ProficiencyScheme.title),
        Column("parameter", "检测参数", ProficiencyScheme.parameter_code),
        Column("sample_count", "样品数"),
        Column("samples_sent_on", "样品发放", ProficiencyScheme.samples_sent_on),
        Column("deadline", "截止日期", ProficiencyScheme.deadline),
        Column("assigned_mode", "指定值"),
        Column("score", "评定比分数"),
        Column("invited", "参加机构"),
        Column("submitted", "已提交"),
        Column("action", "不满意结果"),
        Column("status", "状态", ProficiencyScheme.status),
    ),
    order=SCHEME_ORDER,
    cells=_cells,
)
