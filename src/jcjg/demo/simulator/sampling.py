"""The witnessed-sampling chain in ``jcjg simulate``: projects on sites, samplers and witnesses
with phones, and the labs' LIMS that take the samples in.

:func:`prepare` sets a simulated region's projects up as its station would (projects with a
geofence in the counties of the region, one lab each, a sampler and a witness assigned, a
stand-in witness who has the project but no assignment, a batch of sample codes) and gives each
phone user a fresh password. Then, each simulated day, :func:`phone_day` plays the phones over
HTTP against the platform's own phone pages (``/m/...``, logged in, with the CSRF token): the
sampler registers samples with photos and position, the witness enrols an Ed25519 key (held
only by the simulated phone) and seals each one; and :func:`lims_plans` gives the lab's LIMS
its ``commission`` and ``sample_event`` (receipt check) messages for those samples.

``violations`` is the share of samples (and of projects, for the assignment change) that break
one rule, each project's violating samples taking the rules of :data:`PLANTED` in turn, the way
they happen on real sites:

- ``untagged_sample``: the commission names a code the platform never issued;
- ``sampling_window``: the sampler registers 50 minutes after making the specimens;
- ``witness_off_site``: the witness seals 3 km from the site;
- ``witness_not_assigned``: a stand-in seals instead of the assigned witness;
- ``sample_photo_mismatch`` (and ``receipt_refused``): another specimen arrives at the lab;
- ``receipt_refused``: the tag arrives broken;
- ``seal_invalid``: someone with database access edits a sealed sample's photo hash afterwards
  (:func:`tamper`, run on the database after the day, as an insider would);
- ``identity_mismatch``: someone else registers the sample with the sampler's phone (another
  person's face in the live photo; the sampler and the witness are registered with, and take
  photos of, a public-domain portrait: :mod:`jcjg.demo.faces`);
- ``photo_reuse``: the project's previous sample's photos uploaded again for a new code, the
  specimen photo shrunk and saved again (another file, the same picture);
- ``assignment_change_late``: on the first day, the station records a new sampler starting
  tomorrow;
- ``untrained_on_duty`` and ``on_duty_mismatch``: on a violating project the sampler's training
  certificate ran out yesterday, and the station's spot check on the first day finds the
  stand-in doing the witness's work (:mod:`jcjg.demo.simulator.training`);
- ``standard_curing_offsite``: the lab takes standard-cured cubes in and keeps them to cure
  (tested another day: judged with a clock days on).

Each day with concrete cubes the sampler records the day's pour on the phone first, and the
cubes name it and their curing (standard). A clean site's pour is small enough for its cubes
and the site has a curing room and molds to spare; a violating site (:data:`SITE_PLANTED`) has
no curing room recorded (``site_curing_missing``), three molds for more cubes than that
(``molds_short``), and its first pour is larger than its cubes cover (``specimen_sets_short``,
judged a day after the pour).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import re
import secrets
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_rule
from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserProject
from jcjg.auth.passwords import hash_password
from jcjg.auth.sessions import principal_for
from jcjg.client.api import tls_context
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING
from jcjg.demo import faces
from jcjg.demo.sampling import recompressed, specimen_photo
from jcjg.demo.simulator import training as sim_training
from jcjg.projects import service as projects
from jcjg.projects.models import Project
from jcjg.regions.models import Region
from jcjg.sampling import codes, service
from jcjg.sampling.models import Commission, Sample, SampleCode
from jcjg.tenancy.models import Institution

PLANTED = (
    "untagged_sample",
    "sampling_window",
    "witness_off_site",
    "witness_not_assigned",
    "sample_photo_mismatch",
    "receipt_refused",
    "seal_invalid",
    "identity_mismatch",
    "photo_reuse",
    "standard_curing_offsite",
)
# what a violating site plants once (see the module's docstring)
SITE_PLANTED = ("site_curing_missing", "molds_short", "specimen_sets_short")
CURING_ROOM = "工地标准养护室（20±2 ℃，湿度 95% 以上）"
SITE_MOLDS = 60  # a clean site's cube molds: far more than a day's cubes
VIOLATOR_MOLDS = 3
MATERIALS = (
    ("混凝土试块", "C30", "150×150×150 mm", 3),
    ("混凝土试块", "C40", "150×150×150 mm", 3),
    ("钢筋", "HRB400E Φ20", "500 mm", 2),
    ("水泥", "P·O 42.5", "12 kg", 1),
    ("砂浆试块", "M10", "70.7×70.7×70.7 mm", 3),
    ("烧结普通砖", "MU10", "240×115×53 mm", 10),
    ("混凝土小型空心砌块", "MU10", "390×190×190 mm", 5),
)
# concrete cubes are most of the witnessed samples; then rebar, cement, mortar, bricks, blocks
MATERIAL_WEIGHTS = (4, 2, 2, 1, 1, 1, 1)
PARTS = ("基础承台", "1 层柱", "2 层梁板", "3 层梁板", "屋面板", "剪力墙")


class AskAgain(httpx.HTTPTransport):
    """A browser's way with a kept-alive connection the server closed as the request went out
    (uvicorn closes one idle for 5 s; a busy simulator leaves its phones idle longer): the
    request, which the server never read, is sent once more on a new connection. Any other
    failure, or a second one, is the simulator's failure to report."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.RemoteProtocolError as error:
            if "without sending a response" not in str(error):
                raise
            return super().handle_request(request)


