"""The project list's columns and export (``core.listing``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, label
from jcjg.core.pagination import Key, Order
from jcjg.projects.choices import ProjectStatus
from jcjg.projects.models import Project
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
