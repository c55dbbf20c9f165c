"""Demo test records for ``make run``: the demo lab's tests of the demo commission's samples,
most of them sound, and one of each kind the rules flag: a cube loaded too fast, mortar
compressed too fast, a curve re-used from another test (shifted and with noise), reported peaks
above the curves, a judgement the raw values do not support, data uploaded hours late, and an
automatically acquired yield force corrected by hand; and six weeks ago a cube test that failed,
entered on the nonconformity register and never handled since; five months of cube tests whose
near misses were all reported just over the line; an inspector named at two institutions' tests
at the same hour; 28-day results of cubes cast this morning. Curves are drawn by
:mod:`jcjg.demo.synthetic`; records go in through the same service the exchange uses."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass
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
FAILED = "JZ-HNT-2026-0011"  # the cubes that failed six weeks ago


@dataclass
class _Lab:
    """The demo lab's day of tests: what every record of it shares."""

    db: Session
    settings: Settings
    lab: Institution
    where: tuple[str, dict[str, list[str]]]  # the room, and the machines per kind of test
    commission: Commission | None
    codes: list[str]  # received samples of the commission, for the specimens
    rng: random.Random
    now: dt.datetime

    def code(self, n: int) -> str | None:
        return self.codes[n] if n < len(self.codes) else None

    def at(self, hours: float) -> tuple[dt.datetime, dt.datetime]:
        """(ended, received) of a test that ended ``hours`` ago, uploaded 3 minutes later."""
        ended = self.now - dt.timedelta(hours=hours)
        return ended, ended + dt.timedelta(minutes=3)

    def cubes(
        self, peaks: tuple[float, ...], mpa_s: float, sample_code: str | None = None
    ) -> tuple[list[dict[str, Any]], list[curves.Curve]]:
        drawn = synthetic.cubes(self.rng, peaks, mpa_s)
        return synthetic.cube_specimens(drawn, sample_code), drawn

    def record(
        self,
        number: str,
        ended: dt.datetime,
        received: dt.datetime,
        *,
        of_commission: bool = True,
        minutes: float = 8,
        **fields: Any,
    ) -> TestRecord:
        commission = self.commission if of_commission else None
        data = RecordIn.model_validate(
            {
                "message_id": str(uuid.uuid4()),
                "institution_code": self.lab.code,
                "number": number,
                "item_code": "0108",
                "standard": "GB/T 50081-2019",
                "lab_name": self.where[0],
                "equipment": self.where[1].get(str(fields.get("kind", "")), []),
                "inspectors": [{"name": "李检测"}, {"name": "张复核"}],
                "commission_number": commission.number if commission else None,
                "started_at": (ended - dt.timedelta(minutes=minutes)).isoformat(),
                "ended_at": ended.isoformat(),
                "acquisition": "auto",
                "environment": {"temperature_c": 20.4, "humidity_percent": 62},
                **fields,
            }
        )
        return service.store_record(
            db=self.db,
            settings=self.settings,
            institution=self.lab,
            data=data,
            received_at=received,
        )


def _lab_of(db: Session, settings: Settings, lab: Institution) -> _Lab:
    """The lab's room, machines, first commission and its received samples."""
    commission = db.scalars(
        select(Commission).where(Commission.institution_id == lab.id).order_by(Commission.id)
    ).first()
    received = (
        select(Sample)
        .where(Sample.commission_id == (commission.id if commission else None))
        .where(Sample.status == "received")
        .order_by(Sample.id)
    )
    codes = [s.sample_code for s in db.scalars(received)] if commission else []
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
            ("masonry_mortar", press),
            ("rebar_splice", universal),
            ("brick_compression", press),
            ("block_compression", press),
            ("rock_compression", press),
        )
    }
    where = (place.name if place else "", used)
    return _Lab(db, settings, lab, where, commission, codes, random.Random(2026), utcnow())


CONCRETE: dict[str, Any] = {
    "kind": "concrete_compression", "grade": "C30", "age_days": 28, "specimen_size_mm": 150,
}  # fmt: skip