@dataclass
class Phone:
    """A simulated phone: its user's login and, for a witness, the seal key it made (held only
    by this object, as a browser's IndexedDB holds it)."""

    username: str
    password: str
    key: Ed25519PrivateKey | None = None
    key_id: str = ""
    home: str = "/m"  # the page it opens after logging in (a lab's office: "/alerts")

    def client(self, url: str) -> httpx.Client:
        """A browser session: logged in through the login form, the page's CSRF token sent with
        every form and fetch, as the phone pages' scripts do."""
        http = httpx.Client(
            base_url=url,
            timeout=60,
            follow_redirects=True,
            transport=AskAgain(verify=tls_context()),
        )
        try:
            page = http.get("/login")
            http.post(
                "/login",
                data={
                    "username": self.username,
                    "password": self.password,
                    "csrf_token": _csrf(page.text, "csrf_token"),
                    "next": self.home,
                },
            )
            home = http.get(self.home)
            if home.status_code != 200 or "/login" in str(home.url):
                raise RuntimeError(f"{self.username} 登录失败（HTTP {home.status_code}）")
            http.headers["X-CSRF-Token"] = _csrf(home.text, "csrf-token")
        except BaseException:
            http.close()
            raise
        return http


def _csrf(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" (?:value|content)="([^"]+)"', html)
    if match is None:
        raise RuntimeError("页面没有防伪令牌（CSRF）")
    return match.group(1)


@dataclass
class SimProject:
    id: int
    code: str
    region: str
    latitude: float
    longitude: float
    lab: str  # the institution code of the lab its samples go to
    sampler: Phone
    witness: Phone
    stand_in: Phone
    station: Phone
    replacement: str  # username of the sampler a late change brings in
    codes: list[str]
    commission_seq: int  # of the project's latest commission
    violator: bool
    witness_name: str = ""
    # a project in another province this project's lab contracts without a filing there
    # (``unfiled_out_of_province``, planted once per violating lab)
    across: str = ""
    stand_in_name: str = ""
    plant_next: int = 0  # violating samples take the rules of PLANTED in turn
    last_seed: int = 0  # the photos of the project's latest sample (photo_reuse re-uses them)
    cubes: int = 0  # concrete specimens cast so far (a violating site has 3 molds)
    pours: int = 0  # pours recorded so far
    # the lab's annual commission numbering, shared by the projects it tests for
    lab_seq: list[int] = field(default_factory=lambda: [0])

    def next_violation(self) -> str:
        rule_id = PLANTED[self.plant_next % len(PLANTED)]
        self.plant_next += 1
        return rule_id


@dataclass
class Sealed:
    """A sample as it left the site, and what will happen to it at the lab."""

    code: str
    seed: int
    planted: str = ""
    material: str = ""
    specification: str = ""

    @property
    def refused(self) -> bool:
        """The lab will refuse it (another specimen, or a broken tag)."""
        return self.planted in ("sample_photo_mismatch", "receipt_refused")

    @property
    def held(self) -> bool:
        """The lab takes it in and keeps it to cure: not tested today."""
        return self.planted == "standard_curing_offsite"


@dataclass
class DayResult:
    sealed: list[Sealed] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    planted: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    tamper: list[str] = field(default_factory=list)


def sim_user(
    db: Session,
    username: str,
    role: Role,
    region: str,
    name: str,
    institution_id: int | None = None,
) -> User:
    """The simulated account ``username`` (made once; its password is set by :func:`sim_phone`)."""
    user = db.scalars(select(User).where(User.username == username)).first()
    if user is None:
        user = User(
            username=username,
            display_name=name,
            role=role.value,
            region_code=region,
            institution_id=institution_id,
            password_hash="",  # set by sim_phone for each run
        )
        db.add(user)
        db.flush()
    return user


def sim_phone(user: User) -> Phone:
    """A fresh password for each run, kept only in memory by the simulated phone."""
    password = secrets.token_urlsafe(18)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.must_change_password = False
    user.failed_logins = 0
    user.locked_until = None
    return Phone(user.username, password)


def prepare(
    db: Session,
    settings: Settings,
    *,
    labs: list[tuple[str, str]],
    region: str,
    seed: int,
    violations: float,
    codes_per_project: int,
) -> list[SimProject]:
    """Projects for ``labs`` ((institution code, county code) pairs), idempotent per seed; each
    has at least ``codes_per_project`` unused codes afterwards. Commits."""
    from jcjg.demo.registry import GIVEN, SURNAMES

    station_user = sim_user(db, f"sim_station_{region}", Role.STATION, region, "模拟监督站")
    station = principal_for(db=db, user=station_user, settings=settings)
    station_phone = sim_phone(station_user)
    today = utcnow().astimezone(BEIJING).date()
    out: list[SimProject] = []
    lab_counters: dict[str, list[int]] = {}
    for n, (lab, county) in enumerate(labs[: max(1, (len(labs) + 1) // 2)]):
        rng = random.Random(f"{seed}:project:{n}")
        code = f"SIM-{county}-{seed}-{n + 1:02d}"
        project = db.scalars(select(Project).where(Project.code == code)).first()
        if project is None:
            county_name = db.get(Region, county)
            place = county_name.name if county_name else county
            lat = 29.5 + rng.random() * 0.6
            lon = 115.6 + rng.random() * 0.9
            project = projects.create_project(
                db=db,
                principal=station,
                raw={
                    "code": code,
                    "name": f"{place}{rng.choice(['滨江', '城南', '新港', '湖畔'])}"
                    f"{rng.choice(['花园', '学校', '医院', '产业园'])}"
                    f"{rng.randint(1, 9)}号楼（模拟）",
                    "region_code": county,
                    "address": f"{place}建设大道 {rng.randint(1, 300)} 号",
                    "site_latitude": round(lat, 5),
                    "site_longitude": round(lon, 5),
                    "site_radius_m": 300,
                    "owner_unit": f"{place}城市建设投资有限公司",
                    "contractor_unit": f"江西{rng.choice(['建工', '中煤', '恒达'])}建设有限公司",
                    "supervisor_unit": f"九江{rng.choice(['正信', '华誉', '长城'])}监理有限公司",
                    "station": "模拟监督站",
                },
            )
        names = iter(rng.choice(SURNAMES) + rng.choice(GIVEN) for _ in range(8))
        people = {
            kind: sim_user(db, f"sim_{code.lower()}_{kind}", role, county, next(names))
            for kind, role in (
                ("sampler", Role.SAMPLER),
                ("witness", Role.WITNESS),
                ("standin", Role.WITNESS),
                ("sampler2", Role.SAMPLER),
            )
        }
        sim_training.passes(db, station, people, today)
        if not projects.members(db, project.id):
            portrait = blob_store(settings).put(faces.collins())
            for kind, role in (("witness", "witness"), ("sampler", "sampler")):
                projects.add_member(
                    db=db,
                    principal=station,
                    project_id=project.id,
                    raw={
                        "username": people[kind].username,
                        "role": role,
                        "starts_on": (today - dt.timedelta(days=60)).isoformat(),
                        "unit_name": project.supervisor_unit
                        if role == "witness"
                        else project.contractor_unit,
                    },
                    now=utcnow() - dt.timedelta(days=90),
                    photo_sha256=portrait,
                )
        standin = people["standin"]
        if project.id not in {p.project_id for p in standin.projects}:
            standin.projects.append(UserProject(project_id=project.id))
        unused = list(
            db.scalars(
                select(SampleCode.code)
                .where(SampleCode.project_id == project.id, SampleCode.used_at.is_(None))
                .order_by(SampleCode.serial)
            )
        )
        if len(unused) < codes_per_project:
            batch = service.issue_codes(
                db=db,
                principal=station,
                project_id=project.id,
                count=max(codes_per_project - len(unused), 20),
                now=utcnow(),
            )
            unused += [c.code for c in service.batch_codes(db, batch.id)]
        lab_id = db.scalar(select(Institution.id).where(Institution.code == lab))
        seq = max(
            (
                s
                for s in db.scalars(
                    select(Commission.seq).where(
                        Commission.institution_id == lab_id, Commission.year == today.year
                    )
                )
                if s is not None
            ),
            default=0,
        )
        violator = rng.random() < violations
        if violator:
            sim_training.expire(db, people["sampler"], project.id, today)
        # the station's record of the site's curing room and molds (none, and three, on a
        # violating site)
        project.curing_room = "" if violator else CURING_ROOM
        project.cube_molds = VIOLATOR_MOLDS if violator else SITE_MOLDS
        out.append(
            SimProject(
                id=project.id,
                code=project.code,
                region=project.region_code,
                latitude=project.site_latitude or 29.7,
                longitude=project.site_longitude or 116.0,
                lab=lab,
                sampler=sim_phone(people["sampler"]),
                witness=sim_phone(people["witness"]),
                stand_in=sim_phone(standin),
                station=station_phone,
                replacement=people["sampler2"].username,
                codes=unused,
                commission_seq=seq,
                violator=violator,
                across=across_the_border(db, region, seed) if violator else "",
                witness_name=people["witness"].display_name,
                stand_in_name=standin.display_name,
                plant_next=3 * n,
                lab_seq=lab_counters.setdefault(lab, [seq]),
            )
        )
    db.commit()
    return out


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            body = response.json()
            detail = body.get("detail", "") + "；".join(
                f" {e.get('field')}: {e.get('message')}" for e in body.get("errors", [])[:3]
            )
        except ValueError:
            detail = response.text[:200]
        raise RuntimeError(f"{what}: HTTP {response.status_code} {detail}")
    if response.headers.get("content-type", "").startswith("application/json"):
        data: dict[str, Any] = response.json()
        return data
    return {}


def _jpeg(name: str, data: bytes) -> tuple[str, bytes, str]:
    return (name, data, "image/jpeg")


def _enrol(http: httpx.Client, phone: Phone) -> None:
    if phone.key is not None:
        return
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes_raw()
    answer = _check(
        http.post(
            "/m/keys",
            json={"public_key": base64.b64encode(raw).decode(), "device": "模拟手机"},
        ),
        "登记封志密钥",
    )
    phone.key, phone.key_id = key, answer["key_id"]


def _near(rng: random.Random, lat: float, lon: float, metres: float) -> tuple[float, float]:
    return lat + rng.uniform(-1, 1) * metres / 111_000, lon + rng.uniform(-1, 1) * metres / 96_000


def phone_day(
    project: SimProject, day: int, rng: random.Random, url: str, violations: float
) -> DayResult:
    """One day on ``project``'s site: samples registered and sealed through the phone pages."""
    result = DayResult()
    now = utcnow()
    with (
        closing(project.sampler.client(url)) as sampler,
        closing(project.witness.client(url)) as witness,
        closing(project.stand_in.client(url)) as stand_in,
    ):
        if day == 0 and project.violator:
            try:
                tomorrow = (now.astimezone(BEIJING) + dt.timedelta(days=1)).date()
                with closing(project.station.client(url)) as station:
                    response = station.post(
                        f"/projects/{project.id}/members",
                        data={
                            "username": project.replacement,
                            "role": "sampler",
                            "starts_on": tomorrow.isoformat(),
                        },
                        follow_redirects=False,
                    )
                _check(response, "更换取样人员")
                result.planted["assignment_change_late"] += 1
                result.actions["更换人员"] += 1
            except (RuntimeError, httpx.HTTPError) as error:
                result.failures.append(str(error))
        if day == 0:
            _spot_check(project, url, result)
        day_plan = _day_plan(project, rng, violations)
        cubes = sum(1 for _, drawn in day_plan if drawn[0] == "混凝土试块")
        pour = _record_pour(sampler, project, cubes, rng, now, result) if cubes else ""
        for planted, drawn in day_plan:
            if not project.codes:
                break
            code = project.codes.pop(0)
            seed = rng.randrange(1, 10**6)
            seed, planted, sample_photo = _photos_of(project, seed, planted)
            material, spec, size, count = drawn
            concrete = material == "混凝土试块"
            made = now - dt.timedelta(minutes=50 if planted == "sampling_window" else 12)
            lat, lon = _near(rng, project.latitude, project.longitude, 60)
            try:
                _check(
                    sampler.post(
                        f"/m/projects/{project.id}/samples",
                        data={
                            "sample_code": code,
                            "material": material,
                            "specification": spec,
                            "batch_number": f"P{rng.randint(1000, 9999)}",
                            "quantity": f"{rng.randint(20, 300)} m³",
                            "structure_part": rng.choice(PARTS),
                            "specimen_count": str(count),
                            "specimen_size": size,
                            "prepared_at": made.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M"),
                            "latitude": f"{lat:.6f}",
                            "longitude": f"{lon:.6f}",
                            "accuracy": "8",
                            "curing": "standard" if concrete else "",
                            "pour_id": pour if concrete else "",
                        },
                        files={
                            "photo_sample": _jpeg("sample.jpg", sample_photo),
                            "photo_tag": _jpeg("tag.jpg", specimen_photo(seed + 500)),
                            "photo_sampler": _jpeg(
                                "me.jpg",
                                faces.hopper()
                                if planted == "identity_mismatch"
                                else faces.collins(seed),
                            ),
                        },
                    ),
                    f"取样登记 {code}",
                )
                result.actions["取样登记"] += 1
                phone, http = (
                    (project.stand_in, stand_in)
                    if planted == "witness_not_assigned"
                    else (project.witness, witness)
                )
                _enrol(http, phone)
                assert phone.key is not None
                at = (
                    (project.latitude + 0.03, project.longitude)
                    if planted == "witness_off_site"
                    else _near(rng, project.latitude, project.longitude, 40)
                )
                prepared = _check(
                    http.post(
                        f"/m/samples/{code}/seal/prepare",
                        data={
                            "key_id": phone.key_id,
                            "latitude": f"{at[0]:.6f}",
                            "longitude": f"{at[1]:.6f}",
                            "accuracy": "6",
                        },
                        files={
                            "photo_seal": _jpeg("seal.jpg", specimen_photo(seed, 1)),
                            "photo_witness": _jpeg("w.jpg", faces.collins(seed + 1)),
                        },
                    ),
                    f"封样准备 {code}",
                )
                statement = base64.b64decode(prepared["statement"])
                signature = phone.key.sign(statement)
                _check(
                    http.post(
                        f"/m/samples/{code}/seal",
                        json={
                            "statement": prepared["statement"],
                            "signature": base64.b64encode(signature).decode(),
                        },
                    ),
                    f"见证封样 {code}",
                )
                result.actions["见证封样"] += 1
            except (RuntimeError, httpx.HTTPError) as error:
                result.failures.append(str(error))
                continue
            if planted:
                result.planted[planted] += 1
            if concrete:
                _cast(project, count, result)
            if planted == "seal_invalid":
                result.tamper.append(code)
            result.sealed.append(Sealed(code, seed, planted, material, spec))
    return result


def _day_plan(
    project: SimProject, rng: random.Random, violations: float
) -> list[tuple[str, tuple[str, str, str, int]]]:
    """The day's samples: what each breaks ("" nothing) and its material."""
    plan = []
    for _ in range(rng.randint(2, 4)):
        planted = project.next_violation() if rng.random() < violations else ""
        drawn = rng.choices(MATERIALS, weights=MATERIAL_WEIGHTS)[0]
        if planted == "standard_curing_offsite":
            drawn = MATERIALS[0]  # standard-cured concrete cubes
        plan.append((planted, drawn))
    return plan


def _record_pour(
    sampler: httpx.Client,
    project: SimProject,
    cubes: int,
    rng: random.Random,
    now: dt.datetime,
    result: DayResult,
) -> str:
    """The sampler records the day's pour before casting its ``cubes`` sets; the pour's id
    (from the phone page's list of pours), "" when it failed. A clean pour needs no more
    standard sets than that (one per 100 m³); a violating site's first pour is larger."""
    short = project.violator and project.pours == 0
    volume = 100 * cubes + 150 if short else round(100 * cubes * rng.uniform(0.5, 0.95), 1)
    project.pours += 1
    part = f"{rng.choice(PARTS)}（第 {project.pours} 次浇筑）"
    start = now - dt.timedelta(hours=3)

    def local(at: dt.datetime) -> str:
        return at.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M")

    try:
        page = sampler.post(
            f"/m/projects/{project.id}/pours",
            data={"part": part, "grade": "C30", "volume_m3": f"{volume}",
                  "started_at": local(start), "ended_at": local(now - dt.timedelta(minutes=20))},
        )  # fmt: skip
        if page.status_code != 200:
            raise RuntimeError(f"浇筑登记失败（HTTP {page.status_code}）")
        found = re.search(rf'<option value="(\d+)"[^>]*>[^<]*{re.escape(part)}', page.text)
        if found is None:
            raise RuntimeError(f"浇筑登记后找不到“{part}”")
    except (RuntimeError, httpx.HTTPError) as error:
        result.failures.append(str(error))
        return ""
    result.actions["浇筑登记"] += 1
    if short:
        result.planted["specimen_sets_short"] += 1
    return found[1]


def _cast(project: SimProject, count: int, result: DayResult) -> None:
    """``count`` more standard-cured cubes cast on ``project``'s site: a violating site's are
    cured without a curing room on record, and soon outnumber its three molds."""
    before, project.cubes = project.cubes, project.cubes + count
    if not project.violator:
        return
    if before == 0:
        result.planted["site_curing_missing"] += 1
    if before <= VIOLATOR_MOLDS < project.cubes:
        result.planted["molds_short"] += 1


def _photos_of(project: SimProject, seed: int, planted: str) -> tuple[int, str, bytes]:
    """(seed of the sample's photos, the rule it plants, its specimen photo): planting
    ``photo_reuse``, the project's latest sample's photos uploaded again, its specimen photo
    shrunk and saved again (the cubes in the bag are those of the photos); nothing to re-use
    yet, a sound sample after all."""
    if planted == "photo_reuse":
        if project.last_seed:
            return project.last_seed, planted, recompressed(specimen_photo(project.last_seed))
        planted = ""
    project.last_seed = seed
    return seed, planted, specimen_photo(seed)


def _spot_check(project: SimProject, url: str, result: DayResult) -> None:
    """The station's spot check on the first day: on a violating project it finds the stand-in
    doing the witness's work (``on_duty_mismatch``), whose sampler's certificate ran out while
    on duty (``untrained_on_duty``, set by :func:`prepare`); elsewhere the appointed witness."""
    found = project.stand_in_name if project.violator else project.witness_name
    try:
        with closing(project.station.client(url)) as station:
            response = sim_training.spot_check(
                station,
                project.id,
                found,
                not project.violator,
                (project.latitude, project.longitude),
            )
        _check(response, "现场抽查")
        result.actions["现场抽查"] += 1
        if project.violator:
            result.planted["on_duty_mismatch"] += 1
            result.planted["untrained_on_duty"] += 1
    except (RuntimeError, httpx.HTTPError) as error:
        result.failures.append(str(error))


def across_the_border(db: Session, region: str, seed: int) -> str:
    """The code of a project just over the province's border (a Hubei county for Jiangxi,
    otherwise the first county of another province), registered there as its station would;
    made once per seed."""
    code = f"SIM-XS-{region}-{seed}"
    if db.scalar(select(Project.id).where(Project.code == code)) is not None:
        return code
    county = db.get(Region, "421127") if region.startswith("36") else None
    if county is None:
        county = db.scalars(
            select(Region)
            .where(Region.level == "county", Region.valid_to_id.is_(None))
            .where(~Region.code.startswith(region[:2]))
            .order_by(Region.code)
        ).first()
    assert county is not None, "行政区划中没有外省的县"
    db.add(
        Project(
            code=code, name=f"{county.name}滨江安置小区 6# 楼（模拟）", region_code=county.code,
            address=f"{county.name}滨江大道 18 号", owner_unit=f"{county.name}城市建设投资有限公司",
            contractor_unit="模拟外省建工集团有限公司", supervisor_unit="模拟外省监理有限公司",
            station=f"{county.name}建设工程质量监督站",
        )
    )  # fmt: skip
    db.flush()
    return code


def commission_number(project: SimProject) -> str:
    """The number of the project's latest simulated commission at its lab."""
    return f"SIM-{project.lab}-{utcnow().year}-{project.commission_seq:06d}"


def _never_issued(rng: random.Random, region: str) -> str:
    return codes.make_code(region, utcnow().year, rng.randint(9_000_000, 9_999_999))


def lims_plans(
    project: SimProject, sealed: list[Sealed], rng: random.Random, message: Any
) -> list[tuple[str, dict[str, Any], dict[str, bytes]]]:
    """The lab's LIMS for a day's samples of ``project``: one commission (delivered), then the
    receipt check of each sample with the photo taken at the lab. ``message(**fields)`` makes
    the envelope (message id, institution code)."""
    if not sealed:
        return []
    project.lab_seq[0] += 1
    project.commission_seq = project.lab_seq[0]
    sample_codes = [s.code for s in sealed]
    if any(s.planted == "untagged_sample" for s in sealed):
        sample_codes.append(_never_issued(rng, project.region))
    plans: list[tuple[str, dict[str, Any], dict[str, bytes]]] = [
        (
            "commission",
            message(
                number=commission_number(project),
                sequence=project.commission_seq,
                commissioned_on=utcnow().astimezone(BEIJING).date().isoformat(),
                project_code=project.code,
                client_unit="模拟建设单位",
                items=[],
                witness_name="",
                deliverer_name="",
                status="delivered",
                samples=sample_codes,
            ),
            {},
        )
    ]
    for s in sealed:
        swapped = s.planted == "sample_photo_mismatch"
        photo = specimen_photo(s.seed + 7777) if swapped else specimen_photo(s.seed, 2)
        digest = hashlib.sha256(photo).hexdigest()
        plans.append(
            (
                "sample_event",
                message(
                    sample_code=s.code,
                    event="received",
                    tag_intact=s.planted != "receipt_refused",
                    photo_sha256=digest,
                ),
                {digest: photo},
            )
        )
    return plans


def tamper(db: Session, sample_codes: list[str]) -> int:
    """What an insider with database access might do: change a sealed sample's recorded
    perceptual hash (to pass another specimen at the lab). The seal no longer matches and
    ``seal_invalid`` says so. Commits; returns the number of samples changed."""
    changed = []
    for code in sample_codes:
        sample = db.scalars(select(Sample).where(Sample.sample_code == code)).first()
        if sample is None or not sample.sample_phash:
            continue
        sample.sample_phash = f"{int(sample.sample_phash, 16) ^ 0xFFFF0000FFFF:016x}"
        changed.append(sample.project_id)
    if changed:
        db.flush()
        run_rule(db, "seal_invalid", project_ids=set(changed))
    db.commit()
    return len(changed)
