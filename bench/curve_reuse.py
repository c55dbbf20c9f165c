"""Benchmark of the curve re-use verdict (issues 25, 46): false alarms among every candidate pair
the index yields on a population of genuine tests, and recall on labelled copies of each kind.

**Population.** ``--specimens`` (100,000) 150 mm cubes of C25 to C50, strengths 1.05-1.35 times
the grade, broken on ``--machines`` (400) machines drawn by :func:`jcjg.demo.synthetic.machine`
(10, 20 or 50 Hz; load-cell noise 0.05-0.3 % of the peak; servo drift; display resolution 1 N
to 0.1 kN; a mains hum on three in ten; a pump's ripple on half, hum and ripple the same
frequency on every test of the machine; a wobbling PC clock on three in ten; 0.5, 0.6 or
0.8 MPa/s): so thousands of specimens share a grade, a machine and a rate. Each specimen is
drawn once (its samples kept to the millisecond and the newton, read back for each comparison,
with its loading branch and whitened grid prepared once: ``reuse.Prepared.kept``, about 15 kB a
specimen, 1.5 GB at 100,000) and its fingerprint goes into the index
(:mod:`jcjg.testing.fpindex`); then each asks the index for candidates among the specimens
filed before it (the workers, forked once the index is built, share it and the samples, and do
the look-ups as well as the comparisons). **Every pair
the index yields is counted**; the ones the fingerprints find worth comparing
(:func:`jcjg.testing.curves.matches`, at most :data:`jcjg.testing.service.MAX_COMPARED` a
query, most similar first, and the twins) are compared sample by sample
(:func:`jcjg.testing.reuse.compare`); a verdict of "one test" is a false alarm.

**Copies.** ``--copies`` (300) of each kind of :data:`jcjg.demo.synthetic.COPY_KINDS`, each
forged from a random specimen (drawn from the copy's own seed; the splice's toe from another
specimen of its machine), ask the whole index the same way: found when a verdict names the
original; each asks as the rule does (:func:`jcjg.testing.curves.query_prints`: a copy that
ends at its peak with its branch read against a few peaks around its own too, any other with
its alternate readings; the genuine specimens, none of which ends at its peak, with their
fingerprint and alternate readings, these computed when they are drawn). Their pairs with
the other specimens count towards the false alarms too.

    BENCH curve_reuse_false_alarms <n> per_million_pairs ratio=<÷ resemblance> baseline=shape_only
    BENCH curve_reuse_recall <r> recall ratio=<÷ direct> baseline=direct_comparison
    BENCH curve_reuse_recall_<kind> <r> recall ratio=<÷ direct> baseline=direct_comparison
    BENCH curve_reuse_rate <specimens/s> specimens/s ratio=<÷ drawing alone> baseline=drawing_only

``shape_only`` is what resemblance alone would have accused on the same pairs (the old rule:
the branch's 64 bin means minus a fifth-degree polynomial, cosine >= 0.8, peaks and rise times
within 2 %); ``direct_comparison`` compares each copy
with its original without the index (what the index loses). The overall recall is the lowest of
the kinds'. ``curve_reuse_rate`` is the specimens drawn, fingerprinted, indexed and judged
per second (the labelled copies not counted); its baseline, drawing and fingerprinting alone.
Goals: <= 1 false alarm per million pairs, recall >= 0.99 for every kind, >= 170 specimens/s
on 2 cores. A genuine pair judged one test is printed (``# genuine pair judged one test``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jcjg.demo import synthetic
from jcjg.testing import curves, fpindex, reuse, service

GRADES = (25.0, 30.0, 35.0, 40.0, 45.0, 50.0)
SHAPE_ONLY = 0.8  # the old rule's cosine
SHAPE_TOLERANCE = 0.02  # the old rule's peaks and rise times


class Population:
    """Specimen ``i`` is drawn again from its own seed whenever its samples are needed."""

    def __init__(self, seed: int, machines: int) -> None:
        rng = random.Random(seed)
        self.seed = seed
        self.machines = [synthetic.machine(rng) for _ in range(machines)]

    def machine_of(self, i: int) -> synthetic.Machine:
        return self.machines[i % len(self.machines)]

    def specimen(self, i: int) -> curves.Curve:
        rng = random.Random(self.seed * 10_000_019 + i)
        return synthetic.cube_on(rng, self.machine_of(i), rng.choice(GRADES))


_POPULATION: Population | None = None
# what the judging workers read (set before they are forked, shared with them): the index, the
# old rule's shapes and every specimen's samples as the platform stores them
_INDEX: fpindex.FingerprintIndex | None = None
_SHAPES: np.ndarray | None = None
_STORED: list[bytes] = []
_ALTERNATES: dict[int, list[curves.Fingerprint]] = {}  # a specimen's other readings, if any
_KEPT: list[reuse.Kept] = []  # each specimen prepared once (its whitened grid computed once)


def _init(seed: int, machines: int) -> None:
    global _POPULATION
    _POPULATION = Population(seed, machines)


def resemblance(curve: curves.Curve) -> np.ndarray | None:
    """The old rule's fingerprint: the branch's 64 bin means minus their best fifth-degree
    polynomial, unit length (two tests matched when cosine >= 0.8 and peak and rise time
    agreed within 2 %)."""
    part = reuse.branch(curve)
    t, f = curve.t[part], curve.force[part]
    if t.size < 128:
        return None
    bins = np.minimum(((t - t[0]) / (t[-1] - t[0]) * 64).astype(int), 63)
    counts = np.bincount(bins, minlength=64)
    if (counts == 0).any():
        return None
    means = np.bincount(bins, weights=f, minlength=64) / counts
    x = np.linspace(-1, 1, 64)
    residual = means - np.polyval(np.polyfit(x, means, 5), x)
    norm = float(np.linalg.norm(residual))
    return residual / norm if norm else None


Drawn = tuple[int, bytes | None, float, float, bytes, bytes, list[curves.Fingerprint], reuse.Kept]


def _prints(chunk: range) -> list[Drawn]:
    """Each specimen drawn once: its fingerprint (None: none), the old rule's shape, its
    samples (:func:`_packed`), the alternate readings it asks with as well
    (:func:`jcjg.testing.curves.query_prints`) and the stored samples prepared for comparison
    (:meth:`jcjg.testing.reuse.Prepared.kept`: branch, rise time, and the whitened grid every
    later specimen comparing it at its own step reads, computed once here instead of once per
    pair)."""
    assert _POPULATION is not None
    out: list[Drawn] = []
    for i in chunk:
        curve = _POPULATION.specimen(i)
        asks = curves.query_prints(curve)
        old = resemblance(curve)
        shape = (old if old is not None else np.zeros(64)).astype(np.float32).tobytes()
        packed = _packed(curve)
        kept = reuse.prepare(_unpacked(packed)).kept()
        if not asks:
            out.append((i, None, 0.0, 0.0, shape, packed, [], kept))
        else:
            fp = asks[0]
            out.append(
                (i, fp.vector.tobytes(), fp.peak_kn, fp.rise_s, shape, packed, asks[1:], kept)
            )
    return out


def _packed(curve: curves.Curve) -> bytes:
    """The samples to the millisecond and the newton, as the platform keeps them (without
    :func:`jcjg.testing.curves.encode`'s compression, which would cost a third of the drawing:
    100,000 specimens take 1.8 GB)."""
    ints = np.round(np.concatenate((curve.t, curve.force)) * 1000).astype(np.int32)
    return ints.tobytes()


def _unpacked(packed: bytes) -> curves.Curve:
    ints = np.frombuffer(packed, dtype=np.int32)
    n = ints.size // 2
    return curves.Curve(ints[:n] / 1000.0, ints[n:] / 1000.0, None)


def _stored(i: int) -> curves.Curve:
    """Specimen ``i``'s samples read back."""
    return _unpacked(_STORED[i])


