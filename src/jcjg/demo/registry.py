"""Demo registry for ``make run``: three institutions in 江西省 with their labs, people,
equipment, capabilities, certificates and signatories, and a few planted problems so that every
registry rule shows an alert on first start (all in 九江恒信, the second institution):

- calibration_expired: its pressure machine's calibration ran out last month;
- certificate_lending: 周建国 is on the staff of 九江 中心 and of 恒信 at the same time;
- unlicensed_work: 刘洋 (building materials only) is assigned to foundation testing;
- out_of_scope: its lab declares steel-structure parameters; its certificate covers materials only;
- staffing_below_standard: six people and a dozen machines against the materials minimums;
- signatory_out_of_scope: its signatory may sign steel-structure reports;
- licence_expiring: its certificate expires in 40 days.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.catalogue import service as catalogue
from jcjg.catalogue.models import Specialty, TestItem
from jcjg.generic.service import next_institution_code
from jcjg.registry.codes import check_character, id_check_character
from jcjg.registry.models import (
    Assignment,
    Capability,
    Equipment,
    Lab,
    Person,
    QualificationCertificate,
    Signatory,
    Training,
)
from jcjg.tenancy.models import Institution

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹"
    "彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
GIVEN = [
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "磊",
    "强",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "慧",
    "建华",
    "志强",
    "海燕",
    "晓东",
    "文博",
    "雪梅",
]
MACHINES = [
    ("微机控制电液伺服万能试验机", "WAW-1000B", "0–1000 kN", "1 级"),
    ("全自动压力试验机", "YAW-3000", "0–3000 kN", "1 级"),
    ("水泥胶砂搅拌机", "JJ-5", "—", "—"),
    ("水泥净浆搅拌机", "NJ-160A", "—", "—"),
    ("标准恒温恒湿养护箱", "YH-40B", "20±1 ℃, ≥95%RH", "±1 ℃"),
    ("电子天平", "JA5003", "0–500 g", "0.001 g"),
    ("混凝土抗渗仪", "HS-40", "0–4 MPa", "—"),
    ("钢筋弯曲试验机", "GW-40", "Φ6–40 mm", "—"),
    ("电热鼓风干燥箱", "101-2A", "室温–300 ℃", "±1 ℃"),
    ("振动台", "HZJ-1", "—", "—"),
]


@dataclass
class DemoInstitution:
    key: str
    name: str
    credit17: str
    region: str
    address: str
    specialties: tuple[str, ...]  # specialty codes on its certificate
    people: int
    machines: int
    lab_area: int
    valid_until: dt.date
    extras: dict[str, Any] = field(default_factory=dict)


def demo_institutions(today: dt.date) -> list[DemoInstitution]:
    return [
        DemoInstitution(
            "jj-center",
            "九江市建设工程质量检测中心",
            "12360400MB1234567",
            "360403",
            "江西省九江市浔阳区长虹大道 88 号",
            ("01", "02"),
            32,
            130,
            2600,
            today + dt.timedelta(days=900),
            {"registration_type": "事业单位", "registered_capital": Decimal("2000")},
        ),
        DemoInstitution(
            "jj-hengxin",
            "九江恒信建设工程检测有限公司",
            "91360402MA3ABCDE1",
            "360402",
            "江西省九江市濂溪区十里大道 216 号",
            ("01",),
            6,
            12,
            420,
            today + dt.timedelta(days=40),
            {"registration_type": "有限责任公司", "registered_capital": Decimal("500")},
        ),
        DemoInstitution(
            "nc-jianke",
            "南昌市建科工程检测有限公司",
            "91360102MA3XYK123",
            "360102",
            "江西省南昌市东湖区八一大道 369 号",
            ("01",),
            26,
            95,
            1500,
            today + dt.timedelta(days=700),
            {"registration_type": "有限责任公司", "registered_capital": Decimal("1200")},
        ),
    ]


def _id_number(region: str, seed: int) -> str:
    born = dt.date(1968, 1, 1) + dt.timedelta(days=seed * 397 % 12000)
    first17 = f"{region}{born:%Y%m%d}{seed % 1000:03d}"
    return first17 + id_check_character(first17)


def _names() -> itertools.cycle[str]:
    return itertools.cycle(s + g for g in GIVEN for s in SURNAMES)


def load(db: Session, today: dt.date) -> dict[str, Institution]:
    """Create the demo institutions that are missing, with everything below them."""
    by_name = {i.name: i for i in db.scalars(select(Institution))}
    specialties = {s.code: s for s in catalogue.specialties(db=db)}  # the current edition
    created: dict[str, Institution] = {}
    new: set[str] = set()
    names = _names()
    for seq, demo in enumerate(demo_institutions(today)):
        inst = by_name.get(demo.name)
        if inst is not None:
            created[demo.key] = inst
            continue
        inst = Institution(
            code=next_institution_code(db, demo.region),
            name=demo.name,
            credit_code=demo.credit17 + check_character(demo.credit17),
            region_code=demo.region,
            founded_date=dt.date(2003 + seq * 4, 6, 18),
            registered_address=demo.address,
            phone=f"0792-82{seq}6688",
            postcode="332000" if demo.region.startswith("3604") else "330000",
            email=f"jc{seq + 1}@example.com",
            registration_authority="九江市市场监督管理局"
            if demo.region.startswith("3604")
            else "南昌市市场监督管理局",
            investors=[{"name": demo.name.replace("有限公司", "") + "投资方", "share": 100.0}],
            technical_staff_count=demo.people,
            equipment_set_count=demo.machines,
            testing_area_m2=Decimal(demo.lab_area),
            floor_area_m2=Decimal(demo.lab_area * 1.3),
            **demo.extras,
        )
        db.add(inst)
        db.flush()
        _populate(db, inst, demo, specialties, names, seq, today)
        created[demo.key] = inst
        new.add(demo.key)
    if "jj-hengxin" in new:
        _plant(db, created, specialties, today)
    db.flush()
    return created


def _populate(
    db: Session,
    inst: Institution,
    demo: DemoInstitution,
    specialties: dict[str, Specialty],
    names: itertools.cycle[str],
    seq: int,
    today: dt.date,
) -> None:
    base = {"institution_id": inst.id, "region_code": inst.region_code}
    held = [specialties[c] for c in demo.specialties if c in specialties]
    lab = Lab(name="主检测场所", address=demo.address, area_m2=Decimal(demo.lab_area), **base)
    lab.specialties = list(held)
    db.add(lab)
    db.flush()
    titles = ["senior", "senior", "professor"] + ["intermediate"] * 10 + ["junior"] * 40
    for n in range(demo.people):
        person = Person(
            name=next(names),
            gender="male" if n % 3 else "female",
            id_number=_id_number(inst.region_code, seq * 100 + n),
            title=titles[n],
            education="本科" if n % 4 else "硕士研究生",
            major="土木工程" if n % 2 else "材料科学与工程",
            years_in_testing=3 + n % 15,
            is_inspector=n != 0,
            key_role={0: "legal_representative", 1: "technical_director", 2: "quality_manager"}.get(
                n
            ),
            position={0: "主任", 1: "技术负责人", 2: "质量负责人"}.get(n, "检测员"),
            inspector_certificate_no=f"JX-JC-{seq}{n:04d}" if n else None,
            registered_certificate_no=f"S3604{seq}{n:04d}" if n == 1 and len(held) > 1 else None,
            registration_kind="一级注册结构工程师" if n == 1 and len(held) > 1 else None,
            mobile=f"139{seq:02d}{n:06d}"[:11],
            lab_id=lab.id,
            employed_from=dt.date(2015, 3, 1),
            **base,
        )
        person.specialties = list(held)
        db.add(person)
    db.flush()
    items = [i for s in held for i in s.items]
    for n in range(demo.machines):
        name, model, rng, acc = MACHINES[n % len(MACHINES)]
        eq = Equipment(
            name=name,
            asset_number=f"{inst.code}-SB{n + 1:03d}",
            model=model,
            measuring_range=rng,
            accuracy=acc,
            calibration_body="江西省计量测试研究院",
            calibration_valid_until=today + dt.timedelta(days=120 + n),
            status="in_use",
            lab_id=lab.id,
            **base,
        )
        eq.test_items = items[n % len(items) : n % len(items) + 1] if items else []
        db.add(eq)
    for s in held:
        for item in s.items[:6]:
            for p in item.parameters:
                db.add(Capability(lab_id=lab.id, parameter_id=p.id, **base))
    cert = QualificationCertificate(
        number=f"D{inst.region_code}{seq + 1:04d}",
        issued_by="江西省住房和城乡建设厅",
        issue_date=dt.date(2024, 3, 1),
        valid_until=demo.valid_until,
        status="valid",
        **base,
    )
    cert.specialties = list(held)
    db.add(cert)
    director = db.scalars(
        select(Person).where(
            Person.institution_id == inst.id, Person.key_role == "technical_director"
        )
    ).one()
    sig = Signatory(
        person_id=director.id, position="技术负责人", title=director.title, lab_id=lab.id, **base
    )
    sig.specialties = list(held)
    db.add(sig)
    db.add(
        Training(
            person_id=director.id,
            course="建设工程质量检测新标准宣贯",
            organiser="江西省建设工程质量检测协会",
            start_date=dt.date(2025, 4, 12),
            syllabus="GB 50204、JGJ/T 23 修订要点；检测数据自动采集与上传；案例分析",
            hours=16,
            exam_score=Decimal("88.5"),
            passed=True,
            result="合格",
            certificate_no="JXJC-PX-2025-0412",
            valid_until=dt.date(2028, 4, 11),
            **base,
        )
    )
    db.flush()


def _plant(
    db: Session, inst: dict[str, Institution], specialties: dict[str, Specialty], today: dt.date
) -> None:
    hengxin, center = inst["jj-hengxin"], inst["jj-center"]
    base = {"institution_id": hengxin.id, "region_code": hengxin.region_code}
    lab = db.scalars(select(Lab).where(Lab.institution_id == hengxin.id)).first()
    assert lab is not None
    # calibration_expired
    machine = db.scalars(select(Equipment).where(Equipment.institution_id == hengxin.id)).first()
    assert machine is not None
    machine.name = "全自动压力试验机"
    machine.calibration_valid_until = today - dt.timedelta(days=35)
    # certificate_lending: a person of the centre also on 恒信's staff
    lent = db.scalars(
        select(Person).where(Person.institution_id == center.id, Person.is_inspector)
    ).first()
    assert lent is not None
    lent.name = "周建国"
    copy = Person(
        name="周建国",
        id_number=lent.id_number,
        title=lent.title,
        years_in_testing=lent.years_in_testing,
        is_inspector=True,
        position="检测员",
        lab_id=lab.id,
        employed_from=dt.date(2024, 9, 1),
        **base,
    )
    copy.specialties = list(lent.specialties)
    db.add(copy)
    # unlicensed_work: a materials inspector assigned to foundation testing
    worker = db.scalars(
        select(Person).where(Person.institution_id == hengxin.id, Person.is_inspector)
    ).first()
    assert worker is not None
    worker.name = "刘洋"
    if "04" in specialties:
        db.add(
            Assignment(
                person_id=worker.id,
                specialty_id=specialties["04"].id,
                lab_id=lab.id,
                start_date=today - dt.timedelta(days=10),
                **base,
            )
        )
    # out_of_scope and signatory_out_of_scope: steel structures without the qualification
    if "03" in specialties:
        steel: TestItem = specialties["03"].items[0]
        for p in steel.parameters[:3]:
            db.add(Capability(lab_id=lab.id, parameter_id=p.id, **base))
        sig = db.scalars(select(Signatory).where(Signatory.institution_id == hengxin.id)).first()
        if sig is not None:
            sig.specialties = [*sig.specialties, specialties["03"]]
    db.flush()


def load_filing(db: Session, by_key: dict[str, Institution], today: dt.date) -> None:
    """The 南昌 institution filed to work in 九江 for a year (004 一): the city's authority and
    station see it as their own while the filing is in force."""
    from jcjg.registry.models import InstitutionFiling

    lab = by_key.get("nc-jianke")
    if lab is None or db.scalar(select(InstitutionFiling.id).limit(1)) is not None:
        return
    db.add(
        InstitutionFiling(
            institution_id=lab.id, region_code=lab.region_code,
            filing_number=f"九住建检备〔{today.year}〕3号", filed_region_code="360400",
            valid_from=today - dt.timedelta(days=60), valid_until=today + dt.timedelta(days=305),
            status="filed", local_office="九江市濂溪区十里大道 88 号（项目部试验室）",
            scope_note="九江市八里湖新区学校项目的主体结构检测（见证取样、钢筋、混凝土）",
        )
    )  # fmt: skip
    db.flush()
