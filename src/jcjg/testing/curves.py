"""Force-time curves (力值-时间曲线, 001 6.2.1.3, 6.3.2.1): parsing, compact storage, the
features the rules use, and the fingerprint that finds a curve uploaded twice.

**Storage.** Time is kept to the millisecond, force to the newton (0.001 kN), displacement to
the micrometre. Each column is delta-coded (time twice: at a steady sampling rate its second
differences are all zero), stored in the narrowest integer type that holds it, and the whole
compressed with zlib. A 3,000-point machine curve takes one to two bytes per point.

**Fingerprint.** It only finds candidates; whether a candidate is the same test is decided on
the samples themselves (:mod:`jcjg.testing.reuse`). Genuinely different specimens of one grade,
loaded by one machine at one rate, have nearly the same smooth shape, so the shape alone cannot
tell them apart; what differs is each specimen's own wobble around it. The fingerprint is the
rising branch from 10 % to 90 % of the (smoothed) peak (a rebar's to 60 %: its yield plateau
and hardening are shapes every bar shares), where the crossings are sharp and a time shift or
noise cannot move them, averaged into 66 time bins (averaging damps added noise), each bin minus
the line through its neighbours (the shape every specimen shares is gone), scaled to unit
length: 64 numbers. The copy of a test points the same way (cosine near 1, about 0.8 with
noise of the machine's size added); two tests point in unrelated directions (cosine about 0,
± 0.13). The bins divide the branch's own time: a copy whose time axis is scaled (by 0.85-1.15,
its forces with it or not) keeps its fingerprint. Curves are filed by the time the load took
from 10 % to 90 % of the peak (2 % bins); the candidates are looked up in every bucket within
:data:`TOLERANCE` (16 %: the time scale a copy may have), and the rise time is a filter of
that width, not a key; beyond :data:`SAME_RISE` (2 %) the shapes must agree to
:data:`SCALED_SIMILARITY` (a time-scaled copy keeps its fingerprint whole). A record starting
above 10 % of its peak (its toe cut off) gets the branch's start from the line through its
first stretch.
"""

from __future__ import annotations

import itertools
import math
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

MAX_POINTS = 200_000
SCALES = (1000.0, 1000.0, 1000.0)  # t: ms, force: N (kN x 1000), displacement: um (mm x 1000)
MAGIC = b"JCV1"
BINARY_MAGIC = b"JCJGCURV"  # the upload format: see docs/testing.md
FINGERPRINT_BINS = 64  # the fingerprint's length (from 66 bins)
BUCKET_STEP = 0.02  # rise-time buckets: 2 % wide (log scale)
ONSET_SHARE = 0.05  # load counts from 5 % of the peak
MIN_SIMILARITY = 0.5  # cosine from which a candidate is compared sample by sample
# rise times of two fingerprints of one test: a copy's time axis may be scaled by 0.85-1.15
# (the fingerprint, on the branch's own time from 10 % to 90 %, does not change with it)
TOLERANCE = 0.16
# ... but a pair whose rise times differ by more than SAME_RISE is worth comparing only when its
# shapes agree to SCALED_SIMILARITY: a copy whose time axis was scaled keeps its fingerprint
# (cosine 0.99 and more); two tests of one grade at one rate on two machines of a populous
# region reach 0.5 every few pairs, and the 16 % window holds a third of the region's tests
SAME_RISE = 0.02
SCALED_SIMILARITY = 0.8
# A copy with noise of the machine's own size added to a curve that has little else of its own
# (a well-tuned servo) keeps only half its fingerprint; it keeps its peak and its rise time.
# The curves nearest in both, within these shares, are compared too (at most MAX_TWINS).
LATE_START = 0.2  # a record starting above this share of its peak has no fingerprint
TWIN_PEAK = 0.01
TWIN_RISE = 0.015
# the twins compared are the MAX_TWINS first by their distance in tolerance units (0 to 1) less
# TWIN_COSINE times their cosine: a copy is near and keeps much of its shape, a stranger within
# the window is as near but keeps little (in a region of 100,000 cubes the window holds dozens)
MAX_TWINS = 4
TWIN_COSINE = 2.0
# a twin is compared only when its fingerprint still points somewhat the same way (a copy with
# twice the machine's noise added keeps a cosine of about 0.45 +- 0.12 when its fingerprint is
# mostly noise, as most are: 1.5 % of them below 0.25, 0.5 % below 0.1; two tests about
# 0 +- 0.13)
TWIN_SIMILARITY = 0.1
# a record ending at its peak (a loading branch alone) also asks with its branch read against
# these shares of its peak (see query_prints)
PEAK_ENDING_FACTORS = (1.002, 0.998, 0.996, 0.994)
# ... and, where that reading is another fingerprint (cosine below ALTERNATE_SIMILARITY with
# every one it asks with), against these as alternates (candidates, not twins): its original's
# peak lies 0.8 % above the copy's for about one copy in 300 (the copy's smoothed end averages
# only the rising half of a window), where the readings above keep nothing of its fingerprint
PEAK_ENDING_WIDER = (1.004, 1.006, 1.008, 1.010, 0.992)
# any other record asks with its branch read against these shares of its peak as well when that
# reading is another fingerprint (cosine below ALTERNATE_SIMILARITY with every one it asks with):
# where the smoothed load wobbles about the 10 % or 90 % level, a crossing jumps by up to a
# wobble's period when the level moves by a part in a thousand, and noise added to a copy moves
# its peak by that much (see query_prints)
ALTERNATE_FACTORS = (1.002, 0.998, 1.004, 0.996)
ALTERNATE_SIMILARITY = 0.7