def _prepared(i: int) -> reuse.Prepared:
    """Specimen ``i``'s samples read back, prepared as when it was drawn."""
    return reuse.restore(_stored(i), _KEPT[i])


@dataclass
class _Tally:
    yielded: int = 0  # candidate pairs the index yielded
    compared: int = 0  # of them, compared sample by sample
    twins: int = 0  # of those, twins alone (compared at time scale 1: reuse.compare_many)
    false: int = 0  # judged one test, but two
    accused: list[tuple[int, int]] = field(default_factory=list)  # those genuine pairs
    shape_only: int = 0  # what resemblance alone would have accused
    found: dict[str, list[int]] = field(default_factory=dict)  # per kind, through the index
    direct: dict[str, list[int]] = field(default_factory=dict)  # per kind, without it

    def add(self, other: _Tally) -> None:
        self.yielded += other.yielded
        self.compared += other.compared
        self.twins += other.twins
        self.false += other.false
        self.accused.extend(other.accused)
        self.shape_only += other.shape_only
        for kind, values in other.found.items():
            self.found.setdefault(kind, []).extend(values)
        for kind, values in other.direct.items():
            self.direct.setdefault(kind, []).extend(values)


def _genuine(rows: range) -> _Tally:
    """Every pair the index yields for the specimens of ``rows`` among those filed before them
    (each pair once: the later specimen asks), judged on the samples."""
    index, shapes = _INDEX, _SHAPES
    assert index is not None
    assert shapes is not None
    tally = _Tally()
    for row in rows:
        i = int(index.ids[row])
        fp = curves.Fingerprint(index.vectors[row], float(index.peaks[row]), index.rises[row])
        candidates = index.candidates(fp, curves.TOLERANCE)
        candidates = candidates[index.ids[candidates] < i]
        twins = index.twins(fp, i)  # among the earlier specimens, as the rule
        yielded = set(index.ids[candidates].tolist()) | set(twins)
        near = (np.abs(index.rises[candidates] / fp.rise_s - 1) <= SHAPE_TOLERANCE) & (
            np.abs(index.peaks[candidates] / fp.peak_kn - 1) <= SHAPE_TOLERANCE
        )
        old = (shapes[candidates] @ shapes[row] >= SHAPE_ONLY) & near
        tally.shape_only += int(old.sum())
        # what the rule compares (as index.ask, from the same look-ups): the candidates of its
        # fingerprint and of its alternate readings by the best of their cosines, and the
        # fingerprint's twins
        best = dict(index.verified(candidates, fp))
        for other in _ALTERNATES.get(i, []):
            rows_ = index.candidates(other, curves.TOLERANCE)
            rows_ = rows_[index.ids[rows_] < i]
            yielded.update(index.ids[rows_].tolist())
            for j, cosine in index.verified(rows_, other):
                best[j] = max(best.get(j, -2.0), cosine)
        tally.yielded += len(yielded)
        compared = sorted(best, key=lambda j: -best[j])[: service.MAX_COMPARED]
        twins = [j for j in twins if j not in compared]
        compared += twins
        if not compared:
            continue
        tally.compared += len(compared)
        tally.twins += len(twins)
        # prepared once for all its candidates, aligned with all of them at once (the twins at
        # time scale 1 alone, as the rule)
        unscaled = [False] * (len(compared) - len(twins)) + [True] * len(twins)
        found = reuse.compare_many(
            _prepared(i), [_prepared(j) for j in compared], unscaled=unscaled
        )
        for j, evidence in zip(compared, found, strict=True):
            if evidence.is_copy():
                tally.false += 1
                tally.accused.append((i, j))
    return tally


