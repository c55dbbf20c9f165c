"""Test records in ``jcjg simulate``: each sample a lab accepted is tested the next hours and its
LIMS uploads the record with machine-like curves (concrete cubes, cement mortar, rebar, mortar
cubes, bricks and blocks).

``violations`` is the share of records that break one of :data:`PLANTED`, each lab breaking the
one it has broken least among those the test can break: loaded too fast (``loading_rate``), one
good test's curves uploaded again, shifted and with noise (``curve_reuse``), peaks reported
above the curves (``result_curve_mismatch``), weak results judged conforming
(``judgement_mismatch``), uploaded hours after the test (``late_upload``), an automatically
acquired value corrected by hand afterwards (``manual_override``, a ``test_revision`` message),
a machine not in the lab's register (``equipment_invalid``), one machine running two tests at
once (``impossible_timing``), a test declared done in less time than its curves last
(``capacity_exceeded``), 28-day results of cubes cast minutes before (``curing_age_short``:
simulated days are minutes long, so sound cube records declare no age), a test room at 29.5 ℃
and 38 % (``environment_out_of_range``). Cubes break any of these; rebar, cement, mortar cubes
(JGJ/T 70), fired bricks (GB/T 2542) and concrete blocks (GB/T 4111), all but rebar on the
press, the five machine ones; tests entered by hand (any material without a machine) only
``late_upload``. Besides, once per violating lab (:data:`HISTORY_PLANTED`): a day of
hand-entered cube results whose near misses all sit just over the line (:func:`piled_plans`,
``results_above_line``; copied from forms without the test room's conditions, so the lab's
data quality score falls too: ``data_quality_low``), and an inspector the lab borrowed from
another lab named at a test of each at the same hour (:func:`clash_plans`,
``clash_across_institutions``); and a record filed under a commission registered after its
test (:func:`backdated_plans`, the data quality rule 试验开始时间不早于委托日期).

Machine tests run on the lab's registered testing machines with a valid calibration (the
pressure machine for cubes, mortar, bricks and blocks, the universal machine for rebar), each
room's tests by that room's inspector; a machine is never booked for two tests at once unless
that is the violation. On-site tests: plans sent ahead of the work (:func:`onsite_plans`), and,
planted, a plan sent with the record after the work was done (``onsite_plan_late``).
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jcjg.core.db import utcnow
from jcjg.core.workdays import BEIJING, add_working_days
from jcjg.demo import synthetic
from jcjg.demo.simulator.sampling import MATERIALS
from jcjg.testing import curves

PLANTED = (
    "loading_rate",
    "curve_reuse",
    "result_curve_mismatch",
    "judgement_mismatch",
    "late_upload",
    "manual_override",
    "equipment_invalid",
    "impossible_timing",
    "capacity_exceeded",
    "curing_age_short",
    "environment_out_of_range",
)
# planted once per violating lab, besides the records of its samples (region.py sends them
# after the day's reports): a backlog of hand-entered cube results piled just over the line,
# and an inspector the lab borrowed named at the lender's test at the same hour
HISTORY_PLANTED = ("results_above_line", "clash_across_institutions", "data_quality_low")
# the registry's names of the machines that draw force-time curves, by what they do
TESTING_MACHINES = {"compression": "全自动压力试验机", "tension": "微机控制电液伺服万能试验机"}
HANDLING_S = 30.0  # placing and removing a specimen
SimTime = tuple[dt.datetime, dt.datetime]


@dataclass
class Bench:
    """A lab's testing machines fit for use, (asset number, room) by what they do, and the
    inspector who runs each room's tests."""

    machines: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    inspectors: dict[str, dict[str, str]] = field(default_factory=dict)


