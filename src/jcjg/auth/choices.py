"""Roles and the kind of data scope each one carries."""

from __future__ import annotations

from enum import StrEnum


class ScopeKind(StrEnum):
    """What limits a principal's data: everything, a region subtree, one institution,
    a set of projects, or only the principal's own records."""

    GLOBAL = "global"
    REGION = "region"
    INSTITUTION = "institution"
    PROJECT = "project"
    SELF = "self"


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    PROVINCIAL_AUTHORITY = "provincial_authority"
    CITY_AUTHORITY = "city_authority"
    STATION = "station"
    INSTITUTION_ADMIN = "institution_admin"
    INSTITUTION_STAFF = "institution_staff"
    PARTY_UNIT = "party_unit"
    WITNESS = "witness"
    SAMPLER = "sampler"
    EXPERT = "expert"
    AUDITOR = "auditor"
    ASSOCIATION = "association"

    @property
    def label(self) -> str:
        return ROLE_LABELS[self]

    @property
    def scope_kind(self) -> ScopeKind:
        return ROLE_SCOPES[self]

    @property
    def is_authority(self) -> bool:
        """Authority accounts may turn on a second factor (TOTP) and see region data."""
        return self in {
            Role.PLATFORM_ADMIN,
            Role.PROVINCIAL_AUTHORITY,
            Role.CITY_AUTHORITY,
            Role.STATION,
        }


ROLE_LABELS: dict[Role, str] = {
    Role.PLATFORM_ADMIN: "平台管理员",
    Role.PROVINCIAL_AUTHORITY: "省级主管部门",
    Role.CITY_AUTHORITY: "市县主管部门",
    Role.STATION: "质量安全监督站",
    Role.INSTITUTION_ADMIN: "检测机构管理员",
    Role.INSTITUTION_STAFF: "检测机构人员",
    Role.PARTY_UNIT: "参建单位用户（建设/施工/监理）",
    Role.WITNESS: "见证人员",
    Role.SAMPLER: "取样人员",
    Role.EXPERT: "专家",
    Role.AUDITOR: "审计员（只读）",
    Role.ASSOCIATION: "行业协会",
}

ROLE_SCOPES: dict[Role, ScopeKind] = {
    Role.PLATFORM_ADMIN: ScopeKind.GLOBAL,
    Role.PROVINCIAL_AUTHORITY: ScopeKind.REGION,
    Role.CITY_AUTHORITY: ScopeKind.REGION,
    Role.STATION: ScopeKind.REGION,
    Role.INSTITUTION_ADMIN: ScopeKind.INSTITUTION,
    Role.INSTITUTION_STAFF: ScopeKind.INSTITUTION,
    Role.PARTY_UNIT: ScopeKind.PROJECT,
    Role.WITNESS: ScopeKind.PROJECT,
    Role.SAMPLER: ScopeKind.PROJECT,
    Role.EXPERT: ScopeKind.SELF,
    Role.AUDITOR: ScopeKind.REGION,
    Role.ASSOCIATION: ScopeKind.REGION,
}
