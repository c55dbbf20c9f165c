"""``jcjg simulate``: a realistic region of institutions whose LIMS talk to the real API.

Each simulated institution is registered on the platform (with a qualification certificate)
and gets an approved LIMS client whose Ed25519 private key stays in a file of the simulator
(``<data_dir>/simulator/<code>.pem``), as a lab's key stays in its LIMS. Then, day by day, each
LIMS sends what a lab's system sends through :mod:`jcjg.client`, over HTTP to ``--url``: its
labs, its staff, its equipment with calibration certificates (uploaded files), its capabilities
and signatories; later days bring new staff, leavers and recalibrations. ``--violations`` is
the share of institutions that, on some day, break three of the rules of :data:`KINDS` the way
real labs do, each violating lab taking the next three in turn: a calibration left to expire
(``calibration_expired``), a borrowed certificate holder (``certificate_lending``), a signatory
(``signatory_out_of_scope``) or a capability (``out_of_scope``) beyond the qualification, its
tools and aids sold off (``staffing_below_standard``: every simulated registry meets the
catalogue's minimums of people, titles, equipment sets and area until then); and
its qualification certificate, issued by the province, runs out within the reminder's 60 days
(``licence_expiring``); a second system approved for it a month ago never connected
(``client_silent``); and on that day its LIMS's clock runs an hour behind for a while, every
message it signs refused as stale (``client_error_spike``). On the last day, with the alert
handlers of :mod:`jcjg.demo.simulator.alerts`, each lab's administrator records a post on the
registry's API, a violating lab's also one its inspector is not qualified for
(``unlicensed_work``). The platform's rules find them, and the receipts say so.

Projects and the witnessed-sampling chain come from :mod:`jcjg.demo.simulator.sampling`: the sites'
phones register and seal samples through the phone pages, and the labs' LIMS send commissions
and receipt checks in the same day's messages. Later issues extend :func:`plan_day` with their
own message types (test records with force-time curves, reports).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import math
import random
import tempfile
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.catalogue import service as catalogue
from jcjg.catalogue.models import Specialty
from jcjg.catalogue.service import REQUIREMENT_FIELDS, valid_in
from jcjg.client.api import tls_context
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.demo.guard import refuse_in_production
from jcjg.demo.registry import GIVEN, MACHINES, SURNAMES
from jcjg.exchange import clients as client_service
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Client as ClientRow
from jcjg.generic.service import next_institution_code
from jcjg.regions.models import Region
from jcjg.registry.codes import check_character, id_check_character
from jcjg.registry.models import QualificationCertificate
from jcjg.tenancy.facts import notarise_registered
from jcjg.tenancy.models import Institution

if TYPE_CHECKING:
    from jcjg.demo.simulator.alerts import Handlers
    from jcjg.demo.simulator.sampling import SimProject

CLIENT_NAME = "模拟业务系统（jcjg simulate）"
BRANDS = (
    "恒信", "正衡", "建科", "鑫源", "华测", "宏达", "精诚", "中衡",
    "天正", "博远", "安泰", "诚信", "长江", "赣鄱", "德正", "庐山",
)  # fmt: skip
LAB_NAMES = ["力学室", "化学分析室", "水泥室", "混凝土室", "土工室", "钢筋室"]
MATERIALS_SPECIALTY = "01"
# what a violating lab's registry breaks: KINDS_EACH of these on its day of violations, by turns
KINDS = {
    "calibration": "calibration_expired",
    "lending": "certificate_lending",
    "signatory": "signatory_out_of_scope",
    "capability": "out_of_scope",
    "sell_off": "staffing_below_standard",
}
KINDS_EACH = 3  # how many of them each violating lab takes
PLANTED = (*KINDS.values(), "licence_expiring", "client_silent", "client_error_spike")
LICENCE_DAYS_LEFT = (20, 50)  # a violating lab's certificate: within licence_expiring's 60
SPARE_CLIENT = "现场检测数据采集系统（模拟）"  # a violating lab's second system, never connected
SPARE_APPROVED_DAYS_AGO = 30
# the tools and aids beside the testing machines that bring a registry up to the catalogue's
# equipment sets, calibrated, their certificates kept at the lab
AUXILIARY = ("标准养护箱", "电子天平", "游标卡尺", "坍落度筒", "混凝土振动台", "钢直尺", "温湿度计")
STAFF_MARGIN = 4  # inspectors beyond the catalogue's minimum (people leave during a run)
CLOCK_BEHIND = dt.timedelta(hours=1)  # a violating lab's LIMS clock for a while
STALE_SENDS = 100  # refused as stale: a fifth of a busy day's traffic (client_error_spike)


@dataclass
class SimInstitution:
    """One simulated institution, its LIMS key and what its LIMS has sent so far."""

    code: str
    name: str
    region: str
    key_id: str
    key: Ed25519PrivateKey
    specialties: list[str]
    violator: bool
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    equipment: dict[str, dict[str, Any]] = field(default_factory=dict)
    labs: list[str] = field(default_factory=list)
    report_signer: str = ""  # id number of the signatory who signs the reports' PDFs
    signer: Any = None  # that person's (key, certificate), registered with the signatories
    # its commission numbering when it has no project of its own (a commission it takes on
    # its group sister's project: group_transfer)
    commission_seq: list[int] = field(default_factory=lambda: [0])
    capabilities: dict[str, list[str]] = field(default_factory=dict)  # parameters by lab
    turn: int = 0  # its place among the simulated institutions: which violations it takes
    # the most the catalogue asks of any specialty it holds (catalogue.REQUIREMENT_FIELDS)
    standard: dict[str, float] = field(default_factory=dict)
    planted: Counter[str] = field(default_factory=Counter)  # its registry's violations


@dataclass
class Planned:
    message_type: str
    payload: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)  # sha256 -> content
    # what to send next once the receipt's results are known (a report's signed PDF, which
    # prints the code the platform gave): (type, payload, files, follow) tuples
    follow: Callable[[Any], list[Any]] | None = None


@dataclass
class Summary:
    institutions: int = 0
    days: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    files: int = 0
    seconds: float = 0.0
    actions: Counter[str] = field(default_factory=Counter)  # on the phones
    planted: Counter[str] = field(default_factory=Counter)  # violations planted, by rule
    handling: Counter[str] = field(default_factory=Counter)  # alerts handled, by step
    tamper: list[str] = field(default_factory=list)  # sample codes for sampling.simulation.tamper

    def lines(self) -> list[str]:
        total = sum(self.sent.values())
        rate = total / self.seconds if self.seconds else 0.0
        out = [
            f"机构 {self.institutions} 家，模拟 {self.days} 天，"
            f"发送消息 {total} 条、文件 {self.files} 个，用时 {self.seconds:.1f} 秒"
            f"（{rate:.0f} 条/秒）",
            "回执：" + "，".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
            "按类型：" + "，".join(f"{k} {v}" for k, v in sorted(self.sent.items())),
        ]
        if self.actions:
            done = "，".join(f"{k} {v}" for k, v in sorted(self.actions.items()))
            out.append("现场手机：" + done)
        if self.handling:
            done = "，".join(f"{k} {v}" for k, v in sorted(self.handling.items()))
            out.append("预警处理：" + done)
        if self.planted:
            out.append(
                "埋设的违规：" + "，".join(f"{k} {v}" for k, v in sorted(self.planted.items()))
            )
        if self.warnings:
            out.append(
                "回执中的预警：" + "，".join(f"{k} {v}" for k, v in sorted(self.warnings.items()))
            )
        if self.failures:
            out.append(f"失败 {len(self.failures)} 条，例如：{self.failures[0]}")
        return out


# --- setting the region up (on the platform's database) ----------------------------------------


def _counties(db: Session, region: str) -> list[Region]:
    prefix = region[:4] if region.endswith("00") and not region.endswith("0000") else region[:2]
    rows = db.scalars(
        select(Region)
        .where(Region.code.startswith(prefix), Region.level == "county")
        .order_by(Region.code)
    ).all()
    if not rows:
        raise ValueError(
            f"行政区划 {region} 下没有区县：请先运行 jcjg db upgrade（迁移并加载参考数据）"
        )
    return list(rows)


def _credit_code(rng: random.Random, region: str) -> str:
    body = f"91{region}MA{rng.randrange(10**7):07d}"[:17]
    return body + check_character(body)


def _key_file(folder: Path, code: str) -> Path:
    return folder / f"{code}.pem"


def _load_or_make_key(folder: Path, code: str) -> tuple[Ed25519PrivateKey, bool]:
    path = _key_file(folder, code)
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, Ed25519PrivateKey):
            return key, False
    key = Ed25519PrivateKey.generate()
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return key, True


def _qualification(
    db: Session, inst: Institution, scope: list[str], rng: random.Random, today: dt.date
) -> QualificationCertificate:
    """The institution's qualification certificate, as the province issued it (added)."""
    cert = QualificationCertificate(
        institution_id=inst.id,
        region_code=inst.region_code,
        number=f"SIM{inst.code}",
        issued_by="江西省住房和城乡建设厅",
        issue_date=today - dt.timedelta(days=rng.randint(200, 1500)),
        valid_until=today + dt.timedelta(days=rng.randint(200, 1500)),
    )
    cert.specialties = list(
        db.scalars(select(Specialty).where(Specialty.code.in_(scope), valid_in(Specialty)))
    )
    db.add(cert)
    return cert


