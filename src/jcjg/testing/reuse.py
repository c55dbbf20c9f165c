"""Whether two force-time curves are one physical test: evidence, not resemblance.

Genuinely different specimens of one grade, loaded by one machine at one rate, draw nearly the
same smooth curve; their shapes may agree to a few parts in a thousand. What two physical tests
cannot share is the sample-to-sample noise: the load cell's, the servo's, the specimen's own
crackling. A copy keeps it, whatever else was done to it: moved in time, scaled, resampled,
truncated, spliced onto another test, or with noise added (which dilutes it but does not remove
it). So the verdict rests on three kinds of evidence, computed on the loading branch (from 10 %
of the peak to ``top`` of it, where every test has hundreds of samples):

* **Residual correlation.** Each curve minus its local straight line (a point minus the line
  through its two neighbours, then minus the running mean of that over 31 points: the smooth
  shape every specimen shares is gone, the noise stays), whitened (its spectrum divided by its
  own smoothed magnitude: a machine's hum or drift, the same on every test, counts no more than
  the rest). The two residual series are aligned by cross-correlation (over every lag, on a
  common uniform grid tried at three offsets within a step), the alignment refined to a tenth
  of a sample, and their correlation computed on the sparser curve's own sample times (the
  other interpolated onto them: a resampled copy is then compared with itself). Two physical
  tests give about 0 (the best of thousands of lags about 0.1); a copy gives about 1, a copy
  with noise of the machine's own size added about 0.7. The correlation must reach 7 standard
  errors (7/√n: the search over every lag cannot reach that by chance) and stand out: the best
  lag beats every lag three samples or more away from it by at least half the threshold (a
  steady hum repeats at every period; a copy matches at one lag only).
* **Identical points.** Samples whose time (to the millisecond, after the shift) and force (to
  the newton) are both equal: an exact or shifted copy repeats hundreds in a row; two tests
  practically never share a run of five.
* **Identical timing jitter.** When a machine's sampling intervals wobble (a PC's clock), the
  sequence of wobbles is the run's own; a copy with new force values but the old timestamps
  keeps it.

A match needs at least ``min_points`` compared samples and the residual correlation at or above
``min_correlation`` standing out as said, or a run of identical points, or identical jitter,
of that many samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jcjg.testing.curves import Curve, loading_branch

Array = npt.NDArray[np.float64]

MIN_CORRELATION = 0.5
MIN_POINTS = 100
RUNNING_MEAN = 31  # points: the slow part taken off the residual
REFINE_FROM = 0.2  # a coarse correlation below this is not refined (half the lowest sensible bar)
SIGNIFICANCE = 7.0  # the correlation must also reach this many standard errors (1/sqrt(n))
GRID_PHASES = 3  # offsets of the earlier curve's grid tried in the coarse alignment
DISTINCT_LAGS = 3  # samples: how far another lag must be to count as another alignment
FORCE_RESOLUTION = 0.0005  # kN: half the stored newton
TIME_RESOLUTION = 0.0005  # s: half the stored millisecond
MIN_JITTER = 0.0002  # s: sampling intervals wobbling less than this carry no evidence
MIN_NOISE = 0.001  # kN: a residual below a newton is the stored rounding, not the test's own
WHITENING_BINS = 9  # frequency bins over which a residual's spectrum is smoothed
OVERLAY_POINTS = 400  # points of each curve in the overlay drawn for the station


@dataclass(frozen=True)
class Evidence:
    """What a comparison found; ``lag_s`` is added to the new curve's times to reach the
    earlier curve's."""

    points: int  # samples compared
    correlation: float  # of the residuals, at the best alignment
    runner_up: float  # the best correlation at another alignment
    lag_s: float
    scale: float  # the new curve's force over the earlier one's (1.0: not rescaled)
    identical_run: int  # the longest run of identical points
    identical: int  # identical points in all
    jitter: float | None  # correlation of the sampling intervals' wobble (None: no wobble)
    noise_kn: float  # the smaller of the two residuals' spread

    def is_copy(
        self, min_correlation: float = MIN_CORRELATION, min_points: int = MIN_POINTS
    ) -> bool:
        if self.points < min_points:
            return False
        if self.identical_run >= min_points:
            return True
        if self.jitter is not None and self.jitter >= 0.9:
            return True
        return (
            self.noise_kn >= MIN_NOISE
            and self.correlation >= max(min_correlation, SIGNIFICANCE / np.sqrt(self.points))
            and self.correlation - self.runner_up >= min_correlation / 2
        )

    def facts(self) -> dict[str, object]:
        """The evidence as the alert shows it."""
        out: dict[str, object] = {
            "残差相关系数": round(self.correlation, 3),
            "其他对齐位置的最大相关系数": round(self.runner_up, 3),
            "比对点数": self.points,
            "时间平移（秒）": round(self.lag_s, 3),
            "力值比例": round(self.scale, 4),
            "完全相同的数据点": self.identical,
            "最长连续相同点数": self.identical_run,
        }
        if self.jitter is not None:
            out["采样间隔抖动相关系数"] = round(self.jitter, 3)
        return out