Array = npt.NDArray[np.float64]


class CurveError(ValueError):
    """A curve that cannot be used, with a Chinese message."""


@dataclass(frozen=True)
class Curve:
    """Time (s), force (kN) and, when the machine gives it, displacement (mm)."""

    t: Array
    force: Array
    displacement: Array | None = None

    @property
    def n(self) -> int:
        return int(self.t.size)


def from_points(points: Sequence[Sequence[float]]) -> Curve:
    """From ``[[t, F], ...]`` or ``[[t, F, d], ...]`` as JSON gives them."""
    if not points:
        raise CurveError("曲线没有数据点")
    if len(points) > MAX_POINTS:
        raise CurveError(f"曲线最多 {MAX_POINTS} 个点")
    try:  # rows of one width of numbers, read in C; what else it is, said below
        data = _flat_rows(points)
        if data is None:
            data = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        data = None
        error: Exception | None = exc
    else:
        error = None
    if data is None or data.ndim != 2 or data.shape[1] not in (2, 3):
        widths = {len(p) if isinstance(p, Sequence) else -1 for p in points}
        if widths not in ({2}, {3}):
            raise CurveError("每个点应为 [时间 s, 力值 kN] 或 [时间 s, 力值 kN, 位移 mm]")
        raise CurveError("曲线的点应为数字") from error
    return _checked(data[:, 0], data[:, 1], data[:, 2] if data.shape[1] == 3 else None)


def _flat_rows(points: Sequence[Sequence[float]]) -> Array | None:
    """JSON's rows (lists) of one width, 2 or 3, read as one flat list (numpy reads nested
    lists a third as fast); None for anything else (read as it is)."""
    if type(points) is not list or set(map(type, points)) != {list}:
        return None
    widths = set(map(len, points))
    if len(widths) != 1 or (width := widths.pop()) not in (2, 3):
        return None
    # read straight from the rows' items (no flat list made first: 0.2 against 0.3 ms for
    # 3,000 rows); a row holding a list raises ValueError as np.array does
    flat = np.fromiter(
        itertools.chain.from_iterable(points), dtype=np.float64, count=width * len(points)
    )
    return flat.reshape(-1, width)