def _concrete(day: _Lab) -> None:
    """Cubes of C30: two sound tests, then one of each way the rules find them wanting."""
    conforming: dict[str, Any] = {"judgement": "conforming", **CONCRETE}
    # sound: C30 at 0.6 MPa/s, about 36 MPa
    specimens, sound = day.cubes((812.0, 798.0, 826.0), 0.6, day.code(0))
    day.record(FIRST, *day.at(30), specimens=specimens, results={"strength_mpa": 36.1},
               **conforming)  # fmt: skip
    specimens, _ = day.cubes((845.0, 860.0, 838.0), 0.65, day.code(1))
    day.record("JZ-HNT-2026-0002", *day.at(28), specimens=specimens,
               results={"strength_mpa": 37.6}, **conforming)  # fmt: skip
    # loaded at 1.3 MPa/s: loading_rate
    specimens, _ = day.cubes((790.0, 805.0, 812.0), 1.3, day.code(2))
    day.record("JZ-HNT-2026-0003", *day.at(26), specimens=specimens,
               results={"strength_mpa": 35.7}, **conforming)  # fmt: skip
    # the first test's curves uploaded again, shifted and with noise: curve_reuse
    copies = [synthetic.copy_of(day.rng, c, shift_s=23.7, noise_kn=1.0) for c in sound]
    day.record("JZ-HNT-2026-0004", *day.at(24),
               specimens=synthetic.cube_specimens(copies, day.code(3)),
               results={"strength_mpa": 36.1}, **conforming)  # fmt: skip
    # peaks reported 6 % above the curves: result_curve_mismatch
    drawn = synthetic.cubes(day.rng, (700.0, 712.0, 705.0), 0.6)
    day.record("JZ-HNT-2026-0005", *day.at(22),
               specimens=synthetic.cube_specimens(drawn, day.code(4), inflate=1.06),
               results={"strength_mpa": 33.2}, **conforming)  # fmt: skip
    # about 26 MPa judged conforming for C30: judgement_mismatch
    specimens, _ = day.cubes((580.0, 590.0, 585.0), 0.55)
    day.record("JZ-HNT-2026-0006", *day.at(20), specimens=specimens,
               results={"strength_mpa": 26.0}, **conforming)  # fmt: skip
    # uploaded five hours after the test: late_upload
    specimens, _ = day.cubes((820.0, 815.0, 830.0), 0.6)
    ended = day.now - dt.timedelta(hours=18)
    day.record("JZ-HNT-2026-0007", ended, ended + dt.timedelta(hours=5), specimens=specimens,
               results={"strength_mpa": 36.5}, **conforming)  # fmt: skip
    # a press nobody registered: equipment_invalid
    specimens, _ = day.cubes((835.0, 828.0, 841.0), 0.6)
    day.record("JZ-HNT-2026-0008", *day.at(17), specimens=specimens,
               results={"strength_mpa": 37.0}, equipment=["JZ-SB-099"], **conforming)  # fmt: skip
    # the registered press in two tests at once: impossible_timing
    specimens, _ = day.cubes((818.0, 822.0, 809.0), 0.6)
    clash = day.now - dt.timedelta(hours=28, minutes=-4)  # during JZ-HNT-2026-0002
    day.record("JZ-HNT-2026-0009", clash, clash + dt.timedelta(minutes=3), specimens=specimens,
               results={"strength_mpa": 36.3}, **conforming)  # fmt: skip


