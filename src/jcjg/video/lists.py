"""The camera list's columns and export (``core.listing``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.listing import Column, ListView, when
from jcjg.core.pagination import Key, Order
from jcjg.registry.models import Equipment, Lab
from jcjg.tenancy.models import Institution
from jcjg.video.choices import CameraForm, CameraStatus, PlaceKind
from jcjg.video.models import Camera

# by institution, then by the camera's own number
CAMERA_ORDER = Order(
    (
        Key(Camera.institution_id, lambda c: c.institution_id),
        Key(Camera.code, lambda c: c.code),
        Key(Camera.id, lambda c: c.id),
    ),
    (0, "", 0),
)


def names(db: Session, rows: Sequence[Camera]) -> dict[str, dict[int, str]]:
    """The names of the cameras' institutions, labs and machines, by id."""

    def of(model: type, ids: set[int | None]) -> dict[int, str]:
        wanted = {i for i in ids if i is not None}
        if not wanted:
            return {}
        return dict(db.execute(select(model.id, model.name).where(model.id.in_(wanted))).all())  # type: ignore[attr-defined]

    return {
        "institutions": of(Institution, {r.institution_id for r in rows}),
        "labs": of(Lab, {r.lab_id for r in rows}),
        "equipment": of(Equipment, {r.equipment_id for r in rows}),
    }


def _cells(db: Session, rows: Sequence[Camera]) -> list[list[str]]:
    found = names(db, rows)
    return [
        [
            c.code,
            c.name,
            found["institutions"].get(c.institution_id, ""),
            PlaceKind(c.place_kind).label,
            CameraForm(c.form).label,
            found["labs"].get(c.lab_id or 0, ""),
            found["equipment"].get(c.equipment_id or 0, ""),
            c.location,
            CameraStatus(c.status).label,
            when(c.last_segment_at, "%Y-%m-%d %H:%M:%S"),
        ]
        for c in rows
    ]


CAMERAS = ListView(
    name="camera",
    title="监控摄像机",
    columns=(
        Column("code", "编号", Camera.code),
        Column("name", "名称", Camera.name),
        Column("institution", "检测机构", Camera.institution_id),
        Column("place_kind", "监控场所", Camera.place_kind),
        Column("form", "形式"),
        Column("lab", "检测场所"),
        Column("equipment", "监控设备"),
        Column("location", "安装位置"),
        Column("status", "状态", Camera.status),
        Column("last_segment_at", "最近录像", Camera.last_segment_at),
    ),
    order=CAMERA_ORDER,
    cells=_cells,
)
