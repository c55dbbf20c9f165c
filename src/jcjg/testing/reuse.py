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
  shape every specimen shares is gone, the noise stays), its periodic lines taken out (a mains
  hum, a pump's ripple and its harmonics, the same frequencies on every test of a machine:
  :func:`without_lines`), whitened (its spectrum divided by its own smoothed magnitude, and
  what is slower than the running mean dropped: :func:`whitened`). The two residual series are
  aligned over **time scale and lag**: the scales tried are 1 and the ratio of the two rise
  times (a copy's time axis may be scaled, its forces with it or not); at each, the earlier
  curve's times multiplied by the scale, cross-correlation over every lag (on a common uniform
  grid tried at three offsets within a step); at the best, the lag refined to a tenth of a
  sample and the scale refined like it, and the correlation computed on the sparser curve's
  own sample times (the other interpolated onto them: a resampled copy is then compared with
  itself). Two physical tests give about 0 (the best of thousands of lags about 0.1); a copy
  gives about 1, a copy with noise of the machine's own size added about 0.7, with twice that
  about 0.45. The decision is on significance: the correlation must reach
  :data:`SIGNIFICANCE` standard errors (1/√n: the search over every lag and both scales does
  not reach that by chance) and stand out: beat every alignment three samples or more away by
  :data:`MARGIN` standard errors (a periodic component left repeats at every period; a copy
  matches at one alignment only); ``min_correlation`` is a floor. Both were calibrated on
  genuine pairs (one machine, one grade, shared hum and ripple, wobbling clocks; see
  docs/testing.md).
* **Identical points.** Samples whose time (to the millisecond, after the shift) and force (to
  the newton) are both equal: an exact or shifted copy repeats hundreds in a row; two tests
  practically never share a run of five.
* **Identical timing jitter.** When a machine's sampling intervals wobble (a PC's clock), the
  sequence of wobbles is the run's own; a copy with new force values but the old timestamps
  keeps it.

A match needs at least ``min_points`` compared samples and the residual correlation significant
and standing out as said, or a run of identical points, or identical jitter, of that many
samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jcjg.testing.curves import Curve, loading_branch, rise_time

Array = npt.NDArray[np.float64]

MIN_CORRELATION = 0.3  # a floor: the decision is on significance (SIGNIFICANCE, MARGIN)
MIN_POINTS = 100
RUNNING_MEAN = 31  # points: the slow part taken off the residual
REFINE_FROM = 0.15  # a coarse correlation below this is not refined (half the floor)
REFINE_Z = 4.0  # nor one below this many standard errors (half the significance)
# the correlation must reach this many standard errors (1/sqrt(n)), and beat the best other
# alignment by MARGIN of them: calibrated on genuine pairs (same machine, same grade, shared
# hum and pump ripple, wobbling clocks): see docs/testing.md
SIGNIFICANCE = 8.5
MARGIN = 6.0
GRID_PHASES = 3  # offsets of the earlier curve's grid tried in the coarse alignment
DISTINCT_LAGS = 3  # samples: how far another lag must be to count as another alignment
FORCE_RESOLUTION = 0.0005  # kN: half the stored newton
TIME_RESOLUTION = 0.0005  # s: half the stored millisecond
MIN_JITTER = 0.0002  # s: sampling intervals wobbling less than this carry no evidence
MIN_NOISE = 0.001  # kN: a residual below a newton is the stored rounding, not the test's own
WHITENING_BINS = 9  # frequency bins over which a residual's spectrum is smoothed
LINE = 5.0  # a frequency this many times its neighbours' median magnitude is a periodic line
LINE_BINS = 33  # the neighbours
MAX_LINES = 6  # lines taken out of one residual
OVERLAY_POINTS = 400  # points of each curve in the overlay drawn for the station
MAX_TIME_SCALE = 0.15  # a copy's time axis may be scaled by 0.85-1.15
SAME_SCALE = 0.002  # rise times this near are one time scale (1)