def branch(curve: Curve, top: float = 0.9) -> slice:
    """The loading branch: from 10 % of the (smoothed) peak to ``top`` of it."""
    _, _, start, end = loading_branch(curve, top)
    return slice(start, max(start, end) + 1)


def residual(t: Array, f: Array) -> Array:
    """Each point minus the line through its neighbours, minus the running mean of that (the
    first and last points have no neighbours: the result is two shorter)."""
    if f.size < 3:
        return np.zeros(0)
    share = (t[1:-1] - t[:-2]) / (t[2:] - t[:-2])
    r = f[1:-1] - (f[:-2] + share * (f[2:] - f[:-2]))
    half = min(RUNNING_MEAN, r.size) // 2
    sums = np.concatenate(([0.0], np.cumsum(r)))
    at = np.arange(r.size)
    lo = np.maximum(at - half, 0)
    hi = np.minimum(at + half + 1, r.size)
    return np.asarray(r - (sums[hi] - sums[lo]) / (hi - lo), dtype=np.float64)


def whitened(r: Array) -> Array:
    """The residual with every frequency weighted alike: its spectrum divided by its own
    smoothed magnitude. A machine's hum or drift (one frequency, or the low ones, carrying
    most of the power, the same on every test) then counts no more than the rest, which is the
    test's own; a copy, whitened by the same spectrum, stays the same copy."""
    if r.size < 16:
        return r
    spectrum = np.fft.rfft(r)
    magnitude = np.abs(spectrum)
    width = WHITENING_BINS
    kernel = np.ones(width) / width
    padded = np.concatenate((np.full(width // 2, magnitude[0]), magnitude,
                             np.full(width // 2, magnitude[-1])))  # fmt: skip
    smooth = np.convolve(padded, kernel, mode="valid")[: magnitude.size]
    floor = max(float(smooth.mean()) * 1e-6, 1e-12)
    return np.fft.irfft(spectrum / np.maximum(smooth, floor), r.size)


def _uniform(curve: Curve, lo: float, hi: float, step: float) -> tuple[float, Array]:
    grid = np.arange(lo, hi, step)
    return float(grid[0]) if grid.size else lo, np.interp(grid, curve.t, curve.force)


def _coarse_lag(a: Curve, part: slice, b: Curve, step: float) -> tuple[float, float, float] | None:
    """The lag (s) at which the residuals correlate best on a uniform grid, sliding the new
    curve's branch along the whole earlier curve, and the best correlation at any lag at least
    :data:`DISTINCT_LAGS` steps from it, and the best correlation. The earlier curve's grid is
    tried at :data:`GRID_PHASES` offsets within a step (a copy resampled half a step off would
    otherwise meet no grid point of its original: at the highest frequencies the two would not
    correlate)."""
    t0, ua = _uniform(a, float(a.t[part.start]), float(a.t[part.stop - 1]), step)
    ra = whitened(residual(np.arange(ua.size, dtype=np.float64) * step, ua))
    found: tuple[float, float, float] | None = None
    for phase in range(GRID_PHASES):
        s0, ub = _uniform(b, float(b.t[0]) + phase * step / GRID_PHASES, float(b.t[-1]), step)
        rb = whitened(residual(np.arange(ub.size, dtype=np.float64) * step, ub))
        if ra.size < 8 or rb.size < 8:
            return None
        flip = rb.size < ra.size  # slide the shorter along the longer
        short, long_ = (rb, ra) if flip else (ra, rb)
        n = short.size
        size = 1 << int(np.ceil(np.log2(long_.size + n)))
        cross = np.fft.irfft(np.fft.rfft(long_, size) * np.conj(np.fft.rfft(short, size)), size)
        cross = cross[: long_.size - n + 1]
        energy = np.concatenate(([0.0], np.cumsum(long_**2)))
        window = energy[n:] - energy[:-n]
        score = cross / np.sqrt(np.maximum(window, 1e-18) * max(float(short @ short), 1e-18))
        best = int(np.argmax(score))
        if found is not None and score[best] <= found[2]:
            continue
        far = np.abs(np.arange(score.size) - best) >= DISTINCT_LAGS
        runner_up = float(score[far].max()) if far.any() else 0.0
        # long_[k + i] meets short[i]: the new curve's t0 + i step is the earlier's s0 + (k + i)
        # steps
        lag = s0 + best * step - t0 if not flip else s0 - t0 - best * step
        found = (lag, runner_up, float(score[best]))
    return found


def _step(curve: Curve) -> float:
    return float(np.median(np.diff(curve.t)))


def _paired(
    a: Curve, part: slice, b: Curve, lag: float, a_sparser: bool
) -> tuple[Array, Array, Array]:
    """The two forces on the sparser curve's sample times within the new curve's branch (the
    other interpolated), with those times."""
    ta = a.t[part]
    if a_sparser:
        lo = int(np.searchsorted(ta, b.t[0] - lag))
        hi = int(np.searchsorted(ta, b.t[-1] - lag, side="right"))
        kept = ta[lo:hi]
        return kept, a.force[part][lo:hi], np.interp(kept + lag, b.t, b.force)
    lo = int(np.searchsorted(b.t, ta[0] + lag))
    hi = int(np.searchsorted(b.t, ta[-1] + lag, side="right"))
    tb = b.t[lo:hi] - lag
    return tb, np.interp(tb, a.t, a.force), b.force[lo:hi]


def _correlation(t: Array, x: Array, y: Array) -> tuple[float, float]:
    """The whitened residuals' correlation, and the smaller residual's spread (kN)."""
    rx, ry = residual(t, x), residual(t, y)
    if rx.size < 3:
        return 0.0, 0.0
    noise = float(min(rx.std(), ry.std()))
    wx, wy = whitened(rx), whitened(ry)
    sx, sy = float(np.sqrt(wx @ wx)), float(np.sqrt(wy @ wy))
    if sx == 0 or sy == 0:
        return 0.0, noise
    return float(wx @ wy) / (sx * sy), noise


def _runs(same: npt.NDArray[np.bool_]) -> int:
    if not same.any():
        return 0
    edges = np.diff(np.concatenate(([0], same.astype(np.int8), [0])))
    return int((np.nonzero(edges == -1)[0] - np.nonzero(edges == 1)[0]).max())


def _identical(a: Curve, part: slice, b: Curve, lag: float) -> tuple[int, int]:
    """Identical points (count, longest run): samples of the new curve's branch that fall on
    a sample of the earlier curve after the shift, with the same force."""
    ta, fa = a.t[part], a.force[part]
    where = np.clip(np.searchsorted(b.t, ta + lag), 1, b.n - 1)
    nearer = np.where(
        np.abs(b.t[where - 1] - (ta + lag)) <= np.abs(b.t[where] - (ta + lag)), where - 1, where
    )
    same = (np.abs(b.t[nearer] - (ta + lag)) <= TIME_RESOLUTION) & (
        np.abs(b.force[nearer] - fa) <= FORCE_RESOLUTION
    )
    return int(same.sum()), _runs(same)


def _jitter(a: Curve, part: slice, b: Curve, lag: float) -> float | None:
    """The correlation of the two runs' sampling intervals, sample for sample after the shift,
    when both sample at one rate and both rates wobble (None otherwise)."""
    da, db = np.diff(a.t), np.diff(b.t)
    step = float(np.median(da))
    if abs(float(np.median(db)) / step - 1) > 0.01:
        return None
    first = int(np.searchsorted(b.t, float(a.t[part.start]) + lag - step / 2))
    length = min(part.stop - 1 - part.start, db.size - first)
    if length < 3 or first < 0:
        return None
    x, y = da[part.start : part.start + length], db[first : first + length]
    x, y = x - np.median(x), y - np.median(y)
    if x.std() < MIN_JITTER or y.std() < MIN_JITTER:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def compare(a: Curve, b: Curve, top: float = 0.9) -> Evidence:
    """The evidence that the new curve ``a`` is the earlier curve ``b`` again (see the module
    docstring)."""
    part = branch(a, top)
    if part.stop - part.start < 8 or b.n < 8:
        return Evidence(0, 0.0, 0.0, 0.0, 1.0, 0, 0, None, 0.0)
    step_a, step_b = _step(a), _step(b)
    step, sparser = max(step_a, step_b), step_a >= step_b
    found = _coarse_lag(a, part, b, step)
    if found is None:
        return Evidence(0, 0.0, 0.0, 0.0, 1.0, 0, 0, None, 0.0)
    coarse, runner_up, score = found
    best = (-2.0, coarse, 0.0)
    # the alignment refined to a tenth of the step: halves, then tenths around the best half
    # (not when nothing is alike at any lag)
    rounds = ((-1.0, -0.5, 0.0, 0.5, 1.0), (-0.4, -0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 0.4))
    for offsets in rounds if score >= REFINE_FROM else ((0.0,),):
        around = best[1] if offsets[0] > -1 else coarse
        for k in offsets:
            lag = around + k * step
            t, x, y = _paired(a, part, b, lag, sparser)
            if t.size < 8:
                continue
            rho, noise = _correlation(t, x, y)
            if rho > best[0]:
                best = (rho, lag, noise)
    rho, lag, noise = best
    # identical points: at the stored millisecond nearest the alignment, or one or two beside
    # it (a wobbling clock moves the best alignment a little); or where the two branches start
    # (a curve without noise has nothing else to align it by)
    crossing = float(b.t[branch(b, top).start] - a.t[part.start])
    (identical, run), at = max(
        (_identical(a, part, b, round(start, 3) + k * 0.001), round(start, 3) + k * 0.001)
        for start in (lag, crossing)
        for k in (0, -1, 1, -2, 2)
    )
    if run and rho < MIN_CORRELATION:
        lag = at  # drawn where the identical points meet
    t, x, y = _paired(a, part, b, lag, sparser)
    big = y > 0.1 * max(float(y.max()), 1e-9) if y.size else y.astype(bool)
    scale = float(np.median(x[big] / y[big])) if big.any() else 1.0
    return Evidence(
        points=int(max(t.size - 2, 0)),
        correlation=max(rho, 0.0),
        runner_up=max(runner_up, 0.0),
        lag_s=lag,
        scale=scale,
        identical_run=run,
        identical=identical,
        jitter=_jitter(a, part, b, lag),
        noise_kn=noise,
    )


@dataclass(frozen=True)
class Overlay:
    """What the alert page draws: the two loading branches on the new curve's time axis, the
    earlier one shifted and scaled onto it (``t``, ``new``, ``earlier``: at most
    :data:`OVERLAY_POINTS` points), and the two residuals sample by sample over a stretch of
    :data:`RESIDUAL_POINTS` in the middle (``rt``: their times), where a copy's noise can be
    seen to coincide."""

    t: list[float]
    new: list[float]
    earlier: list[float]
    rt: list[float]
    new_residual: list[float]
    earlier_residual: list[float]


RESIDUAL_POINTS = 120


def overlay(a: Curve, b: Curve, evidence: Evidence, top: float = 0.9) -> Overlay:
    part = branch(a, top)
    t, x, y = _paired(a, part, b, evidence.lag_s, _step(a) >= _step(b))
    y = y * evidence.scale
    pick = np.unique(np.linspace(0, max(t.size - 1, 0), min(OVERLAY_POINTS, t.size), dtype=int))
    rx, ry = residual(t, x), residual(t, y)
    middle = max(0, (rx.size - RESIDUAL_POINTS) // 2)
    window = slice(middle, middle + RESIDUAL_POINTS)
    return Overlay(
        t=[round(float(v), 3) for v in t[pick]],
        new=[round(float(v), 3) for v in x[pick]],
        earlier=[round(float(v), 3) for v in y[pick]],
        rt=[round(float(v), 3) for v in t[1:-1][window]],
        new_residual=[round(float(v), 4) for v in rx[window]],
        earlier_residual=[round(float(v), 4) for v in ry[window]],
    )
