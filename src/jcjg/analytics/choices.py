"""Words of the analytics domain: a test record's result as a dimension, and schedules."""

from __future__ import annotations

from enum import StrEnum


class ResultKind(StrEnum):
    CONFORMING = "conforming"
    NONCONFORMING = "nonconforming"

    @property
    def label(self) -> str:
        return {"conforming": "合格", "nonconforming": "不合格"}[self.value]


class Schedule(StrEnum):
    NONE = ""
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"

    @property
    def label(self) -> str:
        return {"": "不定期", "daily": "每日", "weekly": "每周", "monthly": "每月"}[self.value]
