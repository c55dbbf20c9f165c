"""Benchmark of public report verification under load: ``/v/{code}?t=`` (the page) and its
JSON, against a bare GET in the same run.

A fresh SQLite database (the embedded default) holds ``--reports`` reports (50; 10 with
``--short``), each covering a concrete test record of three specimens with machine-like curves,
their codes notarised and the log integrated. The real server (``uvicorn jcjg.main:create_app
--factory``, one worker, the verification rate limit lifted, the answer kept 2 s as in
production) answers ``--connections`` keep-alive connections (64 by default) driven by an
asyncio load generator in this process; each connection scans the reports in turn, so the
figures include the answers made anew as well as those given again. Every answer must be 200
with the verdict "genuine" (any other answer makes the run invalid, exit status 1). Every
look-up is logged, as in production (a ``code_scan`` row per request). The baseline, same
generator and connections, is a bare FastAPI GET on the same paths in the same uvicorn
(bench/_bare_app.py). A line also
gives the platform's floor, ``GET /healthz`` through all its middleware, to read the ratios by.

    BENCH verify_page <req/s> req/s ratio=<÷ bare req/s> baseline=bare_get
    BENCH verify_json <req/s> req/s ratio=<÷ bare req/s> baseline=bare_get
    BENCH verify_p99 <ms> ms ratio=<÷ bare p99> baseline=bare_get      (the page)

Goals: ratio >= 0.5 of the bare throughput and p99 < 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import importlib.util
import logging
import os
import random
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)


def _exchange_bench() -> Any:
    """bench/exchange.py's server runner (a sibling module, loaded by path)."""
    spec = importlib.util.spec_from_file_location(
        "bench_exchange_for_verify", BENCH_DIR / "exchange.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def prepare(url: str, data_dir: Path, reports_count: int) -> list[tuple[str, str]]:
    """``reports_count`` reports, each over its own test record, on a fresh database;
    returns their (code, token)."""
    from jcjg.config import Settings
    from jcjg.core.db import make_engine, make_sessionmaker, utcnow
    from jcjg.demo import synthetic
    from jcjg.ledger import jobs
    from jcjg.ledger import service as ledger
    from jcjg.refdata import upgrade
    from jcjg.reports import service as reports
    from jcjg.reports.schemas import ReportIn
    from jcjg.tenancy.models import Institution
    from jcjg.testing import service as testing
    from jcjg.testing.schemas import RecordIn

    upgrade(url)
    settings = Settings(env="test", database_url=url, data_dir=data_dir, secret_key="b" * 40)
    ledger.configure(settings)
    engine = make_engine(url)
    out: list[tuple[str, str]] = []
    with make_sessionmaker(engine)() as db:
        lab = Institution(code="JC-BENCH", name="压测检测站", credit_code="91360403MA00000011",
                          region_code="360403")  # fmt: skip
        db.add(lab)
        db.flush()
        now = utcnow()
        rng = random.Random(1)
        common = {"institution_code": lab.code}
        for n in range(1, reports_count + 1):
            loads = [rng.randint(780, 830) for _ in range(3)]
            specimens = synthetic.cube_specimens(synthetic.cubes(rng, loads, 0.6))
            testing.store_record(
                db=db, settings=settings, institution=lab, received_at=now,
                data=RecordIn.model_validate({
                    **common, "message_id": f"00000000-0000-4000-8000-{2 * n:012d}",
                    "number": f"JL-BENCH-{n}", "kind": "concrete_compression",
                    "item_code": "0108",
                    "started_at": (now - dt.timedelta(minutes=9)).isoformat(),
                    "ended_at": (now - dt.timedelta(minutes=4)).isoformat(),
                    "acquisition": "auto", "grade": "C30", "specimen_size_mm": 150,
                    "specimens": specimens,
                }),
            )  # fmt: skip
            report = reports.issue_report(
                db=db, institution=lab, received_at=now,
                data=ReportIn.model_validate({
                    **common, "message_id": f"00000000-0000-4000-8000-{2 * n + 1:012d}",
                    "number": f"BG-BENCH-{n}", "sequence": n, "items": ["0108"],
                    "test_record_numbers": [f"JL-BENCH-{n}"], "conclusion": "合格",
                    "judgement": "conforming", "signatories": [{"name": "王检测"}],
                    "issued_on": now.date().isoformat(),
                }),
            )  # fmt: skip
            out.append((report.supervision_code, report.token))
        db.commit()
        jobs.integrate(db, logging.getLogger("bench"))
    return out


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes):
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        raise ValueError(f"no Content-Length in {head[:200]!r}")
    body = await reader.readexactly(int(length.group(1)))
    return int(head[9:12]), body