def _standard(db: Session, scope: list[str]) -> dict[str, float]:
    """The most the catalogue asks of any specialty in ``scope``: people, titles, registered
    engineers, equipment sets, testing area."""
    rows = db.scalars(select(Specialty).where(Specialty.code.in_(scope), valid_in(Specialty)))
    out = dict.fromkeys(REQUIREMENT_FIELDS, 0.0)
    for specialty in rows:
        for key in out:
            out[key] = max(out[key], float(getattr(specialty, key) or 0))
    return out


def _prepared_violations(
    db: Session, inst: Institution, cert: QualificationCertificate | None, seed: str
) -> Counter[str]:
    """What a violating institution brings to the run: a new certificate left to run out
    (``licence_expiring`` reminds it) and a second system never connected."""
    planted = _spare_client(db, inst)
    if cert is not None:
        left = random.Random(f"{seed}:licence").randint(*LICENCE_DAYS_LEFT)
        cert.valid_until = utcnow().date() + dt.timedelta(days=left)
        planted["licence_expiring"] += 1
    return planted


def _spare_client(db: Session, inst: Institution) -> Counter[str]:
    """A violating lab's second system, approved a month before the run and never connected:
    ``client_silent`` (its working hours without data count from its approval). Made once."""
    found = db.scalar(
        select(ClientRow).where(ClientRow.institution_id == inst.id, ClientRow.name == SPARE_CLIENT)
    )
    if found is not None:
        return Counter()
    spare = client_service.create_client(
        db,
        name=SPARE_CLIENT,
        institution=inst,
        status=ClientStatus.ACTIVE,
        vendor="JCJG",
        purpose="区域模拟：现场检测数据采集（开通后从未接入）",
    )
    spare.created_at = spare.decided_at = utcnow() - dt.timedelta(days=SPARE_APPROVED_DAYS_AGO)
    return Counter({"client_silent": 1})


