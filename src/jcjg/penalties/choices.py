"""The kinds of administrative penalty (行政处罚的种类, 《中华人民共和国行政处罚法》第九条 and the
construction regulations' sanctions on inspection institutions)."""

from __future__ import annotations

from enum import StrEnum


class PenaltyKind(StrEnum):
    WARNING = "warning"
    FINE = "fine"
    CONFISCATION = "confiscation"
    SUSPENSION = "suspension"
    DOWNGRADE = "downgrade"
    REVOCATION = "revocation"
    BAN = "ban"

    @property
    def label(self) -> str:
        return _LABELS[self.value]

    @property
    def badge(self) -> str:
        return "bad" if self in _HEAVY else "warn"


_LABELS = {
    "warning": "警告",
    "fine": "罚款",
    "confiscation": "没收违法所得",
    "suspension": "责令停业整顿",
    "downgrade": "降低资质等级",
    "revocation": "吊销资质证书",
    "ban": "限制从业",
}
_HEAVY = {PenaltyKind.SUSPENSION, PenaltyKind.DOWNGRADE, PenaltyKind.REVOCATION, PenaltyKind.BAN}