def _outside_the_registry(day: _Lab) -> None:
    """A clerk named as the tester (unlicensed_work) and a test item of a specialty the lab
    holds no certificate for (out_of_scope)."""
    db, lab = day.db, day.lab
    clerk = db.scalars(
        select(Person).where(Person.institution_id == lab.id, Person.is_inspector.is_(False))
    ).first()
    if clerk is not None:
        specimens, _ = day.cubes((826.0, 819.0, 833.0), 0.6)
        day.record("JZ-HNT-2026-0010", *day.at(16.5), specimens=specimens,
                   results={"strength_mpa": 36.7}, judgement="conforming",
                   inspectors=[{"name": clerk.name, "id_number": clerk.id_number}],
                   **CONCRETE)  # fmt: skip
    certificates = select(QualificationCertificate).where(
        QualificationCertificate.institution_id == lab.id
    )
    held = {s.code for cert in db.scalars(certificates) for s in cert.specialties}
    outside = next(
        (
            item
            for item in db.scalars(
                select(TestItem).where(valid_in(TestItem)).order_by(TestItem.code)
            )
            if item.specialty.code not in held
        ),
        None,
    )
    if outside is not None:
        day.record("JZ-QT-2026-0001", *day.at(15.5), of_commission=False, kind="other",
                   item_code=outside.code, acquisition="manual", standard="",
                   specimens=[{"position": 1, "values": {"result": 1.0}}])  # fmt: skip


def _cement_and_rebar(day: _Lab) -> None:
    """Mortar prisms (one broken in a room too warm and dry: environment_out_of_range; one
    compressed too fast: loading_rate; the same one declared done in
    5 minutes though its nine curves alone last longer: capacity_exceeded), and bars whose
    yield force was re-read from the curve by hand (manual_override)."""
    mortar: dict[str, Any] = {"kind": "mortar_strength", "item_code": "0101", "grade": "P·O 42.5",
              "age_days": 28, "standard": "GB/T 17671-2021", "judgement": "conforming",
              "of_commission": False}  # fmt: skip
    prisms = synthetic.mortar_specimens(day.rng, compressive_n_s=2400)
    # in a test room at 24.6 ℃ and 41 % on a summer afternoon: environment_out_of_range
    day.record("JZ-SJ-2026-0001", *day.at(16), specimens=prisms, minutes=15,
               environment={"temperature_c": 24.6, "humidity_percent": 41}, **mortar)  # fmt: skip
    # compressed at 3,100 N/s: loading_rate (the cement branch)
    prisms = synthetic.mortar_specimens(day.rng, compressive_n_s=3100)
    day.record("JZ-SJ-2026-0002", *day.at(14), specimens=prisms, minutes=5, **mortar)
    bars = synthetic.bar_specimens(day.rng)
    day.record("JZ-GJ-2026-0001", *day.at(12), specimens=bars, judgement="conforming",
               of_commission=False, kind="rebar_tensile", item_code="0102", grade="HRB400E",
               standard="GB/T 228.1-2021")  # fmt: skip
    # masonry mortar cubes of M10 (JGJ/T 70), and the columns' welded and coupled bars: a
    # coupler group with one specimen short of grade I's 1.10 f_stk, judged 合格 by the lab
    # though JGJ 107 asks for six more (the platform says a re-test is due)
    cubes = synthetic.masonry_specimens(day.rng, 11.8, rate_kn_s=0.7)
    day.record("JZ-SJK-2026-0001", *day.at(13.5), specimens=cubes, of_commission=False,
               kind="masonry_mortar", item_code="0111", grade="M10", age_days=28,
               standard="JGJ/T 70-2009", judgement="conforming")  # fmt: skip
    welded = synthetic.splice_specimens(day.rng, "welded", ("base", "base", "weld"),
                                        (598.0, 606.0, 571.0))  # fmt: skip
    day.record("JZ-JT-2026-0001", *day.at(13), specimens=welded, of_commission=False,
               kind="rebar_splice", item_code="0104", grade="HRB400E", standard="JGJ 18-2012",
               judgement="conforming")  # fmt: skip
    coupled = synthetic.splice_specimens(day.rng, "mechanical_i", ("joint", "base", "joint"),
                                         (612.0, 580.0, 586.0))  # fmt: skip
    day.record("JZ-JT-2026-0002", *day.at(12.5), specimens=coupled, of_commission=False,
               kind="rebar_splice", item_code="0103", grade="HRB400E", standard="JGJ 107-2016",
               judgement="conforming")  # fmt: skip
    # the yield point re-read from the curve by hand (001 6.2.4): manual_override
    before = bars[1]["values"]["yield_kn"]
    revised = day.now - dt.timedelta(hours=11)
    service.store_revision(
        db=day.db,
        institution=day.lab,
        data=RevisionIn.model_validate(
            {
                "message_id": str(uuid.uuid4()),
                "institution_code": day.lab.code,
                "record_number": "JZ-GJ-2026-0001",
                "field": "specimens[2].yield_kn",
                "before": before,
                "after": round(before - 2.6, 2),
                "reason": "自动采集未能准确判读下屈服点，依据力值-时间曲线人工更正（001 6.2.4）",
                "revised_by": "李检测",
                "revised_at": revised.isoformat(),
            }
        ),
        received_at=revised,
    )


