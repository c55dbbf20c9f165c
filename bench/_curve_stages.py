"""CPU per record of ``bench/curves.py``'s ingestion, by stage, without a profiler (issue 44).

Not a benchmark (``make bench`` skips files starting with ``_``): runs ``bench.curves.ingest``
as it is (one process, the signed exchange through FastAPI's test client, SQLite, the apply's
own batching by its time budget) with the stages wrapped in ``time.process_time``, and prints,
for the test records only, the POSTs' CPU per record (from the first POST: the bodies'
serialising and signing before it, the lab's work, is not counted) and the apply's, the apply's
stages and how many batches applied them, and with ``--rules`` each rule's CPU per record
(the rules' stage by rule, dearest first):

    .venv/bin/python -m bench._curve_stages --records 20 [--rules]
    git archive <base> src bench | tar -x -C /tmp/base && \\
        (cd /tmp/base && PYTHONPATH=/tmp/base/src:/tmp/base python -m bench._curve_stages)
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import curves as bench_curves
from fastapi.testclient import TestClient

from jcjg.alerts import engine as alerts_engine
from jcjg.exchange import apply
from jcjg.exchange import service as exchange_service
from jcjg.testing import service as testing_service

# (module, function, label): the inclusive CPU of each call is the stage's
STAGES = [
    (apply, "prepare", "prepare (before the transaction)"),
    (apply, "_apply_batch", "batch (whole)"),
    (apply, "apply_one", "  one message (parse, handler, flush)"),
    (testing_service, "store_record", "    store_record"),
    (alerts_engine, "run_triggered", "  rules (run_triggered)"),
    (exchange_service, "parse_json", "accept: parse_json"),
]


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rules", action="store_true", help="each rule's CPU per record")
    args = parser.parse_args(argv)
    spent: Counter[str] = Counter()
    calls: Counter[str] = Counter()
    for module, name, label in STAGES:
        setattr(module, name, _timed(getattr(module, name), label, spent, calls))
    if args.rules:
        alerts_engine.run_rule = _by_rule(alerts_engine.run_rule, spent, calls)
    # a snapshot at each drain's start and end: the records' POSTs are between the second
    # drain's end (the bare messages') and the third's start, their apply is the third
    marks: list[tuple[Counter[str], Counter[str], float, float]] = []
    drain = apply.drain

    def marked(*a: Any, **k: Any) -> int:
        marks.append((spent.copy(), calls.copy(), time.process_time(), time.perf_counter()))
        try:
            return drain(*a, **k)
        finally:
            marks.append((spent.copy(), calls.copy(), time.process_time(), time.perf_counter()))

    apply.drain = marked
    # the first POST after a drain: the records' POSTs start there (their bodies were
    # serialised and signed before it, the lab's work, which the bench does not time)
    posting: list[tuple[int, float, float]] = []
    post = TestClient.post

    def first_marked(*a: Any, **k: Any) -> Any:
        if not posting or posting[-1][0] != len(marks):
            posting.append((len(marks), time.process_time(), time.perf_counter()))
        return post(*a, **k)

    TestClient.post = first_marked  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory(prefix="jcjg-curve-stages-") as tmp:
            rates = bench_curves.ingest(args.records, Path(tmp), args.seed)
    finally:
        TestClient.post = post  # type: ignore[method-assign]
    n = args.records
    (s0, c0, cpu0, wall0), (s1, c1, cpu1, wall1) = marks[-2:]
    _, posted_cpu, posted_wall = posting[-1]
    lines = [
        f"# curve_ingest {rates['records_per_s']:.2f} records/s in this run",
        f"POSTs: {(cpu0 - posted_cpu) * 1000 / n:.1f} ms CPU per record "
        f"({(wall0 - posted_wall) * 1000 / n:.1f} ms wall)",
        f"apply: {(cpu1 - cpu0) * 1000 / n:.1f} ms CPU per record "
        f"({(wall1 - wall0) * 1000 / n:.1f} ms wall), {c1['batch (whole)'] - c0['batch (whole)']} "
        "batches",
    ]
    for _, _, label in STAGES:
        if label.startswith("accept"):
            continue
        lines.append(f"  {label:40s} {(s1[label] - s0[label]) * 1000 / n:7.1f} ms")
    rules = sorted(((s1[k] - s0[k], k) for k in s1 if k.startswith(RULE)), reverse=True)
    lines.extend(f"      {k[len(RULE) :]:36s} {cpu * 1000 / n:7.2f} ms" for cpu, k in rules if cpu)
    for line in lines:
        print(line)
    return lines


RULE = "rule "  # the per-rule labels' prefix in ``spent``


def _by_rule(run_rule: Any, spent: Counter[str], calls: Counter[str]) -> Any:
    """``alerts.engine.run_rule`` with its CPU added up per rule id."""

    @functools.wraps(run_rule)
    def timed(db: Any, rule_id: str, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return run_rule(db, rule_id, **kwargs)
        finally:
            spent[RULE + rule_id] += time.process_time() - started
            calls[RULE + rule_id] += 1

    return timed


def _timed(function: Any, label: str, spent: Counter[str], calls: Counter[str]) -> Any:
    @functools.wraps(function)
    def timed(*a: Any, **k: Any) -> Any:
        started = time.process_time()
        try:
            return function(*a, **k)
        finally:
            spent[label] += time.process_time() - started
            calls[label] += 1

    return timed


if __name__ == "__main__":
    main()