def _copy(work: tuple[str, int, int]) -> _Tally:
    """One labelled copy of a kind, forged from a random specimen (its own seed), asks the
    whole index; found when a verdict names the original."""
    assert _POPULATION is not None
    assert _INDEX is not None
    kind, number, seed = work
    population, index = _POPULATION, _INDEX
    rng = random.Random(f"{seed}:{kind}:{number}")
    specimens = len(_STORED)
    original = rng.randrange(specimens)
    source = _prepared(original)
    noise = population.machine_of(original).white * float(source.curve.force.max())
    donor = _stored((original + len(population.machines)) % specimens)
    copy = reuse.prepare(synthetic.forge(rng, source.curve, kind, noise_kn=noise, donor=donor))
    tally = _Tally(direct={kind: [int(reuse.compare(copy, source).is_copy())]})
    prints = curves.query_prints(copy.curve)
    found = False
    if prints:
        yielded: set[int] = set()
        for fp in prints:
            yielded.update(index.ids[index.candidates(fp, curves.TOLERANCE)].tolist())
            if not fp.alternate:
                yielded.update(index.twins(fp))
        tally.yielded += len(yielded)
        chosen, twins = index.asked(prints, service.MAX_COMPARED, specimens)
        asked = chosen + twins
        tally.compared += len(asked)
        unscaled = [False] * len(chosen) + [True] * len(twins)
        found_ = reuse.compare_many(copy, [_prepared(j) for j in asked], unscaled=unscaled)
        for j, evidence in zip(asked, found_, strict=True):
            if evidence.is_copy():
                found = found or j == original
                tally.false += j != original
    tally.found[kind] = [int(found)]
    return tally


class _InProcess:
    """One worker: this process (the test loads this file under a name a pool cannot
    import)."""

    def __init__(self, seed: int, machines: int) -> None:
        _init(seed, machines)

    def imap(self, func: Any, items: Iterable[Any], chunksize: int = 1) -> Iterator[Any]:
        return map(func, items)

    def imap_unordered(self, func: Any, items: Iterable[Any], chunksize: int = 1) -> Iterator[Any]:
        return map(func, items)

    def __enter__(self) -> _InProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _pool(workers: int, seed: int, machines: int) -> Any:
    if workers <= 1:
        return _InProcess(seed, machines)
    ctx = multiprocessing.get_context("fork")
    return ctx.Pool(workers, initializer=_init, initargs=(seed, machines))


def _chunks(total: int, size: int) -> Iterator[range]:
    for start in range(0, total, size):
        yield range(start, min(total, start + size))


