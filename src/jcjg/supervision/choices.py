"""The words of supervision work: plan and check states, item results, kinds of check and of
log entries, the reasons an institution is left out of a draw."""

from __future__ import annotations

from enum import StrEnum


class _Labelled(StrEnum):
    @property
    def label(self) -> str:
        return LABELS[type(self).__name__][self.value]


class PlanStatus(_Labelled):
    DRAFT = "draft"  # drawn nothing yet
    DRAWING = "drawing"  # request notarised, waiting for its randomness
    DRAWN = "drawn"  # checks given to the drawn officers
    PUBLISHED = "published"  # results public (一公开)


class CheckType(_Labelled):
    INSTITUTION = "institution"  # 检测机构综合检查


class CheckStatus(_Labelled):
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    SIGNED = "signed"  # both (every) officers signed


class ItemResult(_Labelled):
    CONFORMING = "conforming"
    NONCONFORMING = "nonconforming"
    NOT_APPLICABLE = "not_applicable"


class Conclusion(_Labelled):
    CONFORMING = "conforming"  # 未发现问题
    NONCONFORMING = "nonconforming"  # 发现问题


class LogKind(_Labelled):
    VISIT = "visit"
    INTERVIEW = "interview"
    DOCUMENT_REVIEW = "document_review"
    SPOT_CHECK = "spot_check"
    COMPLAINT = "complaint"
    OTHER = "other"


class Exclusion(_Labelled):
    RECENT = "recent"


LABELS: dict[str, dict[str, str]] = {
    "PlanStatus": {
        "draft": "待抽取",
        "drawing": "抽取中",
        "drawn": "检查中",
        "published": "结果已公开",
    },
    "CheckType": {"institution": "检测机构监督检查"},
    "CheckStatus": {"assigned": "待检查", "in_progress": "检查中", "signed": "已签字确认"},
    "ItemResult": {
        "conforming": "符合",
        "nonconforming": "不符合",
        "not_applicable": "不适用",
    },
    "Conclusion": {"conforming": "未发现问题", "nonconforming": "发现问题，责令整改"},
    "LogKind": {
        "visit": "现场检查",
        "interview": "约谈",
        "document_review": "资料核查",
        "spot_check": "双随机抽查",
        "complaint": "投诉处理",
        "other": "其他",
    },
    "Exclusion": {"recent": "近期已检查"},
}
