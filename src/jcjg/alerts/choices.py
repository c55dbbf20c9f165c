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

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def badge(self) -> str:
        return _STATUS_BADGES[self]


_STATUS_LABELS = {AlertStatus.OPEN: "未处理", AlertStatus.CLOSED: "已消除"}
_STATUS_BADGES = {AlertStatus.OPEN: "warn", AlertStatus.CLOSED: "ok"}
