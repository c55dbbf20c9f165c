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
  aligned over **time scale and lag**: the scales tried are the ratio of the two rise times
  and 1 (a copy's time axis may be scaled, its forces with it or not; 1 only while the rise
  times are within :data:`NOT_SAME_SCALE`); at each, the earlier curve's times multiplied by
  the scale, cross-correlation over every lag on a common uniform grid (the earlier curve up
  to 95 % of its peak, its break left out: :data:`REACH`), and half-way between
  its points (:data:`FRACTIONS`: the cross-spectrum turned by the half step's phase; one grid
  and one transform of each curve serve both, and a new curve's are kept for all its
  candidates: :func:`prepare`). A pair whose best reaches :data:`REFINE_Z` standard errors
  has the lag refined to a tenth of a sample and the scale refined like it, and the
  correlation computed on the sparser curve's own sample times (the other interpolated onto
  them: a resampled copy is then compared with itself); below that the grid's correlation
  stands. Two physical tests give about 0 (the best of thousands of lags about 0.1); a copy
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

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from jcjg.testing.curves import Curve, branch_rise_time, loading_branch

Array = npt.NDArray[np.float64]

MIN_CORRELATION = 0.3  # a floor: the decision is on significance (SIGNIFICANCE, MARGIN)
MIN_POINTS = 100
RUNNING_MEAN = 31  # points: the slow part taken off the residual
REFINE_FROM = 0.15  # a coarse correlation below this is not refined (half the floor)
# nor one below this many standard errors: a copy's coarse alignment reaches 7 and more
# (twice the machine's noise added, the least), two tests' 6 about (see docs/testing.md)
REFINE_Z = 6.0
# the correlation must reach this many standard errors (1/sqrt(n)), and beat the best other
# alignment by MARGIN of them: calibrated on genuine pairs (same machine, same grade, shared
# hum and pump ripple, wobbling clocks: the highest of 11,200 reached 5.8 and 3.4; of the
# 36,763 the 20,000-specimen benchmark compares 5.7 and 3.7), where a copy with twice the
# machine's noise added on 260 samples reaches about 7.2: see docs/testing.md (8.75 and 6.5
# while the earlier curve was slid along whole, break and all)
SIGNIFICANCE = 7.5
MARGIN = 5.0
# lags between grid points tried in the coarse alignment (in steps; the cross-spectrum turned
# by the phase of the fraction: a copy resampled half a step off meets its original there)
FRACTIONS = (0.0, 0.5)
# a grid this much coarser than the earlier curve's own samples is tried from three offsets
# (see _offsets); up to it the grid's points fall at every place between the curve's samples
# in turn, wherever it starts
COARSER = 1.02
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
# rise times further apart than this are not one time scale: 1 is not tried (the rise times of
# a copy whose time axis was not scaled differ by 1.7 % at the most: a loading branch alone)
NOT_SAME_SCALE = 0.04
# the earlier curve is offered to a new branch up to this share of the way from ``top`` to its
# peak (0.95 of the peak for the branch to 0.9), its break left out: whitened with the break, whose
# residuals are hundreds of times the noise, the earlier curve's grid weighted its frequencies
# unlike the new branch's, and a copy with twice the machine's noise added lost a third of its
# correlation on the grid (see docs/testing.md)
REACH = 0.5


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
    first and last points have no neighbours: the result is two shorter); of each row when
    ``f`` has rows (forces on the same times ``t``: the same figures as one at a time)."""
    if f.shape[-1] < 3:
        return np.zeros((*f.shape[:-1], 0))
    share = (t[1:-1] - t[:-2]) / (t[2:] - t[:-2])
    r = f[..., 1:-1] - (f[..., :-2] + share * (f[..., 2:] - f[..., :-2]))
    size = r.shape[-1]
    half = min(RUNNING_MEAN, size) // 2
    sums = np.zeros((*r.shape[:-1], size + 1))
    np.cumsum(r, axis=-1, out=sums[..., 1:])
    width = 2 * half + 1
    if size < width:  # pragma: no cover - a residual this short is never compared
        at = np.arange(size)
        lo, hi = np.maximum(at - half, 0), np.minimum(at + half + 1, size)
        return np.asarray(r - (sums[..., hi] - sums[..., lo]) / (hi - lo), dtype=np.float64)
    # the running mean over ``width`` points, fewer at either end (as many as there are)
    mean = np.empty(r.shape)
    mean[..., half : size - half] = (sums[..., width:] - sums[..., : size + 1 - width]) / width
    head = np.arange(half)
    mean[..., :half] = sums[..., head + half + 1] / (head + half + 1)
    tail = np.arange(size - half, size)
    mean[..., size - half :] = (sums[..., size, None] - sums[..., tail - half]) / (
        size - tail + half
    )
    return np.asarray(r - mean, dtype=np.float64)


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
    turn = np.empty(r.size, dtype=np.complex128)
    for k in peaks[np.argsort(-ratio[peaks])][:MAX_LINES]:
        side = 1 if magnitude[k + 1] >= magnitude[k - 1] else -1
        alpha = magnitude[k + side] / magnitude[k]
        # the sinusoid sample by sample as the powers of one turn (a running product: a third
        # of the time of a cosine and a sine of every phase, within 1e-12 of them)
        turn.fill(np.exp(2j * np.pi * (k + side * alpha / (1 + alpha)) / r.size))
        turn[0] = 1.0
        wave = np.cumprod(turn)
        cos, sin = wave.real.copy(), wave.imag.copy()
        cc, ss, cs = cos @ cos, sin @ sin, cos @ sin
        rc, rs = cos @ out, sin @ out
        det = cc * ss - cs * cs
        if det <= 1e-9 * cc * ss:
            continue
        out -= ((rc * ss - rs * cs) * cos + (rs * cc - rc * cs) * sin) / det
    return np.fft.rfft(out)


@dataclass(eq=False)
class Prepared:
    """What a comparison reads of one curve, computed once however many curves it is compared
    with: its loading branch (``top``), rise time and sampling step, and the whitened residuals
    on the uniform grids the comparisons asked for."""

    curve: Curve
    top: float
    part: slice
    rise: float | None
    step: float
    reach: int  # the last sample a candidate's branch is slid along (see :data:`REACH`)
    grids: dict[tuple[str, float, float], tuple[float, Array]] = field(
        default_factory=dict, repr=False
    )
    spectra: dict[tuple[tuple[str, float, float], int], npt.NDArray[np.complex128]] = field(
        default_factory=dict, repr=False
    )
    forces: Array | None = field(default=None, repr=False)  # sorted_forces

    def branch_grid(self, step: float) -> tuple[float, Array]:
        """The branch on a grid of ``step`` from its first sample: its start and whitened
        residual."""
        key = ("branch", round(step, 9), 0.0)
        if key not in self.grids:
            c, part = self.curve, self.part
            self.grids[key] = _grid(c, float(c.t[part.start]), float(c.t[part.stop - 1]), step)
        return self.grids[key]

    @staticmethod
    def grid_key(grid: tuple[str, float, float]) -> tuple[str, float, float]:
        return (grid[0], round(grid[1], 9), round(grid[2], 9))

    def has_spectrum(self, grid: tuple[str, float, float], size: int) -> bool:
        return (self.grid_key(grid), size) in self.spectra

    def spectrum(self, grid: tuple[str, float, float], size: int) -> npt.NDArray[np.complex128]:
        """The transform of length ``size`` of a grid asked for before."""
        key = self.grid_key(grid)
        if (key, size) not in self.spectra:
            self.spectra[key, size] = np.fft.rfft(self.grids[key][1], size)
        return self.spectra[key, size]

    def sorted_forces(self) -> Array:
        """The branch's forces sorted (:func:`_identical`)."""
        if self.forces is None:
            self.forces = np.sort(self.curve.force[self.part])
        return self.forces

    def kept(self) -> Kept:
        """What a comparison reads of this curve as an earlier one, beside its samples: its
        branch, rise time, step and reach, and its whole grid on its own step (the grid most
        comparisons ask for: a candidate of one sampling rate at time scale 1), whitened once
        (:func:`restore` gives the curve back prepared)."""
        t0, grid = self.whole_grid(self.step, 0.0)
        return Kept(self.top, self.part.start, self.part.stop, self.rise, self.step, self.reach,
                    t0, grid)  # fmt: skip

    def whole_grid(self, step: float, offset: float) -> tuple[float, Array]:
        """The whole curve on a grid of ``step`` (its own seconds) from ``offset`` after its
        first sample."""
        key = ("whole", round(step, 9), round(offset, 9))
        if key not in self.grids:
            c = self.curve
            end = float(c.t[self.reach])
            self.grids[key] = _grid(c, float(c.t[0]) + offset, end + step / 2, step)
        return self.grids[key]


