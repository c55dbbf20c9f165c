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
from dataclasses import dataclass
from typing import Any

import numpy as np

from jcjg.testing.curves import Curve, to_points
from jcjg.testing.judgement import nominal_area


def _noise(rng: random.Random, sigma: float, size: int) -> np.ndarray:
    return np.random.default_rng(rng.getrandbits(64)).normal(0.0, sigma, size)


def _wobble(rng: random.Random, t: np.ndarray, amplitude: float) -> np.ndarray:
    """Slow and faster oscillations of servo and material, weaker as they get faster."""
    span = max(float(t[-1] - t[0]), 1e-6)
    draws = []
    for _ in range(16):
        count = rng.uniform(1.0, 60.0)
        size = rng.uniform(0.3, 1.0) / math.sqrt(count)
        draws.append((count, size, rng.uniform(0, 2 * math.pi)))
    cycles, sizes, phases = (np.array(column) for column in zip(*draws, strict=True))
    step = span / max(t.size - 1, 1)
    if t.size < 2 or float(np.abs(np.diff(t) - step).max()) > 1e-9 * step:
        phase = 2 * math.pi * (t - t[0]) / span
        out = np.zeros_like(t)
        for c, s, p in draws:
            out += s * np.sin(c * phase + p)
        return amplitude * out
    # samples at one step (every curve drawn here): sample i = width * row + column, and the
    # sine of the sum of the two angles from their sines and cosines, summed over the 16 by two
    # matrix products (within 1e-12 of a sine of every sample, a seventh of the time)
    width = math.isqrt(t.size - 1) + 1
    rows = -(-t.size // width)
    turn = 2 * math.pi * cycles / span * step  # radians a sample
    coarse = np.outer(turn * width, np.arange(rows)) + phases[:, None]
    fine = np.outer(turn, np.arange(width))
    out = (sizes[:, None] * np.sin(coarse)).T @ np.cos(fine) + (
        sizes[:, None] * np.cos(coarse)
    ).T @ np.sin(fine)
    return np.asarray(amplitude * out.ravel()[: t.size], dtype=np.float64)


def concrete(
    rng: random.Random,
    *,
    peak_kn: float,
    rate_kn_s: float,
    hz: float = 20.0,
    start_s: float = 0.0,
    noise: float = 0.002,
    wobble: float = 0.004,
) -> Curve:
    """A cube compression test (or a mortar prism: give its peak and rate); ``noise`` and
    ``wobble`` as shares of the peak."""
    rise = peak_kn / rate_kn_s
    toe = rng.uniform(1.0, 3.0)
    after = rng.uniform(2.0, 5.0)
    t = np.arange(0.0, toe + rise * 1.04 + after, 1.0 / hz)
    x = np.clip((t - toe) / rise, 0, None)
    # the controlled rate with a slight softening near the peak
    load = peak_kn * (x - 0.06 * x**3) / 0.94
    load = np.where(t < toe, 0.02 * peak_kn * (t / toe) ** 2, load + 0.02 * peak_kn)
    peak_at = int(np.argmax(load >= peak_kn)) if (load >= peak_kn).any() else len(t) - 1
    swing = _wobble(rng, t, wobble * peak_kn)
    force = np.minimum(load, peak_kn) + swing * (t > toe)
    broken = t > t[peak_at]
    # only after the peak (long rises would overflow before it)
    drop = np.exp(-np.clip(t - t[peak_at], 0.0, None) / rng.uniform(0.3, 0.8))
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


# --- a population of machines and specimens, and the ways a test is forged (the benchmark) -----


@dataclass(frozen=True)
class Machine:
    """A compression machine's habits: its sampling rate, the noise of its load cell (white,
    and slow drift of the servo as an AR(1) process), its display resolution, a mains hum on
    some, a hydraulic pump's ripple (a fundamental and its second harmonic) on some, a PC
    clock's wobble on some, the loading rate its operators set (MPa/s) and how much its servo
    swings. Hum and ripple keep their frequency and size on every test of the machine; their
    phase is each test's (the pump and the mains run on when no test does)."""

    hz: float
    white: float  # load-cell noise, as a share of the peak
    drift: float  # AR(1) coefficient of the servo's drift
    drift_share: float  # its size against the white noise
    quantum_kn: float
    hum: float  # the hum's size against the white noise (0: none)
    hum_hz: float
    jitter_s: float  # the sampling intervals' wobble (0: a steady clock)
    rate_mpa_s: float
    servo: float  # the servo's and the material's slow swing, as a share of the peak
    lag: float  # the load falling behind the set rate before the break, share of the peak
    lag_s: float  # over how long (the press's and the concrete's, the same on every cube)
    ripple: float = 0.0  # the pump ripple's size against the white noise (0: none)
    ripple_hz: float = 0.0


def machine(rng: random.Random) -> Machine:
    return Machine(
        hz=rng.choice((10.0, 20.0, 50.0)),
        white=rng.uniform(0.0005, 0.003),
        drift=rng.uniform(0.5, 0.95),
        drift_share=rng.uniform(0.0, 1.0),
        quantum_kn=rng.choice((0.001, 0.01, 0.1)),
        hum=rng.uniform(0.5, 2.0) if rng.random() < 0.3 else 0.0,
        hum_hz=rng.uniform(0.5, 4.0),
        jitter_s=rng.uniform(0.0005, 0.003) if rng.random() < 0.3 else 0.0,
        rate_mpa_s=rng.choice((0.5, 0.6, 0.8)),
        # a well-tuned servo on three in ten: their curves differ only by their noise
        servo=0.0002 if rng.random() < 0.3 else rng.uniform(0.001, 0.004),
        lag=rng.uniform(0.005, 0.03),
        lag_s=rng.uniform(3.0, 15.0),
        ripple=rng.uniform(0.5, 3.0) if rng.random() < 0.5 else 0.0,
        ripple_hz=rng.uniform(0.3, 2.5),
    )


def _stored(t: np.ndarray, force: np.ndarray) -> Curve:
    """As the platform keeps it: the millisecond and the newton, time strictly increasing."""
    t = np.round(t, 3)
    keep = np.concatenate(([True], np.diff(t) > 0))
    return Curve(t[keep], np.round(np.maximum(force[keep], 0.0), 3), None)


def cube_on(rng: random.Random, m: Machine, grade_mpa: float) -> Curve:
    """A 150 mm cube of the grade (strength 1.05-1.35 times it) broken on machine ``m``."""
    peak = grade_mpa * rng.uniform(1.05, 1.35) * CUBE_KN_PER_MPA
    rate = m.rate_mpa_s * CUBE_KN_PER_MPA * rng.uniform(0.97, 1.03)
    curve = concrete(rng, peak_kn=peak, rate_kn_s=rate, hz=m.hz, noise=0.0, wobble=m.servo)
    gen = np.random.default_rng(rng.getrandbits(64))
    n, sigma = curve.n, m.white * peak
    broke = float(curve.t[int(np.argmax(curve.force))])
    behind = m.lag * peak * np.exp(-np.abs(broke - curve.t) / m.lag_s) * (curve.t <= broke)
    drift = np.convolve(
        gen.normal(0.0, sigma * m.drift_share * math.sqrt(1 - m.drift**2), n),
        m.drift ** np.arange(min(n, 200)),
    )[:n]
    phase = rng.uniform(0, 2 * math.pi)
    hum = m.hum * sigma * np.sin(2 * math.pi * m.hum_hz * curve.t + phase)
    if m.ripple:
        turn = 2 * math.pi * m.ripple_hz * curve.t + rng.uniform(0, 2 * math.pi)
        hum = hum + m.ripple * sigma * (np.sin(turn) + 0.5 * np.sin(2 * turn + 1.0))
    noise = gen.normal(0.0, sigma, n) + drift + hum
    force = curve.force - behind + noise * (curve.force > 0.02 * peak)
    force = np.round(force / m.quantum_kn) * m.quantum_kn
    t = curve.t
    if m.jitter_s:
        t = np.sort(t + gen.normal(0.0, m.jitter_s, n))
        t -= t[0]
    return _stored(t, force)


COPY_KINDS = (
    "exact",
    "shifted",
    "rescaled",
    "resampled",
    "noise_added",
    "truncated",
    "spliced",
    "time_scaled",
    "time_stretched",
    "noise_2x",
    "requantised",
    "loading_branch",
    "decimated",
)


def _apart(rng: random.Random, lo: float, hi: float) -> float:
    """A factor between ``lo`` and ``hi`` at least 3 % away from 1 (below or above it)."""
    return rng.choice((rng.uniform(lo, 0.97), rng.uniform(1.03, hi)))


def _time_scaled(rng: random.Random, t: np.ndarray, f: np.ndarray, noise_kn: float) -> Curve:
    factor = _apart(rng, 0.85, 1.15)
    return _stored(t * factor, f * factor)


def _time_stretched(rng: random.Random, t: np.ndarray, f: np.ndarray, noise_kn: float) -> Curve:
    return _stored(t * _apart(rng, 0.90, 1.10), f)


def _noise_2x(rng: random.Random, t: np.ndarray, f: np.ndarray, noise_kn: float) -> Curve:
    return _stored(t, f + _noise(rng, rng.uniform(1.0, 2.0) * noise_kn, t.size))


def _requantised(rng: random.Random, t: np.ndarray, f: np.ndarray, noise_kn: float) -> Curve:
    quantum = rng.choice((0.1, 0.5))
    return _stored(t, np.round(f / quantum) * quantum)


def _loading_branch(rng: random.Random, t: np.ndarray, f: np.ndarray, noise_kn: float) -> Curve:
    at = int(np.argmax(f))
    first = int(np.argmax(f >= rng.uniform(0.05, 0.12) * float(f[at])))
    return _stored(t[first : at + 1] - t[first], f[first : at + 1])


def _decimated(rng: random.Random, t: np.ndarray, f: np.ndarray, noise_kn: float) -> Curve:
    keep = slice(rng.randrange(2), None, 2)
    return _stored(t[keep] - t[keep][0], f[keep])


# the disguises a forger who knows the method would add (issue 46)
_DISGUISES = {
    "time_scaled": _time_scaled,
    "time_stretched": _time_stretched,
    "noise_2x": _noise_2x,
    "requantised": _requantised,
    "loading_branch": _loading_branch,
    "decimated": _decimated,
}


def forge(rng: random.Random, curve: Curve, kind: str, *, noise_kn: float, donor: Curve) -> Curve:
    """One good test passed off as another: ``exact``; ``shifted`` in time (0.5-60 s);
    ``rescaled`` forces (3-15 % up or down); ``resampled`` at another rate (0.6-0.9 or 1.1-1.6
    times the interval); ``noise_added`` (a quarter to all of ``noise_kn``, the machine's own);
    ``truncated`` (the toe cut at 2-8 % of the peak, the record ended 0.5-3 s after it);
    ``spliced`` (``donor``'s toe up to 4-8 % of the peak, then this test's load and break);
    ``time_scaled`` (time and force multiplied by one factor, 0.85-0.97 or 1.03-1.15: the load
    rate kept); ``time_stretched`` (time alone, 0.90-0.97 or 1.03-1.10); ``noise_2x`` (one to
    two times ``noise_kn`` added); ``requantised`` (forces rounded again to 0.1 or 0.5 kN);
    ``loading_branch`` (the toe cut at 5-12 % of the peak, the record ended at the peak: the
    break removed); ``decimated`` (every second point dropped)."""
    t, f = curve.t, curve.force
    peak, at = float(f.max()), int(np.argmax(f))
    if kind == "exact":
        return Curve(t.copy(), f.copy(), None)
    if kind == "shifted":
        return _stored(t + rng.uniform(0.5, 60.0), f)
    if kind == "rescaled":
        return _stored(t, f * rng.choice((rng.uniform(0.85, 0.97), rng.uniform(1.03, 1.15))))
    if kind == "resampled":
        ratio = rng.choice((rng.uniform(0.6, 0.9), rng.uniform(1.1, 1.6)))
        step = float(np.median(np.diff(t))) * ratio
        grid = np.arange(t[0] + rng.uniform(0, step), t[-1], step)
        return _stored(grid - grid[0], np.interp(grid, t, f))
    if kind == "noise_added":
        return _stored(t, f + _noise(rng, rng.uniform(0.25, 1.0) * noise_kn, curve.n))
    if kind == "truncated":
        first = int(np.argmax(f >= rng.uniform(0.02, 0.08) * peak))
        last = min(curve.n, int(np.searchsorted(t, t[at] + rng.uniform(0.5, 3.0))) + 1)
        return _stored(t[first:last] - t[first], f[first:last])
    if kind in _DISGUISES:
        return _DISGUISES[kind](rng, t, f, noise_kn)
    if kind == "spliced":
        level = rng.uniform(0.04, 0.08) * peak
        mine = int(np.argmax(f >= level))
        scale = peak / float(donor.force.max())
        theirs = max(2, int(np.argmax(donor.force * scale >= level)))
        head_t, head_f = donor.t[:theirs], donor.force[:theirs] * scale
        tail_t = t[mine:] - t[mine] + head_t[-1] + float(np.median(np.diff(t)))
        return _stored(np.concatenate((head_t, tail_t)), np.concatenate((head_f, f[mine:])))
    raise ValueError(kind)


# --- specimens as a lab's system sends them (the demo, the simulator) ---------------------------

CUBE_KN_PER_MPA = 150 * 150 / 1000  # a 150 mm cube


def cubes(rng: random.Random, peaks: Sequence[float], mpa_s: float) -> list[Curve]:
    """150 mm concrete cubes loaded at ``mpa_s`` to the given peaks (kN)."""
    return [concrete(rng, peak_kn=p, rate_kn_s=mpa_s * CUBE_KN_PER_MPA) for p in peaks]


def _specimen(
    position: int, sample_code: str | None, values: dict[str, Any], curve: Curve
) -> dict[str, Any]:
    """One specimen as a LIMS sends it: its raw values and its force-time curve."""
    return {
        "position": position,
        "sample_code": sample_code,
        "values": values,
        "curve": {"points": to_points(curve, 3)},
    }


def cube_specimens(
    drawn: Sequence[Curve], sample_code: str | None = None, inflate: float = 1.0
) -> list[dict[str, Any]]:
    """The ``specimens`` of a cube record; ``inflate`` reports peaks above the curves'."""
    out = []
    for n, curve in enumerate(drawn, start=1):
        peak = round(float(curve.force.max()) * inflate, 2)
        out.append(
            _specimen(
                n,
                sample_code,
                {"peak_kn": peak, "strength_mpa": round(peak / CUBE_KN_PER_MPA, 1)},
                curve,
            )
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
            _specimen(
                n,
                sample_code,
                {
                    "mode": "flexural" if flexural else "compressive",
                    "peak_kn": round(float(curve.force.max()), 3),
                },
                curve,
            )
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
            _specimen(
                n,
                sample_code,
                {
                    "diameter_mm": 20,
                    "yield_kn": round(yield_mpa * nominal_area(20) / 1000, 2),
                    "max_kn": round(float(curve.force.max()), 2),
                    "gauge_mm": 100,
                    "final_gauge_mm": round(rng.uniform(118, 124), 1),
                    "agt_percent": round(rng.uniform(11, 14), 1),
                    "break_location": "标距内",
                },
                curve,
            )
        )
    return out


def masonry_specimens(
    rng: random.Random,
    strength_mpa: float,
    sample_code: str | None = None,
    rate_kn_s: float = 0.8,
) -> list[dict[str, Any]]:
    """Three 70.7 mm mortar cubes about ``strength_mpa`` (f = 1.35 N / A, JGJ/T 70-2009)
    broken at ``rate_kn_s``."""
    area = 70.7 * 70.7
    out = []
    for n in (1, 2, 3):
        peak = strength_mpa * rng.uniform(0.95, 1.05) * area / 1.35 / 1000
        curve = concrete(rng, peak_kn=peak, rate_kn_s=rate_kn_s)
        out.append(
            _specimen(n, sample_code, {"peak_kn": round(float(curve.force.max()), 2)}, curve)
        )
    return out


def splice_specimens(
    rng: random.Random,
    joint: str,
    fractures: Sequence[str],
    tensile_mpa: Sequence[float],
    sample_code: str | None = None,
    stress_rate_mpa_s: float = 20.0,
) -> list[dict[str, Any]]:
    """Splice specimens of 20 mm HRB400 bars pulled to ``tensile_mpa`` each, broken where
    ``fractures`` say (JGJ 18 / JGJ 107)."""
    out = []
    for n, (fracture, rm) in enumerate(zip(fractures, tensile_mpa, strict=True), start=1):
        curve = rebar(
            rng, diameter_mm=20, yield_mpa=rm * 0.75, tensile_mpa=rm,
            stress_rate_mpa_s=stress_rate_mpa_s,
        )  # fmt: skip
        out.append(
            _specimen(
                n,
                sample_code,
                {
                    "joint": joint,
                    "diameter_mm": 20,
                    "max_kn": round(float(curve.force.max()), 2),
                    "fracture": fracture,
                },
                curve,
            )
        )
    return out


def _faces(
    rng: random.Random,
    strengths_mpa: Sequence[float],
    face_mm: tuple[float, float],
    rate_kn_s: float,
    sample_code: str | None,
) -> list[dict[str, Any]]:
    """Specimens of bricks or blocks, each crushed at ``rate_kn_s`` to its strength over a
    bearing face of about ``face_mm`` (measured to 0.5 mm)."""
    out = []
    for n, strength in enumerate(strengths_mpa, start=1):
        length = round(face_mm[0] * rng.uniform(0.99, 1.01) * 2) / 2
        width = round(face_mm[1] * rng.uniform(0.99, 1.01) * 2) / 2
        curve = concrete(rng, peak_kn=strength * length * width / 1000, rate_kn_s=rate_kn_s)
        values = {"length_mm": length, "width_mm": width,
                  "peak_kn": round(float(curve.force.max()), 2)}  # fmt: skip
        out.append(_specimen(n, sample_code, values, curve))
    return out


def brick_specimens(
    rng: random.Random,
    strengths_mpa: Sequence[float],
    sample_code: str | None = None,
    rate_kn_s: float = 4.0,
) -> list[dict[str, Any]]:
    """Fired bricks (GB/T 2542-2012: two halves stacked, a bearing face of about 110 mm ×
    115 mm), one per strength (ten to a group), crushed at ``rate_kn_s``."""
    return _faces(rng, strengths_mpa, (110.0, 115.0), rate_kn_s, sample_code)


def block_specimens(
    rng: random.Random,
    strengths_mpa: Sequence[float],
    sample_code: str | None = None,
    rate_kn_s: float = 5.0,
) -> list[dict[str, Any]]:
    """Hollow concrete blocks 390 mm × 190 mm on their gross bearing face (GB/T 4111-2013),
    one per strength (five to a group), crushed at ``rate_kn_s``."""
    return _faces(rng, strengths_mpa, (390.0, 190.0), rate_kn_s, sample_code)


def rock_specimens(
    rng: random.Random,
    strengths_mpa: Sequence[float],
    sample_code: str | None = None,
    stress_rate_mpa_s: float = 0.7,
) -> list[dict[str, Any]]:
    """Rock cores of about Φ50 mm × 100 mm (GB 50007-2011 J.0.2), one per strength (six to a
    group), crushed at ``stress_rate_mpa_s`` over the core's section."""
    out = []
    for n, strength in enumerate(strengths_mpa, start=1):
        diameter = round(rng.uniform(49.5, 50.5), 1)
        height = round(diameter * rng.uniform(2.0, 2.1), 1)
        area = nominal_area(diameter)
        curve = concrete(
            rng, peak_kn=strength * area / 1000, rate_kn_s=stress_rate_mpa_s * area / 1000
        )
        values = {"diameter_mm": diameter, "height_mm": height,
                  "peak_kn": round(float(curve.force.max()), 2)}  # fmt: skip
        out.append(_specimen(n, sample_code, values, curve))
    return out
