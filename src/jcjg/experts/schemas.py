"""What comes in about experts and panels (pages and the JSON API share these)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from jcjg.core.forms import Id
from jcjg.core.text import MultiLine, TextModel
from jcjg.experts.choices import Conclusion, RegionPolicy, RelationKind, ReviewKind

CREDIT_CODE = r"^[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}$"
SPECIALTY = r"^[0-9A-Za-z]{1,8}$"
# the parts an expert scores (each 0-25; the score is their sum)
SCORE_PARTS: dict[str, str] = {
    "personnel": "人员",
    "equipment": "仪器设备",
    "premises": "检测场所与环境",
    "quality_system": "质量管理体系",
}
PART_MAX = 25


class RelationIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: RelationKind = Field(description="关系类别")
    organisation: str = Field(min_length=1, max_length=200, description="单位名称")
    credit_code: str | None = Field(
        default=None, pattern=CREDIT_CODE, description="统一社会信用代码"
    )
    note: str = Field(default="", max_length=200, description="说明")


class ProfileIn(TextModel):
    """What an expert keeps of their own data (and the province with the rest)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(default="", max_length=50, description="职称")
    employer: str = Field(min_length=1, max_length=200, description="工作单位")
    employer_credit_code: str | None = Field(
        default=None, pattern=CREDIT_CODE, description="工作单位统一社会信用代码"
    )
    phone: str = Field(default="", pattern=r"^[0-9+\-]{0,20}$", description="联系电话")
    specialties: list[str] = Field(min_length=1, max_length=40, description="专业（检测专项代码）")
    available: bool = Field(default=True, description="可参加评审")
    unavailable_until: dt.date | None = Field(default=None, description="暂不可参加至")
    relations: list[RelationIn] = Field(
        default_factory=list, max_length=40, description="申报的关系"
    )

    @field_validator("specialties")
    @classmethod
    def _codes(cls, value: list[str]) -> list[str]:
        import re

        for code in value:
            if not re.fullmatch(SPECIALTY, code):
                raise ValueError("检测专项代码格式不正确")
        return sorted(set(value))


class ExpertIn(ProfileIn):
    code: str = Field(pattern=r"^[0-9A-Za-z\-]{1,32}$", description="专家编号")
    name: str = Field(min_length=1, max_length=50, description="姓名")
    region_code: str = Field(pattern=r"^[0-9]{6}$", description="所属专家库（行政区划代码）")
    user_id: Id | None = Field(default=None, description="专家账号（用户 ID）")
    note: MultiLine = Field(default="", max_length=2000, description="备注")


class Requirement(TextModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    specialty: str = Field(pattern=SPECIALTY, description="检测专项代码")
    count: int = Field(ge=1, le=20, description="人数")


class PanelIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200, description="评审事项")
    kind: ReviewKind = Field(description="评审类别")
    region_code: str = Field(
        pattern=r"^[0-9]{6}$", description="组织评审的行政区划（须在本账号辖区内）"
    )
    institution_id: Id | None = Field(default=None, description="被评审检测机构")
    region_policy: RegionPolicy = Field(default=RegionPolicy.WITHIN, description="地区要求")
    requirements: list[Requirement] = Field(min_length=1, max_length=10, description="专业与人数")
    review_date: dt.date | None = Field(default=None, description="评审日期")
    note: MultiLine = Field(default="", max_length=2000, description="说明")

    @field_validator("requirements")
    @classmethod
    def _distinct(cls, value: list[Requirement]) -> list[Requirement]:
        if len({r.specialty for r in value}) != len(value):
            raise ValueError("同一专业只能填写一次")
        return value


class AnswerIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    accept: StrictBool = Field(description="接受（true）或谢绝（false）")
    reason: str = Field(default="", max_length=200, description="谢绝理由")


class OpinionIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    conclusion: Conclusion = Field(description="评审结论")
    scores: dict[str, StrictInt] = Field(description="分项得分（每项 0–25）")
    opinion: MultiLine = Field(min_length=1, max_length=5000, description="评审意见")

    @field_validator("scores")
    @classmethod
    def _parts(cls, value: dict[str, int]) -> dict[str, int]:
        if set(value) != set(SCORE_PARTS):
            raise ValueError("须为每个评分项打分")
        if any(isinstance(v, bool) or not 0 <= v <= PART_MAX for v in value.values()):
            raise ValueError(f"每项得分须在 0 到 {PART_MAX} 之间")
        return value


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")
