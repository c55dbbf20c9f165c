"""What a lab's system sends: test records (with specimens and curves) and revisions."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, PrivateAttr, StringConstraints

from jcjg.core.text import MultiLine, TextModel
from jcjg.exchange.types import SHA256_PATTERN, IsoAwareDateTime, MessageBase, OneError
from jcjg.testing.choices import Acquisition, Judgement, TestKind

MAX_SPECIMENS = 60
MAX_INLINE_POINTS = 20_000  # more points go up as a binary file (see docs/testing.md)

# a raw or computed value: a number, text (a note such as "断于标距外") or null; refused as one
# error at its key (value_type), whatever it is instead
Value = Annotated[
    float | int | str | None, OneError("value_type", "Input should be a number, text or null")
]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]


class _Strict(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CurveIn(_Strict):
    points: list[list[float]] = Field(
        min_length=10,
        max_length=MAX_INLINE_POINTS,
        description="曲线的点：[[时间 s, 力值 kN], ...] 或 [[时间 s, 力值 kN, 位移 mm], ...]",
    )


class SpecimenIn(_Strict):
    position: int = Field(ge=1, le=MAX_SPECIMENS, description="试件序号（1 起）")
    sample_code: str | None = Field(default=None, max_length=20, description="样品唯一性编码")
    values: dict[str, Value] = Field(
        default_factory=dict,
        max_length=40,
        description="试件的原始数值（见各类试验的字段表）",
    )
    curve: CurveIn | None = Field(default=None, description="曲线（JSON）")
    curve_sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, description="曲线文件（JCJGCURV 格式，须先上传）"
    )
    # its curve as read before the apply transaction (the kind it was read for, and
    # jcjg.testing.service.ReadCurve or None), not sent: service.read_ahead
    _ahead: Any = PrivateAttr(default=None)


class InspectorIn(_Strict):
    name: str = Field(min_length=1, max_length=64, description="检测人员姓名")
    id_number: str = Field(default="", max_length=18, description="身份证号（核对人员，不保存）")


class EnvironmentIn(_Strict):
    temperature_c: float | None = Field(default=None, ge=-40, le=80, description="温度 ℃")
    humidity_percent: float | None = Field(default=None, ge=0, le=100, description="湿度 %")


class RecordIn(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="原始记录编号；匹配键")
    sequence: int | None = Field(
        default=None, ge=1, le=100_000_000, description="本年度原始记录流水号（编号应连续）"
    )
    kind: TestKind = Field(description="试验类别")
    item_code: str = Field(pattern=r"^[0-9]{4,6}$", description="检测项目代码（资质目录）")
    parameter_codes: list[str] = Field(default_factory=list, max_length=50)
    standard: str = Field(default="", max_length=200, description="检测依据的标准")
    lab_name: str = Field(default="", max_length=100, description="检测场所")
    equipment: list[str] = Field(
        default_factory=list, max_length=20, description="所用设备的资产编号"
    )
    inspectors: list[InspectorIn] = Field(default_factory=list, max_length=10)
    commission_number: str | None = Field(default=None, max_length=64)
    project_code: str | None = Field(default=None, max_length=32)
    started_at: IsoAwareDateTime = Field(description="试验开始时间（带时区）")
    ended_at: IsoAwareDateTime = Field(description="试验结束时间（带时区）")
    environment: EnvironmentIn = Field(default_factory=EnvironmentIn)
    acquisition: Acquisition = Field(description="auto：自动采集；manual：人工录入")
    grade: str = Field(
        default="", max_length=32, description="设计等级或牌号：C30、HRB400E、P·O 42.5"
    )
    age_days: int | None = Field(default=None, ge=0, le=3650, description="龄期（天）")
    specimen_size_mm: int | None = Field(default=None, ge=10, le=1000, description="试件边长 mm")
    specimens: list[SpecimenIn] = Field(min_length=1, max_length=MAX_SPECIMENS)
    results: dict[str, Value] = Field(
        default_factory=dict, max_length=40, description="检测机构计算的结果"
    )
    judgement: Judgement = Field(default=Judgement.NONE, description="检测机构的判定")


class RevisionIn(MessageBase):
    record_number: str = Field(min_length=1, max_length=64, description="原始记录编号")
    field: str = Field(
        min_length=1,
        max_length=100,
        pattern=r"^(specimens\[[0-9]{1,2}\]|results)\.[A-Za-z0-9_]{1,40}$",
        description="修改的字段：specimens[序号].名称 或 results.名称",
    )
    before: Value = Field(description="修改前的值（平台保存的当前值）")
    after: Value = Field(description="修改后的值")
    reason: MultiLine = Field(min_length=2, max_length=500, description="修改原因")
    revised_by: str = Field(min_length=1, max_length=64, description="修改人")
    revised_by_id_number: str = Field(default="", max_length=18)
    revised_at: IsoAwareDateTime = Field(description="修改时间（带时区）")


class OnSitePlanIn(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="检测方案编号；匹配键")
    project_code: str = Field(min_length=1, max_length=32, description="工程项目编号")
    item_code: str = Field(pattern=r"^[0-9]{4,6}$", description="检测项目代码（资质目录）")
    method_statement: MultiLine = Field(
        default="", max_length=20_000, description="检测方案（文字）"
    )
    method_sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, description="检测方案文件（须先上传）"
    )
    planned_start: IsoAwareDateTime = Field(description="计划开始时间（带时区）")
    planned_end: IsoAwareDateTime = Field(description="计划结束时间（带时区）")
    quantity: str = Field(default="", max_length=100, description="检测数量")
    location: str = Field(default="", max_length=200, description="检测部位或地点")


class OnSiteRecordIn(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="现场检测记录编号；匹配键")
    plan_number: str | None = Field(default=None, max_length=64, description="检测方案编号")
    project_code: str = Field(min_length=1, max_length=32, description="工程项目编号")
    item_code: str = Field(pattern=r"^[0-9]{4,6}$", description="检测项目代码（资质目录）")
    started_at: IsoAwareDateTime = Field(description="开始时间（带时区）")
    ended_at: IsoAwareDateTime = Field(description="结束时间（带时区）")
    latitude: float | None = Field(default=None, ge=-90, le=90, description="检测位置纬度")
    longitude: float | None = Field(default=None, ge=-180, le=180, description="检测位置经度")
    photos: list[Sha256] = Field(
        default_factory=list, max_length=50, description="关键照片（须先上传）"
    )
    clips: list[Sha256] = Field(
        default_factory=list, max_length=20, description="关键视频（须先上传）"
    )
    inspectors: list[InspectorIn] = Field(default_factory=list, max_length=10)
    data: dict[str, Value] = Field(default_factory=dict, max_length=100, description="检测数据")
