"""Test records in ``jcjg simulate``: each sample a lab accepted is tested the next hours and its
LIMS uploads the record with machine-like curves (concrete cubes, cement mortar, rebar).

``violations`` is the share of records that break one of :data:`PLANTED`, each lab breaking
the one it has broken least among those the test can break: loaded too fast
(``loading_rate``), one good test's curves uploaded again, shifted and with noise
(``curve_reuse``), peaks reported above the curves (``result_curve_mismatch``), weak results
judged conforming (``judgement_mismatch``), uploaded hours after the test (``late_upload``), an
automatically acquired value corrected by hand afterwards (``manual_override``, a
``test_revision`` message). Rebar and cement tests break the last two; cubes any.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jcjg.core.db import utcnow
from jcjg.testing import curves, synthetic

PLANTED = (
    "loading_rate",
    "curve_reuse",
    "result_curve_mismatch",
    "judgement_mismatch",
    "late_upload",
    "manual_override",
)


@dataclass
class LabTests:
    """What one simulated lab has tested so far (its numbering and a curve to re-use)."""

    code: str
    serial: int = 0
    plant_next: int = 0
    last_cubes: list[curves.Curve] = field(default_factory=list)
    planted: Counter[str] = field(default_factory=Counter)


Message = Callable[..., dict[str, Any]]
Plan = tuple[str, dict[str, Any], dict[str, bytes]]


_APPLICABLE = {
    "cube": PLANTED,
    "machine": ("late_upload", "manual_override"),  # rebar and cement: planted these ways
    "manual": ("late_upload",),
}


def _family(material: str) -> str:
    if material.startswith("混凝土"):
        return "cube"
    return "machine" if material.startswith(("钢筋", "水泥")) else "manual"


def _next_violation(lab: LabTests, applicable: tuple[str, ...]) -> str:
    """The rule this kind of test can break that the lab has broken least so far (ties in the
    lab's own order), so every rule comes round."""
    return min(
        applicable,
        key=lambda r: (lab.planted[r], (PLANTED.index(r) - lab.plant_next) % len(PLANTED)),
    )


def record_plans(
    lab: LabTests,
    samples: list[tuple[str, str, str]],
    commission_number: str,
    rng: random.Random,
    message: Message,
    violations: float,
) -> list[Plan]:
    """The LIMS messages for the tests of ``samples`` ((code, material, specification) of the
    samples the lab accepted), under ``commission_number``."""
    plans: list[Plan] = []
    now = utcnow()
    for code, material, specification in samples:
        manual = _family(material) == "manual"
        planted = ""
        if rng.random() < violations:
            planted = _next_violation(lab, _APPLICABLE[_family(material)])
        lab.serial += 1
        ended = now - dt.timedelta(minutes=rng.uniform(2, 20))
        if planted == "late_upload":  # auto data are due in 30 minutes, manual in 24 hours
            ended = now - dt.timedelta(hours=rng.uniform(30, 40) if manual else rng.uniform(3, 8))
        common = {
            "number": f"SIM-{lab.code}-{now.year}-{lab.serial:06d}",
            "commission_number": commission_number,
            "lab_name": "力学室",
            "inspectors": [{"name": "模拟检测员"}],
            "started_at": (ended - dt.timedelta(minutes=10)).isoformat(),
            "ended_at": ended.isoformat(),
            "acquisition": "auto",
            "environment": {"temperature_c": round(rng.uniform(18, 22), 1), "humidity_percent": 55},
        }
        revision: tuple[str, float] | None = None
        if material.startswith("钢筋"):
            specimens = synthetic.bar_specimens(rng, code)
            fields = {"kind": "rebar_tensile", "item_code": "0102", "grade": "HRB400E"}
            judgement = "conforming"
            revision = ("specimens[1].yield_kn", specimens[0]["values"]["yield_kn"])
        elif material.startswith("水泥"):
            specimens = synthetic.mortar_specimens(rng, code)
            fields = {
                "kind": "mortar_strength",
                "item_code": "0101",
                "grade": "P·O 42.5",
                "age_days": 28,
            }
            judgement = "conforming"
            revision = ("specimens[4].peak_kn", specimens[3]["values"]["peak_kn"])
        elif material.startswith("混凝土"):
            grade = specification if specification.startswith("C") else "C30"
            design = float(grade[1:])
            mpa_s = 1.3 if planted == "loading_rate" else 0.6
            strength = design * (0.85 if planted == "judgement_mismatch" else rng.uniform(1.1, 1.3))
            peaks = [
                strength * synthetic.CUBE_KN_PER_MPA * rng.uniform(0.97, 1.03) for _ in range(3)
            ]
            drawn = synthetic.cubes(rng, peaks, mpa_s)
            if planted == "curve_reuse" and lab.last_cubes:
                drawn = [
                    synthetic.copy_of(
                        rng, c, shift_s=rng.uniform(5, 60), noise_kn=0.001 * c.force.max()
                    )
                    for c in lab.last_cubes
                ]
            elif planted != "curve_reuse":
                lab.last_cubes = drawn
            inflate = 1.06 if planted == "result_curve_mismatch" else 1.0
            specimens = synthetic.cube_specimens(drawn, code, inflate)
            fields = {
                "kind": "concrete_compression",
                "item_code": "0108",
                "grade": grade,
                "age_days": 28,
                "specimen_size_mm": 150,
            }
            judgement = "conforming"
            revision = ("specimens[2].peak_kn", specimens[1]["values"]["peak_kn"])
        else:  # mortar cubes and the like: entered by hand from the original form
            specimens = [
                {
                    "position": n,
                    "sample_code": code,
                    "values": {"peak_kn": round(rng.uniform(30, 45), 2)},
                }
                for n in (1, 2, 3)
            ]
            fields = {"kind": "other", "item_code": "0111", "grade": specification}
            common["acquisition"] = "manual"
            judgement = "none"
            revision = None
        if planted:
            lab.planted[planted] += 1
        plans.append(
            (
                "test_record",
                message(**common, **fields, specimens=specimens, judgement=judgement),
                {},
            )
        )
        if planted == "manual_override" and revision is not None:
            field_name, before = revision
            plans.append(
                (
                    "test_revision",
                    message(
                        record_number=common["number"],
                        field=field_name,
                        before=before,
                        after=round(float(before) * 0.99, 2),
                        reason="复核时依据力值-时间曲线人工更正",
                        revised_by="模拟检测员",
                        revised_at=now.isoformat(),
                    ),
                    {},
                )
            )
    return plans
