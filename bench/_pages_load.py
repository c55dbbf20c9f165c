"""Where the machine's CPU goes under bench/pages.py's load: by process, against a kept database.

Against a database that ``python -m bench.pages --keep`` kept (its URL printed as ``# kept``):
the real server (``--workers`` uvicorn processes, as bench/pages.py starts it) answers the six
pages at ``--connections`` keep-alive connections for ``--seconds`` after a warm-up, and the CPU
each kind of process used meanwhile is read from ``/proc``: the server's workers, PostgreSQL's
backends, this process (the load generator) and the rest of the machine. A version of the code
is served from another tree by ``--src`` (its ``src`` folder), so two versions can be
alternated in the same minutes; with ``--spy DIR`` each worker is sampled by py-spy (``--gil``:
only the thread holding the GIL, i.e. where the CPU goes) into DIR as collapsed stacks.

    python -m bench._pages_load --url postgresql+psycopg://postgres@127.0.0.1:5432/jcjg_bench_x
    # pages: <n> in <s> s = <req/s> req/s, p50 <ms> ms, p99 <ms> ms
    # cpu workers: <s> s, <ms> ms a page
    # cpu postgres: ...

Not a benchmark (``make bench`` skips files starting with ``_``): it prints no BENCH line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
PY_SPY = "py-spy"  # not a dependency: see docs/development/performance.md, How to profile


class Proc(NamedTuple):
    name: str
    parent: int
    session: int
    ticks: int  # CPU so far, user and system


def _processes() -> dict[int, Proc]:
    """Every process, by pid."""
    found: dict[int, Proc] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[11]) + int(fields[12])
        found[int(entry)] = Proc(name, int(fields[1]), int(fields[3]), ticks)
    return found


def _kind(pid: int, proc: Proc, server: int) -> str:
    if pid == os.getpid():
        return "load generator"
    if proc.session == server:  # the server runs in a session of its own (Server.start)
        return "workers"
    if proc.name.startswith("postgres"):
        return "postgres"
    return "rest of the machine"


def _workers(server: int) -> list[int]:
    return [pid for pid, proc in _processes().items() if proc.parent == server]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="the kept bench database")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--src", help="serve the jcjg package of this src folder")
    parser.add_argument("--spy", help="a folder for py-spy's samples of each worker")
    args = parser.parse_args(argv)
    from bench import pages
    from bench._pages_cpu import _session
    from bench.exchange import Server, server_env

    cookie = _session(args.url)
    with tempfile.TemporaryDirectory(prefix="jcjg-pages-load-") as tmp:
        env = server_env(args.url, Path(tmp) / "data")
        path = [args.src] if args.src else []
        env["PYTHONPATH"] = os.pathsep.join(
            [*path, str(BENCH_DIR.parent), env.get("PYTHONPATH", "")]
        )
        server = Server(["--factory", "jcjg.main:create_app"], args.workers, env, Path(tmp) / "log")
        server.start()
        spies: list[subprocess.Popen[bytes]] = []
        try:
            server.wait_ready()
            assert server.proc is not None
            load = (server.ports, cookie, args.connections)
            asyncio.run(pages._load(*load, args.warmup, 1.0, pages.PAGES))
            for pid in _workers(server.proc.pid) if args.spy else ():
                out = Path(args.spy, f"worker-{pid}.txt")
                spies.append(subprocess.Popen(  # noqa: S603 - a profiler of our own processes
                    [PY_SPY, "record", "--pid", str(pid), "--duration", str(int(args.seconds)),
                     "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking",
                     "--gil"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                ))  # fmt: skip
            before, began = _processes(), time.perf_counter()
            found, failures = asyncio.run(pages._load(*load, 0.0, args.seconds, pages.PAGES))
            after, wall = _processes(), time.perf_counter() - began
            for spy in spies:
                spy.wait()
        finally:
            server.stop()
    if failures:
        raise SystemExit(f"{len(failures)} answers were not the page asked for: {failures[:3]}")
    times = sorted(t for page in found.values() for t in page)
    count = len(times)
    print(f"# pages: {count} in {args.seconds:.0f} s = {count / args.seconds:.1f} req/s, "
          f"p50 {pages._p(times, 0.5):.0f} ms, p99 {pages._p(times, 0.99):.0f} ms")  # fmt: skip
    hz = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    session = server.proc.pid if server.proc else -1
    for pid, proc in after.items():
        spent = proc.ticks - (before[pid].ticks if pid in before else 0)
        kind = _kind(pid, proc, session)
        used[kind] = used.get(kind, 0.0) + spent / hz
    for kind, seconds in sorted(used.items(), key=lambda kv: -kv[1]):
        per_page = seconds / max(count, 1) * 1000 * args.seconds / wall
        print(f"# cpu {kind}: {seconds:.2f} s, {per_page:.2f} ms a page")


if __name__ == "__main__":
    main()
