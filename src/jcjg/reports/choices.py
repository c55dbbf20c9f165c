"""Report states and what a scan of a supervision code found."""

from __future__ import annotations

from enum import StrEnum


class ReportStatus(StrEnum):
    ISSUED = "issued"  # valid
    WITHDRAWN = "withdrawn"  # 撤回: no longer valid, nothing in its place
    REPLACED = "replaced"  # 替换: a later report takes its place

    @property
    def label(self) -> str:
        return {"issued": "有效", "withdrawn": "已撤回", "replaced": "已被替换"}[self.value]

    @property
    def badge(self) -> str:
        return {"issued": "ok", "withdrawn": "bad", "replaced": "warn"}[self.value]


class ScanOutcome(StrEnum):
    GENUINE = "genuine"  # a valid report, the token right: the whole chain shown
    EXISTS = "exists"  # a valid report, no or a wrong token: existence and issuer only
    REVOKED = "revoked"  # withdrawn or replaced
    UNKNOWN = "unknown"  # well-formed code the platform never issued: a possible forgery
    MALFORMED = "malformed"  # not a supervision code at all (wrong length or check character)
    LEGACY = "legacy"  # issued by the platform this one replaced, imported (no chain, no proof)

    @property
    def label(self) -> str:
        return {
            "genuine": "真实有效",
            "exists": "监管码存在",
            "revoked": "报告已撤回或替换",
            "unknown": "监管码不存在",
            "malformed": "不是有效的监管码",
            "legacy": "原平台签发的报告（迁移时导入）",
        }[self.value]
