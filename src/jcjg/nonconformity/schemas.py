"""What a lab's system sends about a nonconforming result (message ``nonconformity``): the raw
record it belongs to, and, when the platform does not hold that record, the result itself."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from jcjg.core.text import MultiLine
from jcjg.exchange.types import IsoAwareDateTime, MessageBase
from jcjg.testing.schemas import Value

MAX_SAMPLE_CODES = 50

SampleCode = Annotated[str, StringConstraints(min_length=1, max_length=20)]


class NonconformityIn(MessageBase):
    record_number: str = Field(
        min_length=1,
        max_length=64,
        description="原始记录编号（检测机构的编号）；匹配键。平台已有该记录（test_record）时与之关联",
    )
    project_code: str | None = Field(
        default=None, max_length=32, description="工程项目编号（平台尚无该原始记录时必填）"
    )
    sample_codes: list[SampleCode] = Field(
        default_factory=list, max_length=MAX_SAMPLE_CODES, description="样品唯一性编码"
    )
    item_code: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4,6}$",
        description="检测项目代码（资质目录；平台尚无该原始记录时必填）",
    )
    material: str = Field(default="", max_length=40, description="材料名称（缺省取检测项目名称）")
    structure_part: str = Field(default="", max_length=100, description="工程部位")
    grade: str = Field(
        default="", max_length=32, description="设计等级或牌号：C30、HRB400E、P·O 42.5"
    )
    requirement: str = Field(
        default="", max_length=200, description="判定的限值或标准要求，如“≥ 30.0 MPa（GB/T 50107）”"
    )
    values: dict[str, Value] = Field(
        default_factory=dict,
        max_length=40,
        description="检测结果（平台尚无该原始记录时至少一项）",
    )
    conclusion: MultiLine = Field(min_length=2, max_length=500, description="检测机构的判定结论")
    judged_at: IsoAwareDateTime = Field(description="判定不合格的时间（带时区）")
    informed_client_at: IsoAwareDateTime | None = Field(
        default=None, description="告知委托单位的时间（带时区；003 三（六））"
    )
    notes: MultiLine = Field(
        default="", max_length=2000, description="告知委托单位的方式、对象及其他说明"
    )
