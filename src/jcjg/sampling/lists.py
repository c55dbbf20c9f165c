"""The sample list's columns and export (``core.listing``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, label, when
from jcjg.core.memo import names_by_id
from jcjg.core.pagination import Key, Order
from jcjg.projects.models import Project
from jcjg.sampling.choices import SampleStatus
from jcjg.sampling.models import Sample

# the newest first
SAMPLE_ORDER = Order((Key(Sample.id, lambda s: s.id),), (0,))


def project_names(db: Session, rows: Sequence[Sample]) -> dict[int, str]:
    return names_by_id(db, Project, (s.project_id for s in rows))


def _cells(db: Session, rows: Sequence[Sample]) -> list[list[str]]:
    projects = project_names(db, rows)
    return [
        [
            s.sample_code,
            projects.get(s.project_id, ""),
            s.material,
            s.specification,
            s.quantity,
            s.structure_part,
            when(s.sampled_at),
            label(SampleStatus, s.status),
        ]
        for s in rows
    ]


SAMPLES = ListView(
    name="sample",
    title="样品",
    columns=(
        Column("code", "样品编码", Sample.sample_code),
        Column("project", "工程项目"),
        Column("material", "样品", Sample.material),
        Column("specification", "规格"),
        Column("quantity", "代表数量"),
        Column("structure_part", "部位"),
        Column("sampled_at", "取样时间", Sample.sampled_at),
        Column("status", "状态", Sample.status),
    ),
    order=SAMPLE_ORDER,
    cells=_cells,
)
