"""Video fixtures: the pieces of a generated clip (made once per process), a lab with a
machine and its camera, its administrator, and a recorder putting pieces in."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.registry.models import Equipment, Lab
from jcjg.tenancy.models import Institution
from jcjg.testing import curves
from jcjg.testing.models import Curve, Specimen, TestRecord
from jcjg.video.models import Camera
from tests.factories import Factory
from tests.video.media import Recorder, ffmpeg_available, make_pieces


@pytest.fixture(scope="session")
def pieces(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if not ffmpeg_available():
        pytest.skip("ffmpeg is not installed")
    return make_pieces(tmp_path_factory.mktemp("video-pieces"))


@dataclass
class Site:
    institution: Institution
    lab: Lab
    machine: Equipment
    camera: Camera
    admin: User
    staff: User


def make_site(f: Factory, region_code: str = "360403", code: str = "CAM-01") -> Site:
    institution = f.institution(region_code=region_code)
    lab = Lab(
        institution_id=institution.id, region_code=institution.region_code, name="力学室",
        address="九江市濂溪区", area_m2=120,
    )  # fmt: skip
    f.db.add(lab)
    f.db.flush()
    machine = Equipment(
        institution_id=institution.id, region_code=institution.region_code, name="压力试验机",
        asset_number="SB-001", lab_id=lab.id,
    )  # fmt: skip
    f.db.add(machine)
    f.db.flush()
    camera = Camera(
        institution_id=institution.id, region_code=institution.region_code, code=code,
        name="1 号压力机", place_kind="mechanical", form="dome", lab_id=lab.id,
        equipment_id=machine.id, stream_url="rtsp://127.0.0.1:8554/cam1", status="online",
    )  # fmt: skip
    f.db.add(camera)
    f.db.flush()
    admin = f.user(Role.INSTITUTION_ADMIN, institution=institution, commit=False)
    staff = f.user(Role.INSTITUTION_STAFF, institution=institution, commit=False)
    f.db.commit()
    return Site(institution, lab, machine, camera, admin, staff)


@pytest.fixture
def site(factory: Factory) -> Site:
    return make_site(factory)


@pytest.fixture
def recorder(db: Session, settings: Settings) -> Recorder:
    return Recorder(db, settings)


def make_record(
    db: Session,
    settings: Settings,
    site: Site,
    started_at: dt.datetime,
    *,
    seconds: float = 8.0,
    peak_at: float = 6.0,
    number: str = "JL-VIDEO-1",
) -> TestRecord:
    """A concrete compression record on the site's machine, with one curve rising to its peak
    at ``peak_at`` seconds and falling after it."""
    inst = site.institution
    record = TestRecord(
        institution_id=inst.id, region_code=inst.region_code, number=number,
        kind="concrete_compression", item_code="0108", lab_name="力学室", equipment=["SB-001"],
        started_at=started_at, ended_at=started_at + dt.timedelta(seconds=seconds),
        acquisition="auto",
    )  # fmt: skip
    db.add(record)
    db.flush()
    specimen = Specimen(
        test_record_id=record.id, institution_id=inst.id, region_code=inst.region_code, position=1
    )
    db.add(specimen)
    db.flush()
    steps = int(seconds * 10)
    points = [
        [n / 10, round(800 * min(n / 10 / peak_at, max(0.0, 2 - n / 10 / peak_at)), 3)]
        for n in range(steps + 1)
    ]
    data = curves.encode(curves.from_points(points))
    db.add(
        Curve(
            specimen_id=specimen.id,
            test_record_id=record.id,
            institution_id=inst.id,
            region_code=inst.region_code,
            blob_digest=blob_store(settings).put(data),
            stored_bytes=len(data),
            n_points=len(points),
            sampling_hz=10,
            duration_s=seconds,
            peak_kn=800,
            time_to_peak_s=peak_at,
        )
    )
    db.flush()
    return record
