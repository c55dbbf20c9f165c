"""A project with its sampler and witness, codes issued, and helpers to run the chain."""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, field

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.permissions import default_grants
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.projects.models import Project, ProjectMember
from jcjg.sampling import service
from jcjg.sampling.models import Sample, SampleSeal
from tests.factories import Factory, photo

NOW = dt.datetime(2026, 11, 18, 2, 0, tzinfo=dt.UTC)  # a Wednesday, 10:00 in Shanghai


def principal_of(user: User, project_ids: set[int] | None = None) -> Principal:
    role = Role(user.role)
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=role,
        region_code=user.region_code,
        institution_id=user.institution_id,
        project_ids=frozenset(project_ids or {p.project_id for p in user.projects}),
        permissions=default_grants()[role],
    )


@dataclass
class Chain:
    db: Session
    settings: Settings
    factory: Factory
    project: Project
    sampler: User
    witness: User
    station: User
    key: Ed25519PrivateKey
    key_id: str
    codes: list[str] = field(default_factory=list)
    used: int = 0

    def next_code(self) -> str:
        code = self.codes[self.used]
        self.used += 1
        return code

    def register(
        self, *, seed: int = 1, at: dt.datetime = NOW, late: int = 0, **kw: object
    ) -> Sample:
        form = service.SampleForm(
            sample_code=str(kw.pop("code", None) or self.next_code()),
            material="混凝土试块",
            specification="C30",
            specimen_count=3,
            prepared_at=at - dt.timedelta(minutes=10 + late),
            latitude=29.7112,
            longitude=116.0021,
            photos={
                "sample": photo(seed),
                "tag": photo(seed + 500),
                "sampler": photo(1001),
            },
        )
        for k, v in kw.items():
            setattr(form, k, v)
        return service.register_sample(
            db=self.db,
            settings=self.settings,
            principal=principal_of(self.sampler),
            project_id=self.project.id,
            form=form,
            now=at,
        )

    def statement(
        self,
        sample: Sample,
        *,
        at: dt.datetime,
        position: tuple[float, float] | None = None,
        witness_photo: bytes | None = None,
    ) -> bytes:
        lat, lon = position or (29.7112, 116.0021)
        return service.prepare_seal(
            db=self.db,
            settings=self.settings,
            principal=principal_of(self.witness),
            code=sample.sample_code,
            key_id=self.key_id,
            photos={"seal": photo(99, 1), "witness": witness_photo or photo(1002)},
            latitude=lat,
            longitude=lon,
            accuracy_m=5.0,
            now=at,
        )

    def seal(
        self,
        sample: Sample,
        *,
        at: dt.datetime | None = None,
        position: tuple[float, float] | None = None,
        witness_photo: bytes | None = None,
    ) -> SampleSeal:
        at = at or sample.sampled_at + dt.timedelta(minutes=10)
        statement = self.statement(sample, at=at, position=position, witness_photo=witness_photo)
        return service.seal_sample(
            db=self.db,
            settings=self.settings,
            principal=principal_of(self.witness),
            code=sample.sample_code,
            statement_b64=base64.b64encode(statement).decode(),
            signature_b64=base64.b64encode(self.key.sign(statement)).decode(),
            now=at,
        )


def assign(db: Session, project: Project, **users: User) -> None:
    """The project's initial members, reported long ago: ``sampler=...``, ``witness=...``."""
    for role, user in users.items():
        db.add(
            ProjectMember(
                project_id=project.id,
                region_code=project.region_code,
                user_id=user.id,
                role=role,
                name=user.display_name,
                starts_on=dt.date(2026, 1, 1),
                reported_at=dt.datetime(2025, 12, 1, tzinfo=dt.UTC),
                is_initial=True,
            )
        )
    db.flush()


def make_chain(db: Session, settings: Settings, factory: Factory) -> Chain:
    project = factory.project()
    sampler = factory.user(Role.SAMPLER, project_ids=(project.id,), commit=False)
    witness = factory.user(Role.WITNESS, project_ids=(project.id,), commit=False)
    station = factory.user(Role.STATION, region_code="360400", commit=False)
    assign(db, project, sampler=sampler, witness=witness)
    batch = service.issue_codes(
        db=db, principal=principal_of(station), project_id=project.id, count=12, now=NOW
    )
    key = Ed25519PrivateKey.generate()
    row = service.register_key(
        db=db,
        principal=principal_of(witness),
        public_key_b64=base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        device="pytest",
    )
    db.flush()
    return Chain(
        db=db,
        settings=settings,
        factory=factory,
        project=project,
        sampler=sampler,
        witness=witness,
        station=station,
        key=key,
        key_id=row.key_id,
        codes=[c.code for c in service.batch_codes(db, batch.id)],
    )


@pytest.fixture
def chain(db: Session, settings: Settings, factory: Factory) -> Chain:
    return make_chain(db, settings, factory)