def bench_of(
    equipment: dict[str, dict[str, Any]],
    people: dict[str, dict[str, Any]],
    today: dt.date,
    specialty: str,
) -> Bench:
    """From what the lab's LIMS registered: machines in use, calibrated past ``today``, with
    their certificate; for each room of those machines a different inspector of
    ``specialty`` (one in that room when there is one), still employed."""
    bench = Bench()
    for asset, machine in sorted(equipment.items()):
        kind = next((k for k, n in TESTING_MACHINES.items() if machine["name"] == n), None)
        until = machine.get("calibration_valid_until")
        valid = bool(until) and dt.date.fromisoformat(str(until)) >= today
        certified = bool(machine.get("calibration_certificate_sha256"))
        if kind and valid and certified and machine.get("status") == "in_use":
            bench.machines.setdefault(kind, []).append((asset, machine["lab_name"]))
    eligible = [
        p
        for _, p in sorted(people.items())
        if p.get("is_inspector") and specialty in p["specialties"] and not p.get("employed_until")
    ]
    rooms = sorted({room for machines in bench.machines.values() for _, room in machines})
    for room in rooms:
        taken = {i["id_number"] for i in bench.inspectors.values()}
        free = [p for p in eligible if p["id_number"] not in taken]
        here = [p for p in free if p["lab_name"] == room]
        if here or free:
            person = (here or free)[0]
            bench.inspectors[room] = {"name": person["name"], "id_number": person["id_number"]}
    return bench


@dataclass
class LabTests:
    """What one simulated lab has tested so far (its numbering, a curve to re-use, when each
    machine is busy) and what it tests with."""

    code: str
    serial: int = 0
    plant_next: int = 0
    last_cubes: list[curves.Curve] = field(default_factory=list)
    planted: Counter[str] = field(default_factory=Counter)
    bench: Bench = field(default_factory=Bench)
    busy: dict[str, list[SimTime]] = field(default_factory=dict)
    onsite_serial: int = 0
    # messages held for the next day (a borrowed inspector's record, sent after the lender's)
    pending: list[Plan] = field(default_factory=list)
    pending_day: int = -1
    # a violating lab's record copied under a commission registered after its test (once)
    backdated: bool = False


Message = Callable[..., dict[str, Any]]
Plan = tuple[str, dict[str, Any], dict[str, bytes]]


_APPLICABLE = {
    "cube": PLANTED,
    # rebar and cement: planted these ways
    "machine": (
        "late_upload",
        "manual_override",
        "equipment_invalid",
        "impossible_timing",
        "capacity_exceeded",
    ),
    "manual": ("late_upload",),
}


# the wall materials crushed on the press, by the start of the sample's material
WALL = ("烧结普通砖", "混凝土小型空心砌块")


def _family(material: str) -> str:
    if material.startswith("混凝土") and not material.startswith(WALL):
        return "cube"
    return "machine" if material.startswith(("钢筋", "水泥", "砂浆", *WALL)) else "manual"


# the families the simulated sites' samples fall in (no material of theirs is entered by hand):
# a rule's breadth counts these only, so that late_upload comes round on the machine tests
_FAMILIES = tuple(dict.fromkeys(_family(m[0]) for m in MATERIALS))


def _next_violation(lab: LabTests, applicable: tuple[str, ...], region: Counter[str]) -> str:
    """The rule this kind of test can break that the region's labs (``region``: what they
    planted so far), then this lab, have broken least; of those, the one fewest kinds of test
    can break (cubes take the cube-only rules), then the lab's own order: so every rule comes
    round soon, even in a short run."""

    def breadth(rule_id: str) -> int:
        return sum(rule_id in _APPLICABLE[f] for f in _FAMILIES)

    return min(
        applicable,
        key=lambda r: (
            region[r],
            lab.planted[r],
            breadth(r),
            (PLANTED.index(r) - lab.plant_next) % len(PLANTED),
        ),
    )


@dataclass
class _Test:
    """One sample's test as the lab's machine drew it: the specimens, the record's fields, the
    lab's judgement, the value a manual override would change, and the rule it breaks (if
    any: one the test could not break after all is dropped)."""

    specimens: list[dict[str, Any]]
    fields: dict[str, Any]
    judgement: str = "conforming"
    revision: tuple[str, float] | None = None
    planted: str = ""


