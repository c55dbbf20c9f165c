"""The sharing lists: data sets, consumers, a consumer's deliveries, the consumers' accesses
(``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order
from jcjg.governance.choices import (
    AccessKind,
    ConsumerKind,
    DataGrade,
    DataSetChangeKind,
    DataSetChangeStatus,
    DataSetStatus,
    DeliveryEvent,
    DeliveryStatus,
)
from jcjg.governance.lists import named
from jcjg.governance.models import Access, Consumer, DataSet, DataSetChange, Delivery
from jcjg.governance.quality_lists import type_title


def sources(data_set: DataSet) -> str:
    """A data set's message types in words (检测报告（申领监管码）、检测报告文件（签章 PDF）)."""
    return "、".join(type_title(t) for t in data_set.message_types)


def _set_cells(db: Session, rows: Sequence[DataSet]) -> list[list[str]]:
    return [
        [
            r.code,
            r.name,
            r.category,
            sources(r),
            label(DataGrade, r.grade),
            label(DataSetStatus, r.status),
            when(r.published_at),
        ]
        for r in rows
    ]


DATA_SETS = ListView(
    name="data_set",
    title="数据目录",
    columns=(
        Column("code", "编号", DataSet.code),
        Column("name", "名称", DataSet.name),
        Column("category", "分类", DataSet.category),
        Column("message_type", "来源"),
        Column("grade", "共享级别", DataSet.grade),
        Column("status", "状态", DataSet.status),
        Column("published_at", "发布时间", DataSet.published_at),
    ),
    order=Order(
        (Key(DataSet.code, lambda r: r.code, False), Key(DataSet.id, lambda r: r.id, False)),
        ("", 0),
    ),
    cells=_set_cells,
)


def _consumer_cells(db: Session, rows: Sequence[Consumer]) -> list[list[str]]:
    return [
        [
            r.name,
            label(ConsumerKind, r.kind),
            r.contact,
            r.endpoint or "（只查询）",
            r.key_id or "未登记",
            "正常" if r.status == "active" else "暂停",
        ]
        for r in rows
    ]


CONSUMERS = ListView(
    name="share_consumer",
    title="共享对象",
    columns=(
        Column("name", "名称", Consumer.name),
        Column("kind", "类别", Consumer.kind),
        Column("contact", "联系人"),
        Column("endpoint", "接收地址"),
        Column("key_id", "查询密钥"),
        Column("status", "状态", Consumer.status),
    ),
    order=Order((Key(Consumer.id, lambda r: r.id, False),), (0,)),
    cells=_consumer_cells,
)


def _delivery_cells(db: Session, rows: Sequence[Delivery]) -> list[list[str]]:
    return [
        [
            r.delivery_id,
            str(r.payload.get("data_set", "")),
            delivery_content(r),
            when(r.created_at),
            label(DeliveryStatus, r.status),
            str(r.attempts),
            when(r.delivered_at),
            proof_text(r),
            r.last_error,
        ]
        for r in rows
    ]


def delivery_content(delivery: Delivery) -> str:
    """What a delivery holds, in words: a message's type (检测人员), or a derived record's source,
    whether it is new or a correction, and the record (行政处罚决定 · 更正 · 浔建罚字…号)."""
    payload = delivery.payload
    kind = type_title(str(payload.get("message_type", "")))
    if delivery.record_key is None:
        return kind
    event = label(DeliveryEvent, str(payload.get("event", "")))
    return f"{kind} · {event} · {payload.get('record_id', '')}"


def proof_text(delivery: Delivery) -> str:
    """Where the log holds a delivery: its batch's leaf (masked, notarised before its first
    post), the message's own leaf (unmasked), or not yet."""
    if delivery.proof:
        return f"批次存证第 {delivery.proof['index']} 条"
    return "随消息存证" if "ledger" in delivery.payload else "待发送时存证"


DELIVERIES = ListView(
    name="share_delivery",
    title="数据推送记录",
    columns=(
        Column("delivery_id", "推送编号"),
        Column("data_set", "数据集"),
        Column("content", "推送内容"),
        Column("created_at", "生成时间", Delivery.created_at),
        Column("status", "状态", Delivery.status),
        Column("attempts", "尝试次数", Delivery.attempts),
        Column("delivered_at", "送达时间"),
        Column("proof", "存证"),
        Column("last_error", "最近失败原因"),
    ),
    order=Order(
        (Key(Delivery.created_at, lambda r: r.created_at), Key(Delivery.id, lambda r: r.id)),
        (dt.datetime.now(dt.UTC), 0),
    ),
    cells=_delivery_cells,
)


# the words of a query's filters, as an access record shows them
FILTER_LABELS = {
    "message_type": "消息类型",
    "institution_code": "检测机构",
    "region_code": "行政区划",
    "received_from": "接收日期起",
    "received_to": "接收日期止",
    "limit": "每页",
    "after": "翻页位置",
    "purpose": "申请用途",
}


