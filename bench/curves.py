"""Benchmark of test records with curves (issue 7): ingestion, and the curve re-use index.

**Ingestion.** In one process, through the real signed exchange API (FastAPI's test client, no
network) on a fresh SQLite database: ``--records`` concrete compression records of three
specimens, each with a 3,000-point force-time curve (inline JSON, ~70 kB per curve), are sent,
accepted and applied (the clock stops when the last one is applied); the baseline, in the same
run and the same way, is the bare exchange rate of a small ``registry.labs`` message. Both
include signing verification, the ledger's promise, applying and the rules; neither includes
the lab's own work (serialising and signing each request is done before the clock starts, as
bench/exchange.py signs before its timed phase; the signatures stay fresh for 300 s).

**Re-use index.** ``--population`` fingerprints (100,000 and 1,000,000 by default) of curves of
cube, mortar and rebar tests: genuine fingerprints of a few hundred machine-like curves
(jcjg.demo.synthetic) and, to reach the size, vectors drawn with their covariance and peaks
and rise times drawn around theirs (each a different specimen). ``--queries`` originals are
among them; each query is a copy of one, shifted in time and with noise up to 0.2 % of the
peak added. The index (jcjg.testing.fpindex: 16 SimHash band keys per peak bucket) answers each
query; the baseline is the full scan of every stored fingerprint with the same test, in the
same run.

    BENCH curve_ingest <records/s> records/s ratio=<÷ bare messages/s> baseline=bare_exchange
    BENCH curve_reuse_query_100k <ms> ms ratio=<full scan ms ÷ index ms> baseline=brute_force
    BENCH curve_reuse_query_1m <ms> ms ratio=<full scan ms ÷ index ms> baseline=brute_force
    BENCH curve_reuse_index_recall <0..1> recall ratio=<÷ full-scan recall> baseline=brute_force

Goals: < 20 ms per query at 1M fingerprints, the index's recall >= 0.95 on shifted and noisy
copies (it only finds candidates; the verdict and its recall on every kind of copy are
``bench/curve_reuse.py``'s).
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi.testclient import TestClient
from sqlalchemy import select

from jcjg.client.signing import load_key, signed_headers
from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker, utcnow
from jcjg.demo import synthetic
from jcjg.exchange import apply, clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Message
from jcjg.main import create_app
from jcjg.refdata import upgrade
from jcjg.tenancy.models import Institution
from jcjg.testing import curves, fpindex

BASE = "http://testserver"


def _genuine(rng: random.Random, count: int) -> list[tuple[curves.Curve, float]]:
    """Machine-like curves, each with where its fingerprinted branch ends (a rebar's at 60 %)."""
    out: list[tuple[curves.Curve, float]] = []
    for i in range(count):
        kind = i % 3
        if kind == 0:
            peak, rate = rng.uniform(400, 1200), rng.uniform(8, 18)
            out.append((synthetic.concrete(rng, peak_kn=peak, rate_kn_s=rate), 0.9))
        elif kind == 1:
            peak, rate = rng.uniform(55, 95), rng.uniform(2.2, 2.6)
            out.append((synthetic.concrete(rng, peak_kn=peak, rate_kn_s=rate, hz=50), 0.9))
        else:
            diameter = rng.choice([12, 16, 20, 25, 28])
            bar = synthetic.rebar(
                rng,
                diameter_mm=diameter,
                yield_mpa=rng.uniform(420, 500),
                tensile_mpa=rng.uniform(570, 660),
            )
            out.append((bar, 0.6))
    return out


def reuse(population: int, queries: int, seed: int, genuine: int = 600) -> dict[str, float]:
    """Build the index over ``population`` fingerprints, answer ``queries`` copies both ways."""
    rng = random.Random(seed)
    gen = np.random.default_rng(seed)
    drawn = _genuine(rng, genuine)
    prints = [curves.fingerprint(c, top) for c, top in drawn]
    pairs = [(c, top, p) for (c, top), p in zip(drawn, prints, strict=True) if p is not None]
    vectors = np.array([p.vector for _, _, p in pairs], dtype=np.float32)
    peaks = np.array([p.peak_kn for _, _, p in pairs])
    rises = np.array([p.rise_s for _, _, p in pairs])
    covariance = np.cov(vectors.T)
    stored = gen.multivariate_normal(
        np.zeros(curves.FINGERPRINT_BINS), covariance, size=population, method="cholesky"
    ).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    pick = gen.integers(0, len(pairs), population)
    scale = 1 + gen.normal(0, 0.05, population)
    stored_peaks, stored_rises = peaks[pick] * scale, rises[pick] * scale
    originals = gen.choice(len(pairs), size=min(queries, len(pairs)), replace=False)
    slots = gen.choice(population, size=originals.size, replace=False)
    stored[slots], stored_peaks[slots], stored_rises[slots] = (
        vectors[originals],
        peaks[originals],
        rises[originals],
    )
    ids = np.arange(population, dtype=np.int64)
    started = time.perf_counter()
    index = fpindex.FingerprintIndex.build(ids, stored, stored_peaks, stored_rises)
    build_s = time.perf_counter() - started
    asked = []
    for original, slot in zip(originals, slots, strict=True):
        curve, top, fp = pairs[original]
        copy = synthetic.copy_of(
            rng, curve, shift_s=rng.uniform(-2, 40), noise_kn=rng.uniform(0, 0.002) * fp.peak_kn
        )
        asked.append((int(slot), curves.fingerprint(copy, top)))
    index_times, scan_times, found, scan_found = [], [], 0, 0
    for slot, fp in asked:
        if fp is None:
            continue
        t0 = time.perf_counter()
        hits = index.query(fp)
        t1 = time.perf_counter()
        scan = index.brute_force(fp)
        t2 = time.perf_counter()
        index_times.append(t1 - t0)
        scan_times.append(t2 - t1)
        found += slot in hits
        scan_found += slot in scan
    return {
        "build_s": build_s,
        "index_ms": statistics.median(index_times) * 1000,
        "index_p99_ms": float(np.percentile(index_times, 99)) * 1000,
        "scan_ms": statistics.median(scan_times) * 1000,
        "recall": found / len(index_times),
        "scan_recall": scan_found / len(index_times),
    }


# --- ingestion --------------------------------------------------------------------------------


def _record(code: str, number: str, rng: random.Random) -> dict[str, Any]:
    ended = utcnow()
    specimens = []
    for n in (1, 2, 3):
        peak = rng.uniform(760, 860)
        rate = rng.uniform(11, 13)
        hz = 3000 / (peak / rate * 1.04 + 5)  # about 3,000 points per curve
        curve = synthetic.concrete(rng, peak_kn=peak, rate_kn_s=rate, hz=hz)
        points = np.column_stack((curve.t, curve.force)).round(3).tolist()
        specimens.append(
            {
                "position": n,
                "values": {"peak_kn": round(float(curve.force.max()), 2)},
                "curve": {"points": points},
            }
        )
    return {
        "message_id": str(uuid.uuid4()),
        "institution_code": code,
        "number": number,
        "kind": "concrete_compression",
        "item_code": "0108",
        "started_at": (ended.replace(microsecond=0)).isoformat(),
        "ended_at": ended.isoformat(),
        "acquisition": "auto",
        "grade": "C30",
        "age_days": 28,
        "specimen_size_mm": 150,
        "specimens": specimens,
        "judgement": "conforming",
    }


def ingest(records: int, workdir: Path, seed: int) -> dict[str, float]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    settings = Settings(
        env="test",
        secret_key="bench-curves-" + "0" * 24,
        database_url=url,
        data_dir=workdir / "data",
        embedded_worker=False,
        exchange_max_body_bytes=4 * 1024 * 1024,
        exchange_apply_workers=0,  # applied by the bench, timed with the requests
    )
    with sessions() as db:
        inst = Institution(
            code="JC360403-9001", name="基准测试检测机构", credit_code="91360403MA00000001",
            region_code="360403", registered_address="九江", registration_type="有限责任公司",
        )  # fmt: skip
        db.add(inst)
        db.flush()
        client_row = clients.create_client(
            db, name="基准测试 LIMS", institution=inst, status=ClientStatus.ACTIVE
        )
        private = Ed25519PrivateKey.generate()
        issued = clients.issue_key(
            db,
            client_row,
            settings,
            alg="ed25519",
            public_key=base64.b64encode(private.public_key().public_bytes_raw()),
        )
        key_id, code = issued.key.key_id, inst.code
        db.commit()
    key = load_key("ed25519", private)
    app = create_app(settings, engine=engine, session_factory=sessions)
    rng = random.Random(seed)

    def signed(kind: str, payload: dict[str, Any]) -> tuple[str, bytes, dict[str, str]]:
        """The request a lab's system sends: its body serialised and signed (the lab's work,
        done before the clock starts, as bench/exchange.py signs before its timed phase)."""
        body = json.dumps(payload, ensure_ascii=False).encode()
        path = f"/exchange/v1/messages/{kind}"
        headers = signed_headers(
            "POST", BASE + path, key_id=key_id, key=key, body=body, content_type="application/json"
        )
        return path, body, headers

    def post(http: TestClient, request: tuple[str, bytes, dict[str, str]]) -> None:
        path, body, headers = request
        answer = http.post(path, content=body, headers=headers)
        if answer.status_code != 202:
            raise SystemExit(f"{path}: HTTP {answer.status_code} {answer.text[:300]}")

    def applied(expected: int) -> None:
        """Apply what was accepted; every message must have been applied, none rejected."""
        done = apply.drain(sessions, settings)
        if done != expected:
            raise SystemExit(f"applied {done} messages, expected {expected}")
        with sessions() as db:
            rejected = db.scalar(select(Message.problem).where(Message.status == "rejected"))
        if rejected is not None:
            raise SystemExit(f"a message was rejected: {rejected}")

    bare = [
        {
            "message_id": str(uuid.uuid4()),
            "institution_code": code,
            "labs": [{"name": f"力学室{i}", "address": "九江检测基地", "area_m2": "120.00"}],
        }
        for i in range(records)
    ]
    bodies = [_record(code, f"JL-BENCH-{i:05d}", rng) for i in range(records)]

    def timed(http: TestClient, kind: str, payloads: list[dict[str, Any]]) -> float:
        """Seconds to post ``payloads`` (signed beforehand) and apply them all."""
        requests = [signed(kind, payload) for payload in payloads]
        started = time.perf_counter()
        for request in requests:
            post(http, request)
        applied(len(requests))
        return time.perf_counter() - started

    with TestClient(app) as http:
        post(http, signed("registry.labs", {**bare[0], "message_id": str(uuid.uuid4())}))
        applied(1)  # warmed up
        bare_s = timed(http, "registry.labs", bare)
        record_s = timed(http, "test_record", bodies)
    engine.dispose()
    return {"records_per_s": records / record_s, "bare_per_s": records / bare_s}


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=60, help="records to ingest (and bare)")
    parser.add_argument(
        "--population", type=int, action="append", help="fingerprints (default 100k and 1M)"
    )
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--short", action="store_true", help="a quick run for the test suite")
    args = parser.parse_args(argv)
    if args.short:
        args.records, args.queries = 5, 40
        args.population = args.population or [20_000]
    populations = args.population or [100_000, 1_000_000]
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-curves-") as tmp:
        rates = ingest(args.records, Path(tmp), args.seed)
    lines.append(
        f"# ingestion: {args.records} records x 3 curves x ~3,000 points; "
        f"bare registry.labs {rates['bare_per_s']:.1f} msg/s"
    )
    figures = []
    for population in populations:
        result = reuse(population, args.queries, args.seed)
        figures.append((population, result))
        lines.append(
            f"# {population} fingerprints: index built in {result['build_s']:.1f} s; query "
            f"median {result['index_ms']:.2f} ms (p99 {result['index_p99_ms']:.2f} ms), full scan "
            f"{result['scan_ms']:.2f} ms; recall {result['recall']:.3f} "
            f"(full scan {result['scan_recall']:.3f})"
        )
    ratio = rates["records_per_s"] / rates["bare_per_s"]
    lines.append(
        f"BENCH curve_ingest {rates['records_per_s']:.2f} records/s ratio={ratio:.3f} "
        "baseline=bare_exchange"
    )
    for population, result in figures:
        name = {100_000: "100k", 1_000_000: "1m"}.get(population, str(population))
        lines.append(
            f"BENCH curve_reuse_query_{name} {result['index_ms']:.3f} ms "
            f"ratio={result['scan_ms'] / result['index_ms']:.2f} baseline=brute_force"
        )
    largest = figures[-1][1]
    scan_recall = largest["scan_recall"] or 1.0
    lines.append(
        f"BENCH curve_reuse_index_recall {largest['recall']:.3f} recall "
        f"ratio={largest['recall'] / scan_recall:.3f} baseline=brute_force"
    )
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