def _rebar(rng: random.Random, code: str) -> _Test:
    specimens = synthetic.bar_specimens(rng, code)
    fields = {"kind": "rebar_tensile", "item_code": "0102", "grade": "HRB400E"}
    return _Test(
        specimens, fields, revision=("specimens[1].yield_kn", specimens[0]["values"]["yield_kn"])
    )


def _cement(rng: random.Random, code: str) -> _Test:
    specimens = synthetic.mortar_specimens(rng, code)
    fields = {"kind": "mortar_strength", "item_code": "0101", "grade": "P·O 42.5", "age_days": 28}
    return _Test(
        specimens, fields, revision=("specimens[4].peak_kn", specimens[3]["values"]["peak_kn"])
    )


def _concrete(
    lab: LabTests, rng: random.Random, code: str, specification: str, planted: str
) -> _Test:
    """Cubes of the specified grade; too fast, too weak, re-used or inflated when planted."""
    grade = specification if specification.startswith("C") else "C30"
    design = float(grade[1:])
    mpa_s = 1.3 if planted == "loading_rate" else 0.6
    strength = design * (0.85 if planted == "judgement_mismatch" else rng.uniform(1.1, 1.3))
    peaks = [strength * synthetic.CUBE_KN_PER_MPA * rng.uniform(0.97, 1.03) for _ in range(3)]
    drawn = synthetic.cubes(rng, peaks, mpa_s)
    if planted == "curve_reuse" and lab.last_cubes:
        drawn = [
            synthetic.copy_of(rng, c, shift_s=rng.uniform(5, 60), noise_kn=0.001 * c.force.max())
            for c in lab.last_cubes
        ]
    else:
        if planted == "curve_reuse":  # nothing to re-use yet: a sound test after all
            planted = ""
        if planted not in ("loading_rate", "judgement_mismatch"):
            lab.last_cubes = drawn  # sound curves: re-used, they break only curve_reuse
    inflate = 1.06 if planted == "result_curve_mismatch" else 1.0
    specimens = synthetic.cube_specimens(drawn, code, inflate)
    fields = {"kind": "concrete_compression", "item_code": "0108", "grade": grade,
              "specimen_size_mm": 150}  # fmt: skip
    if planted == "curing_age_short":
        # simulated days are minutes long: the cubes are tested as soon as they arrive, so a
        # sound record declares no curing age; this one claims 28 days of cubes cast today
        fields["age_days"] = 28
    revision = ("specimens[2].peak_kn", specimens[1]["values"]["peak_kn"])
    return _Test(specimens, fields, revision=revision, planted=planted)


def _masonry(rng: random.Random, code: str, specification: str) -> _Test:
    """Mortar cubes of the specified grade (JGJ/T 70), broken on the press at 0.5-1.0 kN/s."""
    grade = specification if specification.startswith("M") else "M10"
    design = float(grade[1:])
    specimens = synthetic.masonry_specimens(
        rng, design * rng.uniform(1.1, 1.3), code, rate_kn_s=rng.uniform(0.5, 1.0)
    )
    fields = {"kind": "masonry_mortar", "item_code": "0111", "grade": grade}
    return _Test(
        specimens, fields, revision=("specimens[1].peak_kn", specimens[0]["values"]["peak_kn"])
    )


def _wall(rng: random.Random, code: str, material: str, specification: str) -> _Test:
    """Fired bricks (ten, GB/T 2542, at 3-5 kN/s) or hollow concrete blocks (five, GB/T 4111,
    at 4.5-5.5 kN/s) of the specified grade, crushed on the press."""
    grade = specification if specification.startswith("MU") else "MU10"
    design = float(grade[2:])
    if material.startswith(WALL[0]):
        strengths = [design * rng.uniform(1.15, 1.35) for _ in range(10)]
        specimens = synthetic.brick_specimens(rng, strengths, code, rng.uniform(3.0, 5.0))
        fields = {"kind": "brick_compression", "item_code": "0107", "grade": grade}
    else:
        strengths = [design * rng.uniform(1.05, 1.25) for _ in range(5)]
        specimens = synthetic.block_specimens(rng, strengths, code, rng.uniform(4.5, 5.5))
        fields = {"kind": "block_compression", "item_code": "0107", "grade": grade}
    return _Test(
        specimens, fields, revision=("specimens[1].peak_kn", specimens[0]["values"]["peak_kn"])
    )