def prepare(
    db: Session,
    settings: Settings,
    *,
    institutions: int,
    region: str,
    seed: int,
    violations: float,
    key_dir: Path,
) -> list[SimInstitution]:
    """Register the simulated institutions and their LIMS clients (idempotent: the same seed
    gives the same institutions; keys are reused from ``key_dir``). Commits. Refused in
    production (:mod:`jcjg.demo.guard`)."""
    refuse_in_production(settings, "simulate")
    counties = _counties(db, region)
    specialties = {s.code for s in db.scalars(select(Specialty).where(valid_in(Specialty)))}
    if MATERIALS_SPECIALTY not in specialties:
        raise ValueError("资质目录为空：请先运行 jcjg db upgrade（迁移并加载参考数据）")
    out: list[SimInstitution] = []
    today = utcnow().date()
    for n in range(institutions):
        # One generator per institution: what institution n looks like does not depend on
        # whether the ones before it had to be created or already existed.
        rng = random.Random(f"{seed}:{n}")
        county = counties[rng.randrange(len(counties))]
        brand = BRANDS[n % len(BRANDS)]
        suffix = "" if n < len(BRANDS) else str(n // len(BRANDS) + 1)
        name = f"{county.name}{brand}{suffix}建设工程检测有限公司（模拟）"
        others = sorted(specialties - {MATERIALS_SPECIALTY})
        extra = rng.sample(others, k=min(len(others), rng.randint(0, 2)))
        scope = [MATERIALS_SPECIALTY, *sorted(extra)]
        violator = rng.random() < violations
        cert: QualificationCertificate | None = None
        inst = db.scalar(select(Institution).where(Institution.name == name))
        if inst is None:
            inst = Institution(
                code=next_institution_code(db, county.code),
                name=name,
                credit_code=_credit_code(rng, county.code),
                region_code=county.code,
                registered_address=f"{county.name}建设路 {rng.randint(1, 400)} 号",
                registration_type="有限责任公司",
                registered_capital=Decimal(rng.choice([300, 500, 800, 1000, 2000])),
            )
            db.add(inst)
            db.flush()
            notarise_registered(db, inst)  # as the registry's pages do: a parent rebuilds it
            cert = _qualification(db, inst, scope, rng, today)
        else:
            cert_scope = db.scalars(
                select(QualificationCertificate).where(
                    QualificationCertificate.institution_id == inst.id
                )
            ).first()
            if cert_scope is not None:
                scope = sorted(s.code for s in cert_scope.specialties)
        planted = _prepared_violations(db, inst, cert, f"{seed}:{n}") if violator else Counter()
        if not inst.investors:
            # labs 2k and 2k+1 are controlled by one investor (their group: group_transfer)
            inst.investors = [
                {"name": f"模拟控股集团{seed}-{n // 2 + 1}有限公司", "share": 60.0},
                {"name": f"{brand}{suffix}职工持股平台（模拟）", "share": 40.0},
            ]
        key, fresh = _load_or_make_key(key_dir, inst.code)
        public = key.public_key().public_bytes_raw()
        client = db.scalar(
            select(ClientRow).where(
                ClientRow.institution_id == inst.id, ClientRow.name == CLIENT_NAME
            )
        )
        if client is None:
            client = client_service.create_client(
                db,
                name=CLIENT_NAME,
                institution=inst,
                status=ClientStatus.ACTIVE,
                vendor="JCJG",
                purpose="区域模拟：按真实接口报送登记数据",
            )
        now = utcnow()
        usable = [k for k in client.keys if k.key_material == public and k.state(now) == "valid"]
        if fresh or not usable:
            issued = client_service.issue_key(
                db, client, settings, alg="ed25519", public_key=public
            )
            key_id = issued.key.key_id
        else:
            key_id = usable[0].key_id
        sim = SimInstitution(inst.code, inst.name, inst.region_code, key_id, key, scope, violator)
        sim.turn, sim.planted, sim.standard = n, planted, _standard(db, scope)
        out.append(sim)
    db.commit()
    return out


# --- what each LIMS sends ----------------------------------------------------------------------


def _person(rng: random.Random, sim: SimInstitution, serial: int) -> dict[str, Any]:
    born = dt.date(1965, 1, 1) + dt.timedelta(days=rng.randrange(12000))
    first17 = f"{sim.region}{born:%Y%m%d}{rng.randrange(1000):03d}"
    id_number = first17 + id_check_character(first17)
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    person = {
        "id_number": id_number,
        "name": name,
        "gender": "male" if int(first17[-1]) % 2 else "female",
        "birth_date": born.isoformat(),
        "title": rng.choice(["junior", "intermediate", "intermediate", "senior"]),
        "years_in_testing": rng.randint(1, 25),
        "mobile": f"13{rng.randrange(10**9):09d}",
        "is_inspector": True,
        "inspector_certificate_no": f"JX-JC-{serial:05d}",
        "lab_name": rng.choice(sim.labs),
        "specialties": [rng.choice(sim.specialties)],
        "employed_from": (born + dt.timedelta(days=365 * 23)).isoformat(),
    }
    if serial % 2 == 0:
        # every other one an inspector of the materials the simulated labs test, so each room
        # with a testing machine has its own (one person in two rooms at once is
        # impossible_timing)
        person["specialties"] = [MATERIALS_SPECIALTY]
    return person


def _qualified(person: dict[str, Any], sim: SimInstitution, serial: int) -> dict[str, Any]:
    """The first of the staff carry the titles and registrations the catalogue asks for, one
    more of each than it asks (people leave during a run)."""
    standard = sim.standard
    senior = int(standard.get("min_senior_titles", 0)) + 1
    if serial < senior:
        person["title"] = "senior"
    elif serial < senior + int(standard.get("min_intermediate_titles", 0)) + 1:
        person["title"] = "intermediate"
    if serial < int(standard.get("min_registered_engineers", 0)) + 1:
        person["registered_certificate_no"] = f"SIM-ZC-{sim.code}-{serial:03d}"
    return person


def _auxiliary(
    rng: random.Random, sim: SimInstitution, serial: int, today: dt.date
) -> dict[str, Any]:
    """A tool or aid of the lab (no force-time curves), calibrated, its certificate kept at the
    lab rather than uploaded."""
    return {
        "asset_number": f"{sim.code[-4:]}-FZ-{serial:03d}",
        "name": AUXILIARY[serial % len(AUXILIARY)],
        "calibration_body": "江西省计量测试研究院",
        "calibration_valid_until": (today + dt.timedelta(days=rng.randint(120, 360))).isoformat(),
        "status": "in_use",
        "lab_name": rng.choice(sim.labs),
    }


def _certificate(sim: SimInstitution, asset: str, until: dt.date) -> bytes:
    text = f"%PDF-1.4\n% 检定证书 {sim.name} {asset} 有效期至 {until.isoformat()}\n%%EOF\n"
    return text.encode("utf-8")


def _machine(
    rng: random.Random, sim: SimInstitution, serial: int, today: dt.date
) -> tuple[dict[str, Any], dict[str, bytes]]:
    # every third machine a testing machine (the pressure and the universal one by turns): a
    # lab runs several, so its day's tests need not queue on one
    kind = MACHINES[(serial // 3) % 2] if serial % 3 == 0 else MACHINES[serial % len(MACHINES)]
    name, model, measuring_range, accuracy = kind
    asset = f"{sim.code[-4:]}-SB-{serial:03d}"
    until = today + dt.timedelta(days=rng.randint(60, 360))
    pdf = _certificate(sim, asset, until)
    digest = hashlib.sha256(pdf).hexdigest()
    record = {
        "asset_number": asset,
        "name": name,
        "model": model,
        "measuring_range": measuring_range,
        "accuracy": accuracy,
        "calibration_body": "江西省计量测试研究院",
        "calibration_valid_until": until.isoformat(),
        "calibration_certificate_sha256": digest,
        "status": "in_use",
        "lab_name": rng.choice(sim.labs),
    }
    return record, {digest: pdf}


def _message(sim: SimInstitution, **fields: Any) -> dict[str, Any]:
    # A fresh UUID, as a real LIMS makes one per message: re-running with the same seed must
    # send new messages, not collide with the earlier run's ids.
    return {"message_id": str(uuid.uuid4()), "institution_code": sim.code, **fields}


def plan_day(
    sim: SimInstitution,
    day: int,
    days: int,
    rng: random.Random,
    catalogue: dict[str, list[str]],
    today: dt.date,
    lender: dict[str, Any] | None,
) -> list[Planned]:
    """What ``sim``'s LIMS sends on ``day`` (0 = first contact: everything)."""
    if day == 0:
        return _first_contact(sim, rng, catalogue, today)
    plans = _later_day(sim, day, days, rng, today)
    if sim.violator and day == max(1, days // 2):
        # within the day's sync, before the message that closes it
        plans[-1:-1] = _violations(sim, rng, catalogue, today, lender)
    return plans


def _first_contact(
    sim: SimInstitution, rng: random.Random, catalogue: dict[str, list[str]], today: dt.date
) -> list[Planned]:
    """The whole registry: labs, staff, equipment with their certificates, each lab's
    capabilities, and the signatories."""
    # the sync announced (registry.sync): the registry is judged as a whole when it is complete
    plans: list[Planned] = [Planned("registry.sync", _message(sim, complete=False))]
    sim.labs = rng.sample(LAB_NAMES, k=rng.randint(2, 4))
    # the catalogue's testing area, shared among the labs
    area = math.ceil(sim.standard.get("min_testing_area_m2", 0) / len(sim.labs)) + 50
    labs = [
        {
            "name": lab,
            "address": f"{sim.name[:6]}检测基地 {i + 1} 号楼",
            "area_m2": f"{max(rng.randint(80, 600), area):.2f}",
            "specialties": sim.specialties,
        }
        for i, lab in enumerate(sim.labs)
    ]
    plans.append(Planned("registry.labs", _message(sim, labs=labs)))
    staff = max(rng.randint(10, 24), int(sim.standard.get("min_inspectors", 0)) + STAFF_MARGIN)
    for serial in range(staff):
        person = _qualified(_person(rng, sim, serial), sim, serial)
        sim.people[person["id_number"]] = person
    plans.append(Planned("registry.staff", _message(sim, people=list(sim.people.values()))))
    files: dict[str, bytes] = {}
    for serial in range(rng.randint(8, 20)):
        record, certificates = _machine(rng, sim, serial, today)
        sim.equipment[record["asset_number"]] = record
        files |= certificates
    for serial in range(int(sim.standard.get("min_equipment_sets", 0)) + 2 - len(sim.equipment)):
        record = _auxiliary(rng, sim, serial, today)
        sim.equipment[record["asset_number"]] = record
    equipment = list(sim.equipment.values())
    plans.append(Planned("registry.equipment", _message(sim, equipment=equipment), files))
    for lab in sim.labs:
        params = [p for s in sim.specialties for p in catalogue.get(s, [])]
        chosen = sorted(rng.sample(params, k=min(len(params), rng.randint(10, 40))))
        sim.capabilities[lab] = chosen
        plans.append(
            Planned("registry.capabilities", _message(sim, lab_name=lab, parameters=chosen))
        )
    plans.append(_signatories(sim, rng))
    plans.append(Planned("registry.sync", _message(sim, complete=True)))
    return plans


def _signatories(sim: SimInstitution, rng: random.Random) -> Planned:
    """Three signatories; the first approves the materials reports, with a signing key."""
    signers = rng.sample(sorted(sim.people), k=min(3, len(sim.people)))
    signatories: list[dict[str, Any]] = [
        {
            "id_number": id_number,
            "position": "授权签字人",
            "title": "高级工程师",
            "specialties": [sim.people[id_number]["specialties"][0]],
        }
        for id_number in signers
    ]
    if signatories and MATERIALS_SPECIALTY in sim.specialties:
        # the one who approves the materials reports, with a signing certificate
        from jcjg.demo.simulator.reports import pem
        from jcjg.documents.signing import personal_identity

        first = signatories[0]
        sim.report_signer = first["id_number"]
        sim.signer = personal_identity(sim.people[sim.report_signer]["name"])
        first["specialties"] = [MATERIALS_SPECIALTY]
        first["certificates"] = [pem(sim.signer[1])]
    return Planned("registry.signatories", _message(sim, signatories=signatories))


def _later_day(
    sim: SimInstitution, day: int, days: int, rng: random.Random, today: dt.date
) -> list[Planned]:
    """People come and go, machines are recalibrated."""
    plans: list[Planned] = []
    changes: list[dict[str, Any]] = []
    if rng.random() < 0.3 and len(sim.people) > 8:
        leaver = sim.people[rng.choice(sorted(sim.people))]
        leaver["employed_until"] = (today - dt.timedelta(days=days - day)).isoformat()
        changes.append(leaver)
    for serial in range(rng.randint(0, 2)):
        person = _person(rng, sim, 100 * day + serial)
        if person["id_number"] in sim.people:
            continue
        sim.people[person["id_number"]] = person
        changes.append(person)
    if changes:
        plans.append(Planned("registry.staff", _message(sim, people=changes)))
    renewed: list[dict[str, Any]] = []
    files: dict[str, bytes] = {}
    for asset in rng.sample(sorted(sim.equipment), k=min(2, len(sim.equipment))):
        record = dict(sim.equipment[asset])
        until = today + dt.timedelta(days=rng.randint(300, 400))
        certificate = _certificate(sim, asset, until)
        record["calibration_valid_until"] = until.isoformat()
        record["calibration_certificate_sha256"] = hashlib.sha256(certificate).hexdigest()
        files[record["calibration_certificate_sha256"]] = certificate
        sim.equipment[asset] = record
        renewed.append(record)
    plans.append(Planned("registry.equipment", _message(sim, equipment=renewed), files))
    plans.append(Planned("registry.sync", _message(sim, complete=True)))
    return plans


def _violations(
    sim: SimInstitution,
    rng: random.Random,
    catalogue: dict[str, list[str]],
    today: dt.date,
    lender: dict[str, Any] | None,
) -> list[Planned]:
    """The ways real labs go wrong: :data:`KINDS_EACH` of :data:`KINDS`, each violating lab
    taking the next ones in turn (the first the first ones), recorded in ``sim.planted``."""
    kinds = list(KINDS)
    plans: list[Planned] = []
    for kind in (kinds[(KINDS_EACH * sim.turn + k) % len(kinds)] for k in range(KINDS_EACH)):
        planned = _violation(sim, kind, rng, catalogue, today, lender)
        if planned is not None:
            plans.append(planned)
            sim.planted[KINDS[kind]] += 1
    return plans


def _violation(
    sim: SimInstitution,
    kind: str,
    rng: random.Random,
    catalogue: dict[str, list[str]],
    today: dt.date,
    lender: dict[str, Any] | None,
) -> Planned | None:
    """One violation of the registry, as the lab's LIMS sends it (None: it cannot here)."""
    outside = sorted(set(catalogue) - set(sim.specialties))
    if kind == "calibration":
        asset = rng.choice(sorted(sim.equipment))
        record = dict(sim.equipment[asset])
        record["calibration_valid_until"] = (
            today - dt.timedelta(days=rng.randint(5, 60))
        ).isoformat()
        record.pop("calibration_certificate_sha256", None)
        sim.equipment[asset] = record
        return Planned("registry.equipment", _message(sim, equipment=[record]))
    if kind == "lending" and lender is not None:
        borrowed = {**lender, "lab_name": sim.labs[0], "specialties": [sim.specialties[0]]}
        borrowed.pop("employed_until", None)
        sim.people[borrowed["id_number"]] = borrowed
        return Planned("registry.staff", _message(sim, people=[borrowed]))
    if kind == "signatory" and outside:
        specialty = rng.choice(outside)
        signer = rng.choice(sorted(set(sim.people) - {sim.report_signer}))
        signatory = {"id_number": signer, "position": "授权签字人", "specialties": [specialty]}
        return Planned("registry.signatories", _message(sim, signatories=[signatory]))
    aids = [a for a in sorted(sim.equipment) if "-FZ-" in a]
    if kind == "sell_off" and aids:
        # the tools and aids sold off, the qualification kept: below the catalogue's sets
        sold = [{**sim.equipment.pop(a), "status": "retired"} for a in aids]
        return Planned("registry.equipment", _message(sim, equipment=sold))
    beyond = [p for s in outside for p in catalogue.get(s, [])]
    if kind == "capability" and beyond and sim.labs:
        # a lab declares parameters of a specialty the qualification does not hold
        lab = sim.labs[0]
        params = sorted(
            {*sim.capabilities.get(lab, []), *rng.sample(beyond, k=min(3, len(beyond)))}
        )
        sim.capabilities[lab] = params
        return Planned("registry.capabilities", _message(sim, lab_name=lab, parameters=params))
    return None


# --- sending ------------------------------------------------------------------------------------


def _send_all(
    sim: SimInstitution,
    plans: list[Planned],
    url: str,
    summary: Summary,
    lock: threading.Lock,
    tick: Callable[[int], None],
    work_dir: Path,
) -> None:
    from jcjg.client import Client, FilesMissing, PermanentError, TransientError

    queue = deque(plans)
    sent: list[str] = []
    with Client(url, sim.key_id, sim.key, alg="ed25519") as lims:
        while queue:
            plan = queue.popleft()
            receipt = None
            for _attempt in range(5):
                try:
                    # what follows a message needs its results: wait until it is applied
                    receipt = lims.send(
                        plan.message_type, plan.payload, wait=SETTLE_SECONDS if plan.follow else 0
                    )
                except FilesMissing as missing:
                    for digest in missing.missing:
                        content = plan.files.get(digest)
                        if content is None:
                            break
                        path = work_dir / digest
                        path.write_bytes(content)
                        lims.put_file(path)
                        with lock:
                            summary.files += 1
                    continue
                except TransientError:
                    time.sleep(0.5)
                    continue
                except PermanentError as error:
                    _failed(summary, lock, plan.message_type, error.problem, str(error))
                    break
                sent.append(receipt.message_id)
                break
            with lock:
                summary.sent[plan.message_type] += 1
            if plan.follow is not None and receipt is not None:
                queue.extendleft(
                    reversed([Planned(*more) for more in plan.follow(receipt.results)])
                )
            else:
                tick(1)
        _settle(lims, sent, summary, lock)


SETTLE_SECONDS = 120.0


def _failed(
    summary: Summary, lock: threading.Lock, message_type: str, problem: dict[str, Any], text: str
) -> None:
    fields = "；".join(
        f"{e.get('field')}: {e.get('message')}" for e in problem.get("errors", [])[:3]
    )
    with lock:
        summary.failures.append(f"{message_type}: {text} {fields}".strip())


def _settle(lims: Any, sent: list[str], summary: Summary, lock: threading.Lock) -> None:
    """Follow the lab's sent messages until the platform has applied or rejected each (the
    next day's work builds on them), counting outcomes and the warnings of the receipts."""
    waiting = list(dict.fromkeys(sent))
    deadline = time.monotonic() + SETTLE_SECONDS
    while waiting and time.monotonic() < deadline:
        still: list[str] = []
        for start in range(0, len(waiting), 100):
            part = waiting[start : start + 100]
            final = {s.message_id: s for s in lims.statuses(part) if s.final}
            still += [m for m in part if m not in final]
            for status in final.values():
                with lock:
                    summary.statuses[status.status] += 1
                    summary.warnings.update(
                        w.get("code", "") for w in status.warnings if w.get("code")
                    )
                if status.status == "rejected":
                    problem = status.problem or {}
                    _failed(summary, lock, status.message_type, problem, str(problem.get("detail")))
        waiting = still
        if waiting:
            time.sleep(0.1)
    if waiting:
        with lock:
            summary.statuses["accepted"] += len(waiting)
            summary.failures.append(f"{len(waiting)} 条消息在 {SETTLE_SECONDS:.0f} 秒内未处理完")


def _outsider(sims: list[SimInstitution], lab: SimInstitution) -> tuple[str, str] | None:
    """An inspector still employed by the next simulated institution after ``lab``: who signs
    one of ``lab``'s reports when it plants report_signed_by_outsider."""
    others = [s for s in sims if s.code != lab.code]
    if not others:
        return None
    other = others[sims.index(lab) % len(others)] if lab in sims else others[0]
    for id_number, person in sorted(other.people.items()):
        if person.get("is_inspector") and not person.get("employed_until"):
            return person["name"], id_number
    return None


def _sister(sims: list[SimInstitution], lab: SimInstitution) -> SimInstitution | None:
    """The simulated lab controlled by the same investor as ``lab`` (labs 2k and 2k+1)."""
    if lab not in sims:
        return None
    other = sims.index(lab) ^ 1
    return sims[other] if other < len(sims) else None


def _count_tests(summary: Summary, planted: Counter[str]) -> None:
    """The violations of a lab's day of test records. A weak result judged conforming also
    enters the nonconformity register (the platform judges it again), where nobody handles it:
    ``nonconformity_unhandled`` once its 15 working days have passed."""
    summary.planted.update(planted)
    if planted["judgement_mismatch"]:
        summary.planted["nonconformity_unhandled"] += planted["judgement_mismatch"]


def _history(
    sims: list[SimInstitution],
    lab: SimInstitution,
    day: int,
    lab_tests: Any,
    labs: dict[str, Any],
    rng: random.Random,
    message: Callable[..., dict[str, Any]],
    plans: dict[str, list[Planned]],
    violator: bool,
    commission: str | None = None,
) -> list[tuple[Any, ...]]:
    """What a violating project's lab plants once beside its day's tests (``HISTORY_PLANTED`` of
    :mod:`jcjg.demo.simulator.testing`): a day of hand-entered cube results piled just over
    the line; and, once it has registered another lab's inspector (certificate_lending), that
    inspector named at a test of each at the same hour: the lender's record sent that day, the
    lab's held for a later day, so that it is the later one; and, on a day it sent a
    ``commission``, a record filed under it that ran before it was registered."""
    from jcjg.demo.simulator import testing as tests

    out: list[tuple[Any, ...]] = []
    if not violator:
        return out
    if lab_tests.pending and day > lab_tests.pending_day:
        out += lab_tests.pending
        lab_tests.pending.clear()
        lab_tests.planted["clash_across_institutions"] += 1
    if not lab_tests.planted["results_above_line"]:
        out += tests.piled_plans(lab_tests, rng, message)
    if commission is not None and not lab_tests.backdated:  # filed under the day's commission
        out += tests.backdated_plans(lab_tests, commission, message)
    if lab_tests.planted["clash_across_institutions"] or lab_tests.pending:
        return out
    for other in sims:
        shared = sorted(set(lab.people) & set(other.people)) if other.code != lab.code else []
        if not shared:
            continue
        lender = labs.setdefault(other.code, tests.LabTests(other.code))
        mine, theirs = tests.clash_plans(
            lab_tests, lender, other.people[shared[0]], rng, message,
            functools.partial(_message, other),
        )  # fmt: skip
        lab_tests.pending.extend(mine)
        lab_tests.pending_day = day
        for kind, payload, files in theirs:
            plans.setdefault(other.code, []).append(Planned(kind, payload, files))
        break
    return out


def _days_commission(lims: list[tuple[Any, ...]], project: SimProject) -> str | None:
    """The number of the commission the lab sends for the project today, if it sends one."""
    from jcjg.demo.simulator import sampling as simulation

    sent = any(plan[0] == "commission" for plan in lims)
    return simulation.commission_number(project) if sent else None


def _sampling_day(
    sims: list[SimInstitution],
    projects: list[SimProject],
    day: int,
    url: str,
    seed: int,
    violations: float,
    summary: Summary,
    labs: dict[str, Any],
    lab_reports: dict[str, Any] | None = None,
) -> dict[str, list[Planned]]:
    """The day on the projects' sites (phones, in parallel), then what each lab's LIMS sends
    for the samples that reached it."""
    from jcjg.demo.simulator import sampling as simulation
    from jcjg.demo.simulator import testing as tests

    def site(project: SimProject) -> simulation.DayResult:
        rng = random.Random(f"{seed}:site:{project.code}:{day}")
        return simulation.phone_day(project, day, rng, url, violations)

    with ThreadPoolExecutor(max_workers=min(8, len(projects)) or 1) as pool:
        results = list(pool.map(site, projects))
    by_code = {sim.code: sim for sim in sims}
    plans: dict[str, list[Planned]] = {}
    for project, result in zip(projects, results, strict=True):
        summary.actions.update(result.actions)
        summary.planted.update(result.planted)
        summary.failures.extend(result.failures)
        summary.tamper.extend(result.tamper)
        lab = by_code[project.lab]
        rng = random.Random(f"{seed}:lims:{project.code}:{day}")
        message = functools.partial(_message, lab)
        # (kind, payload, files) and, for reports, what to send once the receipt is read
        lims: list[tuple[Any, ...]] = list(
            simulation.lims_plans(project, result.sealed, rng, message)
        )
        accepted = [
            (s.code, s.material, s.specification)
            for s in result.sealed
            if not s.refused and not s.held
        ]
        lab_tests = labs.setdefault(lab.code, tests.LabTests(lab.code, plant_next=3 * len(labs)))
        lab_tests.bench = tests.bench_of(
            lab.equipment, lab.people, beijing_date(utcnow()), MATERIALS_SPECIALTY
        )
        before = lab_tests.planted.copy()
        if lims and accepted:
            lims += tests.record_plans(
                lab_tests,
                accepted,
                simulation.commission_number(project),
                rng,
                message,
                violations,
                region=sum((t.planted for t in labs.values()), Counter()),
            )
        if lab_reports is not None and lab.signer is not None:
            from jcjg.demo.simulator import reports as reports_sim

            reporting = lab_reports.setdefault(
                lab.code,
                reports_sim.LabReports(
                    lab.code,
                    signer=lab.signer,
                    plant_next=len(lab_reports),
                    signatory={
                        "name": lab.people[lab.report_signer]["name"],
                        "id_number": lab.report_signer,
                    },
                ),
            )
            if day > 0 and reporting.outsider is None:  # the other labs' staff registered
                reporting.outsider = _outsider(sims, lab)
            before_reports = reporting.planted.copy()
            records = [payload for kind, payload, *_ in lims if kind == "test_record"]
            lims += reports_sim.report_plans(
                reporting,
                records,
                simulation.commission_number(project),
                project.code,
                rng,
                message,
                violations,
                region=sum((r.planted for r in lab_reports.values()), Counter()),
            )
            sister = _sister(sims, lab)
            if (
                project.violator
                and project.code in reporting.contracted
                and sister is not None
                and not reporting.planted["group_transfer"]
            ):
                # the project's concrete commissioned to the lab of the same investor, which
                # holds no contract for it
                counter = next((p.lab_seq for p in projects if p.lab == sister.code), None)
                counter = counter if counter is not None else sister.commission_seq
                counter[0] += 1
                today = beijing_date(utcnow())
                commission = _message(
                    sister, number=f"SIM-{sister.code}-ZB-{today.year}-{counter[0]:06d}",
                    sequence=counter[0], commissioned_on=today.isoformat(),
                    project_code=project.code, client_unit="模拟建设单位", items=["0108"],
                    status="registered",
                )  # fmt: skip
                plans.setdefault(sister.code, []).append(Planned("commission", commission, {}))
                reporting.planted["group_transfer"] += 1
            if project.across and not reporting.planted["unfiled_out_of_province"]:
                # a contract for a project over the province's border, with no filing there
                lims.append(
                    reports_sim.contract_plan(reporting, project.across, rng, message, False)
                )
                reporting.planted["unfiled_out_of_province"] += 1
            summary.planted.update(reporting.planted - before_reports)
        lims += _history(sims, lab, day, lab_tests, labs, rng, message, plans, project.violator,
                         _days_commission(lims, project))  # fmt: skip
        if day % 2 == 0:  # an on-site test of the structure to plan every other day
            position = (project.latitude, project.longitude)
            lims += tests.onsite_plans(lab_tests, project.code, position, rng, message, violations)
        _count_tests(summary, lab_tests.planted - before)
        for kind, payload, files, *follow in lims:
            plans.setdefault(lab.code, []).append(Planned(kind, payload, files, *follow))
    return plans


def run(
    sims: list[SimInstitution],
    *,
    url: str,
    days: int,
    seed: int,
    catalogue: dict[str, list[str]],
    progress: Callable[[int, int, int], Any] | None = None,
    projects: list[SimProject] | None = None,
    violations: float = 0.0,
    handlers: Handlers | None = None,
) -> Summary:
    """Play ``days`` days for every institution, the institutions in parallel, each day in
    order. ``progress(day, done, total)`` is called as each message of the day is answered.
    With ``projects`` (from :func:`jcjg.demo.simulator.sampling.prepare`), each day also has its
    sites: samples registered and sealed on the phones, then commissions, receipt checks and
    the accepted samples' test records sent by the labs' LIMS (``violations``: the share of
    samples and records that break a rule). With ``handlers`` (from
    :func:`jcjg.demo.simulator.alerts.prepare`), each day ends with the station working its new
    alerts and the labs answering the rectifications asked of them."""
    summary = Summary(institutions=len(sims), days=days)
    lock = threading.Lock()
    today = utcnow().date()
    started = time.perf_counter()
    rngs = {sim.code: random.Random(f"{seed}:{sim.code}") for sim in sims}
    lab_tests: dict[str, Any] = {}  # per lab: its test numbering and a curve to re-use
    lab_reports: dict[str, Any] = {}  # per lab: its report numbering, contracts, signer
    done = [0]
    with tempfile.TemporaryDirectory(prefix="jcjg-sim-") as tmp:
        for day in range(days):
            plans = {}
            for i, sim in enumerate(sims):
                lender_sim = sims[(i + 1) % len(sims)] if len(sims) > 1 else None
                lender = (
                    lender_sim.people[sorted(lender_sim.people)[0]]
                    if lender_sim is not None and lender_sim.people
                    else None
                )
                plans[sim.code] = plan_day(sim, day, days, rngs[sim.code], catalogue, today, lender)
            if projects:
                # the registry first (a lab's first contact), then the day's samples
                for code, more in _sampling_day(
                    sims, projects, day, url, seed, violations, summary, lab_tests, lab_reports
                ).items():
                    plans[code] = plans.get(code, []) + more
            total = sum(len(p) for p in plans.values())

            done[0] = 0

            def tick(n: int, total: int = total, day: int = day) -> None:
                with lock:
                    done[0] += n
                    if progress is not None:
                        progress(day, done[0], total)

            with ThreadPoolExecutor(max_workers=min(8, len(sims)) or 1) as pool:
                futures = [
                    pool.submit(
                        _send_all, sim, plans[sim.code], url, summary, lock, tick, Path(tmp)
                    )
                    for sim in sims
                ]
                for future in futures:
                    future.result()
            for sim in sims:
                if sim.violator and day == max(1, days // 2) and _clock_behind(sim, url):
                    sim.planted["client_error_spike"] += 1
            if handlers is not None and day == days - 1:
                _assignments(handlers, sims, url, summary)
            if handlers is not None:
                _handling_day(handlers, url, random.Random(f"{seed}:handling:{day}"), summary)
    for sim in sims:
        summary.planted.update(sim.planted)
    if handlers is not None:
        summary.planted.update(handlers.planted)
    summary.seconds = time.perf_counter() - started
    return summary


def _clock_behind(sim: SimInstitution, url: str) -> bool:
    """A violating lab's LIMS with its clock an hour behind: the message it signs is refused
    as stale, and it tries again, :data:`STALE_SENDS` times within the hour (a real LIMS keeps
    retrying until someone sets its clock). Whether every one was refused."""
    from jcjg.client.signing import load_key, signed_headers

    key = load_key("ed25519", sim.key)
    body = json.dumps(_message(sim, complete=True), ensure_ascii=False).encode()
    path = "/exchange/v1/messages/registry.sync"
    refused = 0
    with httpx.Client(base_url=url, timeout=30, verify=tls_context()) as http:
        for _ in range(STALE_SENDS):
            created = int(time.time() - CLOCK_BEHIND.total_seconds())
            headers = signed_headers(
                "POST", url + path, key_id=sim.key_id, key=key, body=body,
                content_type="application/json", created=created,
            )  # fmt: skip
            refused += http.post(path, content=body, headers=headers).status_code == 401
    return refused == STALE_SENDS


def _assignments(
    handlers: Handlers, sims: list[SimInstitution], url: str, summary: Summary
) -> None:
    """On the last day each lab's administrator records a post (岗位安排) on the registry's
    API: an inspector of the materials specialty to the materials tests; a violating lab also
    puts an inspector on a specialty he is not qualified for (``unlicensed_work``)."""
    for lab in sims:
        institution_id = handlers.codes.get(lab.code)
        if institution_id is None:
            continue
        phone, _name = handlers.labs[institution_id]
        try:
            with closing(phone.client(url)) as http:
                posted = _posts(http, institution_id, lab.violator)
        except (httpx.HTTPError, RuntimeError) as error:
            summary.failures.append(f"岗位安排：{error}")
            continue
        summary.actions["岗位安排"] += posted
        if lab.violator and posted == 2:
            summary.planted["unlicensed_work"] += 1


def _posts(http: httpx.Client, institution_id: int, violator: bool) -> int:
    """The posts one lab's administrator records (see :func:`_assignments`): how many."""
    catalogue = http.get("/api/v1/catalogue/specialties")
    people = http.get("/api/v1/registry/people", params={"limit": 100})
    if catalogue.status_code != 200 or people.status_code != 200:
        raise RuntimeError(f"读取人员或资质目录失败：HTTP {people.status_code}")
    by_code = {s["code"]: s["id"] for s in catalogue.json()}
    materials = by_code[MATERIALS_SPECIALTY]
    staff = [p for p in people.json()["items"] if p["is_inspector"] and not p.get("employed_until")]
    qualified = next((p for p in staff if materials in p["specialties"]), None)
    other = next((p for p in staff if materials not in p["specialties"]), None)
    wanted = [(qualified, materials)] if qualified else []
    if violator:  # materials to one who holds another specialty, or another to one who has not
        odd = next((i for c, i in sorted(by_code.items()) if c != MATERIALS_SPECIALTY), None)
        wanted += [(other, materials)] if other else [(qualified, odd)] if odd else []
    today = beijing_date(utcnow()).isoformat()
    posted = 0
    for person, specialty in wanted:
        if person is None or specialty is None:
            continue
        body = {"institution_id": institution_id, "person_id": person["id"],
                "specialty_id": specialty, "start_date": today}  # fmt: skip
        answer = http.post("/api/v1/registry/assignments", json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"岗位安排失败：HTTP {answer.status_code} {answer.text[:200]}")
        posted += 1
    return posted


def _handling_day(handlers: Handlers, url: str, rng: random.Random, summary: Summary) -> None:
    from jcjg.demo.simulator.alerts import work_day

    try:
        summary.handling.update(work_day(handlers, url, rng))
    except (httpx.HTTPError, RuntimeError) as error:
        summary.failures.append(f"预警处理：{error}")


def catalogue_parameters(db: Session) -> dict[str, list[str]]:
    """Parameter codes per specialty code, from the platform's catalogue."""
    out: dict[str, list[str]] = {}
    for specialty in sorted(catalogue.specialties(db=db), key=lambda s: s.code):
        out[specialty.code] = [p.code for item in specialty.items for p in item.parameters]
    return out