def _bricks_blocks_and_rock(day: _Lab) -> None:
    """For the walls, fired bricks of MU10 (GB/T 2542) and hollow concrete blocks of MU10
    (GB/T 4111), and for the foundation, bedrock cores against a design f_rk of 30 MPa (GB 50007
    附录 J), crushed on the press: one sound group of each, and one that fails, judged so by the
    lab: bricks whose mean passes but whose spread pulls f_k under 6.5 MPa, blocks with one
    under 8.0 MPa, cores whose f_rk falls short. The centre holds no 地基基础 certificate, so
    its cores also show out_of_scope."""
    own: dict[str, Any] = {"of_commission": False, "minutes": 25}
    bricks: dict[str, Any] = {"kind": "brick_compression", "item_code": "0107", "grade": "MU10",
                              "standard": "GB/T 2542-2012", **own}  # fmt: skip
    sound = synthetic.brick_specimens(day.rng, [12.4, 11.8, 13.1, 12.0, 11.5, 12.9, 12.2,
                                                11.9, 12.6, 12.3], rate_kn_s=4.0)  # fmt: skip
    day.record("JZ-ZQ-2026-0001", *day.at(11.5), specimens=sound, judgement="conforming",
               **bricks)  # fmt: skip
    spread = synthetic.brick_specimens(day.rng, [4.2, 16.8, 6.1, 15.2, 8.0, 13.1, 9.2, 12.3,
                                                 7.0, 14.1], rate_kn_s=4.0)  # fmt: skip
    day.record("JZ-ZQ-2026-0002", *day.at(11), specimens=spread, judgement="nonconforming",
               **bricks)  # fmt: skip
    blocks: dict[str, Any] = {"kind": "block_compression", "item_code": "0107", "grade": "MU10",
                              "standard": "GB/T 4111-2013", **own}  # fmt: skip
    sound = synthetic.block_specimens(day.rng, [11.2, 10.9, 11.6, 10.7, 11.3], rate_kn_s=5.0)
    day.record("JZ-QK-2026-0001", *day.at(10.5), specimens=sound, judgement="conforming",
               **blocks)  # fmt: skip
    weak = synthetic.block_specimens(day.rng, [11.4, 10.8, 7.4, 10.9, 11.1], rate_kn_s=5.0)
    day.record("JZ-QK-2026-0002", *day.at(10), specimens=weak, judgement="nonconforming",
               **blocks)  # fmt: skip
    rock: dict[str, Any] = {"kind": "rock_compression", "item_code": "0401", "grade": "30 MPa",
                            "standard": "GB/T 50266-2013", **own}  # fmt: skip
    cores = synthetic.rock_specimens(day.rng, [41.5, 38.2, 44.0, 39.6, 42.8, 40.3])
    day.record("JZ-YS-2026-0001", *day.at(9.5), specimens=cores, judgement="conforming", **rock)
    cores = synthetic.rock_specimens(day.rng, [31.0, 24.5, 36.2, 27.8, 33.4, 22.9])
    day.record("JZ-YS-2026-0002", *day.at(9), specimens=cores, judgement="nonconforming", **rock)


