"""CPU per message at fixed offered rates, accepting and applying (issue 44, the exchange).

Not a benchmark (``make bench`` skips files starting with ``_``). ``bench/exchange.py``'s
sustained search tells whether a rate holds; this tells what each rate costs: a fresh database
and one platform server of 2 workers (applying behind, as ``jcjg serve`` does), then each rate
offered for ``--seconds`` (bench/exchange.py's paced load of ``registry.equipment`` messages)
and, per answer in the window, the server processes' CPU and the PostgreSQL backends', the
answers' p50 and p99 and the apply lag. The window's CPU includes what the apply workers did in
it, so at a rate the servers keep up with it is accepting and applying together.

    .venv/bin/python -m bench._hold 150 450 --seconds 15
    .venv/bin/python -m bench._hold 150 --env JCJG_EXCHANGE_APPLY_GATHER_SECONDS=0
    git archive <base> src | tar -x -C /tmp/base && \\
        PYTHONPATH=/tmp/base/src .venv/bin/python -m bench._hold 450      # the servers too

``--spy FILE`` runs the server under py-spy (``--gil``, raw output; not a dependency: a scratch
virtualenv's ``py-spy`` on ``PATH``) for ``--spy-seconds`` from its start.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench import exchange as bx


def _hold(
    server: bx.Server, db: bx.Database, engine: Any, creds: list[bx.Credential],
    load: argparse.Namespace, workdir: Path, rate: float,
) -> str:  # fmt: skip
    """Offer ``rate`` for the window (bench/exchange.py's ``hold_rate``); the line of figures."""
    step = bx.hold_rate(server, engine, creds, load, workdir, rate, load.seconds, db)
    figures = step.figures
    assert figures is not None
    cpu = figures.server_cpu_ms + figures.postgres_cpu_ms
    return (
        f"offered {rate:.0f} msg/s: accepted {figures.rate:.0f} msg/s, CPU per message "
        f"{cpu:.2f} ms (server {figures.server_cpu_ms:.2f} + PostgreSQL "
        f"{figures.postgres_cpu_ms:.2f}), answers p50 {figures.p50_ms:.1f} ms p99 "
        f"{figures.p99_ms:.1f} ms, apply lag p50 {step.lag_p50_s:.2f} s p99 "
        f"{step.lag_p99_s:.2f} s, {step.failed} failed"
    )


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("rates", type=float, nargs="+", help="offered msg/s, held in turn")
    parser.add_argument("--seconds", type=float, default=20, help="each rate's window")
    parser.add_argument("--repeat", type=int, default=1, help="offer the rates this many times")
    parser.add_argument("--env", action="append", default=[], help="K=V for the server")
    parser.add_argument("--postgres-url", default=bx.DEFAULT_POSTGRES_URL)
    parser.add_argument("--spy", help="py-spy's raw output file")
    parser.add_argument("--spy-seconds", type=int, default=30)
    args = parser.parse_args(argv)
    load = bx._arguments(["--seconds", str(args.seconds), "--warmup", "2"])
    from sqlalchemy import create_engine

    lines: list[str] = []
    db = bx.Database(args.postgres_url)
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-hold-") as tmp:
        workdir = Path(tmp)
        db.create()
        try:
            bx.make_ledger_key(workdir / "data")
            env = bx.server_env(db.url, workdir / "data", load.rate_limit_store)
            env.update(dict(pair.split("=", 1) for pair in args.env))
            server = bx.Server(["--factory", "jcjg.main:create_app"], 2, env, workdir / "s.log")
            if args.spy:
                server.cmd = ["py-spy", "record", "--rate", "100", "--gil", "--format", "raw",
                              "--subprocesses", "--duration", str(args.spy_seconds),
                              "-o", args.spy, "--", *server.cmd]  # fmt: skip
            server.start()
            engine = None
            try:
                creds = bx.prepare(db.url, workdir / "data", load.clients)
                server.wait_ready()
                engine = create_engine(db.url, pool_size=1)
                for _ in range(args.repeat):
                    for rate in args.rates:
                        line = _hold(server, db, engine, creds, load, workdir, rate)
                        print(line, flush=True)
                        lines.append(line)
            finally:
                server.stop()
                if engine is not None:
                    engine.dispose()
        finally:
            db.drop()
    return lines


if __name__ == "__main__":
    main()