async def _load(port: int, paths: list[str], marker: bytes, connections: int, warmup: float,
                seconds: float) -> tuple[int, list[float], list[str]]:  # fmt: skip
    """Each connection asks for the paths in turn, from its own starting point."""
    raws = [f"GET {p} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: */*\r\n\r\n".encode()
            for p in paths]  # fmt: skip
    # each path once first, on one connection: the first answers fill the caches (templates,
    # kept answers), and on a busy machine a short run's warm-up could end before they come
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        for raw in raws:
            await _get(reader, writer, raw)
    finally:
        writer.close()
    start = time.perf_counter()
    begin, end = start + warmup, start + warmup + seconds
    latencies: list[float] = []
    failures: list[str] = []
    ok = 0

    async def connection(n: int) -> None:
        nonlocal ok
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while time.perf_counter() < end:
                n += 1
                sent = time.perf_counter()
                status, body = await _get(reader, writer, raws[n % len(raws)])
                done = time.perf_counter()
                if status != 200 or marker not in body:
                    failures.append(f"{status}: {body[:200]!r}")
                elif begin <= done < end:
                    ok += 1
                    latencies.append((done - sent) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(connection(n) for n in range(connections)))
    return ok, sorted(latencies), failures


def _p(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--reports", type=int, help="reports scanned in turn (default 50)")
    parser.add_argument("--seconds", type=float, help="timed phase per run (default 10)")
    parser.add_argument("--warmup", type=float, help="untimed phase before it (default 2)")
    parser.add_argument("--short", action="store_true", help="a quick run for the test suite")
    args = parser.parse_args(argv)
    seconds = args.seconds or (2.0 if args.short else 10.0)
    warmup = args.warmup if args.warmup is not None else (0.5 if args.short else 2.0)
    connections = min(args.connections, 16) if args.short else args.connections
    reports_count = args.reports or (10 if args.short else 50)
    ex = _exchange_bench()
    lines: list[str] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-verify-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'verify.db'}"
        found = prepare(url, workdir / "data", reports_count)
        env = ex.server_env(url, workdir / "data")
        env["JCJG_VERIFY_RATE_LIMIT_PER_MINUTE"] = "100000000"
        env["JCJG_BASE_URL"] = "http://127.0.0.1"
        results: dict[str, tuple[int, list[float], list[str]]] = {}
        for name, app, paths, marker in (
            ("bare", ["bench._bare_app:app"], [f"/v/{c}" for c, _ in found], b'"ok":true'),
            ("page", ["--factory", "jcjg.main:create_app"], [f"/v/{c}?t={t}" for c, t in found],
             b'data-outcome="genuine"'),
            ("json", ["--factory", "jcjg.main:create_app"],
             [f"/v/{c}.json?t={t}" for c, t in found], b'"outcome":"genuine"'),
            # what any request to the platform costs (middleware, routing): for reading the ratios
            ("floor", ["--factory", "jcjg.main:create_app"], ["/healthz"], b'"ok"'),
        ):  # fmt: skip
            env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR.parent), env.get("PYTHONPATH", "")])
            server = ex.Server(app, 1, env, workdir / f"{name}.log")
            server.start()
            try:
                server.wait_ready()
                results[name] = asyncio.run(
                    _load(server.port, paths, marker, connections, warmup, seconds)
                )
            finally:
                server.stop()
            failures += results[name][2]
            if results[name][2]:
                errors = [line for line in server.tail(400).splitlines() if "Error" in line]
                lines.append(f"# {name}: the server said {errors[-3:]}")
    bare_ok, bare_lat, _ = results["bare"]
    bare_rate = bare_ok / seconds
    lines.append(
        f"# {connections} connections over {reports_count} reports, {seconds:g} s after a "
        f"{warmup:g} s warm-up, one uvicorn worker, SQLite; machine: {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}"
    )
    for name, (ok, lat, _) in results.items():
        lines.append(
            f"# {name}: {ok / seconds:.0f} req/s, p50 {_p(lat, 0.5):.1f} ms, "
            f"p99 {_p(lat, 0.99):.1f} ms"
        )
    if failures:
        lines.append(f"# failed answers: {len(failures)}, e.g. {failures[0]}")
    page_ok, page_lat, _ = results["page"]
    json_ok, _, _ = results["json"]
    lines += [
        f"BENCH verify_page {page_ok / seconds:.1f} req/s "
        f"ratio={page_ok / seconds / bare_rate:.3f} baseline=bare_get",
        f"BENCH verify_json {json_ok / seconds:.1f} req/s "
        f"ratio={json_ok / seconds / bare_rate:.3f} baseline=bare_get",
        f"BENCH verify_p99 {_p(page_lat, 0.99):.2f} ms "
        f"ratio={_p(page_lat, 0.99) / _p(bare_lat, 0.99):.3f} baseline=bare_get",
    ]
    for line in lines:
        print(line, flush=True)
    if failures:
        raise SystemExit(1)
    return lines


if __name__ == "__main__":
    main()
