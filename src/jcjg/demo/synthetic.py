"""Force-time curves as machines draw them, for the simulator, the demo, tests and benchmarks.

Concrete and mortar: a short seating toe, load rising at the controlled rate with the slight
softening of micro-cracking towards the peak, then the drop when the specimen breaks. Rebar: the
elastic line, the yield plateau with its ripples, strain hardening to the maximum force, then
necking. Every specimen gets its own small wobble (a few slow oscillations of the servo and the
material, random in phase and size) and sensor noise: what tells one real test from another.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from jcjg.testing.curves import Curve, to_points
from jcjg.testing.judgement import nominal_area


def _noise(rng: random.Random, sigma: float, size: int) -> np.ndarray:
    return np.random.default_rng(rng.getrandbits(64)).normal(0.0, sigma, size)


def _wobble(rng: random.Random, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Slow and faster oscillations of servo and material, weaker as they get faster."""
    out = np.zeros_like(t)
    span = max(float(t[-1] - t[0]), 1e-6)
    phase = 2 * math.pi * (t - t[0]) / span
    for _ in range(16):
        cycles = rng.uniform(1.0, 60.0)
        size = rng.uniform(0.3, 1.0) / math.sqrt(cycles)
        out += size * np.sin(cycles * phase + rng.uniform(0, 2 * math.pi))
    return amplitude * out


def concrete(
    rng: random.Random,
    *,
    peak_kn: float,
    rate_kn_s: float,
    hz: float = 20.0,
    start_s: float = 0.0,
    noise: float = 0.002,
) -> Curve:
    """A cube compression test (or a mortar prism: give its peak and rate)."""
    rise = peak_kn / rate_kn_s
    toe = rng.uniform(1.0, 3.0)
    after = rng.uniform(2.0, 5.0)
    t = np.arange(0.0, toe + rise * 1.04 + after, 1.0 / hz)
    x = np.clip((t - toe) / rise, 0, None)
    # the controlled rate with a slight softening near the peak
    load = peak_kn * (x - 0.06 * x**3) / 0.94
    load = np.where(t < toe, 0.02 * peak_kn * (t / toe) ** 2, load + 0.02 * peak_kn)
    peak_at = int(np.argmax(load >= peak_kn)) if (load >= peak_kn).any() else len(t) - 1
    wobble = _wobble(rng, t, 0.004 * peak_kn)
    force = np.minimum(load, peak_kn) + wobble * (t > toe)
    broken = t > t[peak_at]
    drop = np.exp(-(t - t[peak_at]) / rng.uniform(0.3, 0.8))
    force = np.where(broken, force[peak_at] * (0.25 + 0.75 * drop), force)
    force += _noise(rng, noise * peak_kn, t.size)
    return Curve(t + start_s, np.maximum(force, 0.0), None)


def rebar(
    rng: random.Random,
    *,
    diameter_mm: float,
    yield_mpa: float,
    tensile_mpa: float,
    stress_rate_mpa_s: float = 20.0,
    hz: float = 50.0,
    start_s: float = 0.0,
    noise: float = 0.002,
) -> Curve:
    """A tensile test of a ribbed bar: elastic line, yield plateau, hardening, necking; with
    displacement (mm) of the crosshead."""
    area = math.pi * diameter_mm**2 / 4
    fy, fm = yield_mpa * area / 1000, tensile_mpa * area / 1000
    elastic = fy / (stress_rate_mpa_s * area / 1000)
    plateau = rng.uniform(4.0, 8.0)
    hardening = rng.uniform(25.0, 40.0)
    necking = rng.uniform(4.0, 8.0)
    t = np.arange(0.0, elastic + plateau + hardening + necking, 1.0 / hz)
    force = np.empty_like(t)
    e = t <= elastic
    force[e] = fy * t[e] / elastic
    p = (t > elastic) & (t <= elastic + plateau)
    force[p] = fy * (0.985 + 0.012 * np.sin(7 * (t[p] - elastic)))
    h = (t > elastic + plateau) & (t <= elastic + plateau + hardening)
    s = (t[h] - elastic - plateau) / hardening
    force[h] = fy + (fm - fy) * (1 - (1 - s) ** 2)
    n = t > elastic + plateau + hardening
    force[n] = fm * (1 - 0.35 * ((t[n] - elastic - plateau - hardening) / necking) ** 2)
    force += _wobble(rng, t, 0.003 * fm)
    force += _noise(rng, noise * fm, t.size)
    displacement = np.where(e, 0.8 * t / elastic, 0.8 + 0.6 * (t - elastic))
    return Curve(t + start_s, np.maximum(force, 0.0), displacement)


