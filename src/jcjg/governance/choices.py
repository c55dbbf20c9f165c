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


class QualityKind(StrEnum):
    COMPLETENESS = "completeness"
    FORMAT = "format"
    VALUE_DOMAIN = "value_domain"
    CONSISTENCY = "consistency"
    TIMELINESS = "timeliness"
    RELATED = "related"  # a field compared with one of a related record of another message

    @property
    def label(self) -> str:
        return {
            "completeness": "完整性",
            "format": "格式",
            "value_domain": "值域",
            "consistency": "一致性",
            "timeliness": "及时性",
            "related": "关联一致性",
        }[self.value]


class Comparison(StrEnum):
    LE = "le"
    LT = "lt"
    EQ = "eq"
    NE = "ne"
    GE = "ge"
    GT = "gt"

    @property
    def label(self) -> str:
        return {
            "le": "不晚于（不大于）",
            "lt": "早于（小于）",
            "eq": "等于",
            "ne": "不等于",
            "ge": "不早于（不小于）",
            "gt": "晚于（大于）",
        }[self.value]


class ConversionKind(StrEnum):
    """How a conversion rule (转换规则, 000 7.1.4(3)) rewrites a text value on arrival."""

    HALFWIDTH = "halfwidth"
    TRIM = "trim"
    DATE = "date"
    UNIT = "unit"
    CODE_MAP = "code_map"

    @property
    def label(self) -> str:
        return {
            "halfwidth": "全角转半角",
            "trim": "去除多余空白",
            "date": "日期格式转换",
            "unit": "计量单位规范写法",
            "code_map": "值域转换（代码映射）",
        }[self.value]


class DataGrade(StrEnum):
    PUBLIC = "public"
    CONDITIONAL = "conditional"
    RESTRICTED = "restricted"

    @property
    def label(self) -> str:
        return {"public": "公开", "conditional": "有条件共享", "restricted": "不予共享"}[self.value]


class ConsumerKind(StrEnum):
    DEPARTMENT = "department"
    BANK = "bank"
    PUBLIC = "public"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "department": "政府部门",
            "bank": "金融机构",
            "public": "社会公众",
            "other": "其他",
        }[self.value]


class Masking(StrEnum):
    MASK = "mask"
    HASH = "hash"
    GENERALISE = "generalise"
    DROP = "drop"

    @property
    def label(self) -> str:
        return {"mask": "遮盖", "hash": "带密钥哈希", "generalise": "泛化", "drop": "删除"}[
            self.value
        ]


class SubscriptionStatus(StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    STOPPED = "stopped"
    SUSPENDED = "suspended"  # its data set was made restricted or withdrawn

    @property
    def label(self) -> str:
        return {
            "pending": "待审核",
            "active": "生效",
            "rejected": "未批准",
            "stopped": "已停止",
            "suspended": "已中止（数据集变更）",
        }[self.value]


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"

    @property
    def label(self) -> str:
        return {"pending": "待推送", "delivered": "已送达", "dead": "推送失败"}[self.value]


class DeliveryEvent(StrEnum):
    """What a delivery of a derived record tells (its body's ``event``)."""

    PUBLISHED = "published"
    CORRECTED = "corrected"

    @property
    def label(self) -> str:
        return {"published": "公示", "corrected": "更正"}[self.value]


class AccessKind(StrEnum):
    QUERY = "query"
    PACKAGE = "package"
    APPLY = "apply"

    @property
    def label(self) -> str:
        return {"query": "查询", "package": "数据包", "apply": "申请"}[self.value]


class DataSetStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return {"draft": "编制中", "published": "已发布", "withdrawn": "已撤销"}[self.value]


class DataSetChangeKind(StrEnum):
    EDIT = "edit"
    REGRADE = "regrade"
    WITHDRAW = "withdraw"

    @property
    def label(self) -> str:
        return {"edit": "修改说明", "regrade": "调整共享级别", "withdraw": "撤销"}[self.value]


class DataSetChangeStatus(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"

    @property
    def label(self) -> str:
        return {"pending": "待审核", "applied": "已生效", "rejected": "未批准"}[self.value]