UNHANDLED_DAYS = 42  # past the register's 15 working days, even across the Spring Festival


def _failed_weeks_ago(day: _Lab) -> None:
    """Cubes of C30 for the 3rd floor's columns tested six weeks ago at about 24 MPa and judged
    nonconforming by the lab itself: on the register since, with no handling recorded
    (nonconformity_unhandled)."""
    project = _project_of(day)
    if project is None:
        return
    ended = day.now - dt.timedelta(days=UNHANDLED_DAYS, hours=2)
    specimens, _ = day.cubes((548.0, 561.0, 553.0), 0.6)
    day.record(FAILED, ended, ended + dt.timedelta(minutes=3), of_commission=False,
               project_code=project.code, specimens=specimens, results={"strength_mpa": 24.6},
               judgement="nonconforming", **CONCRETE)  # fmt: skip


PILED = 64  # the demo lab's cube tests of the last five months


def _piled_above_the_line(day: _Lab) -> None:
    """Five months of C30 cube tests (entered from the forms, 64 groups about 104 % of the
    grade, spread 8 %): the near misses, within 5 % under the line, were all reported just
    over it, where groups pile up that the lab's own spread does not explain
    (results_above_line). Those further below stay nonconforming."""
    rng = random.Random(104)
    project = _project_of(day)
    on: dict[str, Any] = {"project_code": project.code} if project else {}
    for n in range(PILED):
        percent, lift = rng.gauss(104, 8), rng.uniform(0, 2.5)
        if 95 <= percent < 100:
            percent = 100 + lift
        strength = percent / 100 * 30
        peak = strength * 22.5  # kN on a 150 mm cube
        ended = (day.now - dt.timedelta(days=150 - n * 2.2)).replace(hour=2, minute=30)
        specimens = [
            {"position": k + 1, "values": {"peak_kn": round(peak * f, 1)}}
            for k, f in enumerate((0.99, 1.0, 1.01))
        ]
        day.record(f"JZ-HNT-2026-{1001 + n}", ended, ended + dt.timedelta(minutes=10),
                   of_commission=False, acquisition="manual", equipment=[],
                   specimens=specimens, results={"strength_mpa": round(strength, 1)},
                   judgement="conforming" if percent >= 100 else "nonconforming",
                   **on, **CONCRETE)  # fmt: skip


def _one_inspector_in_two_labs(day: _Lab) -> None:
    """周建国, on the staff of the centre and of 恒信 (certificate_lending), named on a test at
    each at the same hour (clash_across_institutions)."""
    db = day.db
    lent = db.scalars(
        select(Person).where(Person.institution_id == day.lab.id, Person.name == "周建国")
    ).first()
    other = db.scalars(
        select(Institution)
        .join(Person, Person.institution_id == Institution.id)
        .where(
            Person.id_number == (lent.id_number if lent else ""),
            Institution.id != day.lab.id,
        )
    ).first()
    if lent is None or other is None:
        return
    inspector = [{"name": lent.name, "id_number": lent.id_number}]
    specimens, _ = day.cubes((826.0, 812.0, 818.0), 0.6)
    ended, received = day.at(3)
    day.record("JZ-HNT-2026-0012", ended, received, of_commission=False, specimens=specimens,
               results={"strength_mpa": 36.3}, judgement="conforming", inspectors=inspector,
               **CONCRETE)  # fmt: skip
    elsewhere = _Lab(db, day.settings, other, ("主检测场所", {}), None, [], day.rng, day.now)
    specimens, _ = elsewhere.cubes((790.0, 801.0, 795.0), 0.6)
    shifted = ended + dt.timedelta(minutes=2)
    elsewhere.record("HX-HNT-2026-0031", shifted, shifted + dt.timedelta(minutes=3),
                     of_commission=False, specimens=specimens, results={"strength_mpa": 35.3},
                     judgement="conforming", inspectors=inspector, **CONCRETE)  # fmt: skip