def from_binary(blob: bytes) -> Curve:
    """The upload format: ``JCJGCURV``, uint8 columns (2 or 3), uint32 count (little-endian),
    then count rows of float32 (t s, F kN[, d mm])."""
    if len(blob) < 13 or blob[:8] != BINARY_MAGIC:
        raise CurveError("曲线文件格式不对：应以 JCJGCURV 开头（见接口文档）")
    columns, count = struct.unpack_from("<BI", blob, 8)
    if columns not in (2, 3) or not 0 < count <= MAX_POINTS:
        raise CurveError("曲线文件的列数或点数不对")
    if len(blob) != 13 + 4 * columns * count:
        raise CurveError("曲线文件长度与点数不符")
    data = np.frombuffer(blob, dtype="<f4", offset=13).reshape(count, columns).astype(np.float64)
    return _checked(data[:, 0], data[:, 1], data[:, 2] if columns == 3 else None)


def _columns(curve: Curve) -> list[Array]:
    extra = [curve.displacement] if curve.displacement is not None else []
    return [curve.t, curve.force, *extra]


def to_points(curve: Curve, decimals: int = 4) -> list[list[float]]:
    """The JSON form ``[[t, F(, d)], ...]`` (for clients, the demo and tests)."""
    return [list(map(float, row)) for row in np.column_stack(_columns(curve)).round(decimals)]


def to_binary(curve: Curve) -> bytes:
    """The upload format (for clients and tests)."""
    columns = [curve.t, curve.force] + (
        [curve.displacement] if curve.displacement is not None else []
    )
    data = np.column_stack(columns).astype("<f4")
    return BINARY_MAGIC + struct.pack("<BI", len(columns), curve.n) + data.tobytes()


def _checked(t: Array, force: Array, displacement: Array | None) -> Curve:
    arrays = [t, force] + ([displacement] if displacement is not None else [])
    if not all(np.isfinite(a).all() for a in arrays):
        raise CurveError("曲线含有非数字（NaN 或无穷大）")
    if t.size < 10:
        raise CurveError("曲线至少需要 10 个点")
    if (np.diff(t) <= 0).any():
        raise CurveError("曲线的时间须严格递增")
    if t[0] < 0 or t[-1] > 86_400:
        raise CurveError("曲线的时间应在 0 至 86400 秒之间（从试验开始计）")
    if np.abs(force).max() > 100_000:
        raise CurveError("力值超出 100000 kN")
    if displacement is not None and np.abs(displacement).max() > 10_000:
        raise CurveError("位移超出 10000 mm")
    return Curve(t.copy(), force.copy(), None if displacement is None else displacement.copy())


# --- compact storage -------------------------------------------------------------------------

_DTYPES: tuple[type[np.signedinteger[Any]], ...] = (np.int8, np.int16, np.int32, np.int64)


def _narrow(values: npt.NDArray[np.int64]) -> tuple[int, bytes]:
    biggest = int(np.abs(values).max()) if values.size else 0
    for code, dtype in enumerate(_DTYPES):
        if biggest <= np.iinfo(dtype).max - 1:
            return code, values.astype(dtype).tobytes()
    raise CurveError("曲线数值超出范围")  # pragma: no cover - int64 holds every checked value


def encode(curve: Curve) -> bytes:
    """The stored form: see the module's docstring."""
    columns = [curve.t, curve.force] + (
        [curve.displacement] if curve.displacement is not None else []
    )
    header = MAGIC + struct.pack("<IB", curve.n, len(columns))
    body = b""
    for index, values in enumerate(columns):
        ints = np.round(values * SCALES[index]).astype(np.int64)
        order = 2 if index == 0 else 1
        heads = [int(ints[0])] + ([int(ints[1] - ints[0])] if order == 2 else [])
        deltas = np.diff(ints, n=order)
        code, raw = _narrow(deltas)
        header += struct.pack("<BB", order, code) + struct.pack(f"<{order}q", *heads)
        body += raw
    # level 3: on machine curves' deltas as small as level 9 (6,177 against 6,214 bytes for
    # 3,000 points) at a quarter of its CPU (0.31 against 1.22 ms a curve); any level decodes
    return header + zlib.compress(body, 3)


