"""CPU of the app per page of bench/pages.py, in one process, warm, one request at a time.

Against a database that ``python -m bench.pages --keep`` kept (its URL printed as ``# kept``):
the app is built as the server builds it, a session is opened for the bench's city authority
(``bench_city``), and each page is asked ``--rounds`` times in turn after ``--warm`` rounds
through the app's ASGI interface (no server, no sockets). The sync endpoints run inline, not in
the threadpool, so the process's CPU and a profile see all of a request.

    python -m bench._pages_cpu --url postgresql+psycopg://postgres@127.0.0.1:5432/jcjg_bench_x
    # <page>: cpu min <ms> / median <ms> ms, wall median <ms> ms, <bytes> bytes
    # six pages: cpu <ms> ms (sum of the medians)

``--profile N`` prints the N functions of most cumulative time of all the timed requests
(cProfile), ``--page NAME`` asks that page alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))


def _inline_threadpool() -> None:
    """Sync endpoints and dependencies run in the calling thread (what the profile sees)."""
    import anyio.to_thread

    async def run_sync(func: Any, *args: Any, **_: Any) -> Any:
        return func(*args)

    anyio.to_thread.run_sync = run_sync  # type: ignore[assignment]


def _session(url: str) -> str:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from jcjg.auth import sessions
    from jcjg.auth.models import User

    engine = create_engine(url)
    with Session(engine) as db:
        user = db.scalars(select(User).where(User.username == "bench_city")).one()
        token, _ = sessions.create_session(db=db, user=user, ip="127.0.0.1", user_agent="bench")
        db.commit()
    engine.dispose()
    return token


async def _run(args: argparse.Namespace) -> None:
    import httpx
    from bench.pages import PAGES

    from jcjg.config import get_settings
    from jcjg.main import create_app

    get_settings.cache_clear()
    app = create_app(get_settings())
    token = _session(args.url)
    pages = [p for p in PAGES if not args.page or p[0] in args.page]
    transport = httpx.ASGITransport(app=app)
    cpu: dict[str, list[float]] = {name: [] for name, _, _ in pages}
    wall: dict[str, list[float]] = {name: [] for name, _, _ in pages}
    size: dict[str, int] = {}
    statements = _time_statements() if args.sql else None
    profiler = None
    async with httpx.AsyncClient(
        transport=transport, base_url="http://127.0.0.1", cookies={"jcjg_session": token}
    ) as client:
        for n in range(args.warm + args.rounds):
            if n == args.warm and args.profile:
                import cProfile

                profiler = cProfile.Profile(time.process_time)
                profiler.enable()
            for name, path, marker in pages:
                if statements is not None:
                    statements.page = name if n >= args.warm else None
                c0, w0 = time.process_time(), time.perf_counter()
                answer = await client.get(path)
                c1, w1 = time.process_time(), time.perf_counter()
                if answer.status_code != 200 or marker not in answer.text:
                    raise SystemExit(f"{name}: {answer.status_code} {answer.text[:300]}")
                if n >= args.warm:
                    cpu[name].append((c1 - c0) * 1000)
                    wall[name].append((w1 - w0) * 1000)
                    size[name] = len(answer.content)
                    if args.save:
                        Path(args.save, f"{name}.html").write_bytes(answer.content)
    if profiler is not None:
        import pstats

        profiler.disable()
        found = pstats.Stats(profiler).sort_stats(args.sort)
        found.print_stats(args.profile)
        for name in args.callers or ():
            found.print_callers(name)
    total = 0.0
    for name, _, _ in pages:
        median = statistics.median(cpu[name])
        total += median
        low, wall_median = min(cpu[name]), statistics.median(wall[name])
        print(f"# {name}: cpu min {low:.2f} / median {median:.2f} ms, "
              f"wall median {wall_median:.1f} ms, {size[name]} bytes")  # fmt: skip
    print(f"# {len(pages)} pages: cpu {total:.1f} ms (sum of the medians); "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if statements is not None:
        statements.report(args.rounds, args.sql)


class _Statements:
    """Each timed page's statements: their count and wall time (the database and the driver)."""

    def __init__(self) -> None:
        self.page: str | None = None
        self.seen: dict[tuple[str, str], list[float]] = {}

    def report(self, rounds: int, width: int) -> None:
        pages = sorted({page for page, _ in self.seen})
        for page in pages:
            mine = {text: times for (p, text), times in self.seen.items() if p == page}
            total = sum(sum(times) for times in mine.values()) / rounds
            count = sum(len(times) for times in mine.values()) / rounds
            print(f"# {page}: {count:.1f} statements, {total:.2f} ms a visit")
            for text, times in sorted(mine.items(), key=lambda kv: -sum(kv[1])):
                median = statistics.median(times)
                per = len(times) / rounds
                print(f"#   {per:4.1f} x {median:7.2f} ms  {' '.join(text.split())[:width]}")


def _time_statements() -> _Statements:
    """Listen to every engine's statements (``--sql``)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    found = _Statements()

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn: Any, cursor: Any, text: str, *_: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn: Any, cursor: Any, text: str, *_: Any) -> None:
        began = conn.info["bench_started"].pop()
        if found.page is not None:
            key = (found.page, text)
            found.seen.setdefault(key, []).append((time.perf_counter() - began) * 1000)

    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="the kept bench database")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warm", type=int, default=5)
    parser.add_argument("--page", action="append", help="only this page (repeatable)")
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest")
    parser.add_argument("--callers", action="append", help="with --profile: who calls this")
    parser.add_argument("--save", help="a folder to write each page's last answer to")
    parser.add_argument("--sort", default="cumulative", help="pstats order (tottime ...)")
    parser.add_argument("--sql", type=int, default=0, metavar="WIDTH",
                        help="each page's statements: count, median ms, text")  # fmt: skip
    parser.add_argument(
        "--shared", action="store_true",
        help="the lists shared as deployed (JCJG_SHARED_PAGES_SECONDS 2): what a kept page costs",
    )  # fmt: skip
    args = parser.parse_args(argv)
    from bench.exchange import server_env

    data = Path(tempfile.gettempdir()) / "jcjg-pages-cpu"  # the app's files (none written)
    os.environ.update(server_env(args.url, data))
    # every visit draws its page (what a page costs), unless the kept pages are what is measured
    os.environ["JCJG_SHARED_PAGES_SECONDS"] = "2" if args.shared else "0"
    _inline_threadpool()
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
