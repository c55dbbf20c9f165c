"""Demo training of the demo witness and sampler, and the station's spot checks (003 IV(3);
docs/registry.md "Training, exams and certificates").

- 监理见证员 (``witness``): trained and examined, a pass valid for a year.
- 施工取样员 (``sampler``): passed two years ago; the certificate expired yesterday while he is on
  duty at both demo projects (``untrained_on_duty``); a retake last week was failed.
- The station's spot checks at the first demo project: the witness on duty this morning was the
  appointed one; this afternoon the supervisor's stand-in did the witness's work
  (``on_duty_mismatch``; he had sealed a sample too: ``witness_not_assigned``,
  :mod:`jcjg.demo.sampling`).
- Key people of the demo institutions have (generated) photos.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.demo import faces
from jcjg.demo.sampling import PROJECTS, STAND_IN
from jcjg.documents.photos import store_photo
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import MemberTraining, Project, SpotCheck
from jcjg.projects.training import on_duty
from jcjg.registry.models import Person

ORGANISER = "九江市建设工程质量安全监督站"
COURSE = "见证取样人员上岗培训：见证取样规定、样品标识与封志、平台手机端操作"


def _training(user: User, role: MemberRole, start: dt.date, **values: object) -> MemberTraining:
    return MemberTraining(
        region_code="360400",
        user_id=user.id,
        role=role.value,
        course=COURSE,
        syllabus="建设工程质量检测管理办法；见证取样送检规定；唯一性标识与电子封志；违规案例",
        organiser=ORGANISER,
        start_date=start,
        hours=16,
        **values,
    )


def load(db: Session, settings: Settings) -> bool:
    """Plant the demo's trainings and spot checks when missing; True when planted."""
    users = {u.username: u for u in db.scalars(select(User))}
    witness, sampler, station = users["witness"], users["sampler"], users["jj_station"]
    if db.scalar(select(MemberTraining.id).where(MemberTraining.user_id == witness.id)):
        return False
    now = utcnow()
    today = beijing_date(now)
    db.add_all(
        [
            _training(
                witness, MemberRole.WITNESS, today - dt.timedelta(days=90),
                exam_score=Decimal("92"), passed=True, certificate_no="JJ-JZ-2026-0107",
                valid_until=today + dt.timedelta(days=275),
            ),
            _training(
                sampler, MemberRole.SAMPLER, today - dt.timedelta(days=731),
                exam_score=Decimal("81"), passed=True, certificate_no="JJ-QY-2024-0311",
                valid_until=today - dt.timedelta(days=1),
            ),
            _training(
                sampler, MemberRole.SAMPLER, today - dt.timedelta(days=7),
                exam_score=Decimal("52.5"), passed=False,
            ),
        ]
    )  # fmt: skip
    project = db.scalars(select(Project).where(Project.code == PROJECTS[0]["code"])).one()
    appointed = on_duty(db, project.id, MemberRole.WITNESS, today)
    stand_in = f"{STAND_IN['display_name']}（非聘任人员）"  # he had sealed a sample within the hour
    for hours, name, matches in ((2, witness.display_name, True), (0, stand_in, False)):
        photo = store_photo(settings, faces.hopper(7) if matches else faces.collins(7)).sha256
        db.add(
            SpotCheck(
                project_id=project.id,
                region_code=project.region_code,
                role=MemberRole.WITNESS.value,
                member_id=appointed.id if appointed else None,
                found_name=name,
                is_appointed=matches and appointed is not None,
                photo_sha256=photo,
                latitude=project.site_latitude,
                longitude=project.site_longitude,
                note="" if matches else "现场见证人员自称临时代班，未见变更报告",
                checked_by=station.id,
                checked_at=now - dt.timedelta(hours=hours),
            )
        )
    # key people have photos (000 4.1.1 item 2): blurred except for those who check identity
    for seed, person in enumerate(
        db.scalars(select(Person).where(Person.key_role.is_not(None))), 20
    ):
        if person.photo_sha256 is None:
            person.photo_sha256 = store_photo(settings, portrait(seed)).sha256
    db.flush()
    return True


def portrait(seed: int) -> bytes:
    """A placeholder portrait for a demo key person (no real faces in the registry's demo)."""
    rng = random.Random(seed)
    image = Image.new("RGB", (360, 480), (230, 230, 235))
    draw = ImageDraw.Draw(image)
    tone = (rng.randint(180, 230), rng.randint(150, 190), rng.randint(120, 160))
    draw.ellipse([100, 90, 260, 290], fill=tone)
    draw.rectangle([70, 300, 290, 480], fill=(rng.randint(20, 90),) * 3)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()