def decode(stored: bytes) -> Curve:
    if stored[:4] != MAGIC:
        raise CurveError("不是平台保存的曲线")
    n, ncols = struct.unpack_from("<IB", stored, 4)
    offset = 9
    specs = []
    for _ in range(ncols):
        order, code = struct.unpack_from("<BB", stored, offset)
        offset += 2
        heads = struct.unpack_from(f"<{order}q", stored, offset)
        offset += 8 * order
        specs.append((order, code, heads))
    body = zlib.decompress(stored[offset:])
    columns: list[Array] = []
    at = 0
    for index, (order, code, heads) in enumerate(specs):
        dtype = np.dtype(_DTYPES[code])
        count = n - order
        deltas = np.frombuffer(body, dtype=dtype, count=count, offset=at).astype(np.int64)
        at += count * dtype.itemsize
        ints = deltas
        if order == 2:
            ints = np.concatenate(([heads[1]], deltas)).cumsum()
            ints = np.concatenate(([heads[0]], ints)).cumsum()
        else:
            ints = np.concatenate(([heads[0]], deltas)).cumsum()
        columns.append(ints.astype(np.float64) / SCALES[index])
    return Curve(columns[0], columns[1], columns[2] if ncols == 3 else None)


# --- features --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Features:
    n_points: int
    duration_s: float
    sampling_hz: float
    peak_kn: float
    time_to_peak_s: float  # from the onset of load (5 % of the peak)
    rate_kn_s: float | None  # mean loading rate over the window (least squares)


def features(curve: Curve, window: tuple[float, float] = (0.1, 0.8)) -> Features:
    """What the database keeps of a curve; ``window`` is the standard's loading-rate window
    as shares of the peak force on the rising branch (concrete and mortar 10-80 %; rebar's
    elastic range 10-40 %)."""
    t, f = curve.t, curve.force
    peak_at = int(np.argmax(f))
    peak = float(f[peak_at])
    onset = _onset(f, peak_at, peak)
    dt = np.diff(t)
    rate = None
    if peak > 0 and peak_at > onset:
        rising = slice(onset, peak_at + 1)
        lo, hi = window[0] * peak, window[1] * peak
        tt, ff = t[rising], f[rising]
        chosen = (ff >= lo) & (ff <= hi)
        if chosen.sum() >= 3 and np.ptp(tt[chosen]) > 0:
            rate = _slope(tt[chosen], ff[chosen])
            if not math.isfinite(rate):  # times too close together to tell a slope
                rate = None
    return Features(
        n_points=curve.n,
        duration_s=float(t[-1] - t[0]),
        sampling_hz=float(1.0 / np.median(dt)),
        peak_kn=peak,
        time_to_peak_s=float(t[peak_at] - t[onset]),
        rate_kn_s=rate,
    )


def _slope(x: Array, y: Array) -> float:
    """The least-squares line's slope through (x, y), as ``np.polyfit(x, y, 1)[0]`` gives it
    (to 1e-15 on machine curves; nearer the exact value than polyfit for times far from 0) in
    a tenth of its time: the centred sums, not a solved system. Not finite where the times lie
    too close together for their squares (polyfit then raised)."""
    dx = x - x.mean()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return float(dx @ (y - y.mean()) / (dx @ dx))


def _onset(force: Array, peak_at: int, peak: float) -> int:
    """The last point before the peak below 5 % of it (the load's start)."""
    below = np.nonzero(force[: peak_at + 1] < ONSET_SHARE * peak)[0]
    return int(below[-1]) if below.size else 0


# --- fingerprint -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fingerprint:
    """A curve's fingerprint: the unit residual vector, and the two numbers a copy keeps: the
    smoothed peak force and the time the load took from 10 % to 90 % of it."""

    vector: npt.NDArray[np.float32]
    peak_kn: float
    rise_s: float
    # a query's alternate reading (see query_prints): it asks for candidates, not for twins
    alternate: bool = False


