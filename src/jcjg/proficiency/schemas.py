"""What comes in about proficiency tests: a scheme (page and API), a participant's results
(page, API and the ``proficiency_result`` message share :class:`ResultIn`)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jcjg.core.forms import Id
from jcjg.core.text import MultiLine, TextModel
from jcjg.proficiency.choices import AssignedMode
from jcjg.proficiency.statistics import Score

CODE_PATTERN = r"^[0-9A-Za-z][0-9A-Za-z\-_.]{0,31}$"
MAX_VALUE = 1e12  # a result beyond this is a typing error, not a measurement
MAX_PARTICIPANTS = 300


class ResultIn(TextModel):
    """A participant's result on one sample."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    sample: Literal["A", "B"] = Field(description="样品：A，或成对样品的 B")
    value: float = Field(
        ge=-MAX_VALUE, le=MAX_VALUE, allow_inf_nan=False, description="检测结果（计划的单位）"
    )
    expanded_uncertainty: float | None = Field(
        default=None, gt=0, le=MAX_VALUE, allow_inf_nan=False, description="扩展不确定度 U(x)"
    )
    coverage_factor: float = Field(
        default=2.0, gt=0, le=10, allow_inf_nan=False, description="包含因子 k"
    )
    method: str = Field(default="", max_length=100, description="检测方法（标准编号）")


class ResultsIn(TextModel):
    """One participant's results (one per sample)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    results: list[ResultIn] = Field(min_length=1, max_length=2)


class SchemeIn(TextModel):
    """A new scheme and the institutions invited to it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(pattern=CODE_PATTERN, description="试验编号（平台内唯一）")
    title: str = Field(min_length=2, max_length=100, description="名称")
    region_code: str | None = Field(
        default=None,
        pattern=r"^[0-9]{6}$",
        description="组织能力验证的行政区划代码：平台管理员必填；区域账号省略时为本区域，"
        "也可填本区域以下的区划",
    )
    parameter_code: str = Field(pattern=r"^[0-9]{6}$", description="检测参数代码（资质目录）")
    unit: str = Field(default="", max_length=32, description="单位（默认取参数的单位）")
    sample_count: int = Field(default=1, ge=1, le=2, description="每家发放样品数：1 或 2（成对）")
    samples_sent_on: dt.date | None = Field(
        default=None, description="样品发放日期（不能晚于结果提交截止日期 deadline）"
    )
    deadline: dt.date = Field(description="结果提交截止日期")
    assigned_mode: AssignedMode = Field(
        default=AssignedMode.CONSENSUS,
        description="指定值的来源；known（已知参考值）时 assigned_value、assigned_uncertainty、"
        "sigma_pt 三项必填",
    )
    assigned_value: float | None = Field(
        default=None, allow_inf_nan=False, ge=-MAX_VALUE, le=MAX_VALUE, description="指定值 x_pt"
    )
    assigned_uncertainty: float | None = Field(
        default=None, ge=0, le=MAX_VALUE, allow_inf_nan=False, description="指定值的扩展不确定度"
    )
    sigma_pt: float | None = Field(
        default=None, gt=0, le=MAX_VALUE, allow_inf_nan=False, description="能力评定标准差"
    )
    score: Score = Field(default=Score.Z, description="评定所用的比分数")
    institution_ids: list[Id] = Field(
        min_length=1,
        max_length=MAX_PARTICIPANTS,
        description="受邀参加的机构（不得重复）",
        json_schema_extra={"uniqueItems": True},
    )
    notes: MultiLine = Field(default="", max_length=2000)

    @model_validator(mode="after")
    def _known_needs_its_value(self) -> SchemeIn:
        if self.assigned_mode is AssignedMode.KNOWN:
            missing = [
                n
                for n in ("assigned_value", "assigned_uncertainty", "sigma_pt")
                if getattr(self, n) is None
            ]
            if missing:
                raise ValueError("已知参考值须填写指定值、其扩展不确定度和能力评定标准差")
        if self.samples_sent_on and self.samples_sent_on > self.deadline:
            raise ValueError("样品发放日期不能晚于结果提交截止日期")
        if len(set(self.institution_ids)) != len(self.institution_ids):
            raise ValueError("参加机构重复")
        return self


class ResultRead(BaseModel):
    participant_code: str
    institution_id: int | None = Field(description="参加机构（仅组织方可见）")
    sample: str
    value: float
    expanded_uncertainty: float | None
    coverage_factor: float
    method: str
    submitted_at: dt.datetime
    source: str
    z: float | None
    z_prime: float | None
    zeta: float | None
    en: float | None
    signal: str | None = Field(description="评定比分数的信号：satisfactory、warning、action")


class InviteIn(TextModel):
    """More institutions invited to a scheme still collecting results."""

    model_config = ConfigDict(extra="forbid")

    institution_ids: list[Id] = Field(
        min_length=1,
        max_length=MAX_PARTICIPANTS,
        description="再邀请的机构（不得重复）",
        json_schema_extra={"uniqueItems": True},
    )


class SchemeRead(BaseModel):
    id: int
    code: str
    title: str
    region_code: str
    item_code: str
    parameter_code: str
    unit: str
    sample_count: int
    samples_sent_on: dt.date | None
    deadline: dt.date
    assigned_mode: str
    assigned_value: float | None
    assigned_uncertainty: float | None
    sigma_pt: float | None
    score: str
    status: str
    evaluated_at: dt.datetime | None
    participants: int
    statistics: dict[str, Any] = Field(description="各样品的统计量（完成评价后）")
    results: list[ResultRead] = Field(description="组织方：全部结果；参加机构：本机构的结果")


class SubmittedRead(BaseModel):
    scheme_code: str
    participant_code: str
    created: int
    updated: int
