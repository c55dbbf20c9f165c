"""Benchmark of the tamper-evident log on SQLite (issue 3).

Appends and integrates N leaves (default 1,000,000; ``--leaves`` to change), then measures
inclusion and consistency proof generation at that size. Each figure is printed beside a
baseline measured in the same run: the time of one SHA-256 node hash.

    BENCH integrate <leaves/s> leaves/s ratio=<÷ node hashes/s> baseline=sha256_node
    BENCH inclusion_proof <ms> ms ratio=<÷ one node hash> baseline=sha256_node
    BENCH consistency_proof <ms> ms ratio=<÷ one node hash> baseline=sha256_node
    BENCH integrate_sm3 <leaves/s> leaves/s ratio=<÷ integrate> baseline=integrate_sha256
    BENCH sm2_sign <µs> us ratio=<÷ Ed25519 signing> baseline=ed25519_sign
    BENCH sm2_verify <µs> us ratio=<÷ Ed25519 verifying> baseline=ed25519_verify

The SM3 log (``JCJG_CRYPTO=sm``) is the same tree over the same leaves with SM3 hashes and an
SM2-signed checkpoint; its proofs are checked with SM3. The SM2 figures are per signature
(receipts, checkpoints, a lab's request), each beside Ed25519's measured in the same run.

Goals: integration >= 20,000 leaves/s, proofs < 1 ms at 1M leaves.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import tempfile
import time
from pathlib import Path

from jcjg.config import Settings
from jcjg.core.db import make_engine, make_sessionmaker
from jcjg.core.migrate import upgrade
from jcjg.ledger import merkle, service


def node_hash_seconds(samples: int = 200_000) -> float:
    left, right = hashlib.sha256(b"l").digest(), hashlib.sha256(b"r").digest()
    sha = hashlib.sha256
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(samples):
            sha(b"\x01" + left + right).digest()
        best = min(best, (time.perf_counter() - start) / samples)
    return best


def run(
    leaves: int, workdir: Path, proofs: int = 300, crypto: str = "standard"
) -> dict[str, float]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    log = service.configure(
        Settings(env="test", secret_key="b" * 32, data_dir=workdir, crypto=crypto)  # type: ignore[arg-type]
    )
    factory = make_sessionmaker(make_engine(url))
    chunk = 50_000
    with factory() as db:
        for start in range(0, leaves, chunk):
            n = min(chunk, leaves - start)
            service.append_many(db, "bench:leaf", [{"n": start + i} for i in range(n)])
            db.commit()

    with factory() as db:
        begin = time.perf_counter()
        while service.integrate(db, batch=100_000):
            db.commit()
        integrate_s = time.perf_counter() - begin
        assert service.head(db).size == leaves

    rng = random.Random(7)
    inclusion, consistency = [], []
    with factory() as db:
        root = service.head(db).root_hash
        for _ in range(proofs):
            index = rng.randrange(leaves)
            t0 = time.perf_counter()
            proof = service.inclusion(db, index, leaves)
            inclusion.append(time.perf_counter() - t0)
            leaf = bytes.fromhex(proof["leaf_hash"])
            hashes = [bytes.fromhex(h) for h in proof["hashes"]]
            assert merkle.verify_inclusion(leaf, index, leaves, hashes, root, hasher=log.hasher)
        for _ in range(proofs):
            first = rng.randrange(1, leaves)
            t0 = time.perf_counter()
            proof = service.consistency(db, first, leaves)
            consistency.append(time.perf_counter() - t0)
        _check_consistency(proof, log.hasher)
    return {
        "integrate_leaves_per_s": leaves / integrate_s,
        "inclusion_s": statistics.median(inclusion),
        "consistency_s": statistics.median(consistency),
    }


def _check_consistency(proof: dict[str, object], hasher: merkle.Hasher) -> None:
    hashes = [bytes.fromhex(h) for h in proof["hashes"]]  # type: ignore[attr-defined]
    assert merkle.verify_consistency(
        int(proof["first"]),  # type: ignore[call-overload]
        int(proof["second"]),  # type: ignore[call-overload]
        hashes,
        bytes.fromhex(str(proof["first_root"])),
        bytes.fromhex(str(proof["second_root"])),
        hasher=hasher,
    )


def signature_seconds(rounds: int = 300) -> dict[str, float]:
    """Median seconds of one signature and one verification, SM2 (Tongsuo) and Ed25519."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from jcjg.exchange.signatures import SM2SigningKey

    message = b"jcjg-ledger-promise/v1\nexample/ledger/sm\n" + bytes(64)
    sm2 = SM2SigningKey.generate()
    sm2_public = sm2.verifying_key()
    ed = Ed25519PrivateKey.generate()
    ed_public = ed.public_key()
    out: dict[str, list[float]] = {
        k: [] for k in ("sm2_sign", "sm2_verify", "ed_sign", "ed_verify")
    }
    for _ in range(rounds):
        t0 = time.perf_counter()
        signature = sm2.sign(message)
        t1 = time.perf_counter()
        assert sm2_public.verify(message, signature)
        t2 = time.perf_counter()
        ed_signature = ed.sign(message)
        t3 = time.perf_counter()
        ed_public.verify(ed_signature, message)
        t4 = time.perf_counter()
        for key, value in zip(out, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            out[key].append(value)
    return {key: statistics.median(values) for key, values in out.items()}


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    node_s = node_hash_seconds()
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-") as tmp:
        figures = run(args.leaves, Path(tmp))
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-sm-") as tmp:
        sm = run(args.leaves, Path(tmp), crypto="sm")
    signing = signature_seconds()
    rate = figures["integrate_leaves_per_s"]
    inc_ms = figures["inclusion_s"] * 1000
    con_ms = figures["consistency_s"] * 1000
    lines = [
        f"# {args.leaves} leaves; one SHA-256 node hash = {node_s * 1e9:.0f} ns",
        f"BENCH integrate {rate:.0f} leaves/s ratio={rate * node_s:.4f} baseline=sha256_node",
        f"BENCH inclusion_proof {inc_ms:.3f} ms ratio={figures['inclusion_s'] / node_s:.0f} "
        "baseline=sha256_node",
        f"BENCH consistency_proof {con_ms:.3f} ms ratio={figures['consistency_s'] / node_s:.0f} "
        "baseline=sha256_node",
        f"BENCH integrate_sm3 {sm['integrate_leaves_per_s']:.0f} leaves/s "
        f"ratio={sm['integrate_leaves_per_s'] / rate:.3f} baseline=integrate_sha256",
        f"BENCH sm2_sign {signing['sm2_sign'] * 1e6:.0f} us "
        f"ratio={signing['sm2_sign'] / signing['ed_sign']:.2f} baseline=ed25519_sign",
        f"BENCH sm2_verify {signing['sm2_verify'] * 1e6:.0f} us "
        f"ratio={signing['sm2_verify'] / signing['ed_verify']:.2f} baseline=ed25519_verify",
    ]
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    main()