def _before_the_age(day: _Lab) -> None:
    """28-day results of cubes cast this morning (the sample still waiting for its witness):
    curing_age_short."""
    waiting = day.db.scalars(
        select(Sample).where(Sample.status == "sampled").order_by(Sample.id.desc())
    ).first()
    if waiting is None:
        return
    drawn = synthetic.cubes(day.rng, (842.0, 835.0, 851.0), 0.6)
    day.record("JZ-HNT-2026-0013", *day.at(0.05), of_commission=False,
               specimens=synthetic.cube_specimens(drawn, waiting.sample_code),
               results={"strength_mpa": 37.5}, judgement="conforming",
               **CONCRETE)  # fmt: skip


def _project_of(day: _Lab) -> Project | None:
    """The project of the lab's first commission."""
    return day.db.get(Project, day.commission.project_id) if day.commission else None


def load(db: Session, settings: Settings, institutions: dict[str, Institution]) -> bool:
    """Create the demo test records when the first is missing; True when created."""
    lab = institutions.get("jj-center")
    if lab is None or db.scalar(select(TestRecord.id).where(TestRecord.number == FIRST)):
        return False
    day = _lab_of(db, settings, lab)
    _concrete(day)
    _outside_the_registry(day)
    _cement_and_rebar(day)
    _bricks_blocks_and_rock(day)
    _failed_weeks_ago(day)
    _piled_above_the_line(day)
    _one_inspector_in_two_labs(day)
    _before_the_age(day)
    _onsite(db, lab, day.commission, day.now)
    db.flush()
    return True


def _onsite(db: Session, lab: Institution, commission: Commission | None, now: dt.datetime) -> None:
    """A rebound test planned in time and done; a plan sent the day before (onsite_plan_late); a
    test done in time whose record came three days after it (onsite_late_upload)."""
    project = db.get(Project, commission.project_id) if commission else None
    if project is None:
        return
    common = {"institution_code": lab.code, "project_code": project.code, "item_code": "0203"}
    local = now.astimezone(BEIJING)
    done = (local - dt.timedelta(days=5)).replace(hour=9, minute=0, second=0, microsecond=0)
    tomorrow = (local + dt.timedelta(days=1)).replace(hour=9, minute=0, second=0, microsecond=0)
    earlier = (local - dt.timedelta(days=9)).replace(hour=9, minute=0, second=0, microsecond=0)
    for number, start, sent in (
        ("JZ-XCFA-2026-0001", done, now - dt.timedelta(days=12)),
        ("JZ-XCFA-2026-0002", tomorrow, now),
        ("JZ-XCFA-2026-0003", earlier, now - dt.timedelta(days=16)),
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

    def done_record(number: str, plan: str, start: dt.datetime, hours: float,
                    sent: dt.datetime, data: dict[str, float]) -> None:  # fmt: skip
        service.store_onsite_record(
            db=db,
            institution=lab,
            data=OnSiteRecordIn.model_validate(
                {
                    **common,
                    "message_id": str(uuid.uuid4()),
                    "number": number,
                    "plan_number": plan,
                    "started_at": start.isoformat(),
                    "ended_at": (start + dt.timedelta(hours=hours)).isoformat(),
                    "latitude": project.site_latitude,
                    "longitude": project.site_longitude,
                    "inspectors": [{"name": "李检测"}, {"name": "张复核"}],
                    "data": data,
                }
            ),
            received_at=sent,
        )

    done_record("JZ-XCJL-2026-0001", "JZ-XCFA-2026-0001", done + dt.timedelta(minutes=15), 5.75,
                done + dt.timedelta(hours=6, minutes=10),
                {"测区数": 120, "推定强度_MPa": 34.2})  # fmt: skip
    # the core drilling of nine days ago, its readings uploaded three days after: onsite_late_upload
    done_record("JZ-XCJL-2026-0002", "JZ-XCFA-2026-0003", earlier + dt.timedelta(minutes=20),
                4.67, earlier + dt.timedelta(days=3, hours=2),
                {"测区数": 96, "推定强度_MPa": 33.1})  # fmt: skip
