"""Alert rules over the registry (000 4.1.3, 7.2.2; 001 4.1.11, 4.2.2.3; 003 III(2)).

Each rule is a pure check over the database state: it yields findings, and the engine raises,
refreshes or closes alerts from them (``jcjg.alerts.engine``). Personal data never appears in a
finding's key or facts in clear: ID numbers are keyed by their SHA-256 and shown masked.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import lazyload

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, hashed_key, rule
from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.catalogue.service import by_code
from jcjg.core.masking import mask_value
from jcjg.core.workdays import beijing_date
from jcjg.registry.choices import INTERMEDIATE_OR_ABOVE, SENIOR_TITLES
from jcjg.registry.models import (
    Assignment,
    Capability,
    ELicence,
    Equipment,
    Lab,
    Person,
    QualificationCertificate,
    RegistrySync,
    Signatory,
)
from jcjg.registry.service import employed_on
from jcjg.registry.sync import SETTLING
from jcjg.tenancy.models import Institution


def _today(ctx: RuleContext) -> dt.date:
    return beijing_date(ctx.now)


def _active_people(ctx: RuleContext, today: dt.date) -> list[Person]:
    return list(ctx.db.scalars(select(Person).where(employed_on(today))))


def _sharing(ctx: RuleContext, today: dt.date) -> list[Person]:
    """The run's institutions' people employed on ``today``, and those employed then anywhere
    whose ID number or registered certificate one of them holds (in capitals, as ``_lending``
    compares them; a person's numbers are stored without surrounding blanks)."""
    mine = ctx.db.execute(
        ctx.narrow(
            select(Person.id_number, Person.registered_certificate_no).where(employed_on(today)),
            Person.institution_id,
        )
    ).all()
    conditions = []
    for column, values in (
        (Person.id_number, {v.strip().upper() for v, _ in mine if v}),
        (Person.registered_certificate_no, {c.strip().upper() for _, c in mine if c}),
    ):
        if values:
            conditions.append(func.upper(column).in_(sorted(values)))
    if not conditions:
        return []
    own = ctx.narrow(select(Person.id), Person.institution_id)
    stmt = select(Person).where(employed_on(today), or_(Person.id.in_(own), *conditions))
    return list(ctx.db.scalars(stmt))


def _names(ctx: RuleContext, ids: set[int]) -> dict[int, str]:
    rows = ctx.db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {i: n for i, n in rows}


def _valid_scope(ctx: RuleContext, today: dt.date) -> dict[int, dict[str, Specialty]]:
    """The specialties each institution holds through a valid, unexpired certificate, by code:
    a specialty is the same whichever catalogue edition a certificate or a capability was
    recorded under."""
    held: dict[int, dict[str, Specialty]] = defaultdict(dict)
    stmt = select(QualificationCertificate).where(
        QualificationCertificate.status == "valid", QualificationCertificate.valid_until >= today
    )
    for cert in ctx.db.scalars(ctx.narrow(stmt, QualificationCertificate.institution_id)):
        held[cert.institution_id].update((s.code, s) for s in cert.specialties)
    return held


@rule(
    "calibration_expired",
    title="仪器设备超过检定/校准有效期",
    clause="000 4.1.3；001 4.2.2.3（仪器设备按规定检定或校准）",
    severity=Severity.WARNING,
    subject_type="equipment",
    defaults={"grace_days": 0},
    labels={"grace_days": "宽限天数"},
    triggers=(Equipment,),
    description="在用设备的检定/校准有效期已过（可按地区设置宽限天数）。设备用于检测的记录上线后，"
    "该规则也将检查过期后是否仍被使用。",
)
def calibration_expired(ctx: RuleContext) -> Iterator[Finding]:
    today = _today(ctx)
    stmt = (
        select(Equipment)
        .where(Equipment.status == "in_use", Equipment.calibration_valid_until.is_not(None))
        .options(lazyload(Equipment.test_items))  # not needed here; saves two queries a write
    )
    for eq in ctx.db.scalars(ctx.narrow(stmt, Equipment.institution_id)):
        grace = int(ctx.thresholds(eq.region_code)["grace_days"])
        assert eq.calibration_valid_until is not None
        if (today - eq.calibration_valid_until).days > grace:
            yield Finding(
                key=f"equipment:{eq.id}",
                subject_type="equipment",
                subject_id=str(eq.id),
                subject_repr=f"{eq.name} {eq.asset_number or ''}".strip(),
                subject_number=eq.asset_number,
                institution_id=eq.institution_id,
                region_code=eq.region_code,
                facts={
                    "设备": eq.name,
                    "设备编号": eq.asset_number,
                    "有效期至": eq.calibration_valid_until.isoformat(),
                    "已过期天数": (today - eq.calibration_valid_until).days,
                },
            )


def _lending(
    ctx: RuleContext, people: list[Person], attr: str, label: str, key_prefix: str
) -> Iterator[Finding]:
    by_value: dict[str, list[Person]] = defaultdict(list)
    for p in people:
        value = getattr(p, attr)
        if value:
            by_value[value.strip().upper()].append(p)
    for value, group in by_value.items():
        institutions = {p.institution_id for p in group}
        if len(institutions) < 2:
            continue
        names = _names(ctx, institutions)
        digest = hashed_key(key_prefix, value)
        shown = mask_value("id_number", value) if attr == "id_number" else value
        for p in group:
            if not ctx.covers(p.institution_id):
                continue
            others = sorted(names[i] for i in institutions if i != p.institution_id)
            yield Finding(
                key=f"{digest}:{p.institution_id}",
                subject_type="person",
                subject_id=str(p.id),
                subject_repr=p.name,
                institution_id=p.institution_id,
                region_code=p.region_code,
                facts={"姓名": p.name, label: shown, "同时登记于": others},
            )


@rule(
    "certificate_lending",
    title="证书挂靠：同一人员或注册证书在多家机构登记",
    clause="000 4.1.3, 7.2.2；003 三（二）",
    severity=Severity.CRITICAL,
    subject_type="person",
    triggers=(Person,),
    description="同一身份证号同时作为两家及以上检测机构的在职人员登记，或同一注册执业证书在两家及以上机构登记。",
)
def certificate_lending(ctx: RuleContext) -> Iterator[Finding]:
    # Lending is found across all institutions, then reported for those in scope: a narrowed
    # run reads the people of the platform sharing an ID number or a registered certificate
    # with the scope's people, not every person of the platform
    today = _today(ctx)
    people = _active_people(ctx, today) if ctx.institution_ids is None else _sharing(ctx, today)
    yield from _lending(ctx, people, "id_number", "身份证号", "id")
    yield from _lending(ctx, people, "registered_certificate_no", "执业资格证书号", "reg")


@rule(
    "unlicensed_work",
    title="无证上岗：安排检测人员从事其不具备资格的检测专项",
    clause="000 4.1.3, 7.2.2；001 4.1.11",
    severity=Severity.CRITICAL,
    subject_type="assignment",
    triggers=(Assignment, Person),
    description="岗位安排的检测专项不在该人员可从事的专项之内，或该人员不是检测人员。"
    "检测数据上线后，每条检测记录也将按此检查。",
)
def unlicensed_work(ctx: RuleContext) -> Iterator[Finding]:
    today = _today(ctx)
    stmt = select(Assignment).where(
        Assignment.start_date <= today,
        (Assignment.end_date.is_(None)) | (Assignment.end_date >= today),
    )
    for a in ctx.db.scalars(ctx.narrow(stmt, Assignment.institution_id)):
        person = ctx.db.get(Person, a.person_id)
        specialty = ctx.db.get(Specialty, a.specialty_id)
        if person is None or specialty is None:
            continue
        qualified = person.is_inspector and specialty.code in {s.code for s in person.specialties}
        if not qualified:
            yield Finding(
                key=f"assignment:{a.id}",
                subject_type="assignment",
                subject_id=str(a.id),
                subject_repr=f"{person.name} · {specialty.name}",
                institution_id=a.institution_id,
                region_code=a.region_code,
                facts={
                    "人员": person.name,
                    "安排的专项": specialty.name,
                    "可从事的专项": [s.name for s in person.specialties],
                    "是否检测人员": person.is_inspector,
                },
            )


@rule(
    "out_of_scope",
    title="超资质：检测能力超出资质范围，或资质证书过期、暂停",
    clause="000 4.1.3, 7.2.2",
    severity=Severity.CRITICAL,
    subject_type="institution",
    triggers=(Capability, QualificationCertificate),
    description="检测场所申报的检测参数所属专项不在本机构有效资质证书的范围内；或资质证书已过期、被暂停或撤销。"
    "检测数据上线后，每条检测记录也将按此检查。",
)
def out_of_scope(ctx: RuleContext) -> Iterator[Finding]:
    today = _today(ctx)
    held = _valid_scope(ctx, today)
    rows = ctx.db.execute(
        ctx.narrow(
            select(
                Capability.institution_id,
                Capability.region_code,
                Specialty.id,
                Specialty.code,
                Specialty.name,
                Parameter.name,
            )
            .join(Parameter, Capability.parameter_id == Parameter.id)
            .join(TestItem, Parameter.test_item_id == TestItem.id)
            .join(Specialty, TestItem.specialty_id == Specialty.id),
            Capability.institution_id,
        )
    )
    # by specialty code: capabilities recorded under two editions are one specialty
    outside: dict[tuple[int, str], dict[str, Any]] = {}
    for inst_id, region, spec_id, spec_code, spec_name, param_name in rows:
        if spec_code in held.get(inst_id, {}):
            continue
        entry = outside.setdefault(
            (inst_id, spec_code),
            {"region": region, "specialty": spec_name, "parameters": [], "key": spec_id},
        )
        entry["key"] = min(entry["key"], spec_id)  # the first row's id: keys stay as they were
        entry["parameters"].append(param_name)
    for (inst_id, _code), entry in outside.items():
        yield Finding(
            key=f"capability:{inst_id}:{entry['key']}",
            subject_type="institution",
            subject_id=str(inst_id),
            subject_repr=entry["specialty"],
            institution_id=inst_id,
            region_code=entry["region"],
            facts={
                "专项": entry["specialty"],
                "超出资质的参数": sorted(entry["parameters"])[:20],
                "参数个数": len(entry["parameters"]),
            },
        )
    stmt = select(QualificationCertificate)
    for cert in ctx.db.scalars(ctx.narrow(stmt, QualificationCertificate.institution_id)):
        problem = None
        if cert.status != "valid":
            problem = {"suspended": "已暂停", "revoked": "已撤销"}.get(cert.status, cert.status)
        elif cert.valid_until < today:
            problem = "已过期"
        if problem:
            yield Finding(
                key=f"certificate:{cert.id}",
                subject_type="certificate",
                subject_id=str(cert.id),
                subject_repr=cert.number,
                subject_number=cert.number,
                institution_id=cert.institution_id,
                region_code=cert.region_code,
                facts={
                    "证书编号": cert.number,
                    "问题": problem,
                    "有效期至": cert.valid_until.isoformat(),
                },
            )


@rule(
    "staffing_below_standard",
    title="人员、设备或场所低于资质标准",
    clause="000 4.1.3；jz57 第二十八条",
    severity=Severity.WARNING,
    subject_type="institution",
    defaults={"ratio": 1.0},
    labels={"ratio": "达标比例（1 为完全达到标准）"},
    triggers=(Person, Equipment, Lab, QualificationCertificate, RegistrySync),
    description="对机构持有的每个检测专项，比较在职检测人员、中级及以上职称、高级职称、注册人员、在用设备台套和"
    "检测场所面积与资质目录规定的最低要求（可按地区设置比例，如 0.9 表示允许低于标准 10%）。"
    "经数据接口报送的登记信息在报送完成后（或连续 10 分钟没有新的登记信息后）才整体核查。",
    settles=SETTLING,
)
def staffing_below_standard(ctx: RuleContext) -> Iterator[Finding]:
    today = _today(ctx)
    held = _valid_scope(ctx, today)
    if not held:
        return
    # Only the institutions holding a valid certificate (within the run's narrowing), counted
    # in the database: a write must not load the whole platform's people and equipment.
    ids = sorted(held)
    people: dict[int, list[Any]] = defaultdict(list)
    rows = ctx.db.execute(
        select(
            Person.institution_id,
            Person.is_inspector,
            Person.title,
            Person.registered_certificate_no,
        ).where(employed_on(today), Person.institution_id.in_(ids))
    )
    for p in rows:
        people[p.institution_id].append(p)
    equipment: dict[int, int] = defaultdict(int)
    equipment.update(
        ctx.db.execute(
            select(Equipment.institution_id, func.count())
            .where(Equipment.status == "in_use", Equipment.institution_id.in_(ids))
            .group_by(Equipment.institution_id)
        ).all()
    )
    area: dict[int, float] = defaultdict(float)
    for inst_id, total in ctx.db.execute(
        select(Lab.institution_id, func.sum(Lab.area_m2))
        .where(Lab.institution_id.in_(ids))
        .group_by(Lab.institution_id)
    ):
        area[inst_id] = float(total or 0)
    regions = dict(
        ctx.db.execute(
            select(Institution.id, Institution.region_code).where(Institution.id.in_(ids))
        ).all()
    )
    # the minimums of the catalogue in force: the current row of each held specialty (or, for
    # one a later edition dropped, its last row)
    standard = by_code(db=ctx.db, model=Specialty, codes={c for h in held.values() for c in h})
    for inst_id, held_here in held.items():
        staff = people[inst_id]
        inspectors = [p for p in staff if p.is_inspector]
        actual = {
            "min_inspectors": len(inspectors),
            "min_intermediate_titles": sum(p.title in INTERMEDIATE_OR_ABOVE for p in staff),
            "min_senior_titles": sum(p.title in SENIOR_TITLES for p in staff),
            "min_registered_engineers": sum(bool(p.registered_certificate_no) for p in staff),
            "min_equipment_sets": equipment[inst_id],
            "min_testing_area_m2": area[inst_id],
        }
        ratio = float(ctx.thresholds(regions.get(inst_id))["ratio"])
        for s in sorted((standard[code] for code in held_here), key=lambda s: s.code):
            short = {}
            for key, label in _REQUIREMENTS.items():
                required = getattr(s, key) * ratio
                if actual[key] < required:
                    short[label] = {"实有": actual[key], "要求": getattr(s, key)}
            if short:
                yield Finding(
                    key=f"staffing:{inst_id}:{s.id}",
                    subject_type="institution",
                    subject_id=str(inst_id),
                    subject_repr=s.name,
                    institution_id=inst_id,
                    region_code=regions.get(inst_id),
                    facts={"专项": s.name, "不足": short},
                )


_REQUIREMENTS = {
    "min_inspectors": "检测人员（人）",
    "min_intermediate_titles": "中级及以上职称（人）",
    "min_senior_titles": "高级职称（人）",
    "min_registered_engineers": "注册人员（人）",
    "min_equipment_sets": "在用仪器设备（台套）",
    "min_testing_area_m2": "检测场所面积（m²）",
}


@rule(
    "signatory_out_of_scope",
    title="报告批准人的签字范围超出机构资质",
    clause="000 4.1.1 第 7 项, 4.1.3",
    severity=Severity.WARNING,
    subject_type="signatory",
    triggers=(Signatory, QualificationCertificate),
    description="报告批准人的签字范围（检测专项）不在本机构有效资质证书的范围内。",
)
def signatory_out_of_scope(ctx: RuleContext) -> Iterator[Finding]:
    held = _valid_scope(ctx, _today(ctx))
    for sig in ctx.db.scalars(ctx.narrow(select(Signatory), Signatory.institution_id)):
        outside = [
            s.name for s in sig.specialties if s.code not in held.get(sig.institution_id, {})
        ]
        if outside:
            person = ctx.db.get(Person, sig.person_id)
            name = person.name if person else f"#{sig.person_id}"
            yield Finding(
                key=f"signatory:{sig.id}",
                subject_type="signatory",
                subject_id=str(sig.id),
                subject_repr=name,
                institution_id=sig.institution_id,
                region_code=sig.region_code,
                facts={"报告批准人": name, "超出资质的签字范围": outside},
            )


@rule(
    "licence_expiring",
    title="资质证书或电子证照即将到期",
    clause="000 4.1.1 第 8 项",
    severity=Severity.INFO,
    subject_type="certificate",
    defaults={"days": 60},
    labels={"days": "提前提醒天数"},
    triggers=(QualificationCertificate, ELicence),
    description="有效的资质证书或电子证照将在设定天数（默认 60 天）内到期，提醒机构及时延续。",
)
def licence_expiring(ctx: RuleContext) -> Iterator[Finding]:
    today = _today(ctx)
    certs = select(QualificationCertificate).where(QualificationCertificate.status == "valid")
    licences = select(ELicence).where(ELicence.valid_until.is_not(None))
    documents: list[tuple[str, str, str, QualificationCertificate | ELicence]] = [
        ("certificate", "certificate", "证书编号", c)
        for c in ctx.db.scalars(ctx.narrow(certs, QualificationCertificate.institution_id))
    ] + [
        ("licence", "e_licence", "证照编号", lic)
        for lic in ctx.db.scalars(ctx.narrow(licences, ELicence.institution_id))
    ]
    for prefix, subject_type, number_label, doc in documents:
        assert doc.valid_until is not None
        left = (doc.valid_until - today).days
        if 0 <= left <= int(ctx.thresholds(doc.region_code)["days"]):
            yield Finding(
                key=f"{prefix}:{doc.id}",
                subject_type=subject_type,
                subject_id=str(doc.id),
                subject_repr=doc.number,
                subject_number=doc.number,
                institution_id=doc.institution_id,
                region_code=doc.region_code,
                facts={
                    number_label: doc.number,
                    "有效期至": doc.valid_until.isoformat(),
                    "剩余天数": left,
                },
            )
