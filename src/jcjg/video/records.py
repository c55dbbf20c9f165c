"""Which camera filmed a test record or a sample's receipt: the machine's own camera (the
record's equipment asset numbers matched to ``Camera.equipment_id``), else a camera of the
institution watching the kind of place the test is done in."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.registry.models import Equipment
from jcjg.testing.models import TestRecord
from jcjg.video.choices import PlaceKind
from jcjg.video.models import Camera
from jcjg.video.segments import at

# The place each kind of force test is done in (003 II(2)1: every mechanical test).
PLACE_OF_KIND = {
    "concrete_compression": PlaceKind.MECHANICAL,
    "mortar_strength": PlaceKind.MECHANICAL,
    "rebar_tensile": PlaceKind.MECHANICAL,
    "masonry_mortar": PlaceKind.MECHANICAL,
    "rebar_splice": PlaceKind.MECHANICAL,
    "brick_compression": PlaceKind.MECHANICAL,
    "block_compression": PlaceKind.MECHANICAL,
    "rock_compression": PlaceKind.MECHANICAL,
}


def machine_cameras(db: Session, record: TestRecord) -> list[Camera]:
    """The cameras watching the record's machines."""
    if not record.equipment:
        return []
    ids = select(Equipment.id).where(
        Equipment.institution_id == record.institution_id,
        Equipment.asset_number.in_(list(record.equipment)),
    )
    return list(
        db.scalars(
            select(Camera)
            .where(Camera.institution_id == record.institution_id, Camera.equipment_id.in_(ids))
            .order_by(Camera.id)
        )
    )


def place_cameras(db: Session, institution_id: int, place: PlaceKind) -> list[Camera]:
    return list(
        db.scalars(
            select(Camera)
            .where(Camera.institution_id == institution_id, Camera.place_kind == place.value)
            .order_by(Camera.id)
        )
    )


def candidates(db: Session, record: TestRecord) -> list[Camera]:
    """The record's cameras, the machine's first."""
    found = machine_cameras(db, record)
    place = PLACE_OF_KIND.get(record.kind)
    if place is not None:
        found += [c for c in place_cameras(db, record.institution_id, place) if c not in found]
    return found


def recorded_at(db: Session, cameras: list[Camera], moment: dt.datetime) -> Camera | None:
    """The first of ``cameras`` with a segment at ``moment``."""
    for camera in cameras:
        if at(db, camera.id, moment) is not None:
            return camera
    return None


def record_camera(db: Session, record: TestRecord) -> Camera | None:
    """The camera whose recording covers the record's start (None: no recording of it)."""
    return recorded_at(db, candidates(db, record), record.started_at)


def receipt_camera(db: Session, institution_id: int, moment: dt.datetime) -> Camera | None:
    """The receiving room's camera of the institution recording at ``moment``."""
    return recorded_at(db, place_cameras(db, institution_id, PlaceKind.RECEIVING), moment)
