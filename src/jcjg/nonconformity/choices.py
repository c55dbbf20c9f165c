"""How a nonconformity stands and how it was handled."""

from __future__ import annotations

from enum import StrEnum


class NcStatus(StrEnum):
    OPEN = "open"  # found, nothing recorded yet
    HANDLING = "handling"  # a handling recorded, not yet closed by the authority
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {NcStatus.OPEN: "待处理", NcStatus.HANDLING: "处理中", NcStatus.CLOSED: "已闭环"}[
            self
        ]

    @property
    def badge(self) -> str:
        return {NcStatus.OPEN: "bad", NcStatus.HANDLING: "warn", NcStatus.CLOSED: "ok"}[self]


class Handling(StrEnum):
    RETEST = "retest"
    REWORK = "rework"
    REMOVAL = "removal"
    DEMOLITION = "demolition"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            Handling.RETEST: "复检",
            Handling.REWORK: "返工、加固",
            Handling.REMOVAL: "退场",
            Handling.DEMOLITION: "拆除",
            Handling.OTHER: "其他",
        }[self]


class NcSource(StrEnum):
    RECORD = "record"  # a stored test record judged nonconforming
    REPORTED = "reported"  # the lab's own report (message ``nonconformity``), no record yet

    @property
    def label(self) -> str:
        return {NcSource.RECORD: "原始记录", NcSource.REPORTED: "机构报告"}[self]
