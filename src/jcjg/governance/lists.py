"""The data standard's lists: versions and a version's data elements (``core.listing``); and
what every governance list shares (:func:`named`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.pagination import Key, Order
from jcjg.governance.choices import StandardStatus
from jcjg.governance.models import DataElement, DataStandard
from jcjg.governance.words import domain_words, type_words

VERSION_ORDER = Order(
    (Key(DataStandard.version, lambda v: v.version), Key(DataStandard.id, lambda v: v.id)),
    (0, 0),
)
ELEMENT_ORDER = Order(
    (
        Key(DataElement.element_id, lambda e: e.element_id, False),
        Key(DataElement.id, lambda e: e.id, False),
    ),
    ("", 0),
)


def _version_cells(db: Session, rows: Sequence[DataStandard]) -> list[list[str]]:
    return [
        [
            str(v.version),
            v.title,
            label(StandardStatus, v.status),
            when(v.effective_at),
            when(v.published_at),
            v.content_sha256 or "",
        ]
        for v in rows
    ]


VERSIONS = ListView(
    name="data_standard",
    title="数据标准版本",
    columns=(
        Column("version", "版本", DataStandard.version),
        Column("title", "名称", DataStandard.title),
        Column("status", "状态", DataStandard.status),
        Column("effective_at", "生效时间", DataStandard.effective_at),
        Column("published_at", "发布时间", DataStandard.published_at),
        Column("sha256", "内容摘要"),
    ),
    order=VERSION_ORDER,
    cells=_version_cells,
)


def _element_cells(db: Session, rows: Sequence[DataElement]) -> list[list[str]]:
    return [
        [
            e.element_id,
            e.name,
            type_words(e.type),
            e.unit,
            domain_words(e.type, e.domain),
            e.definition,
            e.clause,
            "是" if e.changed else "",
        ]
        for e in rows
    ]


ELEMENTS = ListView(
    name="data_element",
    title="数据元",
    columns=(
        Column("element_id", "标识", DataElement.element_id),
        Column("name", "名称", DataElement.name),
        Column("type", "类型", DataElement.type),
        Column("unit", "单位"),
        Column("domain", "值域"),
        Column("definition", "定义"),
        Column("clause", "依据条款"),
        Column("changed", "本版修改", DataElement.changed),
    ),
    order=ELEMENT_ORDER,
    cells=_element_cells,
)


def named(db: Session, ident: Any, name: Any, ids: Iterable[int | None]) -> dict[int, str]:
    """``{id: name}`` of the rows whose ``ident`` column is one of ``ids`` (None left out)."""
    wanted = {i for i in ids if i}
    return dict(db.execute(select(ident, name).where(ident.in_(wanted))).all()) if wanted else {}
