"""Severity and status of alerts, with Chinese labels and badge colours."""

from __future__ import annotations

from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def label(self) -> str:
        return _SEVERITY_LABELS[self]

    @property
    def badge(self) -> str:
        """The CSS class of its badge (``badge <class>``)."""
        return _SEVERITY_BADGES[self]

    @property
    def rank(self) -> int:
        """Sort order: the most severe first (0)."""
        return _SEVERITY_RANKS[self]


_SEVERITY_LABELS = {Severity.INFO: "提示", Severity.WARNING: "警告", Severity.CRITICAL: "严重"}
_SEVERITY_BADGES = {Severity.INFO: "muted", Severity.WARNING: "warn", Severity.CRITICAL: "bad"}
_SEVERITY_RANKS = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}


class AlertStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    # closed soon after it opened while a registry was still arriving: not a finding (lists and
    # counts leave it out; the alert page still says what happened)
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def badge(self) -> str:
        return _STATUS_BADGES[self]


_STATUS_LABELS = {
    AlertStatus.OPEN: "未处理",
    AlertStatus.CLOSED: "已消除",
    AlertStatus.WITHDRAWN: "已撤回（报送未完成时短暂出现）",
}
_STATUS_BADGES = {AlertStatus.OPEN: "warn", AlertStatus.CLOSED: "ok", AlertStatus.WITHDRAWN: ""}


class CaseStatus(StrEnum):
    """Where the handling of an alert stands. An alert nobody has handled yet has no case:
    it is "new" (待确认)."""

    NEW = "new"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    RECTIFYING = "rectifying"
    RECTIFIED = "rectified"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return _CASE_LABELS[self]

    @property
    def badge(self) -> str:
        return _CASE_BADGES[self]


# the cases being handled: confirmed and not yet closed (an institution's "办理中的案件")
OPEN_CASES = (CaseStatus.CONFIRMED.value, CaseStatus.RECTIFYING.value, CaseStatus.RECTIFIED.value)

_CASE_LABELS = {
    CaseStatus.NEW: "待确认",
    CaseStatus.CONFIRMED: "已确认",
    CaseStatus.DISMISSED: "已排除",
    CaseStatus.RECTIFYING: "整改中",
    CaseStatus.RECTIFIED: "已整改待复核",
    CaseStatus.CLOSED: "已办结",
}
_CASE_BADGES = {
    CaseStatus.NEW: "warn",
    CaseStatus.CONFIRMED: "warn",
    CaseStatus.DISMISSED: "muted",
    CaseStatus.RECTIFYING: "bad",
    CaseStatus.RECTIFIED: "info",
    CaseStatus.CLOSED: "ok",
}


class CaseAction(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    REQUIRE = "require"  # rectification required
    RECTIFY = "rectify"  # the institution's answer, with evidence
    RETURN = "return"  # the answer is not enough: rectify again
    CLOSE = "close"
    REOPEN = "reopen"
    ESCALATE = "escalate"  # the deadline passed (the platform)

    @property
    def label(self) -> str:
        return _ACTION_LABELS[self]


_ACTION_LABELS = {
    CaseAction.CONFIRM: "确认预警",
    CaseAction.DISMISS: "排除（误报）",
    CaseAction.REQUIRE: "责令整改",
    CaseAction.RECTIFY: "提交整改结果",
    CaseAction.RETURN: "退回重新整改",
    CaseAction.CLOSE: "办结",
    CaseAction.REOPEN: "重新打开",
    CaseAction.ESCALATE: "逾期升级督办",
}

# The fact of an alert that links its evidence figure (shown as a figure, not as a fact).
FIGURE = "figure"
