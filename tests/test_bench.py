"""The benchmarks run (a short version here; `make bench` runs the full sizes)."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from jcjg.ledger import service

BENCH = Path(__file__).resolve().parent.parent / "bench"
LINE = re.compile(r"^BENCH (\w+) ([0-9.]+) (\S+) ratio=([0-9.]+) baseline=(\w+)$")


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(
    os.environ.get("JCJG_TEST_DATABASE", "sqlite") != "sqlite",
    reason="the benchmark measures the embedded SQLite database; run once, in the SQLite run",
)
def test_ledger_bench_short(capsys):
    saved = service.log_identity()
    try:
        lines = _load("ledger").main(["--leaves", "3000"])
    finally:
        service._identity = saved  # the bench configures its own log
    figures = {m.group(1): m for m in (LINE.match(line) for line in lines) if m}
    assert set(figures) == {"integrate", "inclusion_proof", "consistency_proof"}
    assert figures["integrate"].group(3) == "leaves/s"
    assert figures["inclusion_proof"].group(3) == "ms"
    assert all(float(m.group(2)) > 0 for m in figures.values())
    assert "BENCH integrate" in capsys.readouterr().out