def smoothed(t: Array, force: Array) -> Array:
    """The running mean over a hundredth of the duration, in time (the integral of the curve
    over the window): the same for a copy sampled at another rate."""
    width = max(float(t[-1] - t[0]) / 100, 1e-6)
    area = np.concatenate(([0.0], np.cumsum((force[1:] + force[:-1]) / 2 * np.diff(t))))
    lo = np.maximum(t - width / 2, t[0])
    hi = np.minimum(t + width / 2, t[-1])
    return np.asarray((np.interp(hi, t, area) - np.interp(lo, t, area)) / (hi - lo))


def loading_branch(curve: Curve, top: float = 0.9) -> tuple[Array, float, int, int]:
    """The smoothed load up to its peak, the peak, and the first samples at or above 10 % and
    ``top`` of it: the branch the fingerprint and the re-use evidence read."""
    smooth = smoothed(curve.t, curve.force)
    peak_at = int(np.argmax(smooth))
    peak = float(smooth[peak_at])
    rising = smooth[: peak_at + 1]
    start = int(np.argmax(rising >= 0.1 * peak))
    end = int(np.argmax(rising >= top * peak)) if top < 1 else peak_at
    return rising, peak, start, end


def fingerprint(curve: Curve, top: float = 0.9) -> Fingerprint | None:
    """See the module docstring; ``top`` ends the rising branch at that share of the peak (a
    rebar's at 0.6, before the yield plateau and hardening every bar shares). None when the
    branch has too few points (fewer than 2 per bin) or is too smooth to have anything of its
    own."""
    return _fingerprint(curve, *loading_branch(curve, top), top)


def query_prints(curve: Curve, top: float = 0.9) -> list[Fingerprint]:
    """The fingerprints a curve asks the index with: its own (:func:`fingerprint`; none without
    one), and, for a record that ends at its peak (its load, as sampled or smoothed, highest
    within the last hundredth of its duration: the break cut off), the same branch read
    against peaks :data:`PEAK_ENDING_FACTORS` times its own. Its original, break and all, was
    smoothed over the break: the peak it was filed under lies 0.3 % above to 0.7 % below the
    copy's, and a peak off by 0.5 % moves the 10 % and 90 % crossings enough to leave little
    of the fingerprint; further out (:data:`PEAK_ENDING_WIDER`, up to 1 % above) it adds the
    readings that are another fingerprint as alternates. Any other record adds its branch read
    against peaks :data:`ALTERNATE_FACTORS` times its own where that reading is another fingerprint
    (``alternate``: asking for candidates, not twins): where its smoothed load wobbles about
    the 90 % level (or the 10 %), a peak moved by a part in a thousand (noise added to a copy
    moves it so) makes the crossing jump by up to a wobble's period, a third of a bin or more,
    and a copy with its crossing elsewhere than its original's keeps nothing of its
    fingerprint (cosine -0.09 and 0.03 for two copies with the machine's noise added 1-2
    times, 0.91 and 0.82 read against a peak 0.2 % higher)."""
    rising, peak, start, end = loading_branch(curve, top)
    own = _fingerprint(curve, rising, peak, start, end, top)
    if own is None:
        return []
    width = float(curve.t[-1] - curve.t[0]) / 100
    highest = float(curve.t[int(np.argmax(curve.force))])
    out = [own]
    if max(highest, float(curve.t[rising.size - 1])) < float(curve.t[-1]) - width:
        # a record with its break: the readings whose crossings jump (alternates)
        for factor in ALTERNATE_FACTORS:
            fp = _read_against(curve, rising, peak * factor, top)
            if fp is not None and all(
                float(fp.vector @ p.vector) < ALTERNATE_SIMILARITY for p in out
            ):
                out.append(replace(fp, alternate=True))
        return out
    for factor in PEAK_ENDING_FACTORS:
        fp = _read_against(curve, rising, peak * factor, top)
        if fp is not None:
            out.append(fp)
    for factor in PEAK_ENDING_WIDER:
        fp = _read_against(curve, rising, peak * factor, top)
        if fp is not None and all(float(fp.vector @ p.vector) < ALTERNATE_SIMILARITY for p in out):
            out.append(replace(fp, alternate=True))
    return out


