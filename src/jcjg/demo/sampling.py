"""Demo projects and a witnessed-sampling chain for ``make run``: two projects in 九江 with a
geofence, their witness and sampler, a batch of codes, samples registered and sealed (the
witness's phone simulated by an Ed25519 key made here), commissions, and receipt checks at the
lab: most accepted, one refused for a swapped photo, one for a damaged tag, plus a sampler
registered late, a seal made off site, a commission naming a code the platform never issued,
and a received sample whose recorded photo hash someone with database access changed after
its seal (seal_invalid), and a sample registered by someone who is not the registered sampler
(identity_mismatch), and one registered this morning with the photo of another sample's cubes
shrunk and saved again (photo_reuse), and one sealed in the last hour by the supervisor's
stand-in (:data:`STAND_IN`: an account with the project but no assignment, whom the station's
spot check then finds doing the witness's work, :mod:`jcjg.demo.training`) instead of the
assigned witness (witness_not_assigned), so each sampling rule shows on first start. The witnessed
cubes were cast a month ago and tested at 28 days.

The sampler (Collins) and the witness (Hopper) are registered with public-domain portraits
(:mod:`jcjg.demo.faces`) and take photos of their own faces on site, which the identity check
passes; the impostor who registers a sample with the sampler's phone shows the witness's face.

Photos are drawn here: :func:`specimen_photo` gives a distinct picture per ``seed`` and, for
``variant`` > 0, the same specimen photographed again (light and position changed a little):
close in perceptual hash, as the receipt check expects of the genuine article."""

from __future__ import annotations

import base64
import datetime as dt
import io
import random
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from PIL import Image, ImageDraw
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.accounts import service as accounts
from jcjg.accounts.schemas import UserCreate
from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserProject
from jcjg.auth.scopes import Principal
from jcjg.auth.sessions import principal_for
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.workdays import beijing_date
from jcjg.demo import faces
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import Project, ProjectMember
from jcjg.sampling import pours, service
from jcjg.sampling.choices import CommissionStatus
from jcjg.sampling.models import Commission, Sample
from jcjg.tenancy.models import Institution

PROJECTS: list[dict[str, Any]] = [
    {
        "code": "XM360402-2026-001",
        "name": "九江市滨江花园二期 3# 楼",
        "region_code": "360402",
        "address": "九江市濂溪区滨江路 88 号",
        "site_latitude": 29.7112,
        "site_longitude": 116.0021,
        "site_radius_m": 300,
        "owner_unit": "九江滨江置业有限公司",
        "contractor_unit": "江西九建建设集团有限公司",
        "supervisor_unit": "九江诚信工程监理有限公司",
        "station": "九江市建设工程质量安全监督站",
        "permit_number": "360402202604150101",
        "curing_room": "3# 楼东侧标准养护室（20±2 ℃、湿度 95% 以上，自动温控加湿）",
        # three molds for the cubes of two sets cast within the hour: molds_short
        "cube_molds": 3,
    },
    {
        "code": "XM360403-2026-002",
        "name": "浔阳区第三小学教学楼改扩建",
        "region_code": "360403",
        "address": "九江市浔阳区庐山南路 12 号",
        "site_polygon": [
            [115.9851, 29.7021],
            [115.9879, 29.7021],
            [115.9879, 29.7042],
            [115.9851, 29.7042],
        ],
        "owner_unit": "九江市浔阳区教育局",
        "contractor_unit": "九江市第二建筑工程公司",
        "supervisor_unit": "江西华信工程咨询有限公司",
        "station": "九江市建设工程质量安全监督站",
    },
]


# the supervisor's stand-in who seals in the assigned witness's place: an account the city
# made for him with the project, never reported as the project's witness; no password is
# printed (nobody logs in as him in the demo)
STAND_IN = {"username": "wangjianjun", "display_name": "王建军"}


def recompressed(photo: bytes, scale: float = 0.8, quality: int = 70) -> bytes:
    """``photo`` shrunk and saved again: another file, the same picture to a perceptual hash."""
    image = Image.open(io.BytesIO(photo)).convert("RGB")
    smaller = image.resize((int(image.width * scale), int(image.height * scale)))
    out = io.BytesIO()
    smaller.save(out, "JPEG", quality=quality)
    return out.getvalue()