@dataclass(frozen=True)
class Evidence:
    """What a comparison found; ``lag_s`` is added to the new curve's times to reach the
    earlier curve's times multiplied by ``time_scale``."""

    points: int  # samples compared
    correlation: float  # of the residuals, at the best alignment
    runner_up: float  # the best correlation at another alignment
    lag_s: float
    scale: float  # the new curve's force over the earlier one's (1.0: not rescaled)
    identical_run: int  # the longest run of identical points
    identical: int  # identical points in all
    jitter: float | None  # correlation of the sampling intervals' wobble (None: no wobble)
    noise_kn: float  # the smaller of the two residuals' spread
    time_scale: float = 1.0  # the new curve's seconds over the earlier one's (1.0: not scaled)
    spread: float = 0.0  # the standard deviation of the correlation at the other alignments

    def is_copy(
        self, min_correlation: float = MIN_CORRELATION, min_points: int = MIN_POINTS
    ) -> bool:
        if self.points < min_points:
            return False
        if self.identical_run >= min_points:
            return True
        if self.jitter is not None and self.jitter >= 0.9:
            return True
        root = float(np.sqrt(self.points))
        return (
            self.noise_kn >= MIN_NOISE
            and self.correlation >= max(min_correlation, SIGNIFICANCE / root)
            and (self.correlation - self.runner_up) * root >= MARGIN
        )

    def facts(self) -> dict[str, object]:
        """The evidence as the alert shows it."""
        out: dict[str, object] = {
            "残差相关系数": round(self.correlation, 3),
            "其他对齐位置的最大相关系数": round(self.runner_up, 3),
            "比对点数": self.points,
            "时间平移（秒）": round(self.lag_s, 3),
            "时间比例": round(self.time_scale, 4),
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
    """The residual (to a length whose transform is quick: :func:`_fast_size`) with every
    frequency weighted alike: its periodic lines taken out
    (:func:`without_lines`), its spectrum divided by its own smoothed magnitude (or by its own
    magnitude where that is larger: no bin weighs more than 1), and what is slower than the
    running mean dropped. A machine's
    hum or drift (one frequency, or the low ones, carrying most of the power, the same on every
    test) then counts for nothing or no more than the rest, which is the test's own; a copy,
    whitened by the same spectrum, stays the same copy."""
    if r.size < 16:
        return r
    r = r[: _fast_size(r.size)]
    spectrum = _without_lines(r, np.fft.rfft(r))
    magnitude = np.abs(spectrum)
    width = WHITENING_BINS
    kernel = np.ones(width) / width
    padded = np.concatenate((np.full(width // 2, magnitude[0]), magnitude,
                             np.full(width // 2, magnitude[-1])))  # fmt: skip
    smooth = np.convolve(padded, kernel, mode="valid")[: magnitude.size]
    floor = max(float(smooth.mean()) * 1e-6, 1e-12)
    flat = spectrum / np.maximum(np.maximum(smooth, magnitude), floor)
    # what is slower than the running mean is dropped: there the smooth shape every specimen
    # of the machine shares (scaled to the same rise time) would outweigh the noise
    flat[: max(1, r.size // RUNNING_MEAN)] = 0
    return np.fft.irfft(flat, r.size)


def _smooth_numbers(limit: int) -> npt.NDArray[np.int64]:
    """The numbers up to ``limit`` with no prime factor above 7, in order."""
    found = {1}
    for prime in (2, 3, 5, 7):
        grown = set(found)
        for value in found:
            while value * prime <= limit:
                value *= prime
                grown.add(value)
        found = grown
    return np.array(sorted(found), dtype=np.int64)


_FAST_SIZES = _smooth_numbers(1 << 19)


def _fast_size(n: int) -> int:
    """The largest length up to ``n`` a Fourier transform takes quickly (no prime factor above
    7; a length with a large prime factor takes up to ten times longer). At a thousand
    points and more it leaves off at most a few per cent of them, at the end."""
    return int(_FAST_SIZES[int(np.searchsorted(_FAST_SIZES, n, side="right")) - 1])


def _compared_points(n: int) -> int:
    """The samples a correlation over ``n`` residuals compares (see :func:`whitened`)."""
    return _fast_size(n) if n >= 16 else max(n, 0)


def without_lines(r: Array) -> Array:
    """The residual without its periodic lines (see :func:`_without_lines`)."""
    return np.fft.irfft(_without_lines(r, np.fft.rfft(r)), r.size)


def _without_lines(r: Array, spectrum: npt.NDArray[np.complex128]) -> npt.NDArray[np.complex128]:
    """The spectrum of the residual without its periodic lines (a mains hum, a pump's ripple and its
    harmonics: the same frequencies on every test of a machine, in a phase of their own): each
    bin standing :data:`LINE` times above the median magnitude of its block of
    :data:`LINE_BINS` bins (at most :data:`MAX_LINES`, the strongest first), its frequency
    found between bins from its neighbours' magnitudes (Jain's interpolation), the sinusoid
    fitted by least squares and taken off, with its leakage into every other bin (which a
    notch would leave, and a leakage whitened to full weight would be shared by every test)."""
    magnitude = np.abs(spectrum)
    blocks = magnitude.size // LINE_BINS
    if blocks < 2:
        return spectrum
    middle = LINE_BINS // 2  # LINE_BINS is odd: the median is the middle one
    level = np.partition(magnitude[: blocks * LINE_BINS].reshape(blocks, LINE_BINS), middle,
                         axis=1)[:, middle]  # fmt: skip
    level = np.repeat(np.maximum(level, 1e-30), LINE_BINS)
    level = np.concatenate((level, np.full(magnitude.size - level.size, level[-1])))
    ratio = magnitude / level
    ratio[: max(1, r.size // RUNNING_MEAN)] = 0  # the slow part is dropped anyway
    peaks = np.nonzero((ratio[1:-1] > LINE) & (ratio[1:-1] >= ratio[:-2])
                       & (ratio[1:-1] >= ratio[2:]))[0] + 1  # fmt: skip
    if peaks.size == 0:
        return spectrum
    out = r.copy()
    at = np.arange(r.size, dtype=np.float64) * (2 * np.pi / r.size)
    for k in peaks[np.argsort(-ratio[peaks])][:MAX_LINES]:
        side = 1 if magnitude[k + 1] >= magnitude[k - 1] else -1
        alpha = magnitude[k + side] / magnitude[k]
        phase = (k + side * alpha / (1 + alpha)) * at
        cos, sin = np.cos(phase), np.sin(phase)
        cc, ss, cs = cos @ cos, sin @ sin, cos @ sin
        rc, rs = cos @ out, sin @ out
        det = cc * ss - cs * cs
        if det <= 1e-9 * cc * ss:
            continue
        out -= ((rc * ss - rs * cs) * cos + (rs * cc - rc * cs) * sin) / det
    return np.fft.rfft(out)


def _uniform(curve: Curve, lo: float, hi: float, step: float) -> tuple[float, Array]:
    grid = np.arange(lo, hi, step)
    return float(grid[0]) if grid.size else lo, np.interp(grid, curve.t, curve.force)


def _coarse_lag(
    a: Curve, part: slice, b: Curve, step: float
) -> tuple[float, float, float, float] | None:
    """The lag (s) at which the residuals correlate best on a uniform grid, sliding the new
    curve's branch along the whole earlier curve, and the best correlation at any lag at least
    :data:`DISTINCT_LAGS` steps from it, and the best correlation. The earlier curve's grid is
    tried at :data:`GRID_PHASES` offsets within a step (a copy resampled half a step off would
    otherwise meet no grid point of its original: at the highest frequencies the two would not
    correlate)."""
    t0, ua = _uniform(a, float(a.t[part.start]), float(a.t[part.stop - 1]), step)
    ra = whitened(residual(np.arange(ua.size, dtype=np.float64) * step, ua))
    found: tuple[float, float, float, float] | None = None
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
        spread = float(score[far].std()) if far.sum() >= 2 else 1.0
        # long_[k + i] meets short[i]: the new curve's t0 + i step is the earlier's s0 + (k + i)
        # steps
        lag = s0 + best * step - t0 if not flip else s0 - t0 - best * step
        found = (lag, runner_up, float(score[best]), spread)
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


def time_scales(a: Curve, b: Curve) -> list[float]:
    """The time scales (``a``'s seconds over ``b``'s) the comparison tries: 1, and the ratio
    of the two rise times when it is another within :data:`MAX_TIME_SCALE`."""
    ra, rb = rise_time(a), rise_time(b)
    if ra is None or rb is None or rb <= 0:
        return [1.0]
    ratio = ra / rb
    if abs(ratio - 1) <= SAME_SCALE or abs(ratio - 1) > MAX_TIME_SCALE:
        return [1.0]
    return [1.0, ratio]


def _scaled(b: Curve, time_scale: float) -> Curve:
    """``b`` on the new curve's time scale (its times multiplied)."""
    return b if time_scale == 1.0 else Curve(b.t * time_scale, b.force, b.displacement)


def _refined(
    a: Curve, part: slice, b: Curve, time_scale: float, coarse: float, step: float, sparser: bool
) -> tuple[float, float, float]:
    """The correlation, lag and noise at the best alignment near ``coarse``: halves of the
    step, then tenths around the best half."""
    scaled = _scaled(b, time_scale)
    best = (-2.0, coarse, 0.0)
    rounds = ((-1.0, -0.5, 0.0, 0.5, 1.0), (-0.4, -0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 0.4))
    for offsets in rounds:
        around = best[1] if offsets[0] > -1 else coarse
        for k in offsets:
            lag = around + k * step
            t, x, y = _paired(a, part, scaled, lag, sparser)
            if t.size < 8:
                continue
            rho, noise = _correlation(t, x, y)
            if rho > best[0]:
                best = (rho, lag, noise)
    return best


def compare(a: Curve, b: Curve, top: float = 0.9) -> Evidence:
    """The evidence that the new curve ``a`` is the earlier curve ``b`` again (see the module
    docstring)."""
    part = branch(a, top)
    if part.stop - part.start < 8 or b.n < 8:
        return Evidence(0, 0.0, 0.0, 0.0, 1.0, 0, 0, None, 0.0)
    step_a, step_b = _step(a), _step(b)
    found: tuple[float, float, float, float, float] | None = None
    for time_scale in time_scales(a, b):
        step = max(step_a, step_b * time_scale)
        lagged = _coarse_lag(a, part, _scaled(b, time_scale), step)
        if lagged is not None and (found is None or lagged[2] > found[3]):
            found = (time_scale, *lagged)
    if found is None:
        return Evidence(0, 0.0, 0.0, 0.0, 1.0, 0, 0, None, 0.0)
    time_scale, coarse, runner_up, score, spread = found
    step = max(step_a, step_b * time_scale)
    sparser = step_a >= step_b * time_scale
    if score >= REFINE_FROM and score * np.sqrt(part.stop - part.start) >= REFINE_Z:
        rho, lag, noise = _refined(a, part, b, time_scale, coarse, step, sparser)
        # the time scale refined like the lag: turned about the middle of the branch, by
        # steps that move the branch's ends by a quarter of a sample
        middle = float(a.t[(part.start + part.stop - 1) // 2])
        span = max(float(a.t[part.stop - 1] - a.t[part.start]), step)
        turned = time_scale
        for k in (-2, -1, 1, 2):
            other = time_scale * (1 + k * step / span / 4)
            moved = (middle + lag) / time_scale * other - middle
            t, x, y = _paired(a, part, _scaled(b, other), moved, sparser)
            tried, own = _correlation(t, x, y) if t.size >= 8 else (-2.0, 0.0)
            if tried > rho:
                rho, lag, noise, turned = tried, moved, own, other
        if turned != time_scale:
            time_scale = turned
            rho, lag, noise = _refined(a, part, b, time_scale, lag, step / 5, sparser)
    else:
        t, x, y = _paired(a, part, _scaled(b, time_scale), coarse, sparser)
        rho, noise = _correlation(t, x, y) if t.size >= 8 else (-2.0, 0.0)
        lag = coarse
    scaled = _scaled(b, time_scale)
    # identical points: at the stored millisecond nearest the alignment, or one or two beside
    # it (a wobbling clock moves the best alignment a little); or where the two branches start
    # (a curve without noise has nothing else to align it by)
    crossing = float(scaled.t[branch(b, top).start] - a.t[part.start])
    (identical, run), at = max(
        (_identical(a, part, scaled, round(start, 3) + k * 0.001), round(start, 3) + k * 0.001)
        for start in (lag, crossing)
        for k in (0, -1, 1, -2, 2)
    )
    if run and rho < MIN_CORRELATION:
        lag = at  # drawn where the identical points meet
    t, x, y = _paired(a, part, scaled, lag, sparser)
    big = y > 0.1 * max(float(y.max()), 1e-9) if y.size else y.astype(bool)
    scale = float(np.median(x[big] / y[big])) if big.any() else 1.0
    return Evidence(
        points=_compared_points(t.size - 2),
        correlation=max(rho, 0.0),
        runner_up=max(runner_up, 0.0),
        lag_s=lag,
        scale=scale,
        identical_run=run,
        identical=identical,
        jitter=_jitter(a, part, scaled, lag),
        noise_kn=noise,
        time_scale=time_scale,
        spread=spread,
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
    scaled = _scaled(b, evidence.time_scale)
    t, x, y = _paired(a, part, scaled, evidence.lag_s, _step(a) >= _step(scaled))
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