def run(specimens: int, machines: int, copies: int, seed: int, workers: int) -> dict[str, float]:
    global _INDEX, _SHAPES, _STORED, _ALTERNATES, _KEPT
    started = time.perf_counter()
    tally = _Tally()
    with _pool(workers, seed, machines) as pool:
        drawn = [r for part in pool.imap(_prints, _chunks(specimens, 500)) for r in part]
    _STORED = [r[5] for r in drawn]
    _KEPT = [r[7] for r in drawn]
    _ALTERNATES = {r[0]: r[6] for r in drawn if r[6]}
    rows = [r for r in drawn if r[1] is not None]
    _INDEX = fpindex.FingerprintIndex.build(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([np.frombuffer(r[1] or b"", dtype=np.float32) for r in rows]),
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
    )
    _SHAPES = np.array([np.frombuffer(r[4], dtype=np.float32) for r in rows])
    del drawn, rows
    drawn_s = time.perf_counter() - started
    # the judging workers are forked now: they share the index and the stored samples
    with _pool(workers, seed, machines) as pool:
        for part in pool.imap_unordered(_genuine, _chunks(_INDEX.ids.size, 50)):
            tally.add(part)
        judged_s = time.perf_counter() - started
        for i, j in tally.accused:
            print(f"# genuine pair judged one test: specimens {i} and {j}")
        work = [(kind, n, seed) for kind in synthetic.COPY_KINDS for n in range(copies)]
        for part in pool.imap_unordered(_copy, work, 8):
            tally.add(part)
    figures: dict[str, float] = {
        "seconds": time.perf_counter() - started,
        "drawn_s": drawn_s,
        "rate": specimens / max(judged_s, 1e-9),
        "drawn_rate": specimens / max(drawn_s, 1e-9),
        "yielded": tally.yielded,
        "compared": tally.compared,
        "twins": tally.twins,
        "cpu_s": _processor_time(),
        "false": tally.false,
        "per_million": tally.false / max(tally.yielded, 1) * 1e6,
        "shape_per_million": tally.shape_only / max(tally.yielded, 1) * 1e6,
    }
    for kind in synthetic.COPY_KINDS:
        figures[f"recall_{kind}"] = float(np.mean(tally.found[kind]))
        figures[f"direct_{kind}"] = float(np.mean(tally.direct[kind]))
    return figures


def _processor_time() -> float:
    """The processor time of this process and its workers (those ended), in seconds: on shared
    cores the wall rate says how much of them the run had, this what it cost."""
    own, workers = (
        resource.getrusage(resource.RUSAGE_SELF),
        resource.getrusage(resource.RUSAGE_CHILDREN),
    )
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def _ratio(value: float, base: float) -> str:
    return f"{value / base:.3f}" if base else "0"


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--specimens", type=int, default=100_000)
    parser.add_argument("--machines", type=int, default=400)
    parser.add_argument("--copies", type=int, default=300)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--workers", type=int, default=max(1, multiprocessing.cpu_count()))
    parser.add_argument("--short", action="store_true", help="a small population (tests)")
    args = parser.parse_args(argv)
    if args.short:
        args.specimens, args.machines, args.copies = 3_000, 40, 12
    f = run(args.specimens, args.machines, args.copies, args.seed, args.workers)
    print(
        f"{args.specimens} specimens on {args.machines} machines drawn and indexed in "
        f"{f['drawn_s']:.0f} s; {f['yielded']:.0f} candidate pairs yielded, "
        f"{f['compared']:.0f} compared sample by sample ({f['twins']:.0f} of the population's "
        f"as twins alone), {f['false']:.0f} false alarms; "
        f"resemblance alone would accuse {f['shape_per_million']:.1f} per million; "
        f"{f['seconds']:.0f} s in all, {f['cpu_s']:.0f} s of processor time"
    )
    lines = [
        f"BENCH curve_reuse_false_alarms {f['per_million']:.3f} per_million_pairs "
        f"ratio={_ratio(f['per_million'], f['shape_per_million'])} baseline=shape_only"
    ]
    recalls = {k: f[f"recall_{k}"] for k in synthetic.COPY_KINDS}
    worst = min(recalls, key=lambda k: recalls[k])
    lines.append(
        f"BENCH curve_reuse_recall {recalls[worst]:.3f} recall "
        f"ratio={_ratio(recalls[worst], f[f'direct_{worst}'])} baseline=direct_comparison"
    )
    for kind, value in recalls.items():
        lines.append(
            f"BENCH curve_reuse_recall_{kind} {value:.3f} recall "
            f"ratio={_ratio(value, f[f'direct_{kind}'])} baseline=direct_comparison"
        )
    lines.append(
        f"BENCH curve_reuse_rate {f['rate']:.1f} specimens/s "
        f"ratio={_ratio(f['rate'], f['drawn_rate'])} baseline=drawing_only"
    )
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
