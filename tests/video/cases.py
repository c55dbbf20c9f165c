"""The video domain's generic cases (tests/generic.py: routes, grants, scoped models,
change-logged models)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from jcjg.auth.choices import Role
from jcjg.video.models import Camera, Clip, Outage, Segment, SegmentBatch, Snapshot
from tests.factories import Factory
from tests.generic import (
    IA,
    IS_,
    A,
    C,
    Change,
    Make,
    P,
    Routes,
    S,
    ScopeCase,
    with_station_elsewhere,
)

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def _camera(f: Factory, code: str = "CAM-SCOPE") -> Camera:
    lab = f.institution(region_code="360403")
    camera = Camera(
        institution_id=lab.id, region_code=lab.region_code, code=code, name="力学室",
        place_kind="mechanical", stream_url="rtsp://127.0.0.1/scope",
    )  # fmt: skip
    f.db.add(camera)
    f.db.flush()
    return camera


def _scope(row: Any) -> dict[str, Any]:
    return {"institution_id": row.institution_id, "region_code": row.region_code}


def _segment(f: Factory, camera: Camera) -> Segment:
    row = Segment(
        camera_id=camera.id, sequence=1, started_at=T0, ended_at=T0 + dt.timedelta(seconds=4),
        duration_s=4.0, path="x/1.ts", size_bytes=1, sha256="0" * 64, chain="1" * 64,
        **_scope(camera),
    )  # fmt: skip
    f.db.add(row)
    f.db.flush()
    return row


def _record(f: Factory, camera: Camera) -> int:
    from jcjg.testing.models import TestRecord

    record = TestRecord(
        number="JL-SCOPE", kind="concrete_compression", item_code="0108", started_at=T0,
        ended_at=T0 + dt.timedelta(minutes=2), acquisition="auto", **_scope(camera),
    )  # fmt: skip
    f.db.add(record)
    f.db.flush()
    return record.id


def _makers() -> dict[type, Callable[[Factory, Camera], Any]]:
    def batch(f: Factory, camera: Camera) -> SegmentBatch:
        return SegmentBatch(
            camera_id=camera.id, first_sequence=1, last_sequence=1, chain_head="1" * 64,
            **_scope(camera),
        )  # fmt: skip

    def outage(f: Factory, camera: Camera) -> Outage:
        return Outage(camera_id=camera.id, started_at=T0, **_scope(camera))

    def clip(f: Factory, camera: Camera) -> Clip:
        return Clip(
            camera_id=camera.id, started_at=T0, ended_at=T0, duration_s=1.0, blob_digest="0" * 64,
            size_bytes=1, manifest={}, signature="", **_scope(camera),
        )  # fmt: skip

    def snapshot(f: Factory, camera: Camera) -> Snapshot:
        return Snapshot(
            test_record_id=_record(f, camera), camera_id=camera.id,
            segment_id=_segment(f, camera).id, moment="start", taken_at=T0,
            blob_digest="0" * 64, **_scope(camera),
        )  # fmt: skip

    return {
        Segment: lambda f, c: _segment(f, c),
        SegmentBatch: batch,
        Outage: outage,
        Clip: clip,
        Snapshot: snapshot,
    }


def _case(model: type) -> ScopeCase:
    """A 九江 lab's row: another city's authority, another province, another lab and a station
    of 南昌 do not find it; the lab's staff does."""

    def make(f: Factory) -> tuple[int, dict]:
        camera = _camera(f)
        if model is Camera:
            row: Any = camera
        else:
            row = _makers()[model](f, camera)
            f.db.add(row)
            f.db.flush()
        institution = f.db.get(type(f.institution()), camera.institution_id)
        staff = f.user(Role.INSTITUTION_STAFF, institution=institution, commit=False)
        f.db.commit()
        return row.id, {"staff": staff}

    return ScopeCase(
        make,
        "/api/v1/cameras/{id}" if model is Camera else None,
        with_station_elsewhere if model is Snapshot else _outsiders,
        lambda f, i: i["staff"],
    )


def _outsiders(f: Factory, info: dict[str, Any]) -> list[Any]:
    """Those with camera:read outside a 九江 lab (an auditor reads no cameras)."""
    return [u for u in with_station_elsewhere(f, info) if u.role != Role.AUDITOR]


SCOPED: dict[type, ScopeCase] = {
    model: _case(model) for model in (Camera, Segment, SegmentBatch, Outage, Clip, Snapshot)
}

WRITES: dict[type, tuple[Make, Change]] = {
    Camera: (lambda f: _camera(f, "CAM-WRITE"), lambda c: setattr(c, "name", "改名后的摄像机")),
}

ROUTES: Routes = {
    ("GET", "/api/v1/cameras"): "camera:read",
    ("GET", "/api/v1/cameras/{camera_id}"): "camera:read",
    ("POST", "/api/v1/cameras"): "camera:write",
    ("PATCH", "/api/v1/cameras/{camera_id}"): "camera:write",
    ("GET", "/video/cameras"): "camera:read",
    ("GET", "/video/cameras/new"): "camera:write",
    ("POST", "/video/cameras"): "camera:write",
    ("GET", "/video/cameras/{camera_id}"): "camera:read",
    ("GET", "/video/cameras/{camera_id}/edit"): "camera:write",
    ("POST", "/video/cameras/{camera_id}/edit"): "camera:write",
    ("POST", "/video/cameras/{camera_id}/retire"): "camera:write",
    ("GET", "/video/cameras/{camera_id}/watch"): "camera:watch",
    ("GET", "/video/cameras/{camera_id}/live.m3u8"): "camera:watch",
    ("GET", "/video/cameras/{camera_id}/replay.m3u8"): "camera:watch",
    ("GET", "/video/segments/{segment_id}.ts"): "camera:watch",
    ("GET", "/video/replay/test-records/{record_id}"): "camera:watch",
    ("POST", "/video/cameras/{camera_id}/clips"): "camera:export",
    ("GET", "/video/clips/{clip_id}.mp4"): "camera:export",
    ("GET", "/video/clips/{clip_id}/manifest.json"): "camera:export",
    ("GET", "/video/snapshots/{snapshot_id}.jpg"): "test_record:read",
}

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "camera:read": frozenset({P, A, C, S, IA, IS_}),
    "camera:write": frozenset({P, IA}),
    "camera:watch": frozenset({P, A, C, S, IA, IS_}),
    "camera:export": frozenset({P, A, C, S, IA}),
}
