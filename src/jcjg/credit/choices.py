"""The words of credit rating: evaluation sources, fact kinds, statuses."""

from __future__ import annotations

from enum import StrEnum


class Source(StrEnum):
    """The four evaluations (000 4.2.2 item 7)."""

    SELF = "self"  # the institution's self-evaluation
    PARTY = "party"  # the owner's, contractor's and supervisor's, per project
    ASSOCIATION = "association"  # the industry association's
    AUTHORITY = "authority"  # the competent authority's

    @property
    def label(self) -> str:
        return {
            "self": "机构自评",
            "party": "参建单位评价",
            "association": "行业协会评价",
            "authority": "主管部门评价",
        }[self.value]


class FactKind(StrEnum):
    """What the platform itself knows about an institution in a period."""

    ALERT_CONFIRMED = "alert_confirmed"
    NONCONFORMITY_UNREPORTED = "nonconformity_unreported"
    RECTIFICATION_ORDER = "rectification_order"
    RECTIFICATION_OVERDUE = "rectification_overdue"
    PENALTY = "penalty"
    PROFICIENCY_ACTION = "proficiency_action"
    PROFICIENCY_WARNING = "proficiency_warning"
    EXCHANGE_REJECTED = "exchange_rejected"

    @property
    def label(self) -> str:
        return _FACT_LABELS[self.value]


_FACT_LABELS = {
    "alert_confirmed": "经确认的预警",
    "nonconformity_unreported": "平台发现而机构未报告的不合格结果",
    "rectification_order": "整改通知",
    "rectification_overdue": "逾期整改",
    "penalty": "行政处罚",
    "proficiency_action": "能力验证不满意结果",
    "proficiency_warning": "能力验证可疑结果",
    "exchange_rejected": "数据交换被拒收的报文",
}


class ScoreStatus(StrEnum):
    DRAFT = "draft"  # computed, not yet published
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return {"draft": "未公布", "published": "已公布"}[self.value]

    @property
    def badge(self) -> str:
        return {"draft": "warn", "published": "ok"}[self.value]


class AppealStatus(StrEnum):
    PENDING = "pending"
    UPHELD = "upheld"  # the score stands
    CORRECTED = "corrected"  # the fact struck out, the score recomputed

    @property
    def label(self) -> str:
        return {"pending": "待处理", "upheld": "维持原评价", "corrected": "已更正"}[self.value]

    @property
    def badge(self) -> str:
        return {"pending": "warn", "upheld": "", "corrected": "ok"}[self.value]


class SubjectType(StrEnum):
    INSTITUTION = "institution"
    PERSON = "person"

    @property
    def label(self) -> str:
        return {"institution": "检测机构", "person": "关键岗位人员"}[self.value]
