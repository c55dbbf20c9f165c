"""What an edition of GB/T 2260 did to a code, with its Chinese label."""

from __future__ import annotations

from enum import StrEnum


class RegionChangeKind(StrEnum):
    ADDED = "added"
    RENAMED = "renamed"
    ABOLISHED = "abolished"
    RESTORED = "restored"

    @property
    def label(self) -> str:
        return {"added": "新增", "renamed": "更名", "abolished": "撤销", "restored": "恢复"}[
            self.value
        ]
