"""What a simulated lab puts on its bench: machines in use, calibrated past the day, with their
certificate; a machine its LIMS registered without a calibration date is left off."""

from __future__ import annotations

import datetime as dt

from jcjg.demo.simulator.testing import TESTING_MACHINES, bench_of


def _machine(**more: object) -> dict[str, object]:
    return {
        "name": TESTING_MACHINES["compression"],
        "lab_name": "力学室",
        "status": "in_use",
        "calibration_certificate_sha256": "a" * 64,
        **more,
    }


def test_only_calibrated_machines_are_on_the_bench():
    today = dt.date(2026, 11, 24)
    equipment = {
        "YJ-1": _machine(calibration_valid_until="2027-06-30"),
        "YJ-2": _machine(calibration_valid_until="2026-11-23"),  # ran out yesterday
        "YJ-3": _machine(),  # no calibration date registered
        "YJ-4": _machine(calibration_valid_until=None),
    }
    people = {
        "p1": {"name": "张伟", "id_number": "360402199001011234", "is_inspector": True,
               "specialties": ["01"], "lab_name": "力学室"},
    }  # fmt: skip
    bench = bench_of(equipment, people, today, "01")
    assert bench.machines == {"compression": [("YJ-1", "力学室")]}
    assert bench.inspectors["力学室"]["name"] == "张伟"
