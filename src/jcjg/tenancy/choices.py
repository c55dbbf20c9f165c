"""The states of an institution, stored by value, each with its Chinese label."""

from __future__ import annotations

from enum import StrEnum


class InstitutionStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"

    @property
    def label(self) -> str:
        return {"active": "正常", "suspended": "暂停", "revoked": "撤销"}[self.value]
