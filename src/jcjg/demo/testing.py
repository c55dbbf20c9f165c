"""Demo test records for ``make run``: the demo lab's tests of the demo commission's samples,
most of them sound, and one of each kind the rules flag: a cube loaded too fast, mortar
compressed too fast, a curve re-used from another test (shifted and with noise), reported peaks
above the curves, a judgement the raw values do not support, data uploaded hours late, and an
automatically acquired yield force corrected by hand. Curves are drawn by
:mod:`jcjg.demo.synthetic`; records go in through the same service the exchange uses."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import valid_in
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING
from jcjg.demo import synthetic
from jcjg.projects.models import Project
from jcjg.registry.models import Equipment, Lab, Person, QualificationCertificate
from jcjg.sampling.models import Commission, Sample
from jcjg.tenancy.models import Institution
from jcjg.testing import curves, service
from jcjg.testing.models import TestRecord
from jcjg.testing.schemas import OnSitePlanIn, OnSiteRecordIn, RecordIn, RevisionIn

FIRST = "JZ-HNT-2026-0001"


def _record(
    db: Session,
    settings: Settings,
    lab: Institution,
    where: tuple[str, dict[str, list[str]]],
    commission: Commission | None,
    number: str,
    ended: dt.datetime,
    received: dt.datetime,
    **fields: Any,
) -> TestRecord:
    data = RecordIn.model_validate(
        {
            "message_id": str(uuid.uuid4()),
            "institution_code": lab.code,
            "number": number,
            "item_code": "0108",
            "standard": "GB/T 50081-2019",
            "lab_name": where[0],
            "equipment": where[1].get(str(fields.get("kind", "")), []),
            "inspectors": [{"name": "李检测"}, {"name": "张复核"}],
            "commission_number": commission.number if commission else None,
            "started_at": (ended - dt.timedelta(minutes=8)).isoformat(),
            "ended_at": ended.isoformat(),
            "environment": {"temperature_c": 20.5, "humidity_percent": 55},
            "acquisition": "auto",
            **fields,
        }
    )
    return service.store_record(
        db=db, settings=settings, institution=lab, data=data, received_at=received
    )


def load(db: Session, settings: Settings, institutions: dict[str, Institution]) -> bool:
    """Create the demo test records when the first is missing; True when created."""
    lab = institutions.get("jj-center")
    if lab is None or db.scalar(select(TestRecord.id).where(TestRecord.number == FIRST)):
        return False
    commission = db.scalars(
        select(Commission).where(Commission.institution_id == lab.id).order_by(Commission.id)
    ).first()
    codes = (
        [
            s.sample_code
            for s in db.scalars(
                select(Sample)
                .where(Sample.commission_id == commission.id, Sample.status == "received")
                .order_by(Sample.id)
            )
        ]
        if commission
        else []
    )
    rng = random.Random(2026)
    now = utcnow()

    def code(n: int) -> str | None:
        return codes[n] if n < len(codes) else None

    def _cubes(
        peaks: tuple[float, ...], mpa_s: float, sample_code: str | None = None
    ) -> tuple[list[dict[str, Any]], list[curves.Curve]]:
        drawn = synthetic.cubes(rng, peaks, mpa_s)
        return synthetic.cube_specimens(drawn, sample_code), drawn

    place = db.scalars(select(Lab).where(Lab.institution_id == lab.id).order_by(Lab.id)).first()
    machines = {
        e.name: e.asset_number
        for e in db.scalars(select(Equipment).where(Equipment.institution_id == lab.id))
        if e.asset_number
    }
    press = machines.get("全自动压力试验机")
    universal = machines.get("微机控制电液伺服万能试验机")
    used = {
        kind: [asset] if asset else []
        for kind, asset in (
            ("concrete_compression", press),
            ("mortar_strength", press),
            ("rebar_tensile", universal),
        )
    }
    where = (place.name if place else "", used)

    def at(hours: float) -> tuple[dt.datetime, dt.datetime]:
        ended = now - dt.timedelta(hours=hours)
        return ended, ended + dt.timedelta(minutes=3)

    concrete: dict[str, Any] = {
        "kind": "concrete_compression",
        "grade": "C30",
        "age_days": 28,
        "specimen_size_mm": 150,
    }
    # sound: C30 at 0.6 MPa/s, about 36 MPa
    specimens, sound = _cubes((812.0, 798.0, 826.0), 0.6, code(0))
    _record(db, settings, lab, where, commission, FIRST, *at(30), specimens=specimens,
            results={"strength_mpa": 36.1}, judgement="conforming", **concrete)  # fmt: skip
    specimens, _ = _cubes((845.0, 860.0, 838.0), 0.65, code(1))
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0002", *at(28), specimens=specimens,
            results={"strength_mpa": 37.6}, judgement="conforming", **concrete)  # fmt: skip
    # loaded at 1.3 MPa/s: loading_rate
    specimens, _ = _cubes((790.0, 805.0, 812.0), 1.3, code(2))
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0003", *at(26), specimens=specimens,
            results={"strength_mpa": 35.7}, judgement="conforming", **concrete)  # fmt: skip
    # the first test's curves uploaded again, shifted and with noise: curve_reuse
    copies = [synthetic.copy_of(rng, c, shift_s=23.7, noise_kn=1.0) for c in sound]
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0004", *at(24),
            specimens=synthetic.cube_specimens(copies, code(3)), results={"strength_mpa": 36.1},
            judgement="conforming", **concrete)  # fmt: skip
    # peaks reported 6 % above the curves: result_curve_mismatch
    drawn = synthetic.cubes(rng, (700.0, 712.0, 705.0), 0.6)
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0005", *at(22),
            specimens=synthetic.cube_specimens(drawn, code(4), inflate=1.06),
            results={"strength_mpa": 33.2}, judgement="conforming", **concrete)  # fmt: skip
    # about 26 MPa judged conforming for C30: judgement_mismatch
    specimens, _ = _cubes((580.0, 590.0, 585.0), 0.55)
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0006", *at(20), specimens=specimens,
            results={"strength_mpa": 26.0}, judgement="conforming", **concrete)  # fmt: skip
    # uploaded five hours after the test: late_upload
    specimens, _ = _cubes((820.0, 815.0, 830.0), 0.6)
    ended = now - dt.timedelta(hours=18)
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0007", ended,
            ended + dt.timedelta(hours=5), specimens=specimens, results={"strength_mpa": 36.5},
            judgement="conforming", **concrete)  # fmt: skip
    # a press nobody registered: equipment_invalid
    specimens, _ = _cubes((835.0, 828.0, 841.0), 0.6)
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0008", *at(17), specimens=specimens,
            results={"strength_mpa": 37.0}, judgement="conforming",
            equipment=["JZ-SB-099"], **concrete)  # fmt: skip
    # the registered press in two tests at once: impossible_timing
    specimens, _ = _cubes((818.0, 822.0, 809.0), 0.6)
    clash = now - dt.timedelta(hours=28, minutes=-4)  # during JZ-HNT-2026-0002
    _record(db, settings, lab, where, commission, "JZ-HNT-2026-0009", clash,
            clash + dt.timedelta(minutes=3), specimens=specimens,
            results={"strength_mpa": 36.3}, judgement="conforming", **concrete)  # fmt: skip
    # a clerk (no inspector) named as the tester: unlicensed_work
    clerk = db.scalars(
        select(Person).where(Person.institution_id == lab.id, Person.is_inspector.is_(False))
    ).first()
    if clerk is not None:
        specimens, _ = _cubes((826.0, 819.0, 833.0), 0.6)
        _record(db, settings, lab, where, commission, "JZ-HNT-2026-0010", *at(16.5),
                specimens=specimens, results={"strength_mpa": 36.7}, judgement="conforming",
                inspectors=[{"name": clerk.name, "id_number": clerk.id_number}],
                **concrete)  # fmt: skip
    # a test item of a specialty the lab holds no certificate for: out_of_scope
    held = {
        s.id
        for cert in db.scalars(
            select(QualificationCertificate).where(
                QualificationCertificate.institution_id == lab.id
            )
        )
        for s in cert.specialties
    }
    outside = db.scalars(
        select(TestItem)
        .where(TestItem.specialty_id.not_in(held), valid_in(TestItem))
        .order_by(TestItem.code)
    ).first()
    if outside is not None:
        _record(db, settings, lab, where, None, "JZ-QT-2026-0001", *at(15.5), kind="other",
                item_code=outside.code, acquisition="manual", standard="",
                specimens=[{"position": 1, "values": {"result": 1.0}}])  # fmt: skip
    mortar: dict[str, Any] = {"kind": "mortar_strength", "item_code": "0101", "grade": "P·O 42.5",
              "age_days": 28, "standard": "GB/T 17671-2021"}  # fmt: skip
    _record(db, settings, lab, where, None, "JZ-SJ-2026-0001", *at(16),
            specimens=synthetic.mortar_specimens(rng, compressive_n_s=2400),
            judgement="conforming", **mortar)  # fmt: skip
    # compressed at 3,100 N/s: loading_rate (the cement branch)
    _record(db, settings, lab, where, None, "JZ-SJ-2026-0002", *at(14),
            specimens=synthetic.mortar_specimens(rng, compressive_n_s=3100),
            judgement="conforming", **mortar)  # fmt: skip
    rebar: dict[str, Any] = {"kind": "rebar_tensile", "item_code": "0102", "grade": "HRB400E",
             "standard": "GB/T 228.1-2021"}  # fmt: skip
    bars = synthetic.bar_specimens(rng)
    _record(db, settings, lab, where, None, "JZ-GJ-2026-0001", *at(12), specimens=bars,
            judgement="conforming", **rebar)  # fmt: skip
    # the yield point re-read from the curve by hand (001 6.2.4): manual_override
    before = bars[1]["values"]["yield_kn"]
    service.store_revision(
        db=db,
        institution=lab,
        data=RevisionIn.model_validate(
            {
                "message_id": str(uuid.uuid4()),
                "institution_code": lab.code,
                "record_number": "JZ-GJ-2026-0001",
                "field": "specimens[2].yield_kn",
                "before": before,
                "after": round(before - 2.6, 2),
                "reason": "自动采集未能准确判读下屈服点，依据力值-时间曲线人工更正（001 6.2.4）",
                "revised_by": "李检测",
                "revised_at": (now - dt.timedelta(hours=11)).isoformat(),
            }
        ),
        received_at=now - dt.timedelta(hours=11),
    )
    _onsite(db, lab, commission, now)
    db.flush()
    return True


def _onsite(db: Session, lab: Institution, commission: Commission | None, now: dt.datetime) -> None:
    """A rebound test planned in time and done, and a plan sent the day before: onsite_plan_late."""
    project = db.get(Project, commission.project_id) if commission else None
    if project is None:
        return
    common = {"institution_code": lab.code, "project_code": project.code, "item_code": "0203"}
    local = now.astimezone(BEIJING)
    done = (local - dt.timedelta(days=5)).replace(hour=9, minute=0, second=0, microsecond=0)
    tomorrow = (local + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    for number, start, sent in (
        ("JZ-XCFA-2026-0001", done, now - dt.timedelta(days=12)),
        ("JZ-XCFA-2026-0002", tomorrow, now),
    ):
        service.store_plan(
            db=db,
            institution=lab,
            data=OnSitePlanIn.model_validate(
                {
                    **common,
                    "message_id": str(uuid.uuid4()),
                    "number": number,
                    "method_statement": "回弹法检测 3 层梁板混凝土强度，每构件 10 个测区",
                    "planned_start": start.isoformat(),
                    "planned_end": (start + dt.timedelta(hours=8)).isoformat(),
                    "quantity": "12 个构件",
                    "location": "3 层 ⑤～⑨ 轴梁板",
                }
            ),
            received_at=sent,
        )
    service.store_onsite_record(
        db=db,
        institution=lab,
        data=OnSiteRecordIn.model_validate(
            {
                **common,
                "message_id": str(uuid.uuid4()),
                "number": "JZ-XCJL-2026-0001",
                "plan_number": "JZ-XCFA-2026-0001",
                "started_at": (done + dt.timedelta(minutes=15)).isoformat(),
                "ended_at": (done + dt.timedelta(hours=6)).isoformat(),
                "latitude": project.site_latitude,
                "longitude": project.site_longitude,
                "inspectors": [{"name": "李检测"}, {"name": "张复核"}],
                "data": {"测区数": 120, "推定强度_MPa": 34.2},
            }
        ),
        received_at=done + dt.timedelta(hours=6, minutes=10),
    )
