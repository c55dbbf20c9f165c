"""Statistics of a proficiency test by ISO 13528:2022: robust mean and standard deviation by
Algorithm A (Annex C.3.1), the uncertainty of a consensus value, the performance scores z, z',
zeta and En (clause 9) and their signals.

Plain Python, no database and no web: the ISO 13528 Annex E examples are reproduced by
``tests/proficiency/test_statistics.py`` from this module alone.

Algorithm A (C.3.1): start from the median and ``s* = 1.483 * median |x_i - x*|`` (MADe);
then repeatedly clip each result to ``x* ± 1.5 s*``, take the mean of the clipped results as
the new ``x*`` and ``1.134 * their standard deviation`` as the new ``s*``; stop when the third
significant figure of both ``x*`` and ``s*`` no longer changes (the standard's stopping rule,
which the printed values of example E.1 depend on). When the MADe is 0 (more than half the
results equal), the sample standard deviation starts the iteration instead (C.3.1 NOTE).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

MADE_FACTOR = 1.483
CLIP_FACTOR = 1.5
SD_FACTOR = 1.134
U_FACTOR = 1.25  # u(x*) = 1.25 s* / sqrt(p)  (ISO 13528:2022 7.7.3)
MAX_ITERATIONS = 1000
MIN_RESULTS = 3  # fewer than this and no robust statistic is meaningful
# a score is compared with its limits after rounding away floating-point noise, so that a
# result exactly 3 sigma off is an action signal whatever the binary arithmetic made of it
_SIGNAL_DIGITS = 9


class Signal(StrEnum):
    """What a score says (ISO 13528:2022 9.4-9.7)."""

    SATISFACTORY = "satisfactory"
    WARNING = "warning"
    ACTION = "action"

    @property
    def label(self) -> str:
        return _SIGNAL_LABELS[self.value]

    @property
    def badge(self) -> str:
        return {"satisfactory": "ok", "warning": "warn", "action": "bad"}[self.value]


_SIGNAL_LABELS = {
    "satisfactory": "满意",
    "warning": "警戒信号（可疑）",
    "action": "行动信号（不满意）",
}


class Score(StrEnum):
    """The performance scores (ISO 13528:2022 clause 9)."""

    Z = "z"
    Z_PRIME = "z_prime"
    ZETA = "zeta"
    EN = "en"

    @property
    def label(self) -> str:
        return _SCORE_LABELS[self.value]


_SCORE_LABELS = {"z": "z 比分数", "z_prime": "z′ 比分数", "zeta": "ζ 比分数", "en": "En 值"}


def sig3(value: float) -> float:
    """``value`` rounded to three significant figures (0 stays 0)."""
    if value == 0 or not math.isfinite(value):
        return value
    digits = 2 - math.floor(math.log10(abs(value)))
    return round(value, digits)


@dataclass(frozen=True)
class RobustResult:
    """What Algorithm A gives: the robust mean ``x_star`` and standard deviation ``s_star`` of
    ``p`` results, after ``iterations`` rounds, and the standard uncertainty of ``x_star`` as
    an assigned value."""

    x_star: float
    s_star: float
    p: int
    iterations: int
    median: float
    made: float

    @property
    def u_x_star(self) -> float:
        return U_FACTOR * self.s_star / math.sqrt(self.p)


def algorithm_a(values: Sequence[float], *, max_iterations: int = MAX_ITERATIONS) -> RobustResult:
    """Robust mean and standard deviation of ``values`` by ISO 13528:2022 Algorithm A, stopped
    when the third significant figure of ``x*`` and ``s*`` no longer changes."""
    data = [float(v) for v in values]
    if len(data) < MIN_RESULTS:
        raise ValueError(f"Algorithm A needs at least {MIN_RESULTS} results, got {len(data)}")
    if not all(math.isfinite(v) for v in data):
        raise ValueError("Algorithm A takes finite numbers only")
    p = len(data)
    median = statistics.median(data)
    made = MADE_FACTOR * statistics.median(abs(v - median) for v in data)
    x_star, s_star = median, made
    if s_star == 0:
        s_star = statistics.stdev(data)
    iterations = 0
    while iterations < max_iterations and s_star > 0:
        delta = CLIP_FACTOR * s_star
        clipped = [min(max(v, x_star - delta), x_star + delta) for v in data]
        new_x = sum(clipped) / p
        new_s = SD_FACTOR * math.sqrt(sum((v - new_x) ** 2 for v in clipped) / (p - 1))
        iterations += 1
        done = sig3(new_x) == sig3(x_star) and sig3(new_s) == sig3(s_star)
        x_star, s_star = new_x, new_s
        if done:
            break
    return RobustResult(x_star, s_star, p, iterations, median, made)


# --- scores -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assigned:
    """The assigned value ``x_pt``, its standard uncertainty ``u_x_pt`` and the standard
    deviation for proficiency assessment ``sigma_pt``. ``U_x_pt`` (expanded, k = 2) defaults to
    twice ``u_x_pt``."""

    x_pt: float
    u_x_pt: float
    sigma_pt: float
    expanded: float | None = None

    @property
    def U_x_pt(self) -> float:  # the standard's symbol
        return self.expanded if self.expanded is not None else 2 * self.u_x_pt


@dataclass(frozen=True)
class Scores:
    """A result's difference and scores (``None`` where what it needs is missing)."""

    d: float
    d_pct: float | None
    pa: float | None
    z: float | None
    z_prime: float | None
    zeta: float | None
    en: float | None

    def get(self, score: Score) -> float | None:
        value: float | None = getattr(self, score.value)
        return value


