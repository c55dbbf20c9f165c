"""What comes in about spot-check plans, findings, sign-offs and log entries (pages and the
JSON API share these)."""

from __future__ import annotations

import datetime as dt

from pydantic import ConfigDict, Field, model_validator

from jcjg.core.forms import Id
from jcjg.core.text import MultiLine, TextModel
from jcjg.supervision.choices import CheckType, Conclusion, ItemResult, LogKind

REGION = r"^[1-8][0-9]{5}$"
SPECIALTY = r"^[0-9A-Za-z]{1,8}$"
MAX_INSTITUTIONS = 500


class PlanIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(min_length=1, max_length=200, description="计划名称")
    region_code: str = Field(pattern=REGION, description="抽查地区（须在本账号辖区内）")
    period_start: dt.date = Field(description="检查开始日期")
    period_end: dt.date = Field(description="检查结束日期")
    basis: str = Field(min_length=1, max_length=64, description="抽查依据")
    check_type: CheckType = Field(default=CheckType.INSTITUTION, description="检查类别")
    specialty: str | None = Field(default=None, pattern=SPECIALTY, description="资质专项")
    institution_count: int = Field(ge=1, le=MAX_INSTITUTIONS, description="抽取机构数")
    officers_per_check: int = Field(default=2, ge=2, le=10, description="每组检查人员数")
    recent_months: int = Field(default=12, ge=0, le=60, description="近期已检查的回避月数")
    note: MultiLine = Field(default="", max_length=2000, description="说明")

    @model_validator(mode="after")
    def _period(self) -> PlanIn:
        if self.period_end < self.period_start:
            raise ValueError("检查结束日期不能早于开始日期")
        return self


class CheckItemIn(TextModel):
    """A check item as the administrator writes it; ``check_type`` and ``code`` only when it
    is new (findings point at the item: its code never changes)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    check_type: CheckType = Field(default=CheckType.INSTITUTION, description="检查类别")
    code: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9.-]{0,15}$", description="检查项编号")
    title: str = Field(min_length=1, max_length=100, description="检查项名称")
    guidance: MultiLine = Field(default="", max_length=2000, description="检查要点")
    sort: int = Field(default=0, ge=0, le=9999, description="排序")
    is_active: bool = Field(default=True, description="启用")


class FindingIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_id: Id = Field(description="检查项")
    result: ItemResult = Field(description="检查结果")
    finding: MultiLine = Field(
        default="", max_length=2000, description="检查情况（检查结果为不符合时必填）"
    )
    latitude: float | None = Field(default=None, ge=-90, le=90, description="纬度")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="经度")

    @model_validator(mode="after")
    def _explained(self) -> FindingIn:
        if self.result == ItemResult.NONCONFORMING and not self.finding:
            raise ValueError("不符合的检查项须写明检查情况")
        return self


class SignIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    conclusion: Conclusion = Field(description="检查结论")
    summary: MultiLine = Field(min_length=1, max_length=2000, description="检查情况摘要")


class LogIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    kind: LogKind = Field(description="工作类别")
    entry_date: dt.date = Field(description="日期")
    institution_id: Id | None = Field(default=None, description="检测机构")
    project_id: Id | None = Field(default=None, description="工程项目")
    participants: str = Field(default="", max_length=200, description="参加人员")
    summary: MultiLine = Field(min_length=1, max_length=4000, description="工作内容")
    follow_up: MultiLine = Field(default="", max_length=2000, description="后续处理")


class RelationIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    institution_id: Id = Field(description="检测机构")
    note: str = Field(default="", max_length=200, description="关系说明")
