"""Force-time curves: parsing, compact storage, features, and the re-use fingerprint."""

from __future__ import annotations

import random

import numpy as np
import pytest

from jcjg.demo import synthetic
from jcjg.testing import curves
from jcjg.testing.curves import CurveError

pytestmark = pytest.mark.once  # no database: the same on both databases


def cube(seed: int, peak: float = 800.0, rate: float = 11.25) -> curves.Curve:
    return synthetic.concrete(random.Random(seed), peak_kn=peak, rate_kn_s=rate)


def test_storage_round_trips_within_resolution_and_is_compact():
    for curve in (
        cube(1),
        synthetic.rebar(random.Random(2), diameter_mm=20, yield_mpa=450, tensile_mpa=610),
    ):
        stored = curves.encode(curve)
        back = curves.decode(stored)
        assert back.n == curve.n
        assert np.abs(back.t - curve.t).max() <= 0.0005
        assert np.abs(back.force - curve.force).max() <= 0.0005  # 1 N
        if curve.displacement is not None:
            assert np.abs(back.displacement - curve.displacement).max() <= 0.0005
        assert len(stored) / curve.n <= 4  # bytes per point


def test_fifty_thousand_points_at_any_rate():
    t = np.cumsum(np.random.default_rng(3).uniform(0.001, 0.003, 50_000))
    force = 500 * t / t[-1] + np.random.default_rng(4).normal(0, 0.3, t.size)
    curve = curves.from_points(np.column_stack((t, force)).tolist())
    assert curve.n == 50_000
    assert curves.decode(curves.encode(curve)).n == 50_000
    assert curves.features(curve).sampling_hz > 300


def test_binary_upload_format():
    curve = cube(5)
    blob = curves.to_binary(curve)
    back = curves.from_binary(blob)
    assert back.n == curve.n
    assert np.allclose(back.force, curve.force, atol=0.01)
    with pytest.raises(CurveError, match="JCJGCURV"):
        curves.from_binary(b"NOTACURVE" + blob[9:])
    with pytest.raises(CurveError, match="长度"):
        curves.from_binary(blob[:-4])


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "没有数据点"),
        ([[0, 1]] * 5, "至少需要 10 个点"),
        ([[i, 1, 2, 3] for i in range(20)], "每个点应为"),
        ([[1, 0]] + [[i, 1] for i in range(19)], "严格递增"),
        ([[i, float("nan")] for i in range(20)], "非数字"),
        ([[i, "一"] for i in range(20)], "数字"),
        ([[i, 1e9] for i in range(20)], "力值超出"),
    ],
)
def test_bad_curves_are_refused_in_chinese(points, message):
    with pytest.raises(CurveError, match=message):
        curves.from_points(points)


def test_features_peak_and_loading_rate():
    curve = cube(7, peak=800, rate=11.25)
    f = curves.features(curve)
    assert f.peak_kn == pytest.approx(800, rel=0.02)
    assert f.rate_kn_s == pytest.approx(11.25, rel=0.08)
    assert f.sampling_hz == pytest.approx(20)
    assert f.time_to_peak_s == pytest.approx(800 / 11.25, rel=0.1)
    slow = curves.features(cube(7, peak=800, rate=5.0))
    assert slow.rate_kn_s == pytest.approx(5.0, rel=0.08)


def test_fingerprint_catches_copies_and_spares_other_specimens():
    rng = random.Random(11)
    originals = [cube(100 + i, peak=rng.uniform(760, 840)) for i in range(60)]
    prints = [curves.fingerprint(c) for c in originals]
    assert all(p is not None for p in prints)
    # other specimens of the same grade at the same rate: never one test
    false = [
        (i, j)
        for i in range(len(prints))
        for j in range(i + 1, len(prints))
        if curves.matches(prints[i], prints[j])
    ]
    assert false == []
    caught = 0
    for i, original in enumerate(originals):
        exact = curves.fingerprint(original)
        assert curves.matches(exact, prints[i]).similarity == pytest.approx(1.0)
        copy = synthetic.copy_of(
            rng, original, shift_s=rng.uniform(-1, 40), noise_kn=0.002 * prints[i].peak_kn
        )
        caught += curves.matches(curves.fingerprint(copy), prints[i]) is not None
    assert caught >= 57  # 95 %


def test_buckets_are_two_percent_wide():
    assert curves.bucket(800) == curves.bucket(805)
    assert abs(curves.bucket(800) - curves.bucket(840)) in (2, 3)


def test_the_band_index_finds_copies_as_the_full_scan_does():
    from jcjg.testing import fpindex

    rng = random.Random(31)
    originals = [
        cube(300 + i, peak=rng.uniform(600, 1000), rate=rng.uniform(9, 15)) for i in range(80)
    ]
    prints = [curves.fingerprint(c) for c in originals]
    gen = np.random.default_rng(1)
    # a population of unrelated fingerprints around the same peaks
    noise = gen.standard_normal((5000, curves.FINGERPRINT_BINS)).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    picks = gen.integers(0, len(prints), 5000)
    vectors = np.vstack([np.array([p.vector for p in prints]), noise])
    peaks = np.concatenate([[p.peak_kn for p in prints], [prints[i].peak_kn for i in picks]])
    rises = np.concatenate([[p.rise_s for p in prints], [prints[i].rise_s for i in picks]])
    index = fpindex.FingerprintIndex.build(np.arange(len(vectors)), vectors, peaks, rises)
    found = 0
    for i, original in enumerate(originals):
        copy = synthetic.copy_of(rng, original, shift_s=9.5, noise_kn=0.0015 * prints[i].peak_kn)
        fp = curves.fingerprint(copy)
        hits = index.query(fp)
        assert set(hits) <= set(index.brute_force(fp))  # the index never invents a match
        found += i in hits
    assert found >= 76  # 95 %
    # the keys depend only on the vector and the fixed hyperplanes
    assert (
        fpindex.band_values(prints[0].vector).tolist()
        == fpindex.band_values(prints[0].vector.copy()).tolist()
    )
    assert fpindex.band_values(prints[0].vector).shape == (1, fpindex.BANDS)