def _by_hand(rng: random.Random, code: str, specification: str) -> _Test:
    """Anything without a machine: entered by hand from the original form."""
    specimens = [
        {"position": n, "sample_code": code, "values": {"peak_kn": round(rng.uniform(30, 45), 2)}}
        for n in (1, 2, 3)
    ]
    return _Test(specimens, {"kind": "other", "item_code": "0107", "grade": specification}, "none")


def _draw(lab: LabTests, rng: random.Random, sample: tuple[str, str, str], planted: str) -> _Test:
    code, material, specification = sample
    if material.startswith("钢筋"):
        test = _rebar(rng, code)
    elif material.startswith("水泥"):
        test = _cement(rng, code)
    elif material.startswith(WALL):
        test = _wall(rng, code, material, specification)
    elif material.startswith("混凝土"):
        return _concrete(lab, rng, code, specification, planted)
    elif material.startswith("砂浆"):
        test = _masonry(rng, code, specification)
    else:
        test = _by_hand(rng, code, specification)
    test.planted = planted
    return test


def _when(
    lab: LabTests, test: _Test, manual: bool, now: dt.datetime, rng: random.Random
) -> tuple[str, str, dt.datetime, dt.datetime]:
    """(asset, room, started, ended): a machine booked for it, or, entered by hand or with no
    machine free, the lab's clock only (then it cannot break the machines' rules)."""
    machine = "tension" if test.fields["kind"] == "rebar_tensile" else "compression"
    booked = (
        None if manual else _book(lab, machine, _duration(test.specimens), now, rng, test.planted)
    )
    if booked is not None:
        return booked
    if test.planted in ("equipment_invalid", "impossible_timing", "capacity_exceeded"):
        test.planted = ""
    if test.planted == "late_upload":  # auto data are due in 30 minutes, manual in 24 hours
        ended = now - dt.timedelta(hours=rng.uniform(30, 40) if manual else rng.uniform(3, 8))
    else:
        ended = now - dt.timedelta(minutes=rng.uniform(2, 20))
    return ("", "力学室", ended - dt.timedelta(minutes=10), ended)


def _revision(message: Message, number: str, revision: tuple[str, float], now: dt.datetime) -> Plan:
    """The manual override of an automatically acquired value (``manual_override``)."""
    field_name, before = revision
    return (
        "test_revision",
        message(
            record_number=number,
            field=field_name,
            before=before,
            after=round(float(before) * 0.99, 2),
            reason="复核时依据力值-时间曲线人工更正",
            revised_by="模拟检测员",
            revised_at=now.isoformat(),
        ),
        {},
    )


