"""Video fixtures: the pieces of a generated clip (made once per process), a lab with a
machine and its camera, its administrator, and a recorder putting pieces in."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.registry.models import Equipment, Lab
from jcjg.tenancy.models import Institution
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
