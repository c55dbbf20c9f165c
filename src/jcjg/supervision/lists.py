"""The plan list's and the supervision log's columns and exports (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.core.listing import Column, ListView, when
from jcjg.core.pagination import Key, Order
from jcjg.registry.service import institution_names
from jcjg.supervision.choices import CheckType, LogKind, PlanStatus
from jcjg.supervision.models import CheckItem, OfficerRelation, SupervisionLog, SupervisionPlan

_NOW = dt.datetime.now(dt.UTC)


def _plan_cells(db: Session, rows: Sequence[SupervisionPlan]) -> list[list[str]]:
    return [
        [
            p.code,
            p.title,
            p.region_code,
            f"{p.period_start} 至 {p.period_end}",
            str(p.institution_count),
            PlanStatus(p.status).label,
        ]
        for p in rows
    ]


PLANS = ListView(
    name="supervision_plan",
    title="双随机抽查计划",
    columns=(
        Column("code", "计划编号", SupervisionPlan.code),
        Column("title", "计划名称", SupervisionPlan.title),
        Column("region", "抽查地区", SupervisionPlan.region_code),
        Column("period", "检查期间", SupervisionPlan.period_start),
        Column("count", "抽取机构数", SupervisionPlan.institution_count),
        Column("status", "状态", SupervisionPlan.status),
    ),
    order=Order(
        (
            Key(SupervisionPlan.created_at, lambda p: p.created_at),
            Key(SupervisionPlan.id, lambda p: p.id),
        ),
        (_NOW, 0),
    ),
    cells=_plan_cells,
)


def _log_cells(db: Session, rows: Sequence[SupervisionLog]) -> list[list[str]]:
    names = institution_names(db, {r.institution_id for r in rows if r.institution_id})
    return [
        [
            e.entry_date.isoformat(),
            LogKind(e.kind).label,
            names.get(e.institution_id, "") if e.institution_id else "",
            e.participants,
            e.summary,
            e.follow_up,
        ]
        for e in rows
    ]


LOG = ListView(
    name="supervision_log",
    title="监管台账",
    columns=(
        Column("entry_date", "日期", SupervisionLog.entry_date),
        Column("kind", "工作类别", SupervisionLog.kind),
        Column("institution", "检测机构"),
        Column("participants", "参加人员"),
        Column("summary", "工作内容"),
        Column("follow_up", "后续处理"),
    ),
    order=Order(
        (
            Key(SupervisionLog.entry_date, lambda e: e.entry_date),
            Key(SupervisionLog.id, lambda e: e.id),
        ),
        (dt.date(9999, 12, 31), 0),
    ),
    cells=_log_cells,
)


def officer_names(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(
        select(User.id, User.display_name, User.enforcement_card).where(User.id.in_(sorted(ids)))
    )
    return {i: f"{n}（执法证 {card}）" if card else n for i, n, card in rows}


def _relation_cells(db: Session, rows: Sequence[OfficerRelation]) -> list[list[str]]:
    officers = officer_names(db, {r.user_id for r in rows})
    names = institution_names(db, {r.institution_id for r in rows})
    return [
        [
            officers.get(r.user_id, ""),
            names.get(r.institution_id, ""),
            r.note,
            when(r.created_at),
        ]
        for r in rows
    ]


RELATIONS = ListView(
    name="officer_relation",
    title="回避申报",
    columns=(
        Column("officer", "申报人员"),
        Column("institution", "检测机构"),
        Column("note", "关系说明"),
        Column("created_at", "申报时间", OfficerRelation.created_at),
    ),
    order=Order(
        (
            Key(OfficerRelation.created_at, lambda r: r.created_at),
            Key(OfficerRelation.id, lambda r: r.id),
        ),
        (_NOW, 0),
    ),
    cells=_relation_cells,
)


def _item_cells(db: Session, rows: Sequence[CheckItem]) -> list[list[str]]:
    return [
        [
            CheckType(i.check_type).label,
            i.code,
            i.title,
            i.guidance,
            str(i.sort),
            "启用" if i.is_active else "停用",
        ]
        for i in rows
    ]


CHECK_ITEMS = ListView(
    name="check_item",
    title="监督检查项",
    columns=(
        Column("check_type", "检查类别"),
        Column("code", "编号", CheckItem.code),
        Column("title", "检查项", CheckItem.title),
        Column("guidance", "检查要点"),
        Column("sort", "排序", CheckItem.sort),
        Column("is_active", "状态"),
    ),
    order=Order(
        (
            Key(CheckItem.sort, lambda i: i.sort, descending=False),
            Key(CheckItem.id, lambda i: i.id, descending=False),
        ),
        (0, 0),
    ),
    cells=_item_cells,
)