@dataclass(frozen=True)
class Kept:
    """:meth:`Prepared.kept`: a prepared curve without its samples."""

    top: float
    start: int
    stop: int
    rise: float | None
    step: float
    reach: int
    t0: float
    grid: Array


def restore(curve: Curve, kept: Kept) -> Prepared:
    """The curve prepared as :meth:`Prepared.kept` kept it (the same curve's samples): nothing
    of it computed again."""
    out = Prepared(curve, kept.top, slice(kept.start, kept.stop), kept.rise, kept.step,
                   kept.reach)  # fmt: skip
    out.grids["whole", round(kept.step, 9), 0.0] = (kept.t0, kept.grid)
    return out


def prepare(curve: Curve | Prepared, top: float = 0.9) -> Prepared:
    """The curve ready to be compared (a curve prepared for another ``top`` prepared again)."""
    if isinstance(curve, Prepared):
        if curve.top == top:
            return curve
        curve = curve.curve
    found = loading_branch(curve, top)
    part, rise = branch_rise_time(curve, top, found)
    return Prepared(curve, top, part, rise, _step(curve), _reach(found[0], found[1], top))


def _reach(rising: Array, peak: float, top: float) -> int:
    """The last sample of the earlier curve a new branch is slid along: the first at which its
    smoothed load (``rising``, up to its ``peak``) reaches :data:`REACH` of the way from
    ``top`` to the peak."""
    level = (top + (1 - top) * REACH) * peak
    above = np.nonzero(rising >= level)[0]
    return int(above[0]) if above.size else rising.size - 1