def record_plans(
    lab: LabTests,
    samples: list[tuple[str, str, str]],
    commission_number: str,
    rng: random.Random,
    message: Message,
    violations: float,
    region: Counter[str] | None = None,
) -> list[Plan]:
    """The LIMS messages for the tests of ``samples`` ((code, material, specification) of the
    samples the lab accepted), under ``commission_number``; ``region``: what the region's labs
    planted so far (see ``_next_violation``)."""
    region = Counter() if region is None else region
    plans: list[Plan] = []
    now = utcnow()
    for sample in samples:
        family = _family(sample[1])
        # a curve to re-use only once the lab has drawn sound ones
        applicable = tuple(r for r in _APPLICABLE[family] if r != "curve_reuse" or lab.last_cubes)
        planted = _next_violation(lab, applicable, region) if rng.random() < violations else ""
        lab.serial += 1
        test = _draw(lab, rng, sample, planted)
        manual = family == "manual"
        asset, room, started, ended = _when(lab, test, manual, now, rng)
        number = f"SIM-{lab.code}-{now.year}-{lab.serial:06d}"
        common = {
            "number": number,
            "sequence": lab.serial,
            "commission_number": commission_number,
            "lab_name": room,
            "equipment": [asset] if asset else [],
            "inspectors": [lab.bench.inspectors.get(room, {"name": "模拟检测员"})],
            "started_at": started.isoformat(),
            "ended_at": ended.isoformat(),
            "acquisition": "manual" if manual else "auto",
            "environment": {"temperature_c": round(rng.uniform(18, 22), 1), "humidity_percent": 55},
        }
        if test.planted == "environment_out_of_range":  # the air conditioning broke down
            common["environment"] = {"temperature_c": 29.5, "humidity_percent": 38}
        if test.planted:
            lab.planted[test.planted] += 1
            region[test.planted] += 1
        record = message(
            **common, **test.fields, specimens=test.specimens, judgement=test.judgement
        )
        plans.append(("test_record", record, {}))
        if test.planted == "manual_override" and test.revision is not None:
            plans.append(_revision(message, number, test.revision, now))
    return plans


def _duration(specimens: list[dict[str, Any]]) -> dt.timedelta:
    """How long a machine is busy with the specimens: each curve's length and the handling."""
    seconds = sum(
        (s["curve"]["points"][-1][0] if s.get("curve") else 0.0) + HANDLING_S for s in specimens
    )
    return dt.timedelta(seconds=seconds)


def _free(busy: list[SimTime], started: dt.datetime, ended: dt.datetime) -> bool:
    gap = dt.timedelta(seconds=HANDLING_S)
    return all(ended + gap <= b_start or started >= b_end + gap for b_start, b_end in busy)


def _book(
    lab: LabTests,
    machine: str,
    duration: dt.timedelta,
    now: dt.datetime,
    rng: random.Random,
    planted: str,
) -> tuple[str, str, dt.datetime, dt.datetime] | None:
    """(asset, room, started, ended) of a test on one of the lab's ``machine`` machines, its
    upload due now: ended within the last 25 minutes (3 to 8 hours ago when planting a late
    upload). ``equipment_invalid``: a machine the lab never registered; ``impossible_timing``:
    overlapping a test the machine is running. None when no machine is free."""
    machines = lab.bench.machines.get(machine, [])
    if not machines:
        return None
    if planted == "impossible_timing":
        for asset, room in rng.sample(machines, len(machines)):
            for b_start, _b_end in lab.busy.get(asset, []):
                started = b_start + dt.timedelta(seconds=rng.uniform(20, 40))
                ended = started + duration
                if ended < now - dt.timedelta(minutes=1):
                    lab.busy[asset].append((started, ended))
                    return asset, room, started, ended
        return None
    if planted == "late_upload":
        window = (now - dt.timedelta(hours=8), now - dt.timedelta(hours=3))
    else:
        window = (now - dt.timedelta(minutes=25), now - dt.timedelta(minutes=1))
    if planted == "equipment_invalid":  # borrowed from another lab, never registered here
        ended = window[1] - dt.timedelta(seconds=rng.uniform(0, 600))
        asset = f"{lab.code[-4:]}-JY-{lab.serial:03d}"
        return asset, machines[0][1], ended - duration, ended
    span = (window[1] - window[0]).total_seconds()
    for _ in range(40):
        asset, room = rng.choice(machines)
        ended = window[0] + dt.timedelta(seconds=rng.uniform(0, span))
        started = ended - duration
        if _free(lab.busy.get(asset, []), started, ended):
            lab.busy.setdefault(asset, []).append((started, ended))
            if planted == "capacity_exceeded":  # declared done in 40 % of the curves' time
                return asset, room, ended - duration * 0.4, ended
            return asset, room, started, ended
    return None