def _ratio(top: float, bottom: float) -> float | None:
    """``top / bottom``; None when it is not a finite number (a zero or vanishing spread)."""
    if not bottom > 0:
        return None
    value = top / bottom
    return value if math.isfinite(value) else None


def scores(x: float, assigned: Assigned, U_x: float | None = None, k: float = 2.0) -> Scores:
    """The scores of result ``x`` (with expanded uncertainty ``U_x`` at coverage ``k``, when
    known) against ``assigned`` (ISO 13528:2022 9.3-9.7; PA with delta_E = 3 sigma_pt)."""
    d = x - assigned.x_pt
    u_x = U_x / k if U_x is not None and k > 0 else None
    return Scores(
        d=d,
        d_pct=100 * d / assigned.x_pt if assigned.x_pt != 0 else None,
        pa=_ratio(100 * d, 3 * assigned.sigma_pt),
        z=_ratio(d, assigned.sigma_pt),
        z_prime=_ratio(d, math.sqrt(assigned.sigma_pt**2 + assigned.u_x_pt**2)),
        zeta=None if u_x is None else _ratio(d, math.sqrt(u_x**2 + assigned.u_x_pt**2)),
        en=None if U_x is None else _ratio(d, math.sqrt(U_x**2 + assigned.U_x_pt**2)),
    )


def signal(score: Score, value: float | None) -> Signal | None:
    """The signal of a score: z, z' and zeta: ``|s| >= 3`` action, ``2 < |s| < 3`` warning;
    En: ``|En| >= 1`` action (ISO 13528:2022 9.4.1, 9.5, 9.6, 9.7)."""
    if value is None:
        return None
    size = round(abs(value), _SIGNAL_DIGITS)
    if score is Score.EN:
        return Signal.ACTION if size >= 1 else Signal.SATISFACTORY
    if size >= 3:
        return Signal.ACTION
    if size > 2:
        return Signal.WARNING
    return Signal.SATISFACTORY


def worst(signals: Sequence[Signal | None]) -> Signal | None:
    """The most serious of ``signals`` (``None`` when there is none)."""
    order = [Signal.ACTION, Signal.WARNING, Signal.SATISFACTORY]
    for candidate in order:
        if candidate in signals:
            return candidate
    return None


def histogram(values: Sequence[float], bins: int = 0) -> list[tuple[float, float, int]]:
    """Counts of ``values`` in equal bins ``(low, high, count)``; ``bins`` 0 chooses
    Sturges' number (at least 5)."""
    data = [v for v in values if math.isfinite(v)]
    if not data:
        return []
    n = bins or max(5, math.ceil(math.log2(len(data)) + 1))
    low, high = min(data), max(data)
    if high == low:
        high = low + 1
    width = (high - low) / n
    counts = [0] * n
    for v in data:
        counts[min(int((v - low) / width), n - 1)] += 1
    return [(low + i * width, low + (i + 1) * width, c) for i, c in enumerate(counts)]
