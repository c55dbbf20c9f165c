"""Finding a re-used curve among a million quickly: locality-sensitive hashing of fingerprints.

Each fingerprint (:func:`jcjg.testing.curves.fingerprint`) gets 16 band keys: its rise-time
bucket (2 % wide) and 8 bits of a random-hyperplane hash (SimHash) of its residual vector, one
band of hyperplanes per key. Two fingerprints of one test point nearly the same way, so each
hyperplane puts them on the same side with probability 1 - angle/180°; at cosine 0.8 (a copy
with the machine's own noise added again) a band agrees with probability ~0.17 and at least one
of 16 bands with ~0.95, at 0.9 with ~0.995; two unrelated specimens agree on a band one time in
256. A query looks up its 16 keys in its rise bucket and every bucket within the rise-time
tolerance (16 %: a copy's time axis may be scaled, its fingerprint does not change) and keeps the
candidates :func:`jcjg.testing.curves.matches` finds worth comparing (cosine 0.5, or 0.8 beyond
2 % of rise time), most similar first; the samples decide (:mod:`jcjg.testing.reuse`). The
hyperplanes come from a fixed seed, so keys are the same in every process and release (changing
them means re-keying stored fingerprints).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from jcjg.testing import curves

BANDS = 16
BITS = 8
SEED = 20261121
_PLANES = (
    np.random.default_rng(SEED)
    .standard_normal((BANDS * BITS, curves.FINGERPRINT_BINS))
    .astype(np.float32)
)
_WEIGHTS = (1 << np.arange(BITS)).astype(np.int64)
_BUCKET_OFFSET = 4096  # buckets of peaks from 1e-3 kN up fit in 0..8191


def band_values(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.int64]:
    """The 16 SimHash bands (0..255) of each row of ``vectors`` (shape n x 64 -> n x 16)."""
    bits = (np.atleast_2d(vectors) @ _PLANES.T) > 0
    return bits.reshape(-1, BANDS, BITS).astype(np.int64) @ _WEIGHTS


def keys(
    bucket: int | npt.NDArray[np.int64], bands: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """The band keys: (rise bucket, band number, band value) in one integer per band."""
    base = (np.asarray(bucket, dtype=np.int64) + _BUCKET_OFFSET) << 12
    out: npt.NDArray[np.int64] = (
        np.asarray(base).reshape(-1, 1) + (np.arange(BANDS, dtype=np.int64) << 8) + bands
    )
    return out


def spread(tolerance: float) -> int:
    """How many neighbouring buckets a peak tolerance reaches on each side."""
    return max(1, math.ceil(tolerance / curves.BUCKET_STEP))


@dataclass
class FingerprintIndex:
    """Fingerprints in memory, with their band keys in one sorted array for binary search."""

    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    peaks: npt.NDArray[np.float64]
    rises: npt.NDArray[np.float64]
    sorted_keys: npt.NDArray[np.int64]  # every band key of every row (the band is in the key)
    sorted_rows: npt.NDArray[np.int64]  # the row of each
    _by_peak: npt.NDArray[np.int64] | None = None

    @classmethod
    def build(
        cls,
        ids: npt.NDArray[np.int64],
        vectors: npt.NDArray[np.float32],
        peaks: npt.NDArray[np.float64],
        rises: npt.NDArray[np.float64],
    ) -> FingerprintIndex:
        buckets = np.floor(np.log(np.maximum(rises, 1e-3)) / math.log1p(curves.BUCKET_STEP))
        all_keys = keys(buckets.astype(np.int64), band_values(vectors)).ravel()
        order = np.argsort(all_keys, kind="stable")
        rows = (order // BANDS).astype(np.int64)
        return cls(ids, vectors, peaks, rises, all_keys[order], rows)

    def candidates(self, fp: curves.Fingerprint, tolerance: float) -> npt.NDArray[np.int64]:
        """Rows sharing a band key with ``fp`` in its rise bucket or a neighbour."""
        reach = spread(tolerance)
        buckets = curves.bucket(fp.rise_s) + np.arange(-reach, reach + 1)
        wanted = keys(buckets, band_values(fp.vector)).ravel()  # buckets x bands
        lo = np.searchsorted(self.sorted_keys, wanted, side="left")
        hi = np.searchsorted(self.sorted_keys, wanted, side="right")
        lengths = hi - lo
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, dtype=np.int64)
        # every position of every run lo..hi, in one array
        ends = np.cumsum(lengths)
        at = np.arange(total) - np.repeat(ends - lengths, lengths) + np.repeat(lo, lengths)
        return np.unique(self.sorted_rows[at])

    def query(
        self,
        fp: curves.Fingerprint,
        *,
        min_similarity: float = curves.MIN_SIMILARITY,
        tolerance: float = curves.TOLERANCE,
    ) -> list[int]:
        """The ids of stored fingerprints worth comparing with ``fp``, most similar first."""
        rows = self.candidates(fp, tolerance)
        return self.verify(rows, fp, min_similarity=min_similarity, tolerance=tolerance)

    def ask(
        self, prints: list[curves.Fingerprint], limit: int, below: int | None = None
    ) -> list[int]:
        """What the rule compares for a curve asking with ``prints``
        (:func:`jcjg.testing.curves.query_prints`): the candidates worth comparing with any of
        them, most similar first (by the best of their cosines), at most ``limit``, then each
        one's twins (an alternate reading's none); only ids below ``below`` when given."""
        chosen, twins = self.asked(prints, limit, below)
        return chosen + twins

    def asked(
        self, prints: list[curves.Fingerprint], limit: int, below: int | None = None
    ) -> tuple[list[int], list[int]]:
        """:meth:`ask`'s answer in two: the candidates, and the twins not among them (compared
        at time scale 1 alone: :func:`jcjg.testing.reuse.compare_many`)."""
        best: dict[int, float] = {}
        for fp in prints:
            rows = self.candidates(fp, curves.TOLERANCE)
            for i, cosine in self.verified(rows, fp):
                if (below is None or i < below) and cosine > best.get(i, -2.0):
                    best[i] = cosine
        chosen = sorted(best, key=lambda i: -best[i])[:limit]
        twins: list[int] = []
        for fp in prints:
            if fp.alternate:
                continue  # an alternate reading asks for candidates only
            twins += [i for i in self.twins(fp, below) if i not in chosen and i not in twins]
        return chosen, twins

    def twins(self, fp: curves.Fingerprint, below: int | None = None) -> list[int]:
        """The ids of the stored fingerprints nearest ``fp`` in peak and rise time (within
        :data:`curves.TWIN_PEAK` and :data:`curves.TWIN_RISE`) whose cosine with it reaches
        :data:`curves.TWIN_SIMILARITY`, at most :data:`curves.MAX_TWINS`, the nearest and most
        alike first (:func:`curves.twin_rank`); only ids below ``below`` when given (the rule
        looks among the earlier curves only, as the database query does)."""
        if self._by_peak is None:
            self._by_peak = np.argsort(self.peaks, kind="stable")
        ordered = self.peaks[self._by_peak]
        lo = np.searchsorted(ordered, fp.peak_kn * (1 - curves.TWIN_PEAK))
        hi = np.searchsorted(ordered, fp.peak_kn * (1 + curves.TWIN_PEAK), side="right")
        rows = self._by_peak[lo:hi]
        distance = curves.twin_distance(fp, self.peaks[rows], self.rises[rows])
        cosine = self.vectors[rows] @ fp.vector
        inside = (distance <= 1) & (cosine >= curves.TWIN_SIMILARITY)
        if below is not None:
            inside &= self.ids[rows] < below
        rank = curves.twin_rank(distance[inside], cosine[inside])
        rows = rows[inside]
        order = np.argsort(rank, kind="stable")[: curves.MAX_TWINS]
        return [int(i) for i in self.ids[rows[order]]]

    def brute_force(
        self,
        fp: curves.Fingerprint,
        *,
        min_similarity: float = curves.MIN_SIMILARITY,
        tolerance: float = curves.TOLERANCE,
    ) -> list[int]:
        """The same answer by comparing with every stored fingerprint (the baseline)."""
        cosines = self.vectors @ fp.vector
        apart = np.abs(fp.rise_s / self.rises - 1)
        needed = curves.similarity_needed(apart, min_similarity)
        rows = np.nonzero((cosines >= needed) & (apart <= tolerance))[0]
        return [int(i) for i in self.ids[rows[np.argsort(-cosines[rows], kind="stable")]]]

    def verify(
        self,
        rows: npt.NDArray[np.int64],
        fp: curves.Fingerprint,
        *,
        min_similarity: float = curves.MIN_SIMILARITY,
        tolerance: float = curves.TOLERANCE,
    ) -> list[int]:
        """The ids of the candidate ``rows`` worth comparing with ``fp``, most similar
        first."""
        return [
            i
            for i, _ in self.verified(rows, fp, min_similarity=min_similarity, tolerance=tolerance)
        ]

    def verified(
        self,
        rows: npt.NDArray[np.int64],
        fp: curves.Fingerprint,
        *,
        min_similarity: float = curves.MIN_SIMILARITY,
        tolerance: float = curves.TOLERANCE,
    ) -> list[tuple[int, float]]:
        """:meth:`verify`'s ids with their cosines."""
        if rows.size == 0:
            return []
        cosines = curves.similarities(
            fp, self.vectors[rows], self.rises[rows], min_similarity=min_similarity,
            tolerance=tolerance,
        )  # fmt: skip
        keep = cosines > -np.inf
        rows, cosines = rows[keep], cosines[keep]
        order = np.argsort(-cosines, kind="stable")
        return [
            (int(i), float(c)) for i, c in zip(self.ids[rows[order]], cosines[order], strict=True)
        ]