def onsite_plans(
    lab: LabTests,
    project_code: str,
    position: tuple[float, float],
    rng: random.Random,
    message: Message,
    violations: float,
) -> list[Plan]:
    """A rebound test of a project's slabs: its plan sent 4 to 6 working days ahead; or,
    planted (a share ``violations``), the plan sent with the record after the work was done
    (``onsite_plan_late``), the second time of a lab more than a day after
    (``onsite_late_upload`` too)."""
    now = utcnow()
    lab.onsite_serial += 1
    number = f"SIM-{lab.code}-XCFA-{lab.onsite_serial:04d}"
    late = rng.random() < violations
    # the second time, the record itself also comes more than a day after the work
    overdue = late and lab.planted["onsite_plan_late"] > 0 and not lab.planted["onsite_late_upload"]
    if overdue:
        start = now - dt.timedelta(hours=rng.uniform(30, 32))
    elif late:
        start = now - dt.timedelta(hours=rng.uniform(3, 5))
    else:
        local = now.astimezone(BEIJING)
        day = add_working_days(local.date(), rng.randint(4, 6))
        start = dt.datetime.combine(day, dt.time(rng.choice((8, 9, 14))), BEIJING)
    plan = message(
        number=number,
        project_code=project_code,
        item_code="0203",
        method_statement="回弹法检测梁板混凝土强度：每构件 10 个测区，每测区 16 个回弹值，"
        "碳化深度抽测 30%。",
        planned_start=start.isoformat(),
        planned_end=(start + dt.timedelta(hours=4)).isoformat(),
        quantity=f"{rng.randint(6, 15)} 个构件",
        location=f"{rng.randint(2, 18)} 层梁板",
    )
    plans: list[Plan] = [("onsite_plan", plan, {})]
    if late:
        lab.planted["onsite_plan_late"] += 1
        lab.planted["onsite_late_upload"] += int(overdue)
        inspectors = list(lab.bench.inspectors.values())[:2] or [{"name": "模拟检测员"}]
        record = message(
            number=f"SIM-{lab.code}-XCJL-{lab.onsite_serial:04d}",
            plan_number=number,
            project_code=project_code,
            item_code="0203",
            started_at=start.isoformat(),
            ended_at=(start + dt.timedelta(hours=2)).isoformat(),
            latitude=position[0] + rng.uniform(-0.0005, 0.0005),
            longitude=position[1] + rng.uniform(-0.0005, 0.0005),
            inspectors=inspectors,
            data={
                "测区数": 100,
                "平均碳化深度_mm": round(rng.uniform(1.0, 3.5), 1),
                "推定强度_MPa": round(rng.uniform(28, 40), 1),
            },
        )
        plans.append(("onsite_record", record, {}))
    return plans


PILED = 40  # the hand-entered cube groups of a piling lab's day


def piled_plans(lab: LabTests, rng: random.Random, message: Message) -> list[Plan]:
    """A day of C30 cube groups entered by hand from the forms (``results_above_line``):
    40 groups spread as a normal distribution about 103 % of the grade with 7 % spread (its
    quantiles, so that the day always looks the same), the near misses (within 5 % under the
    line) reported just over it; those further below stay nonconforming. Spread over the
    last 20 hours, uploaded now (within the 24 hours manual entries are allowed), by the
    lab's first room's inspector. Copied from paper forms that have no line for the test room's
    conditions, they carry no environment: the data quality rule 检测记录应有试验环境温度 fails
    on each, and the lab's score falls under the line (``data_quality_low``)."""
    now = utcnow()
    room, inspector = next(iter(lab.bench.inspectors.items()), ("力学室", {"name": "模拟检测员"}))
    spread = statistics.NormalDist(103, 7)
    plans: list[Plan] = []
    for n in rng.sample(range(PILED), PILED):
        percent = spread.inv_cdf((n + 0.5) / PILED)
        if 95 <= percent < 100:
            percent = 100 + rng.uniform(0, 2.5)
        peak = percent / 100 * 30 * synthetic.CUBE_KN_PER_MPA
        ended = now - dt.timedelta(hours=20) + dt.timedelta(hours=19 * len(plans) / PILED)
        lab.serial += 1
        specimens = [
            {"position": k + 1, "values": {"peak_kn": round(peak * f, 1)}}
            for k, f in enumerate((0.99, 1.0, 1.01))
        ]
        record = message(
            number=f"SIM-{lab.code}-{now.year}-{lab.serial:06d}", sequence=lab.serial,
            kind="concrete_compression", item_code="0108", grade="C30", specimen_size_mm=150,
            lab_name=room, equipment=[], inspectors=[inspector],
            started_at=(ended - dt.timedelta(minutes=6)).isoformat(), ended_at=ended.isoformat(),
            acquisition="manual", specimens=specimens,
            judgement="conforming" if percent >= 100 else "nonconforming",
        )  # fmt: skip
        plans.append(("test_record", record, {}))
    lab.planted["results_above_line"] += 1
    lab.planted["data_quality_low"] += 1
    return plans