def copy_of(
    rng: random.Random, curve: Curve, *, shift_s: float = 0.0, noise_kn: float = 0.0
) -> Curve:
    """The fraud: one good test uploaded again, shifted and with a little noise added."""
    force = curve.force + _noise(rng, noise_kn, curve.n)
    return Curve(curve.t + shift_s, np.maximum(force, 0.0), curve.displacement)


# --- specimens as a lab's system sends them (the demo, the simulator) ---------------------------

CUBE_KN_PER_MPA = 150 * 150 / 1000  # a 150 mm cube


def cubes(rng: random.Random, peaks: Sequence[float], mpa_s: float) -> list[Curve]:
    """150 mm concrete cubes loaded at ``mpa_s`` to the given peaks (kN)."""
    return [concrete(rng, peak_kn=p, rate_kn_s=mpa_s * CUBE_KN_PER_MPA) for p in peaks]


def cube_specimens(
    drawn: Sequence[Curve], sample_code: str | None = None, inflate: float = 1.0
) -> list[dict[str, Any]]:
    """The ``specimens`` of a cube record; ``inflate`` reports peaks above the curves'."""
    out = []
    for n, curve in enumerate(drawn, start=1):
        peak = round(float(curve.force.max()) * inflate, 2)
        out.append(
            {
                "position": n,
                "sample_code": sample_code,
                "values": {"peak_kn": peak, "strength_mpa": round(peak / CUBE_KN_PER_MPA, 1)},
                "curve": {"points": to_points(curve, 3)},
            }
        )
    return out


def mortar_specimens(
    rng: random.Random,
    sample_code: str | None = None,
    compressive_n_s: float = 2400,
    flexural_n_s: float = 50,
) -> list[dict[str, Any]]:
    """Cement mortar: three prisms broken in flexure, their six halves compressed."""
    out = []
    for n in range(1, 10):
        flexural = n <= 3
        peak = rng.uniform(3.0, 3.3) if flexural else rng.uniform(70, 76)
        rate = (flexural_n_s if flexural else compressive_n_s) / 1000
        curve = concrete(rng, peak_kn=peak, rate_kn_s=rate, hz=20 if flexural else 50)
        out.append(
            {
                "position": n,
                "sample_code": sample_code,
                "values": {
                    "mode": "flexural" if flexural else "compressive",
                    "peak_kn": round(float(curve.force.max()), 3),
                },
                "curve": {"points": to_points(curve, 3)},
            }
        )
    return out


def bar_specimens(
    rng: random.Random, sample_code: str | None = None, stress_rate_mpa_s: float = 20.0
) -> list[dict[str, Any]]:
    """Two HRB400E bars of 20 mm that meet their grade."""
    out = []
    for n in (1, 2):
        yield_mpa = rng.uniform(430, 460)
        curve = rebar(
            rng,
            diameter_mm=20,
            yield_mpa=yield_mpa,
            tensile_mpa=rng.uniform(600, 640),
            stress_rate_mpa_s=stress_rate_mpa_s,
        )
        out.append(
            {
                "position": n,
                "sample_code": sample_code,
                "values": {
                    "diameter_mm": 20,
                    "yield_kn": round(yield_mpa * nominal_area(20) / 1000, 2),
                    "max_kn": round(float(curve.force.max()), 2),
                    "gauge_mm": 100,
                    "final_gauge_mm": round(rng.uniform(118, 124), 1),
                    "agt_percent": round(rng.uniform(11, 14), 1),
                    "break_location": "标距内",
                },
                "curve": {"points": to_points(curve, 3)},
            }
        )
    return out
