"""States and kinds of the networking domain, with Chinese labels."""

from __future__ import annotations

from enum import StrEnum


class ChildStatus(StrEnum):
    ACTIVE = "active"
    HALTED = "halted"

    @property
    def label(self) -> str:
        return {ChildStatus.ACTIVE: "正常", ChildStatus.HALTED: "已暂停（日志不一致）"}[self]


class Outcome(StrEnum):
    """What became of one forwarded leaf on the parent."""

    STORED = "stored"
    RECORDED = "recorded"
    REBUILT = "rebuilt"
    DUPLICATE = "duplicate"
    HELD = "held"  # a fact waiting for what a lab's message brings here (core.facts.NotYet)
    REFUSED = "refused"
    ORIGIN_REJECTED = "origin_rejected"

    @property
    def label(self) -> str:
        return _OUTCOMES[self]


_OUTCOMES = {
    Outcome.STORED: "已接收，本平台处理",
    Outcome.RECORDED: "已记录（平台事实）",
    Outcome.REBUILT: "已在本平台登记（平台事实）",
    Outcome.DUPLICATE: "重复（已由其他途径收到）",
    Outcome.HELD: "暂存（待本平台先处理其所依据的数据）",
    Outcome.REFUSED: "拒收",
    Outcome.ORIGIN_REJECTED: "下级平台已拒收",
}


class Attestation(StrEnum):
    """Who vouches for a forwarded lab message."""

    LAB_SIGNATURE = "lab_signature"
    PLATFORM = "platform"

    @property
    def label(self) -> str:
        return {
            Attestation.LAB_SIGNATURE: "检测机构签名（本平台已核验）",
            Attestation.PLATFORM: "仅下级平台证明（共享密钥签名）",
        }[self]


class ApplicationStatus(StrEnum):
    """Where a platform's application for access stands."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {
            ApplicationStatus.PENDING: "待审批",
            ApplicationStatus.APPROVED: "已批准",
            ApplicationStatus.REJECTED: "未批准",
        }[self]
