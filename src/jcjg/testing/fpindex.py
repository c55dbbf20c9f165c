"""Finding a re-used curve among a million quickly: locality-sensitive hashing of fingerprints.

Each fingerprint (:func:`jcjg.testing.curves.fingerprint`) gets 16 band keys: its rise-time
bucket (2 % wide) and 8 bits of a random-hyperplane hash (SimHash) of its residual vector, one
band of hyperplanes per key. Two fingerprints of one test point nearly the same way, so each
hyperplane puts them on the same side with probability 1 - angle/180°; at cosine 0.8 (a copy
with the machine's own noise added again) a band agrees with probability ~0.17 and at least one
of 16 bands with ~0.95, at 0.9 with ~0.995; two unrelated specimens agree on a band one time in
256. A query looks up its 16 keys in its rise bucket and every bucket within the rise-time
tolerance (16 %: a copy's time axis may be scaled, its fingerprint does not change) and keeps the
candidates :func:`jcjg.testing.curves.matches` finds worth comparing, most similar first; the
samples decide (:mod:`jcjg.testing.reuse`). The hyperplanes come from a fixed seed, so keys are
the same in every process and release (changing them means re-keying stored fingerprints).
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
    """Fingerprints in memory, with the band keys sorted per band for binary search."""

    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    peaks: npt.NDArray[np.float64]
    rises: npt.NDArray[np.float64]
    sorted_keys: list[npt.NDArray[np.int64]]
    sorted_rows: list[npt.NDArray[np.int64]]
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
        all_keys = keys(buckets.astype(np.int64), band_values(vectors))
        sorted_keys, sorted_rows = [], []
        for band in range(BANDS):
            order = np.argsort(all_keys[:, band], kind="stable")
            sorted_keys.append(all_keys[order, band])
            sorted_rows.append(order.astype(np.int64))
        return cls(ids, vectors, peaks, rises, sorted_keys, sorted_rows)

    def candidates(self, fp: curves.Fingerprint, tolerance: float) -> npt.NDArray[np.int64]:
        """Rows sharing a band key with ``fp`` in its rise bucket or a neighbour."""
        reach = spread(tolerance)
        buckets = curves.bucket(fp.rise_s) + np.arange(-reach, reach + 1)
        wanted = keys(buckets, band_values(fp.vector))  # buckets x bands
        found = []
        for band in range(BANDS):
            column = self.sorted_keys[band]
            lo = np.searchsorted(column, wanted[:, band], side="left")
            hi = np.searchsorted(column, wanted[:, band], side="right")
            for a, b in zip(lo, hi, strict=True):
                if b > a:
                    found.append(self.sorted_rows[band][a:b])
        if not found:
            return np.empty(0, dtype=np.int64)
        return np.unique(np.concatenate(found))

    def query(
        self,
        fp: curves.Fingerprint,
        *,
        min_similarity: float = curves.MIN_SIMILARITY,
        tolerance: float = curves.TOLERANCE,
    ) -> list[int]:
        """The ids of stored fingerprints worth comparing with ``fp``, most similar first."""
        rows = self.candidates(fp, tolerance)
        return self._verify(rows, fp, min_similarity, tolerance)

    def twins(self, fp: curves.Fingerprint) -> list[int]:
        """The ids of the stored fingerprints nearest ``fp`` in peak and rise time (within
        :data:`curves.TWIN_PEAK` and :data:`curves.TWIN_RISE`) whose cosine with it reaches
        :data:`curves.TWIN_SIMILARITY`, nearest first."""
        if self._by_peak is None:
            self._by_peak = np.argsort(self.peaks, kind="stable")
        ordered = self.peaks[self._by_peak]
        lo = np.searchsorted(ordered, fp.peak_kn * (1 - curves.TWIN_PEAK))
        hi = np.searchsorted(ordered, fp.peak_kn * (1 + curves.TWIN_PEAK), side="right")
        rows = self._by_peak[lo:hi]
        distance = curves.twin_distance(fp, self.peaks[rows], self.rises[rows])
        inside = (distance <= 1) & (self.vectors[rows] @ fp.vector >= curves.TWIN_SIMILARITY)
        rows, distance = rows[inside], distance[inside]
        order = np.argsort(distance, kind="stable")[: curves.MAX_TWINS]
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
        near = np.abs(fp.rise_s / self.rises - 1) <= tolerance
        rows = np.nonzero((cosines >= min_similarity) & near)[0]
        return [int(i) for i in self.ids[rows[np.argsort(-cosines[rows], kind="stable")]]]

    def _verify(
        self,
        rows: npt.NDArray[np.int64],
        fp: curves.Fingerprint,
        min_similarity: float,
        tolerance: float,
    ) -> list[int]:
        if rows.size == 0:
            return []
        rows = rows[np.abs(fp.rise_s / self.rises[rows] - 1) <= tolerance]
        cosines = self.vectors[rows] @ fp.vector
        keep = cosines >= min_similarity
        rows, cosines = rows[keep], cosines[keep]
        return [int(i) for i in self.ids[rows[np.argsort(-cosines, kind="stable")]]]
