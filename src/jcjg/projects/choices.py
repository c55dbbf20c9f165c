"""Project statuses and the roles people take on a project's site."""

from __future__ import annotations

from enum import StrEnum


class ProjectStatus(StrEnum):
    PLANNED = "planned"
    UNDER_CONSTRUCTION = "under_construction"
    SUSPENDED = "suspended"
    COMPLETED = "completed"

    @property
    def label(self) -> str:
        return {
            "planned": "未开工",
            "under_construction": "在建",
            "suspended": "停工",
            "completed": "已竣工",
        }[self.value]

    @property
    def badge(self) -> str:
        return {"planned": "", "under_construction": "ok", "suspended": "warn", "completed": ""}[
            self.value
        ]


class MemberRole(StrEnum):
    """见证人员 (owner or supervision unit) / 取样人员 (contractor)."""

    WITNESS = "witness"
    SAMPLER = "sampler"

    @property
    def label(self) -> str:
        return {"witness": "见证人员", "sampler": "取样人员"}[self.value]


# The hooks the project pages call (other domains' panels and columns on them, and a check of a
# member's photo): named here, not in the pages, so that declaring one imports no page.
PROJECT_PANELS = "projects.panels"
PROJECT_COLUMNS = "projects.columns"
# (settings, photo bytes) -> a Chinese reason the photo cannot register a witness or sampler
MEMBER_PHOTO_PROBLEM = "projects.member_photo_problem"
