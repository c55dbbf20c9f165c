"""A lab with a LIMS on the exchange, and records built from machine-like curves."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from jcjg.alerts import engine
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.demo import synthetic
from jcjg.testing import curves
from tests.exchange.conftest import Lims, make_lims

CUBE_AREA = 150 * 150


@pytest.fixture
def lab(db, settings, factory) -> Lims:
    return make_lims(db, settings, factory)


def points(curve: curves.Curve) -> list[list[float]]:
    return curves.to_points(curve)


def when(minutes_ago: float = 5) -> tuple[str, str]:
    ended = utcnow() - dt.timedelta(minutes=minutes_ago)
    started = ended - dt.timedelta(minutes=6)
    return started.isoformat(), ended.isoformat()


def concrete_record(
    lims: Lims,
    *,
    number: str,
    grade: str = "C30",
    rate_mpa_s: float = 0.6,
    peaks: tuple[float, float, float] = (800.0, 810.0, 795.0),
    seed: int = 1,
    judgement: str = "conforming",
    minutes_ago: float = 5,
    acquisition: str = "auto",
    reported: tuple[float, ...] | None = None,
    curves_of: list[curves.Curve] | None = None,
) -> tuple[dict[str, Any], list[curves.Curve]]:
    rng = random.Random(seed)
    rate_kn_s = rate_mpa_s * CUBE_AREA / 1000
    drawn = curves_of or [synthetic.concrete(rng, peak_kn=p, rate_kn_s=rate_kn_s) for p in peaks]
    started, ended = when(minutes_ago)
    specimens = []
    for n, curve in enumerate(drawn, start=1):
        peak = float(curve.force.max())
        value = reported[n - 1] if reported else round(peak, 2)
        specimens.append(
            {
                "position": n,
                "values": {"peak_kn": value, "strength_mpa": round(value * 1000 / CUBE_AREA, 1)},
                "curve": {"points": points(curve)},
            }
        )
    payload = lims.message(
        number=number,
        kind="concrete_compression",
        item_code="0108",
        standard="GB/T 50081-2019",
        lab_name="力学室",
        equipment=["SB-001"],
        inspectors=[{"name": "王检测"}],
        started_at=started,
        ended_at=ended,
        acquisition=acquisition,
        grade=grade,
        age_days=28,
        specimen_size_mm=150,
        specimens=specimens,
        results={"strength_mpa": round(sum(peaks) / 3 * 1000 / CUBE_AREA, 1)},
        judgement=judgement,
    )
    return payload, drawn


# the statistics' reader (tests/testing/statistics)
@pytest.fixture
def authority(factory):
    return factory.user(Role.CITY_AUTHORITY, region_code="360400")


def runs_of(monkeypatch, rule_id: str) -> list[dict[str, Any]]:
    """How rule ``rule_id`` is run from now on (by rows, by institutions, by groups' keys):
    each run's narrowing, appended as it starts."""
    runs: list[dict[str, Any]] = []
    real = engine.run_rule

    def spy(db, rule, **kw):
        if rule == rule_id:
            runs.append(
                {k: set(v) for k, v in kw.items() if (k.endswith("_ids") or k == "keys") and v}
            )
        return real(db, rule, **kw)

    monkeypatch.setattr(engine, "run_rule", spy)
    return runs
