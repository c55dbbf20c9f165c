"""The expert pool's and the panels' list columns and exports (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.catalogue.models import Specialty
from jcjg.catalogue.service import valid_in
from jcjg.core.listing import Column, ListView, when
from jcjg.core.masking import mask_phone
from jcjg.core.pagination import Key, Order
from jcjg.experts.choices import MemberStatus, ReviewKind
from jcjg.experts.models import Expert, Panel, PanelMember
from jcjg.tenancy.models import Institution

EXPERT_ORDER = Order(
    (Key(Expert.code, lambda e: e.code, False), Key(Expert.id, lambda e: e.id, False)), ("", 0)
)
PANEL_ORDER = Order(
    (Key(Panel.created_at, lambda p: p.created_at), Key(Panel.id, lambda p: p.id)),
    (dt.datetime.now(dt.UTC), 0),
)
REVIEW_ORDER = Order(
    (Key(PanelMember.created_at, lambda m: m.created_at), Key(PanelMember.id, lambda m: m.id)),
    (dt.datetime.now(dt.UTC), 0),
)


def specialty_names(db: Session) -> dict[str, str]:
    """The current catalogue's specialties, code -> name, in the catalogue's order."""
    rows = db.execute(
        select(Specialty.code, Specialty.name)
        .where(valid_in(Specialty))
        .order_by(Specialty.sort, Specialty.code)
    ).all()
    return {code: name for code, name in rows}


def _expert_cells(db: Session, rows: Sequence[Expert]) -> list[list[str]]:
    names = specialty_names(db)
    return [
        [
            e.code,
            e.name,
            e.title,
            e.employer,
            "、".join(names.get(c, c) for c in e.specialties),
            e.region_code,
            "可参加" if e.available else "暂不可参加",
            mask_phone(e.phone) if e.phone else "",
        ]
        for e in rows
    ]


EXPERTS = ListView(
    name="expert",
    title="专家库",
    columns=(
        Column("code", "专家编号", Expert.code),
        Column("name", "姓名", Expert.name),
        Column("title", "职称", Expert.title),
        Column("employer", "工作单位", Expert.employer),
        Column("specialties", "专业"),
        Column("region", "所属专家库", Expert.region_code),
        Column("available", "可参加评审", Expert.available),
        Column("phone", "联系电话"),
    ),
    order=EXPERT_ORDER,
    cells=_expert_cells,
)


def institution_names(db: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(
        db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(wanted))).all()
    )


def _panel_cells(db: Session, rows: Sequence[Panel]) -> list[list[str]]:
    names = institution_names(db, {p.institution_id for p in rows})
    specialties = specialty_names(db)
    return [
        [
            p.code,
            p.title,
            ReviewKind(p.kind).label,
            names.get(p.institution_id or 0, ""),
            "、".join(
                f"{specialties.get(r['specialty'], r['specialty'])} {r['count']} 人"
                for r in p.requirements
            ),
            when(p.review_date),
            when(p.created_at),
        ]
        for p in rows
    ]


PANELS = ListView(
    name="panel",
    title="专家评审组",
    columns=(
        Column("code", "评审组编号", Panel.code),
        Column("title", "评审事项", Panel.title),
        Column("kind", "评审类别", Panel.kind),
        Column("institution", "被评审机构"),
        Column("requirements", "专业与人数"),
        Column("review_date", "评审日期", Panel.review_date),
        Column("created_at", "创建时间", Panel.created_at),
    ),
    order=PANEL_ORDER,
    cells=_panel_cells,
)


def _review_cells(db: Session, rows: Sequence[PanelMember]) -> list[list[str]]:
    panels = {
        p.id: p for p in db.scalars(select(Panel).where(Panel.id.in_({m.panel_id for m in rows})))
    }
    specialties = specialty_names(db)
    return [
        [
            panels[m.panel_id].code,
            panels[m.panel_id].title,
            specialties.get(m.specialty, m.specialty),
            when(panels[m.panel_id].review_date),
            MemberStatus(m.status).label,
            "" if m.score is None else str(m.score),
            when(m.created_at),
        ]
        for m in rows
    ]


REVIEWS = ListView(
    name="panel_member",
    title="我的评审",
    columns=(
        Column("panel", "评审组编号"),
        Column("title", "评审事项"),
        Column("specialty", "专业", PanelMember.specialty),
        Column("review_date", "评审日期"),
        Column("status", "状态", PanelMember.status),
        Column("score", "总分", PanelMember.score),
        Column("created_at", "抽取时间", PanelMember.created_at),
    ),
    order=REVIEW_ORDER,
    cells=_review_cells,
)