def _read_against(curve: Curve, rising: Array, level: float, top: float) -> Fingerprint | None:
    """The fingerprint of the branch read against the peak ``level``."""
    if not (rising >= top * level).any():
        return None
    begin = int(np.argmax(rising >= 0.1 * level))
    stop = int(np.argmax(rising >= top * level)) if top < 1 else rising.size - 1
    return _fingerprint(curve, rising, level, begin, stop, top)


def _fingerprint(
    curve: Curve, rising: Array, peak: float, start: int, end: int, top: float
) -> Fingerprint | None:
    """:func:`fingerprint` of the branch :func:`loading_branch` found (or of it read against
    another peak: :func:`query_prints`)."""
    t, f = curve.t, curve.force
    if peak <= 0 or end <= start:
        return None
    bins_n = FINGERPRINT_BINS + 2
    if end - start < 2 * bins_n:
        return None
    t_top = _crossing(t, rising, end, top * peak)
    if start > 0:
        # the crossings between samples (a resampled copy's fall elsewhere among its samples)
        t10 = _crossing(t, rising, start, 0.1 * peak)
        tt, ff = t[start - 1 : end + 1], f[start - 1 : end + 1]
    else:
        # a record that starts above 10 % of its peak (its toe cut off): the branch's start
        # found on the line through its first stretch, and the line standing in for the load
        # before the record's first sample
        t10_or_none = _extrapolated(t, rising, peak)
        if t10_or_none is None:
            return None
        t10 = t10_or_none
        tt, ff = t[: end + 1], f[: end + 1]
        if t10 < float(t[0]):
            tt = np.concatenate(([t10], tt))
            ff = np.concatenate(([0.1 * peak], ff))
    # each bin's mean over time (the integral of the curve between its edges over its width):
    # a resampled copy keeps it, where a mean of samples would change with the samples
    area = np.concatenate(([0.0], np.cumsum((ff[1:] + ff[:-1]) / 2 * np.diff(tt))))
    edges = np.linspace(t10, t_top, bins_n + 1)
    means = np.diff(np.interp(edges, tt, area)) / np.diff(edges)
    residual = means[1:-1] - (means[:-2] + means[2:]) / 2
    residual -= residual.mean()
    norm = float(np.linalg.norm(residual))
    if norm < 1e-6 * peak:
        return None
    return Fingerprint((residual / norm).astype(np.float32), peak, t_top - t10)


def rise_time(curve: Curve, top: float = 0.9) -> float | None:
    """The time the smoothed load took from 10 % to ``top`` of its peak (None without a
    branch): a time-scaled copy's is its original's times the scale."""
    return branch_rise_time(curve, top)[1]


def branch_rise_time(
    curve: Curve, top: float = 0.9, found: tuple[Array, float, int, int] | None = None
) -> tuple[slice, float | None]:
    """The loading branch's samples (from 10 % to ``top`` of the smoothed peak) and its rise
    time (:func:`rise_time`), from one smoothing (``found``: :func:`loading_branch`'s answer,
    when the caller has it)."""
    rising, peak, start, end = found if found is not None else loading_branch(curve, top)
    part = slice(start, max(start, end) + 1)
    if peak <= 0 or start == 0 or end <= start:
        return part, None
    t10 = _crossing(curve.t, rising, start, 0.1 * peak)
    return part, _crossing(curve.t, rising, end, top * peak) - t10


