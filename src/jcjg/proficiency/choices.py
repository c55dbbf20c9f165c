"""Statuses and ways of setting the assigned value of a proficiency scheme."""

from __future__ import annotations

from enum import StrEnum


class SchemeStatus(StrEnum):
    OPEN = "open"  # invited participants submit results
    EVALUATED = "evaluated"  # statistics and scores done

    @property
    def label(self) -> str:
        return {"open": "征集结果", "evaluated": "已评价"}[self.value]

    @property
    def badge(self) -> str:
        return {"open": "warn", "evaluated": "ok"}[self.value]


class AssignedMode(StrEnum):
    """How the assigned value x_pt is set (ISO 13528:2022 clause 7)."""

    KNOWN = "known"  # a reference or certified value, with its uncertainty
    CONSENSUS = "consensus"  # from the participants' results, by Algorithm A

    @property
    def label(self) -> str:
        return {"known": "已知参考值", "consensus": "参加者结果的稳健平均值（算法 A）"}[self.value]


class Source(StrEnum):
    PAGE = "page"
    API = "api"
    EXCHANGE = "exchange"

    @property
    def label(self) -> str:
        return {"page": "页面填报", "api": "平台 API", "exchange": "数据交换"}[self.value]


SAMPLES = ("A", "B")
