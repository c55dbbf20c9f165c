"""What comes in and goes out about penalties (page form and JSON API share :class:`PenaltyIn`)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from jcjg.core.forms import Id
from jcjg.core.text import MultiLine, TextModel
from jcjg.penalties.choices import PenaltyKind

NUMBER_PATTERN = r"^[^\s].{0,63}$"
MAX_AMOUNT = Decimal("999999999999.99")


class PenaltyIn(TextModel):
    """A new decision."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(min_length=4, max_length=64, description="处罚决定书文号（唯一）")
    institution_id: Id = Field(description="被处罚的检测机构")
    person_ids: list[Id] = Field(default_factory=list, max_length=20, description="被处罚的人员")
    basis_code: str = Field(min_length=1, max_length=16, description="处罚依据（法规代码）")
    basis_article: str = Field(default="", max_length=64, description="条款，如“第三十一条”")
    facts: MultiLine = Field(min_length=4, max_length=4000, description="违法事实")
    kind: PenaltyKind = Field(description="处罚种类")
    amount: Decimal | None = Field(
        default=None, ge=0, le=MAX_AMOUNT, decimal_places=2, description="罚款金额（元）"
    )
    decided_on: dt.date = Field(description="决定日期")
    public_from: dt.date = Field(description="公示开始日期")
    public_until: dt.date = Field(description="公示截止日期")
    issuer: str = Field(default="", max_length=100, description="处罚机关（默认为本部门）")

    @model_validator(mode="after")
    def _consistent(self) -> PenaltyIn:
        _check(self.kind, self.amount, self.decided_on, self.public_from, self.public_until)
        return self


def _check(
    kind: PenaltyKind,
    amount: Decimal | None,
    decided_on: dt.date,
    public_from: dt.date,
    public_until: dt.date,
) -> None:
    if kind is PenaltyKind.FINE and not amount:
        raise ValueError("罚款须填写金额")
    if public_from < decided_on:
        raise ValueError("公示开始日期不能早于决定日期")
    if public_until < public_from:
        raise ValueError("公示截止日期不能早于开始日期")


class PenaltyPatch(TextModel):
    """A correction of a decision's record (its number stays): the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    person_ids: list[Id] | None = Field(default=None, max_length=20)
    basis_code: str | None = Field(default=None, min_length=1, max_length=16)
    basis_article: str | None = Field(default=None, max_length=64)
    facts: MultiLine | None = Field(default=None, min_length=4, max_length=4000)
    kind: PenaltyKind | None = None
    amount: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT, decimal_places=2)
    decided_on: dt.date | None = None
    public_from: dt.date | None = None
    public_until: dt.date | None = None
    issuer: str | None = Field(default=None, max_length=100)
    reason: MultiLine = Field(min_length=2, max_length=500, description="更正原因")


class PenaltyRead(BaseModel):
    id: int
    number: str
    institution_id: int
    institution_name: str
    region_code: str
    issuer_region_code: str
    issuer: str
    persons: list[str]  # names while public or for those in scope; else masked
    basis_code: str
    basis_article: str
    basis: str  # the regulation's citation and article
    facts: str
    kind: PenaltyKind
    kind_label: str
    amount: Decimal | None
    decided_on: dt.date
    public_from: dt.date
    public_until: dt.date
    is_public: bool
    ledger_index: int | None
    origin: str | None = None  # the child platform that recorded it (docs/networking.md)
