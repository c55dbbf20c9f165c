"""The project list's columns and export (``core.listing``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.core.db import utcnow
from jcjg.core.listing import Column, ListView, label
from jcjg.core.pagination import Key, Order
from jcjg.core.workdays import beijing_date
from jcjg.projects.choices import MemberRole, ProjectStatus
from jcjg.projects.models import MemberTraining, Project
from jcjg.regions import service as regions

# the newest first
PROJECT_ORDER = Order((Key(Project.id, lambda p: p.id),), (0,))


def _cells(db: Session, rows: Sequence[Project]) -> list[list[str]]:
    places = regions.display_names(db=db, codes=(p.region_code for p in rows))
    return [
        [
            p.name,
            p.code,
            places.get(p.region_code, p.region_code),
            label(ProjectStatus, p.status),
            p.owner_unit,
            p.contractor_unit,
            p.supervisor_unit,
            p.station,
            p.permit_number,
            p.address,
        ]
        for p in rows
    ]


PROJECTS = ListView(
    name="project",
    title="工程项目",
    columns=(
        Column("name", "项目", Project.name),
        Column("code", "编号", Project.code),
        Column("region", "行政区划", Project.region_code),
        Column("status", "状态", Project.status),
        Column("owner_unit", "建设单位", Project.owner_unit),
        Column("contractor_unit", "施工单位"),
        Column("supervisor_unit", "监理单位"),
        Column("station", "监督机构"),
        Column("permit_number", "施工许可证号"),
        Column("address", "地址"),
    ),
    order=PROJECT_ORDER,
    cells=_cells,
)


# --- witnesses' and samplers' trainings ----------------------------------------------------------

TRAINING_ORDER = Order(
    (
        Key(MemberTraining.start_date, lambda r: r.start_date),
        Key(MemberTraining.id, lambda r: r.id),
    ),
    (dt.date(2000, 1, 1), 0),
)


def training_state(row: MemberTraining, today: dt.date) -> str:
    """合格且有效 / 合格已过期 / 未通过考核 / 未考核, as the list filters them."""
    if row.passed is None:
        return "未考核"
    if not row.passed:
        return "未通过考核"
    return "合格且有效" if row.passes_on(today) else "合格已过期"


def _training_cells(db: Session, rows: Sequence[MemberTraining]) -> list[list[str]]:
    ids = {r.user_id for r in rows}
    names = dict(db.execute(select(User.id, User.display_name).where(User.id.in_(ids))).all())
    today = beijing_date(utcnow())
    return [
        [
            names.get(r.user_id, ""),
            label(MemberRole, r.role),
            r.course,
            r.organiser or "",
            r.start_date.isoformat(),
            str(r.hours),
            "" if r.exam_score is None else str(r.exam_score),
            training_state(r, today),
            r.certificate_no or "",
            ("" if not r.passed else r.valid_until.isoformat() if r.valid_until else "长期"),
        ]
        for r in rows
    ]


TRAININGS = ListView(
    name="member_training",
    title="见证取样人员培训考核",
    columns=(
        Column("person", "姓名"),
        Column("role", "岗位", MemberTraining.role),
        Column("course", "培训内容", MemberTraining.course),
        Column("organiser", "培训机构", MemberTraining.organiser),
        Column("start_date", "培训日期", MemberTraining.start_date),
        Column("hours", "学时", MemberTraining.hours),
        Column("exam_score", "考核成绩", MemberTraining.exam_score),
        Column("state", "考核结果"),
        Column("certificate_no", "证书编号", MemberTraining.certificate_no),
        Column("valid_until", "有效期至", MemberTraining.valid_until),
    ),
    order=TRAINING_ORDER,
    cells=_training_cells,
)