def _extrapolated(t: Array, rising: Array, peak: float) -> float | None:
    """When the smoothed load of a record starting above 10 % of its peak (but below
    :data:`LATE_START`) would have passed 10 %: on the line fitted to it from half a smoothing
    window after the record's start (before that the window is cut short) up to 30 %."""
    if rising[0] > LATE_START * peak:
        return None
    width = float(t[-1] - t[0]) / 100
    chosen = (t >= t[0] + width / 2)[: rising.size] & (rising <= 0.3 * peak)
    if chosen.sum() < 3 or np.ptp(rising[chosen]) <= 0:
        return None
    slope, intercept = np.polyfit(rising[chosen], t[: rising.size][chosen], 1)
    return float(slope * 0.1 * peak + intercept)


def _crossing(t: Array, rising: Array, at: int, level: float) -> float:
    """When the smoothed load reached ``level``, between samples ``at - 1`` and ``at``."""
    below, above = float(rising[at - 1]), float(rising[at])
    share = (level - below) / (above - below) if above > below else 1.0
    return float(t[at - 1] + share * (t[at] - t[at - 1]))


def bucket(rise_s: float) -> int:
    """The rise-time bucket (2 % wide, log scale) a fingerprint is filed under."""
    return math.floor(math.log(max(rise_s, 1e-3)) / math.log1p(BUCKET_STEP))


def twin_distance(a: Fingerprint, peak_kn: Any, rise_s: Any) -> Any:
    """How far (in tolerance units, < 1 inside) stored peaks and rise times are from ``a``'s."""
    return np.maximum(
        np.abs(np.asarray(peak_kn) / a.peak_kn - 1) / TWIN_PEAK,
        np.abs(np.asarray(rise_s) / a.rise_s - 1) / TWIN_RISE,
    )


def twin_rank(distance: Any, cosine: Any) -> Any:
    """The order twins are compared in (lowest first; see :data:`TWIN_COSINE`)."""
    return np.asarray(distance) - TWIN_COSINE * np.asarray(cosine)


@dataclass(frozen=True)
class Match:
    similarity: float
    peak_ratio: float
    time_ratio: float


def matches(
    a: Fingerprint,
    b: Fingerprint,
    *,
    min_similarity: float = MIN_SIMILARITY,
    tolerance: float = TOLERANCE,
) -> Match | None:
    """Whether two fingerprinted curves are worth comparing sample by sample (None if not):
    similar enough, and their loads took the same time (the peaks may differ: a copy's forces
    may be scaled)."""
    similarity = float(np.dot(a.vector, b.vector))
    peak_ratio = a.peak_kn / b.peak_kn if b.peak_kn else math.inf
    time_ratio = a.rise_s / b.rise_s if b.rise_s else math.inf
    if (
        similarity >= similarity_needed(abs(time_ratio - 1), min_similarity)
        and abs(time_ratio - 1) <= tolerance
    ):
        return Match(similarity, peak_ratio, time_ratio)
    return None


def similarities(
    fp: Fingerprint,
    vectors: npt.NDArray[np.float32],
    rises: npt.NDArray[np.float64],
    *,
    min_similarity: float = MIN_SIMILARITY,
    tolerance: float = TOLERANCE,
) -> npt.NDArray[np.float64]:
    """:func:`matches` of ``fp`` with many fingerprints at once (their vectors and rise
    times): each one's similarity where they are worth comparing, -inf where not."""
    with np.errstate(divide="ignore", invalid="ignore"):
        apart = np.abs(fp.rise_s / rises - 1)
    cosines = (vectors @ fp.vector).astype(np.float64)
    worth = (cosines >= similarity_needed(apart, min_similarity)) & (apart <= tolerance)
    return np.where(worth, cosines, -np.inf)


def similarity_needed(apart: Any, min_similarity: float = MIN_SIMILARITY) -> Any:
    """The cosine two fingerprints whose rise times differ by the share ``apart`` need to be
    compared: ``min_similarity``, or :data:`SCALED_SIMILARITY` (when higher) beyond
    :data:`SAME_RISE`."""
    return np.where(
        np.asarray(apart) > SAME_RISE, max(min_similarity, SCALED_SIMILARITY), min_similarity
    )