def specimen_photo(seed: int, variant: int = 0, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG of a drawn specimen: its shape and marks follow ``seed``; ``variant`` moves the
    light and the camera a little, as a second photo of the same specimen would."""
    rng = random.Random(seed)
    shift = random.Random(seed * 1000 + variant)
    width, height = size
    image = Image.new("RGB", size, (200 + rng.randint(-20, 20), 200, 190))
    draw = ImageDraw.Draw(image)
    dx = shift.randint(-6, 6) if variant else 0
    dy = shift.randint(-6, 6) if variant else 0
    for _ in range(14):  # the specimen's own marks: blotches, edges, the tag
        x0, y0 = rng.randint(0, width - 60) + dx, rng.randint(0, height - 60) + dy
        x1, y1 = x0 + rng.randint(40, 260), y0 + rng.randint(40, 200)
        shade = rng.randint(30, 230)
        draw.rectangle([x0, y0, x1, y1], fill=(shade, shade - 10 if shade > 10 else 0, shade))
    if variant:
        light = 1 + shift.uniform(-0.06, 0.06)
        image = image.point(lambda v: max(0, min(255, int(v * light))))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _seal(
    db: Session,
    settings: Settings,
    witness: Principal,
    key: Ed25519PrivateKey,
    key_id: str,
    code: str,
    seed: int,
    at: dt.datetime,
    position: tuple[float, float] | None,
    face: bytes | None = None,
) -> None:
    """``witness`` seals ``code`` with ``key`` at ``at``: a photo of the specimens and one of
    the witness (``face``, by default the demo witness's own)."""
    statement = service.prepare_seal(
        db=db,
        settings=settings,
        principal=witness,
        code=code,
        key_id=key_id,
        photos={"seal": specimen_photo(seed, 1), "witness": face or faces.hopper(seed)},
        latitude=position[0] if position else None,
        longitude=position[1] if position else None,
        accuracy_m=8.0 if position else None,
        now=at,
    )
    service.seal_sample(
        db=db,
        settings=settings,
        principal=witness,
        code=code,
        statement_b64=base64.b64encode(statement).decode(),
        signature_b64=base64.b64encode(key.sign(statement)).decode(),
        now=at,
    )


def load(db: Session, settings: Settings, institutions: dict[str, Institution]) -> bool:
    """Create the demo chain when its first project is missing; True when created."""
    if db.scalar(select(Project.id).where(Project.code == PROJECTS[0]["code"])) is not None:
        return False
    projects = []
    for values in PROJECTS:
        project = Project(**values)
        db.add(project)
        projects.append(project)
    db.flush()
    users = {u.username: u for u in db.scalars(select(User))}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = beijing_date(now)
    main = projects[0]
    # what the station registered: the sampler's face and the witness's, two people
    portraits = {
        MemberRole.SAMPLER: blob_store(settings).put(faces.collins()),
        MemberRole.WITNESS: blob_store(settings).put(faces.hopper()),
    }
    for project in projects:
        for username, role, unit in (
            ("witness", MemberRole.WITNESS, project.supervisor_unit),
            ("sampler", MemberRole.SAMPLER, project.contractor_unit),
        ):
            user = users[username]
            db.add(
                ProjectMember(
                    project_id=project.id,
                    region_code=project.region_code,
                    user_id=user.id,
                    role=role.value,
                    name=user.display_name,
                    unit_name=unit,
                    certificate_no=f"JX-{role.value[:1].upper()}-2026-{user.id:04d}",
                    photo_sha256=portraits[role],
                    starts_on=today - dt.timedelta(days=60),
                    reported_at=now - dt.timedelta(days=65),
                    is_initial=True,
                )
            )
    # a sampler replaced with one day's notice: assignment_change_late
    db.add(
        ProjectMember(
            project_id=projects[1].id,
            region_code=projects[1].region_code,
            user_id=users["sampler"].id,
            role=MemberRole.SAMPLER.value,
            name=users["sampler"].display_name,
            unit_name=projects[1].contractor_unit,
            starts_on=today + dt.timedelta(days=1),
            reported_at=now,
            is_initial=False,
        )
    )
    db.flush()
    for user in (users["witness"], users["sampler"], users["owner_unit"]):
        granted = {p.project_id for p in user.projects}
        for project in projects:
            if project.id not in granted:
                user.projects.append(UserProject(project_id=project.id))
    db.flush()
    station, sampler, witness = (
        principal_for(db=db, user=users[name], settings=settings)
        for name in ("jj_station", "sampler", "witness")
    )
    batch = service.issue_codes(
        db=db, principal=station, project_id=main.id, count=24, now=now - dt.timedelta(days=32)
    )
    codes = [c.code for c in service.batch_codes(db, batch.id)]
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = service.register_key(
        db=db, principal=witness, public_key_b64=base64.b64encode(raw).decode(), device="演示手机"
    ).key_id
    site = (main.site_latitude or 0.0, main.site_longitude or 0.0)
    cast = now - dt.timedelta(days=30)
    # the pours the cubes were cast from: the beams' pour has its standard set (cured in the lab
    # from the next day: standard_curing_offsite), the columns' has same-condition cubes only
    # (specimen_sets_short); this morning's is not judged until a day after it ended
    poured = {}
    for name, part, grade, volume, start, hours in (
        ("beams", "3 层梁板", "C30", 95.0, cast - dt.timedelta(hours=1), 3),
        ("columns", "4 层柱", "C35", 260.0, cast - dt.timedelta(hours=1), 5),
        ("today", "7 层柱", "C40", 45.0, now - dt.timedelta(hours=3), 2),
    ):
        end = start + dt.timedelta(hours=hours)
        form = pours.PourForm(
            structure_part=part, grade=grade, volume_m3=volume, started_at=start, ended_at=end
        )
        poured[name] = pours.record_pour(
            db=db, principal=sampler, project_id=main.id, form=form, now=end
        )
    # the school's raft, waterproof concrete poured this morning, on a site with no standard
    # curing room recorded: site_curing_missing
    start = now - dt.timedelta(hours=8)
    pours.record_pour(
        db=db, principal=sampler, project_id=projects[1].id,
        form=pours.PourForm(structure_part="基础筏板", grade="C30", impermeability="P6",
                            volume_m3=480.0, started_at=start,
                            ended_at=start + dt.timedelta(hours=6)),
        now=now,
    )  # fmt: skip
    plan: list[dict[str, Any]] = [
        {
            "material": "混凝土试块",
            "spec": "C30",
            "part": "3 层梁板",
            "late": 0,
            "off": False,
            "curing": "standard",
            "pour": "beams",
        },
        {
            "material": "混凝土试块",
            "spec": "C35",
            "part": "4 层柱",
            "late": 0,
            "off": False,
            "curing": "same_condition",
            "pour": "columns",
        },
        {  # registered by someone else with the sampler's phone: identity_mismatch
            "material": "热轧带肋钢筋",
            "spec": "HRB400E Φ20",
            "part": "5 层梁",
            "late": 0,
            "off": False,
            "impostor": True,
        },
        {"material": "混凝土试块", "spec": "C30", "part": "5 层梁板", "late": 45, "off": False},
        {"material": "砂浆试块", "spec": "M10", "part": "1 层砌体", "late": 0, "off": True},
        {"material": "混凝土试块", "spec": "C30", "part": "6 层梁板", "late": 0, "off": False},
    ]
    samples = []
    # cast and witnessed thirty days ago, delivered the next day and cured in the lab: tested
    # at 28 days (demo/testing.py), when curing_age_short finds nothing to say
    for i, item in enumerate(plan):
        at = cast + dt.timedelta(hours=i)
        sample = service.register_sample(
            db=db,
            settings=settings,
            principal=sampler,
            project_id=main.id,
            form=service.SampleForm(
                sample_code=codes[i],
                material=item["material"],
                specification=item["spec"],
                batch_number=f"P2026-{i + 1:03d}",
                quantity="120 m³" if "混凝土" in item["material"] else "60 t",
                structure_part=item["part"],
                specimen_count=3,
                specimen_size="150×150×150 mm" if "混凝土" in item["material"] else "",
                prepared_at=at - dt.timedelta(minutes=10 + item["late"]),
                latitude=site[0] + 0.0004,
                longitude=site[1] - 0.0003,
                accuracy_m=6.0,
                photos={
                    "sample": specimen_photo(100 + i),
                    "tag": specimen_photo(200 + i),
                    "sampler": faces.hopper() if item.get("impostor") else faces.collins(1 + i),
                },
                curing=item.get("curing", ""),
                pour_id=poured[item["pour"]].id if "pour" in item else None,
            ),
            now=at,
        )
        position = (site[0] + 0.03, site[1] + 0.02) if item["off"] else (site[0], site[1])
        _seal(
            db,
            settings,
            witness,
            key,
            key_id,
            sample.sample_code,
            100 + i,
            at + dt.timedelta(minutes=12),
            position,
        )
        samples.append(sample)
    # one registered this morning and still waiting for its witness, its photo re-used
    service.register_sample(
        db=db,
        settings=settings,
        principal=sampler,
        project_id=main.id,
        form=service.SampleForm(
            sample_code=codes[len(plan)],
            material="混凝土试块",
            specification="C40",
            structure_part="7 层柱",
            specimen_count=3,
            prepared_at=now - dt.timedelta(minutes=15),
            latitude=site[0],
            longitude=site[1],
            photos={
                # not a photo of these cubes: the C35 cubes' of a month ago, shrunk and saved
                # again (photo_reuse)
                "sample": recompressed(specimen_photo(101)),
                "tag": specimen_photo(250),
                "sampler": faces.collins(50),
            },
            curing="standard",
            pour_id=poured["today"].id,
        ),
        now=now - dt.timedelta(minutes=5),
    )
    _stand_in_seals(db, settings, users, sampler, main, codes[len(plan) + 1], now)
    delivered = cast + dt.timedelta(days=1, hours=4)
    _deliver(db, settings, institutions["jj-center"], main, users, samples, delivered)
    # an insider's edit of the C35 cubes' recorded perceptual hash after receipt: seal_invalid
    tampered = samples[1]
    if tampered.sample_phash:
        tampered.sample_phash = f"{int(tampered.sample_phash, 16) ^ 0xFFFF0000FFFF:016x}"
    db.flush()
    return True


def _stand_in_seals(
    db: Session,
    settings: Settings,
    users: dict[str, User],
    sampler: Principal,
    project: Project,
    code: str,
    now: dt.datetime,
) -> None:
    """Rebar registered by the sampler 50 minutes ago and sealed 10 minutes later by the
    supervisor's stand-in instead of the assigned witness, with a key on his own phone
    (witness_not_assigned)."""
    city = principal_for(db=db, user=users["jj_city"], settings=settings)
    user, _ = accounts.create_user(
        db=db,
        settings=settings,
        principal=city,
        data=UserCreate(
            username=STAND_IN["username"],
            display_name=STAND_IN["display_name"],
            role=Role.WITNESS,
            region_code="360400",
            project_ids=[project.id],
        ),
    )
    stand_in = principal_for(db=db, user=user, settings=settings)
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    key_id = service.register_key(
        db=db, principal=stand_in, public_key_b64=base64.b64encode(raw).decode(), device="代班手机"
    ).key_id
    at = now - dt.timedelta(minutes=50)
    site = (project.site_latitude or 0.0, project.site_longitude or 0.0)
    seed = 300
    service.register_sample(
        db=db,
        settings=settings,
        principal=sampler,
        project_id=project.id,
        form=service.SampleForm(
            sample_code=code,
            material="热轧带肋钢筋",
            specification="HRB400E Φ25",
            batch_number="P2026-008",
            quantity="60 t",
            structure_part="7 层柱",
            specimen_count=3,
            prepared_at=at - dt.timedelta(minutes=10),
            latitude=site[0] + 0.0002,
            longitude=site[1] + 0.0001,
            accuracy_m=6.0,
            photos={
                "sample": specimen_photo(seed),
                "tag": specimen_photo(seed + 1),
                "sampler": faces.collins(51),
            },
        ),
        now=at,
    )
    _seal(
        db, settings, stand_in, key, key_id, code, seed, at + dt.timedelta(minutes=10), site,
        face=faces.collins(8),  # the man the station's spot check photographs (demo.training)
    )  # fmt: skip


def _deliver(
    db: Session,
    settings: Settings,
    lab: Institution,
    main: Project,
    users: dict[str, User],
    samples: list[Sample],
    now: dt.datetime,
) -> None:
    """The samples' commissions and the lab's receipt check of each."""
    today = beijing_date(now)
    # The samples the lab refuses (a swapped photo, a damaged tag) are delivered under a
    # commission of their own, which ends 已退回; the rest under one that ends 已收样.
    refused = {2: "swapped", 5: "damaged"}
    kept = [s for i, s in enumerate(samples) if i not in refused]
    returned = [s for i, s in enumerate(samples) if i in refused]

    def commission(seq: int) -> Commission:
        row = Commission(
            institution_id=lab.id,
            region_code=main.region_code,
            project_id=main.id,
            number=f"JJZX-WT-2026-{seq:04d}",
            year=today.year,
            seq=seq,
            commissioned_on=today,
            client_unit=main.owner_unit,
            items=["0101", "0102"],
            witness_name=users["witness"].display_name,
            deliverer_name="王送样",
            status=CommissionStatus.DELIVERED.value,
            message_id=str(uuid.uuid4()),
        )
        db.add(row)
        db.flush()
        return row

    delivered, refused_commission = commission(1), commission(2)
    never_issued = "360402269999999"
    from stdnum.iso7064 import mod_37_36

    never_issued += mod_37_36.calc_check_digit(never_issued)
    service.link_samples(db, delivered, [s.sample_code for s in kept] + [never_issued])
    service.link_samples(db, refused_commission, [s.sample_code for s in returned])
    for i, sample in enumerate(samples):
        swapped = refused.get(i) == "swapped"
        damaged = refused.get(i) == "damaged"
        service.check_receipt(
            db=db,
            settings=settings,
            data=service.ReceiptInput(
                sample_code=sample.sample_code,
                institution=lab,
                commission_number=(refused_commission if i in refused else delivered).number,
                photo=specimen_photo(900 if swapped else 100 + i, 0 if swapped else 2),
                tag_intact=not damaged,
                via="page",
                user_id=users["lab_staff"].id if "lab_staff" in users else None,
            ),
            now=now - dt.timedelta(hours=2 - i * 0.1),
        )
    # every sample of it refused: the lab sends the commission back
    refused_commission.status = CommissionStatus.REJECTED.value


ACROSS_THE_RIVER: dict[str, Any] = {
    "code": "XM421127-2026-015",
    "name": "黄梅县小池镇滨江安置小区 6# 楼",
    "region_code": "421127",  # 湖北省黄冈市黄梅县, across the Yangtze from Jiujiang
    "address": "黄梅县小池镇滨江大道 18 号",
    "site_latitude": 29.7668,
    "site_longitude": 115.9713,
    "site_radius_m": 300,
    "owner_unit": "黄梅县城市建设投资有限公司",
    "contractor_unit": "湖北黄梅建工集团有限公司",
    "supervisor_unit": "黄冈正信工程监理有限公司",
    "station": "黄梅县建设工程质量监督站",
}


def load_out_of_province(db: Session, by_key: dict[str, Institution], today: dt.date) -> None:
    """A Jiujiang lab testing a project across the river in Hubei without filing there: two
    commissions that ``unfiled_out_of_province`` finds (004 一), seen by Jiujiang's authority
    (its lab) and by Huangmei's (the project's county)."""
    lab = by_key.get("jj-hengxin")
    if lab is None or db.scalar(select(Project.id).where(Project.code == ACROSS_THE_RIVER["code"])):
        return
    project = Project(**ACROSS_THE_RIVER)
    db.add(project)
    db.flush()
    add_commissions(db, lab, project, today, (12, 3), "李送样")


def add_commissions(
    db: Session, lab: Institution, project: Project, today: dt.date, days_ago: tuple[int, ...],
    deliverer: str,
) -> None:  # fmt: skip
    """Registered commissions of ``lab`` for ``project`` (item 0101), one per entry of
    ``days_ago``, numbered on from the lab's last of the year (``HX-WT-<year>-<seq>``)."""
    last = db.scalar(
        select(func.max(Commission.seq)).where(
            Commission.institution_id == lab.id, Commission.year == today.year
        )
    )
    for seq, ago in enumerate(days_ago, start=(last or 0) + 1):
        db.add(
            Commission(
                institution_id=lab.id, region_code=project.region_code, project_id=project.id,
                number=f"HX-WT-{today.year}-{seq:04d}", year=today.year, seq=seq,
                commissioned_on=today - dt.timedelta(days=ago),
                client_unit=project.owner_unit, items=["0101"], deliverer_name=deliverer,
                status=CommissionStatus.REGISTERED.value, message_id=str(uuid.uuid4()),
            )
        )  # fmt: skip
    db.flush()
