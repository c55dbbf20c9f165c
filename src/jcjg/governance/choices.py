"""The data standard's stored choices, with their Chinese labels."""

from __future__ import annotations

from enum import StrEnum


class StandardStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    PUBLISHED = "published"

    @property
    def label(self) -> str:
        return {
            "draft": "草稿",
            "submitted": "待审核",
            "returned": "已退回",
            "published": "已发布",
        }[self.value]


class DataType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    DECIMAL = "decimal"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    UUID = "uuid"
    OBJECT = "object"

    @property
    def label(self) -> str:
        return {
            "string": "字符型",
            "integer": "整数型",
            "number": "数值型",
            "decimal": "定点小数型",
            "boolean": "逻辑型",
            "date": "日期型",
            "datetime": "日期时间型",
            "uuid": "唯一标识（UUID）",
            "object": "结构型（键值）",
        }[self.value]
