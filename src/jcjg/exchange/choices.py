"""Kinds and states of exchange clients and keys, with Chinese labels."""

from __future__ import annotations

from enum import StrEnum


class ClientKind(StrEnum):
    LIMS = "lims"
    PLATFORM = "platform"

    @property
    def label(self) -> str:
        return {ClientKind.LIMS: "检测机构业务系统（LIMS）", ClientKind.PLATFORM: "其他监管平台"}[
            self
        ]


class ClientStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    SUSPENDED = "suspended"

    @property
    def label(self) -> str:
        return _STATUS_LABELS[self]

    @property
    def badge(self) -> str:
        return _STATUS_BADGES[self]


_STATUS_LABELS = {
    ClientStatus.PENDING: "待审批",
    ClientStatus.ACTIVE: "已开通",
    ClientStatus.REJECTED: "未通过",
    ClientStatus.SUSPENDED: "已停用",
}
_STATUS_BADGES = {
    ClientStatus.PENDING: "warn",
    ClientStatus.ACTIVE: "ok",
    ClientStatus.REJECTED: "muted",
    ClientStatus.SUSPENDED: "bad",
}

KEY_STATE_LABELS = {
    "valid": "有效",
    "not_yet_valid": "未生效",
    "expired": "已过期",
    "revoked": "已吊销",
}


class MessageStatus(StrEnum):
    """Where a message stands: accepted (stored and notarised, waiting to be applied), applied
    or rejected (final)."""

    ACCEPTED = "accepted"
    APPLIED = "applied"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {
            MessageStatus.ACCEPTED: "已受理，待处理",
            MessageStatus.APPLIED: "已处理",
            MessageStatus.REJECTED: "未通过",
        }[self]
