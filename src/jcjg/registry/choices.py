"""Choices of the registry, stored by value, each with its Chinese label."""

from __future__ import annotations

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A StrEnum whose members carry a Chinese label."""

    @property
    def label(self) -> str:
        return str(LABELS[self])


class KeyRole(LabelledEnum):
    LEGAL_REPRESENTATIVE = "legal_representative"
    TECHNICAL_DIRECTOR = "technical_director"
    QUALITY_MANAGER = "quality_manager"


class Gender(LabelledEnum):
    MALE = "male"
    FEMALE = "female"


class Title(LabelledEnum):
    """Professional title level (职称)."""

    NONE = "none"
    JUNIOR = "junior"
    INTERMEDIATE = "intermediate"
    SENIOR = "senior"
    PROFESSOR = "professor"


class CertificateStatus(LabelledEnum):
    VALID = "valid"
    SUSPENDED = "suspended"
    REVOKED = "revoked"


class FilingStatus(LabelledEnum):
    FILED = "filed"
    WITHDRAWN = "withdrawn"


class ELicenceKind(LabelledEnum):
    CERTIFICATE = "certificate"
    CAPABILITY_ANNEX = "capability_annex"
    SIGNATORY_ANNEX = "signatory_annex"


class EquipmentStatus(LabelledEnum):
    IN_USE = "in_use"
    OUT_OF_SERVICE = "out_of_service"
    RETIRED = "retired"


class AssessmentResult(LabelledEnum):
    PASSED = "passed"
    FAILED = "failed"


LABELS: dict[StrEnum, str] = {
    KeyRole.LEGAL_REPRESENTATIVE: "法定代表人",
    KeyRole.TECHNICAL_DIRECTOR: "技术负责人",
    KeyRole.QUALITY_MANAGER: "质量负责人",
    Gender.MALE: "男",
    Gender.FEMALE: "女",
    Title.NONE: "无",
    Title.JUNIOR: "初级",
    Title.INTERMEDIATE: "中级",
    Title.SENIOR: "副高级",
    Title.PROFESSOR: "正高级",
    CertificateStatus.VALID: "有效",
    CertificateStatus.SUSPENDED: "暂停",
    CertificateStatus.REVOKED: "撤销",
    FilingStatus.FILED: "已备案",
    FilingStatus.WITHDRAWN: "已注销",
    ELicenceKind.CERTIFICATE: "资质证书",
    ELicenceKind.CAPABILITY_ANNEX: "检测能力附表",
    ELicenceKind.SIGNATORY_ANNEX: "报告批准人附表",
    EquipmentStatus.IN_USE: "在用",
    EquipmentStatus.OUT_OF_SERVICE: "停用",
    EquipmentStatus.RETIRED: "报废",
    AssessmentResult.PASSED: "合格",
    AssessmentResult.FAILED: "不合格",
}

SENIOR_TITLES = frozenset({Title.SENIOR, Title.PROFESSOR})
INTERMEDIATE_OR_ABOVE = frozenset({Title.INTERMEDIATE, Title.SENIOR, Title.PROFESSOR})
