"""What comes in: an analysis definition (strictly validated against the catalogue: only its
keys, no SQL), and a saved analysis around it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, model_validator

from jcjg.analytics.catalogue import CHARTS, DATASETS
from jcjg.analytics.choices import Schedule
from jcjg.core.text import TextModel

MONTH = r"^20[0-9]{2}-(0[1-9]|1[0-2])$"
MAX_DIMENSIONS = 2
MAX_MEASURES = 6


class Definition(TextModel):
    """An analysis: a data set, up to two dimensions, one to six measures, filters (a period
    of Beijing months and the data set's own), and how to show it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    dataset: StrictStr = Field(description="数据集（见 docs/analytics.md）")
    dimensions: list[StrictStr] = Field(default_factory=list, max_length=MAX_DIMENSIONS,
                                        description="分组维度（至多 2 个）")  # fmt: skip
    measures: list[StrictStr] = Field(min_length=1, max_length=MAX_MEASURES,
                                      description="统计指标（1 至 6 个）")  # fmt: skip
    since: StrictStr = Field(default="", pattern=f"({MONTH})|^$", description="起始月份 YYYY-MM")
    until: StrictStr = Field(default="", pattern=f"({MONTH})|^$", description="截止月份 YYYY-MM")
    filters: dict[StrictStr, StrictStr | StrictInt] = Field(
        default_factory=dict, description="筛选条件：数据集的筛选项 → 值"
    )
    chart: StrictStr = Field(default="table", description="展示：table、bar、line、pie")

    @model_validator(mode="after")
    def _known(self) -> Definition:
        dataset = DATASETS.get(self.dataset)
        if dataset is None:
            raise ValueError(f"未知的数据集：可选 {'、'.join(DATASETS)}")
        _check_keys(self.dimensions, dataset.dimensions, "维度")
        _check_keys(self.measures, dataset.measures, "指标")
        _check_keys(list(self.filters), dataset.filters, "筛选项")
        for key, value in self.filters.items():
            _check_filter(dataset.filters[key].names, key, value)
        if self.chart not in CHARTS:
            raise ValueError("未知的展示方式：可选 表格、柱状图、折线图、饼图")
        if self.since and self.until and self.since > self.until:
            raise ValueError("起始月份晚于截止月份")
        return self


def _check_keys(keys: list[str], known: dict[str, Any], what: str) -> None:
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise ValueError(f"该数据集没有{what}：{'、'.join(unknown)}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"{what}重复")


def _check_filter(names: str, key: str, value: str | int) -> None:
    if names == "institution":
        if not isinstance(value, int) or not 1 <= value <= 2_147_483_647:
            raise ValueError(f"筛选项 {key} 应为检测机构的编号（整数）")
    elif not isinstance(value, str) or not 1 <= len(value) <= 64:
        raise ValueError(f"筛选项 {key} 应为 1 至 64 个字符")
    elif names == "region" and not (len(value) == 6 and value.isdigit()):
        raise ValueError("行政区划应为 6 位代码")


class AnalysisIn(TextModel):
    """A saved analysis: its name, definition, sharing and schedule."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: StrictStr = Field(min_length=1, max_length=100, description="名称")
    definition: Definition
    shared: bool = Field(default=False, strict=True, description="在本地区共享")
    schedule: Schedule = Field(
        default=Schedule.NONE, description="定期运行：空、daily、weekly、monthly"
    )


class AnalysisPatch(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: StrictStr | None = Field(default=None, min_length=1, max_length=100)
    definition: Definition | None = None
    shared: bool | None = Field(default=None, strict=True)
    schedule: Schedule | None = None


class AnalysisRead(BaseModel):
    id: int
    name: str
    owner: str
    mine: bool
    shared: bool
    schedule: str
    definition: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime
    last_run_at: dt.datetime | None


class ResultRead(BaseModel):
    header: list[str]
    rows: list[list[Any]]
    tallied_at: dt.datetime | None = Field(description="由汇总表统计时：汇总时间；即时统计为空")
    truncated: bool
    counted_at: dt.datetime | None = Field(
        default=None,
        description="统计时间：同一数据范围、同一定义的结果在 "
        "JCJG_ANALYSIS_RESULTS_SECONDS 秒内复用",
    )
