"""What a lab's system sends about a contract (``contract``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from jcjg.exchange.types import SHA256_PATTERN, DecimalText, IsoDate, MessageBase


class ContractIn(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="合同编号；匹配键")
    sequence: int = Field(ge=1, le=10_000_000, description="本年度合同流水号（编号应连续）")
    year: int | None = Field(
        default=None, ge=2000, le=2100, description="编号所属年度（缺省为签订日期的年份）"
    )
    project_code: str = Field(min_length=1, max_length=32, description="工程项目编号")
    client_unit: str = Field(min_length=2, max_length=200, description="委托方（建设单位）")
    signed_on: IsoDate = Field(description="签订日期")
    items: list[str] = Field(default_factory=list, max_length=100, description="检测项目代码")
    amount_yuan: (
        Annotated[Decimal, Field(ge=0, le=Decimal("1e11"), decimal_places=2), DecimalText] | None
    ) = Field(default=None, description="合同金额（元）")
    pdf_sha256: str = Field(pattern=SHA256_PATTERN, description="合同文本 PDF（须先上传）")