def filters_text(filters: dict[str, object]) -> str:
    """``{"region_code": "3604", "limit": 20}`` -> ``行政区划 3604；每页 20``."""
    return (
        "；".join(
            f"{FILTER_LABELS.get(k, k)} {type_title(str(v)) if k == 'message_type' else v}"
            for k, v in filters.items()
        )
        or "—"
    )


def names(db: Session, rows: Sequence[Access]) -> tuple[dict[int, str], dict[int, str]]:
    """The consumers' and the data sets' names of ``rows``."""
    return (
        named(db, Consumer.id, Consumer.name, (r.consumer_id for r in rows)),
        named(db, DataSet.id, DataSet.name, (r.data_set_id for r in rows)),
    )


def _access_cells(db: Session, rows: Sequence[Access]) -> list[list[str]]:
    consumers, sets = names(db, rows)
    return [
        [
            when(r.at),
            consumers.get(r.consumer_id, ""),
            sets.get(r.data_set_id, ""),
            label(AccessKind, r.kind),
            filters_text(r.filters),
            str(r.rows),
            r.key_id,
            "" if r.ledger_index is None else str(r.ledger_index),
        ]
        for r in rows
    ]


ACCESSES = ListView(
    name="share_access",
    title="数据共享访问记录",
    columns=(
        Column("at", "时间", Access.at),
        Column("consumer", "共享对象"),
        Column("data_set", "数据集"),
        Column("kind", "方式", Access.kind),
        Column("filters", "查询条件"),
        Column("rows", "条数", Access.rows),
        Column("key_id", "密钥"),
        Column("ledger_index", "存证序号"),
    ),
    order=Order(
        (Key(Access.at, lambda r: r.at), Key(Access.id, lambda r: r.id)),
        (dt.datetime.now(dt.UTC), 0),
    ),
    cells=_access_cells,
)


# the words of a change's before and after
CHANGE_FIELDS = {"name": "名称", "category": "分类", "description": "说明", "grade": "共享级别"}


def change_text(values: dict[str, object]) -> str:
    """``{"grade": "conditional"}`` -> ``共享级别：有条件共享``; a withdrawal's status by its
    label."""
    parts = []
    for key, value in values.items():
        if key == "grade":
            parts.append(f"共享级别：{label(DataGrade, str(value))}")
        elif key == "status":
            parts.append(label(DataSetStatus, str(value)))
        else:
            parts.append(f"{CHANGE_FIELDS.get(key, key)}：{value or '（空）'}")
    return "；".join(parts) or "—"


EFFECT_WORDS = {"pending": "转为待审核", "suspended": "中止"}


def effects_text(effects: dict[str, int]) -> str:
    """``{"suspended": 2}`` -> ``中止 2 个订阅``."""
    return "；".join(f"{EFFECT_WORDS.get(k, k)} {n} 个订阅" for k, n in effects.items()) or "—"


def change_names(
    db: Session, rows: Sequence[DataSetChange]
) -> tuple[dict[int, str], dict[int, str]]:
    """The data sets' and the officers' names of ``rows``."""
    people = {r.requested_by_id for r in rows} | {r.decided_by_id for r in rows}
    return (
        named(db, DataSet.id, DataSet.name, (r.data_set_id for r in rows)),
        named(db, User.id, User.display_name, people),
    )


def _change_cells(db: Session, rows: Sequence[DataSetChange]) -> list[list[str]]:
    sets, users = change_names(db, rows)
    return [
        [
            when(r.created_at),
            sets.get(r.data_set_id, ""),
            label(DataSetChangeKind, r.kind),
            change_text(r.before),
            change_text(r.after),
            r.reason,
            users.get(r.requested_by_id or 0, ""),
            label(DataSetChangeStatus, r.status),
            users.get(r.decided_by_id or 0, ""),
            when(r.decided_at),
            r.decision_note,
            effects_text(r.effects),
        ]
        for r in rows
    ]


DATA_SET_CHANGES = ListView(
    name="data_set_change",
    title="数据集变更记录",
    columns=(
        Column("created_at", "提出时间", DataSetChange.created_at),
        Column("data_set", "数据集"),
        Column("kind", "变更类别", DataSetChange.kind),
        Column("before", "变更前"),
        Column("after", "变更后"),
        Column("reason", "理由"),
        Column("requested_by", "提出人"),
        Column("status", "状态", DataSetChange.status),
        Column("decided_by", "审核人"),
        Column("decided_at", "审核时间", DataSetChange.decided_at),
        Column("decision_note", "审核意见"),
        Column("effects", "对订阅的影响"),
    ),
    order=Order(
        (
            Key(DataSetChange.created_at, lambda r: r.created_at),
            Key(DataSetChange.id, lambda r: r.id),
        ),
        (dt.datetime.now(dt.UTC), 0),
    ),
    cells=_change_cells,
)