def _grid(curve: Curve, lo: float, hi: float, step: float) -> tuple[float, Array]:
    t0, values = _uniform(curve, lo, hi, step)
    return t0, whitened(residual(np.arange(values.size, dtype=np.float64) * step, values))


def _uniform(curve: Curve, lo: float, hi: float, step: float) -> tuple[float, Array]:
    grid = np.arange(lo, hi, step)
    return float(grid[0]) if grid.size else lo, np.interp(grid, curve.t, curve.force)


def _offsets(own: float, step: float) -> list[float]:
    """Where the earlier curve's grid (of step ``own``) starts after its first sample (its own
    sampling step ``step``): there, when the grid is its own samples; when the grid's step is
    near twice or three times the curve's own (a copy keeping every second or third sample:
    which of them it kept is unknown), at each of its first two or three; when it is coarser
    than the curve's own (the curve interpolated onto the grid: a copy resampled from it at a
    coarser step meets it only where the grid falls on the copy's samples), at thirds of the
    grid's step."""
    ratio = own / step
    k = round(ratio)
    if 2 <= k <= 3 and abs(ratio - k) <= 0.02 * k:
        return [m * step for m in range(k)]
    if ratio > COARSER:
        return [m * own / 3 for m in range(3)]
    return [0.0]


@functools.lru_cache(maxsize=32)
def _turns(size: int) -> list[npt.NDArray[np.complex128]]:
    """The phase turns that move a cross-correlation of transform length ``size`` by each of
    :data:`FRACTIONS` of a step."""
    bins = np.arange(size // 2 + 1) * (2j * np.pi / size)
    return [np.exp(bins * fraction) for fraction in FRACTIONS]


Coarse = tuple[float, float, float, float, int]  # lag, runner-up, correlation, spread, samples


def _coarse_lag(a: Prepared, b: Prepared, time_scale: float) -> Coarse | None:
    """The lag (s) at which the residuals correlate best on a uniform grid (the coarser of the
    two curves' steps), sliding the new curve's branch along the earlier curve up to its
    :data:`REACH` (its times multiplied by ``time_scale``); the best correlation at any lag at least
    :data:`DISTINCT_LAGS` steps from it; the best correlation; the spread of the others; and
    the samples compared. Between grid points the lags of :data:`FRACTIONS` are tried too,
    from the cross-spectrum turned by their phase (a copy resampled half a step off would
    otherwise meet no grid point of its original: at the highest frequencies the two would not
    correlate): one grid and one transform of each curve serve every fraction."""
    return _coarse_lags(a, [(b, time_scale)])[0]


@dataclass
class _Slide:
    """One grid of an earlier curve slid along the new branch (one offset of one time scale of
    one candidate: :func:`_coarse_lags`)."""

    b: Prepared
    grid: tuple[str, float, float]
    step: float
    t0: float  # the new branch's grid's start
    s0: float  # the earlier curve's grid's start, on the new curve's time scale
    flip: bool  # the earlier curve's grid is the shorter (it is slid along the branch)
    short: Array
    long_: Array
    size: int  # of the transform


def _coarse_lags(a: Prepared, jobs: list[tuple[Prepared, float]]) -> list[Coarse | None]:
    """:func:`_coarse_lag` of each (earlier curve, time scale) of ``jobs``, the transforms of
    every grid of one length in one call (a two-dimensional transform over the stacked grids:
    the same figures as one transform each, in about half the time); the cross-correlations
    of every fraction of a length in one inverse transform."""
    plans: list[list[_Slide] | None] = []
    for b, time_scale in jobs:
        step = max(a.step, b.step * time_scale)
        t0, ra = a.branch_grid(step)
        own = step / time_scale  # the grid's step on the earlier curve's own time
        slides: list[_Slide] | None = []
        for offset in _offsets(own, b.step):
            start, rb = b.whole_grid(own, offset)
            if ra.size < 8 or rb.size < 8:
                slides = None
                break
            flip = rb.size < ra.size  # slide the shorter along the longer
            short, long_ = (rb, ra) if flip else (ra, rb)
            size = 1 << int(np.ceil(np.log2(long_.size + short.size)))
            assert slides is not None
            slides.append(_Slide(b, ("whole", own, offset), step, t0, start * time_scale, flip,
                                 short, long_, size))  # fmt: skip
        plans.append(slides)
    every = [s for slides in plans if slides for s in slides]
    _spectra(every)
    scores: dict[int, list[Array]] = {}
    for size in sorted({s.size for s in every}):
        group = [s for s in every if s.size == size]
        cross = np.empty((len(FRACTIONS) * len(group), size // 2 + 1), dtype=np.complex128)
        for row, s in enumerate(group):
            theirs = s.b.spectrum(s.grid, size)
            mine = a.spectrum(("branch", s.step, 0.0), size)
            cross[row] = (mine * np.conj(theirs)) if s.flip else (theirs * np.conj(mine))
        m = len(group)
        for k, turn in enumerate(_turns(size)):
            if k:
                np.multiply(cross[:m], turn, out=cross[k * m : (k + 1) * m])
        lags = np.fft.irfft(cross, size, axis=-1)
        for row, s in enumerate(group):
            scores[id(s)] = [lags[k * m + row] for k in range(len(FRACTIONS))]
    return [None if slides is None else _best_slide(slides, [scores[id(s)] for s in slides])
            for slides in plans]  # fmt: skip


def _spectra(slides: list[_Slide]) -> None:
    """The transforms the slides read of the earlier curves' grids not yet kept, those of one
    length in one call (each kept by its curve: :meth:`Prepared.spectrum`)."""
    missing: dict[tuple[int, tuple[str, float, float], int], _Slide] = {}
    for s in slides:
        if not s.b.has_spectrum(s.grid, s.size):
            missing.setdefault((id(s.b), s.b.grid_key(s.grid), s.size), s)
    for size in {s.size for s in missing.values()}:
        group = [s for s in missing.values() if s.size == size]
        if len(group) == 1:
            group[0].b.spectrum(group[0].grid, size)
            continue
        stacked = np.zeros((len(group), size))
        for row, s in enumerate(group):
            values = s.b.grids[s.b.grid_key(s.grid)][1]
            stacked[row, : values.size] = values
        for s, spectrum in zip(group, np.fft.rfft(stacked, axis=-1), strict=True):
            s.b.spectra[s.b.grid_key(s.grid), size] = spectrum


def _best_slide(slides: list[_Slide], scores: list[list[Array]]) -> Coarse:
    """The best alignment of one time scale over its slides (offsets) and fractions, from the
    raw cross-correlations (``scores``: each slide's, one a fraction), as :func:`_coarse_lag`
    gives it."""
    found: tuple[float, Array, int, int] | None = None  # lag, scores, best, samples
    for s, raw in zip(slides, scores, strict=True):
        short, long_ = s.short, s.long_
        n = short.size
        energy = np.concatenate(([0.0], np.cumsum(long_**2)))
        window = energy[n:] - energy[:-n]
        own_energy = max(float(short @ short), 1e-18)
        norm = np.sqrt(np.maximum(window, 1e-18) * own_energy)
        # between grid points the energy of the stretch is taken as the largest of the
        # stretches within two steps (a lag between them reads both; the break's large
        # residuals beside a quiet stretch would otherwise make it look correlated)
        padded = np.concatenate((np.full(2, window[0]), window, np.full(2, window[-1])))
        near = padded[: window.size].copy()
        for k in range(1, 5):
            np.maximum(near, padded[k : k + window.size], out=near)
        between = np.sqrt(np.maximum(near, 1e-18) * own_energy)
        for fraction, lags in zip(FRACTIONS, raw, strict=True):
            score = lags[: long_.size - n + 1] / (between if fraction else norm)
            best = int(np.argmax(score))
            if found is not None and score[best] <= found[1][found[2]]:
                continue
            # long_[k + i] meets short[i]: the new curve's t0 + i step is the earlier's
            # s0 + (k + i) steps
            at = (best + fraction) * s.step
            lag = s.s0 + at - s.t0 if not s.flip else s.s0 - s.t0 - at
            found = (lag, score, best, n)
    assert found is not None
    lag, score, best, n = found
    # every alignment at least DISTINCT_LAGS from the best
    others = np.concatenate((score[: max(best - DISTINCT_LAGS + 1, 0)],
                             score[best + DISTINCT_LAGS :]))  # fmt: skip
    runner_up = float(others.max()) if others.size else 0.0
    spread = float(others.std()) if others.size >= 2 else 1.0
    return lag, runner_up, float(score[best]), spread, n


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
    rx, ry = residual(t, np.stack((x, y)))
    if rx.size < 3:
        return 0.0, 0.0
    noise = float(min(rx.std(), ry.std()))
    wx, wy = whitened(rx), whitened(ry)
    sx, sy = float(np.sqrt(wx @ wx)), float(np.sqrt(wy @ wy))
    if sx == 0 or sy == 0:
        return 0.0, noise
    return float(wx @ wy) / (sx * sy), noise


def _median(values: Array) -> float:
    """``np.median`` of values without NaN, without its checks (the same figure)."""
    middle = values.size // 2
    if values.size % 2:
        return float(np.partition(values, middle)[middle])
    low, high = np.partition(values, (middle - 1, middle))[middle - 1 : middle + 1]
    return float((low + high) / 2)


def _runs(at: npt.NDArray[np.intp]) -> int:
    """The longest run of consecutive sample numbers among ``at`` (sorted, at least one)."""
    breaks = np.nonzero(np.diff(at) != 1)[0]
    edges = np.concatenate(([-1], breaks, [at.size - 1]))
    return int(np.diff(edges).max())


def _identical(
    a: Curve, part: slice, b: Curve, lags: Array, mine: Array | None = None
) -> tuple[int, int, float]:
    """Identical points (count, longest run) at the best of ``lags``, and that lag: samples of
    the new curve's branch that fall on a sample of the earlier curve after the shift, with the
    same force; ``mine``: the branch's forces sorted (:meth:`Prepared.sorted_forces`, kept for
    all its candidates)."""
    ta, fa = a.t[part], a.force[part]
    # only samples whose force the earlier curve has at all (to the newton, or one beside it)
    # can be identical: the others are not looked up. The forces the two share are found from
    # the earlier curve's side, in the branch's forces sorted once, and the branch's samples
    # with one of them (a few in a hundred) in those: the same samples as in the earlier
    # curve's forces sorted for each pair, without the sort
    mine = np.sort(fa) if mine is None else mine
    near = _nearest_gap(mine, b.force) <= FORCE_RESOLUTION
    shared = np.sort(b.force[near])
    if shared.size == 0:
        return 0, 0, float(lags.max())  # at every lag (0, 0): the last of the largest
    kept = np.nonzero(_nearest_gap(shared, fa) <= FORCE_RESOLUTION)[0]
    if kept.size == 0:  # pragma: no cover - a shared force is some sample's of the branch
        return 0, 0, float(lags.max())
    moved = ta[kept][None, :] + lags[:, None]
    where = np.clip(np.searchsorted(b.t, moved), 1, b.n - 1)
    before, after = b.t[where - 1], b.t[where]
    nearer = np.where(np.abs(before - moved) <= np.abs(after - moved), where - 1, where)
    same = (np.abs(b.t[nearer] - moved) <= TIME_RESOLUTION) & (
        np.abs(b.force[nearer] - fa[kept][None, :]) <= FORCE_RESOLUTION
    )
    counts = same.sum(axis=1)
    return max((int(counts[row]), _runs(kept[same[row]]) if counts[row] else 0, float(lags[row]))
               for row in range(lags.size))  # fmt: skip


def _nearest_gap(values: Array, of: Array) -> Array:
    """How far each of ``of`` is from the nearest of the sorted ``values`` (at least one)."""
    if values.size == 1:
        return np.asarray(np.abs(values[0] - of), dtype=np.float64)
    at = np.clip(np.searchsorted(values, of), 1, values.size - 1)
    return np.asarray(
        np.minimum(np.abs(values[at - 1] - of), np.abs(values[at] - of)), dtype=np.float64
    )


def _jitter(
    a: Curve, part: slice, b: Curve, lag: float, steps: tuple[float, float]
) -> float | None:
    """The correlation of the two runs' sampling intervals, sample for sample after the shift,
    when both sample at one rate and both rates wobble (None otherwise); ``steps``: the two
    curves' median intervals."""
    step = steps[0]
    if abs(steps[1] / step - 1) > 0.01:
        return None
    first = int(np.searchsorted(b.t, float(a.t[part.start]) + lag - step / 2))
    length = min(part.stop - 1 - part.start, b.n - 1 - first)
    if length < 3 or first < 0:
        return None
    x = np.diff(a.t[part.start : part.start + length + 1])
    y = np.diff(b.t[first : first + length + 1])
    # the spread and the correlation do not depend on the intervals' median
    if x.std() < MIN_JITTER or y.std() < MIN_JITTER:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def time_scales(a: Curve | Prepared, b: Curve | Prepared) -> list[float]:
    """The time scales (``a``'s seconds over ``b``'s) the comparison tries: the ratio of the
    two rise times when it is another within :data:`MAX_TIME_SCALE`, and 1 unless the rise
    times are further apart than :data:`NOT_SAME_SCALE`."""
    ra, rb = prepare(a).rise, prepare(b).rise
    if ra is None or rb is None or rb <= 0:
        return [1.0]
    ratio = ra / rb
    if abs(ratio - 1) <= SAME_SCALE or abs(ratio - 1) > MAX_TIME_SCALE:
        return [1.0]
    return [1.0, ratio] if abs(ratio - 1) <= NOT_SAME_SCALE else [ratio]


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


def _refined_scale(
    pa: Prepared, pb: Prepared, time_scale: float, coarse: float, sparser: bool
) -> tuple[float, float, float, float]:
    """The correlation, lag, noise and time scale at the best alignment near ``coarse``: the
    lag refined (:func:`_refined`), then the time scale refined like it (turned about the
    middle of the branch, by steps that move the branch's ends by a quarter of a sample) and
    the lag again at the turned scale."""
    a, b, part = pa.curve, pb.curve, pa.part
    step = max(pa.step, pb.step * time_scale)
    rho, lag, noise = _refined(a, part, b, time_scale, coarse, step, sparser)
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
        rho, lag, noise = _refined(a, part, b, turned, lag, step / 5, sparser)
    return rho, lag, noise, turned


def _spread_kn(t: Array, x: Array, y: Array) -> float:
    """The smaller of the two residuals' spread (kN), as :func:`_correlation` gives it."""
    rx, ry = residual(t, np.stack((x, y)))
    return float(min(rx.std(), ry.std())) if rx.size >= 3 else 0.0


def compare(a: Curve | Prepared, b: Curve | Prepared, top: float = 0.9) -> Evidence:
    """The evidence that the new curve ``a`` is the earlier curve ``b`` again (see the module
    docstring). Either may be given :func:`prepare`\\ d (a new curve compared with many
    candidates is prepared once: :func:`compare_many`)."""
    return compare_many(a, [b], top)[0]


def compare_many(
    a: Curve | Prepared,
    candidates: Sequence[Curve | Prepared],
    top: float = 0.9,
    *,
    unscaled: Sequence[bool] | None = None,
) -> list[Evidence]:
    """:func:`compare` of the new curve ``a`` with each of ``candidates``, the same evidence
    (to the last digit) in less time: ``a`` prepared once, and the coarse alignments of every
    candidate, time scale and offset with one transform of a length (:func:`_coarse_lags`).
    A candidate marked in ``unscaled`` is aligned at time scale 1 alone: a *twin*
    (:meth:`jcjg.testing.fpindex.FingerprintIndex.twins`), compared for being near in peak
    and rise time though its fingerprint is not alike, is the original of a copy that lost
    its fingerprint (noise added, its break cut, points dropped), none of which scales the
    time axis; a copy whose time axis was scaled keeps its fingerprint (cosine 0.99) and is
    a candidate. Its rise time lies within 1.5 % of the new curve's, so the ratio of the two
    would be tried as well (a second grid, whitened anew) for seven twins in eight."""
    pa = prepare(a, top)
    pbs = [prepare(b, top) for b in candidates]
    alone = list(unscaled) if unscaled is not None else [False] * len(pbs)
    jobs: list[tuple[int, float]] = []  # (candidate, time scale)
    for k, pb in enumerate(pbs):
        if pa.part.stop - pa.part.start >= 8 and pb.curve.n >= 8:
            scales = time_scales(pa, pb)
            if alone[k] and 1.0 in scales:
                scales = [1.0]
            jobs += [(k, time_scale) for time_scale in scales]
    found: list[list[tuple[float, float, float, float, float, int]]] = [[] for _ in pbs]
    lagged = _coarse_lags(pa, [(pbs[k], time_scale) for k, time_scale in jobs])
    for (k, time_scale), coarse in zip(jobs, lagged, strict=True):
        if coarse is not None:
            found[k].append((time_scale, *coarse))
    return [_judged(pa, pb, mine) for pb, mine in zip(pbs, found, strict=True)]


def _judged(
    pa: Prepared, pb: Prepared, found: list[tuple[float, float, float, float, float, int]]
) -> Evidence:
    """The evidence of one pair from its coarse alignments (``found``: each time scale's, as
    :func:`_coarse_lag` gives it, the time scale first)."""
    a, b, part = pa.curve, pb.curve, pa.part
    if not found:
        return Evidence(0, 0.0, 0.0, 0.0, 1.0, 0, 0, None, 0.0)
    found.sort(key=lambda f: -f[3])
    time_scale, coarse, runner_up, score, spread, coarse_n = found[0]
    sparser = pa.step >= pb.step * time_scale
    if score >= REFINE_FROM and score * np.sqrt(coarse_n) >= REFINE_Z:
        # each time scale whose grid reaches REFINE_Z is refined (on a short branch a stretch
        # of ripple left may correlate on the grid at the other scale about as well as the
        # copy does at its own), the best refined one kept
        best: tuple[float, float, float, float, float, float, bool] | None = None
        for time_scale, coarse, runner_up, score, spread, coarse_n in found:
            if score < REFINE_FROM or score * np.sqrt(coarse_n) < REFINE_Z:
                continue
            sparser = pa.step >= pb.step * time_scale
            rho, lag, noise, turned = _refined_scale(pa, pb, time_scale, coarse, sparser)
            if best is None or rho > best[0]:
                best = (rho, lag, noise, turned, runner_up, spread, sparser)
        assert best is not None
        rho, lag, noise, time_scale, runner_up, spread, sparser = best
    else:
        # below REFINE_Z standard errors on the grid, far below SIGNIFICANCE: the grid's
        # correlation stands (no refinement brings two tests, or a copy, across that gap)
        rho, lag, noise = score, coarse, -1.0
    scaled = _scaled(b, time_scale)
    # identical points: at the stored millisecond nearest the alignment, or one or two beside
    # it (a wobbling clock moves the best alignment a little); or where the two branches start
    # (a curve without noise has nothing else to align it by)
    crossing = float(scaled.t[pb.part.start] - a.t[part.start])
    lags = np.array([round(start, 3) + k * 0.001 for start in (lag, crossing)
                     for k in (0, -1, 1, -2, 2)])  # fmt: skip
    identical, run, at = _identical(a, part, scaled, lags, pa.sorted_forces())
    if run and rho < MIN_CORRELATION:
        lag = at  # drawn where the identical points meet
    t, x, y = _paired(a, part, scaled, lag, sparser)
    if noise < 0:
        noise = _spread_kn(t, x, y)
    big = y > 0.1 * max(float(y.max()), 1e-9) if y.size else y.astype(bool)
    scale = _median(x[big] / y[big]) if big.any() else 1.0
    return Evidence(
        points=_compared_points(t.size - 2),
        correlation=max(rho, 0.0),
        runner_up=max(runner_up, 0.0),
        lag_s=lag,
        scale=scale,
        identical_run=run,
        identical=identical,
        jitter=_jitter(a, part, scaled, lag, (pa.step, pb.step * time_scale)),
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
    rx, ry = residual(t, np.stack((x, y)))
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
