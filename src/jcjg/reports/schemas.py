"""What a lab's system sends about reports: the request for a supervision code (``report``),
a withdrawal (``report_withdrawal``)."""

from __future__ import annotations

from pydantic import ConfigDict, Field

from jcjg.core.text import MultiLine, TextModel
from jcjg.exchange.types import SHA256_PATTERN, IsoDate, MessageBase
from jcjg.testing.choices import Judgement
from jcjg.testing.schemas import InspectorIn, Value


class _Strict(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReplacesIn(_Strict):
    number: str = Field(min_length=1, max_length=64, description="被替换的报告编号")
    reason: MultiLine = Field(min_length=2, max_length=500, description="替换原因")


class ReportIn(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="报告编号；匹配键")
    sequence: int = Field(ge=1, le=10_000_000, description="本年度报告流水号（编号应连续）")
    year: int | None = Field(
        default=None, ge=2000, le=2100, description="编号所属年度（缺省为签发日期的年份）"
    )
    title: str = Field(default="", max_length=200, description="报告名称")
    commission_number: str | None = Field(default=None, max_length=64, description="委托编号")
    project_code: str | None = Field(default=None, max_length=32, description="工程项目编号")
    test_record_numbers: list[str] = Field(
        default_factory=list, max_length=200, description="报告涵盖的原始记录编号"
    )
    items: list[str] = Field(
        min_length=1, max_length=50, description="检测项目代码（资质目录），至少一个"
    )
    conclusion: MultiLine = Field(default="", max_length=2000, description="检测结论")
    judgement: Judgement = Field(default=Judgement.NONE, description="结论：合格、不合格……")
    results: dict[str, Value] = Field(
        default_factory=dict, max_length=60, description="报告中的主要结果（与原始记录核对）"
    )
    signatories: list[InspectorIn] = Field(
        min_length=1, max_length=6, description="签字人：检测、审核、批准（授权签字人）"
    )
    issued_on: IsoDate = Field(description="签发日期")
    replaces: ReplacesIn | None = Field(default=None, description="替换的报告及原因")


class WithdrawalIn(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="撤回的报告编号")
    reason: MultiLine = Field(min_length=2, max_length=500, description="撤回原因")


class ReportFileIn(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="报告编号")
    pdf_sha256: str = Field(pattern=SHA256_PATTERN, description="签章后的报告 PDF（须先上传）")