def backdated_plans(lab: LabTests, commission_number: str, message: Message) -> list[Plan]:
    """A violating lab's brick test entered by hand from a form, run just before midnight and
    filed under the commission it registered today (the data quality rule
    试验开始时间不早于委托日期 compares the two messages and fails it). Once per lab; uploaded
    within the 24 hours a manual entry is allowed (unless sent in a day's last minutes)."""
    lab.backdated = True
    midnight = dt.datetime.combine(utcnow().astimezone(BEIJING).date(), dt.time(), tzinfo=BEIJING)
    room, inspector = next(iter(lab.bench.inspectors.items()), ("力学室", {"name": "模拟检测员"}))
    lab.serial += 1
    record = message(
        number=f"SIM-{lab.code}-{midnight.year}-{lab.serial:06d}", sequence=lab.serial,
        kind="other", item_code="0107", grade="MU10", lab_name=room, equipment=[],
        inspectors=[inspector], commission_number=commission_number,
        started_at=(midnight - dt.timedelta(minutes=20)).isoformat(),
        ended_at=(midnight - dt.timedelta(minutes=4)).isoformat(), acquisition="manual",
        environment={"temperature_c": 20.2, "humidity_percent": 58},
        specimens=[{"position": n, "values": {"peak_kn": v}}
                   for n, v in ((1, 151.2), (2, 149.6), (3, 153.8))],
        judgement="none",
    )  # fmt: skip
    return [("test_record", record, {})]


def clash_plans(
    lab: LabTests,
    lender: LabTests,
    person: dict[str, Any],
    rng: random.Random,
    message: Message,
    lender_message: Message,
) -> tuple[list[Plan], list[Plan]]:
    """``person``, on the staff of ``lender`` and registered by ``lab`` too, named at a test
    of each at the same hour (``clash_across_institutions``): (lab's plans, lender's plans),
    bricks' readings entered by hand an hour ago, 20 minutes each, 5 minutes apart. The caller
    sends the lender's first and counts the plant when it sends the lab's."""
    now = utcnow()
    inspector = {"name": person["name"], "id_number": person["id_number"]}
    plans: tuple[list[Plan], list[Plan]] = ([], [])
    for side, (tests, send) in enumerate(((lender, lender_message), (lab, message))):
        started = now - dt.timedelta(minutes=70 - 5 * side)
        tests.serial += 1
        record = send(
            number=f"SIM-{tests.code}-{now.year}-{tests.serial:06d}", sequence=tests.serial,
            kind="other", item_code="0107", grade="MU10",
            lab_name=next(iter(tests.bench.inspectors), ""),
            equipment=[], inspectors=[inspector], started_at=started.isoformat(),
            ended_at=(started + dt.timedelta(minutes=20)).isoformat(), acquisition="manual",
            specimens=[{"position": n, "values": {"peak_kn": round(rng.uniform(30, 45), 2)}}
                       for n in (1, 2, 3)],
            judgement="none",
        )  # fmt: skip
        plans[1 - side].append(("test_record", record, {}))
    return plans
