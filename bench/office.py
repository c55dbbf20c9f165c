"""Benchmark of an office at work on the embedded default: the demo platform as ``make run``
starts it, its simulator sending, and every demo role's people walking their menus at once.

A fresh data folder (SQLite, or a fresh PostgreSQL database ``jcjg_office_<random>`` with
``--postgres``, dropped at the end) is migrated and loaded as ``make run`` does (``jcjg db
upgrade``, ``jcjg demo load``: the passwords are read off what it prints), then ``jcjg serve
--simulate`` answers on a free port: the simulated region's LIMS send through the real exchange,
the worker threads apply, the jobs run.

Baseline: one session at a time, one of each demo role in turn, opens every page of its menu
(the pages and data of the load, nobody else browsing). Load: ``--per-role`` sessions (2) of
every demo role log in and walk their menus, each opening a page a second (the next one a second
after the last began, or as soon as it answered) for ``--seconds`` (120). An error is an answer
that is not 200 or a request that failed (30 s timeout); a request whose kept-alive connection
the server closed as it went out is asked again once, as a browser does, and listed. Then the
longest time any write transaction of the server held SQLite's write lock (the server logs each
one over 100 ms: ``jcjg.core.db.SLOW_WRITE_SECONDS``).

    # baseline: <n> pages, p50 <s> s, p99 <s> s
    # load: <sessions> sessions, <n> pages, p50 <s> s, p99 <s> s, <m> messages accepted meanwhile
    # slowest: <path> <s> s ...                        (the five slowest pages of the load)
    # asked again: <path> after <error> ...            (a stale kept-alive connection)
    # longest write lock: <ms> ms by <where>           (SQLite)
    BENCH office_p99 <s> s ratio=<÷ baseline p99> baseline=one_session
    BENCH office_errors <n> requests ratio=<÷ requests> baseline=requests

Goals (issue 47): 0 errors, p99 <= 1 s on 2 cores. ``--short`` (the test suite's run) walks for
5 seconds with one session per role, after a baseline of each menu's first page;
``--prepared URL DIR KEY PASSWORD`` serves a demo database made beforehand (the suite's copy of
its demo region) instead of making one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HOST = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
DEFAULT_POSTGRES_URL = os.environ.get(
    "JCJG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD_LINE = re.compile(r"^\s{2}(\S+)\s+(\S+)\s+(\S.*)$")
MENU = re.compile(r'<aside class="sidenav".*?</aside>', re.S)
HREF = re.compile(r'href="(/[^"#?]*)"')
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
LOCK_LINE = re.compile(r"write lock held (\d+) ms by (.+)$")
TIMEOUT = 30.0


@dataclass
class Walk:
    """What the sessions saw: (path, seconds, status or the error's name) of every request."""

    seen: list[tuple[str, float, str]] = field(default_factory=list)
    retried: list[tuple[str, str]] = field(default_factory=list)

    def times(self) -> list[float]:
        return [t for _, t, _ in self.seen]

    def errors(self) -> list[tuple[str, float, str]]:
        return [s for s in self.seen if s[2] != "200"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def jcjg(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(  # noqa: S603 (our own command)
        [str(VENV_BIN / "jcjg"), *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"jcjg {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def one_of_each_role(printed: str, password: str | None) -> list[tuple[str, str]]:
    """(username, password) of the first demo account of each role: the passwords ``jcjg demo
    load`` printed, or ``password`` (every demo account's, in a database prepared so)."""
    from jcjg.demo.load import USERS

    printed_passwords = {}
    for line in printed.split("已创建演示账号", 1)[-1].splitlines()[1:]:
        match = PASSWORD_LINE.match(line)
        if match:
            printed_passwords[match.group(1)] = match.group(2)
    roles: dict[str, tuple[str, str]] = {}
    for user in USERS:
        secret = password or printed_passwords.get(user.username)
        if secret is None:
            sys.exit(f"no password for {user.username}: jcjg demo load did not print it")
        roles.setdefault(user.role.value, (user.username, secret))
    return list(roles.values())


async def log_in(base: str, username: str, password: str) -> tuple[httpx.AsyncClient, list[str]]:
    """A client logged in as ``username`` through the login form, and its menu's pages."""
    client = httpx.AsyncClient(base_url=base, timeout=TIMEOUT, headers={"accept": "text/html"})
    form = await client.get("/login")
    token = CSRF.search(form.text)
    assert token, "login page has no CSRF field"
    for _ in range(5):  # a busy server (503 with Retry-After) is asked again, as a user would
        answer = await client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": token.group(1)},
        )
        if answer.status_code != 503:
            break
        await asyncio.sleep(min(5.0, float(answer.headers.get("retry-after") or 1)))
    if answer.status_code != 303:
        await client.aclose()
        raise SystemExit(f"{username} could not log in: {answer.status_code}")
    home = await client.get(answer.headers["location"])
    menu = MENU.search(home.text)
    paths = list(dict.fromkeys(HREF.findall(menu.group(0)))) if menu else ["/"]
    return client, [p for p in paths if p not in ("/logout",)]


#: What a browser asks again once: the server closed a kept-alive connection (uvicorn closes one
#: idle for 5 s) just as the request went out on it, before any answer came. Chromium retries a
#: GET on a reused connection that fails so; the session does too, and the walk counts it.
STALE_CONNECTION = (httpx.ReadError, httpx.RemoteProtocolError, httpx.WriteError)


async def fetch(client: httpx.AsyncClient, path: str, walk: Walk) -> None:
    began = time.perf_counter()
    try:
        try:
            answer = await client.get(path)
        except STALE_CONNECTION as stale:
            walk.retried.append((path, type(stale).__name__))
            answer = await client.get(path)
        outcome = str(answer.status_code)
    except httpx.HTTPError as error:
        outcome = type(error).__name__
    walk.seen.append((path, time.perf_counter() - began, outcome))


async def baseline(base: str, accounts: list[tuple[str, str]], pages: int | None) -> Walk:
    """One session at a time: each role's menu, every page once (the first ``pages``)."""
    walk = Walk()
    for username, password in accounts:
        client, paths = await log_in(base, username, password)
        try:
            for path in paths[:pages]:
                await fetch(client, path, walk)
        finally:
            await client.aclose()
    return walk


async def load(base: str, accounts: list[tuple[str, str]], per_role: int, seconds: float) -> Walk:
    """``per_role`` sessions of each account walking its menu, a page a second, at once."""
    walk = Walk()
    sessions = []
    for _ in range(per_role):
        for username, password in accounts:
            sessions.append(await log_in(base, username, password))
    end = time.perf_counter() + seconds

    async def walker(n: int, client: httpx.AsyncClient, paths: list[str]) -> None:
        i = n  # the sessions of one role start on different pages
        await asyncio.sleep(n * 1.0 / len(sessions))  # spread over the first second
        while (began := time.perf_counter()) < end:
            await fetch(client, paths[i % len(paths)], walk)
            i += 1
            await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))

    try:
        await asyncio.gather(*(walker(n, c, p) for n, (c, p) in enumerate(sessions)))
    finally:
        for client, _ in sessions:
            await client.aclose()
    return walk


def wait_up(base: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    with httpx.Client(timeout=2) as client:  # one TLS context for the whole wait, not one a try
        while time.monotonic() < deadline:
            if server.poll() is not None:
                sys.exit(f"the server stopped:\n{log.read_text(errors='replace')[-3000:]}")
            try:
                if client.get(f"{base}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
    sys.exit("the server did not answer in 120 s")


def messages_between(url: str, start: float, end: float) -> int:
    """Messages the exchange accepted between two ``time.time()`` moments."""
    import datetime as dt

    from sqlalchemy import create_engine, func, select

    from jcjg.exchange.models import Message

    moments = [dt.datetime.fromtimestamp(t, dt.UTC) for t in (start, end)]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.scalar(select(func.count()).where(Message.received_at.between(*moments)))
    finally:
        engine.dispose()
    return int(count)


def longest_lock(log: Path) -> tuple[int, str] | None:
    found = [
        (int(m.group(1)), m.group(2).strip())
        for line in log.read_text(errors="replace").splitlines()
        if (m := LOCK_LINE.search(line))
    ]
    return max(found, default=None)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--per-role", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument(
        "--short", action="store_true",
        help="5 s, one session per role, a baseline of each menu's first page",
    )  # fmt: skip
    parser.add_argument("--log", type=Path, help="keep the server's log in this file")
    parser.add_argument(
        "--prepared", nargs=4, metavar=("DATABASE_URL", "DATA_DIR", "SECRET_KEY", "PASSWORD"),
        help="serve this demo database (migrated, demo loaded, every demo account with PASSWORD)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    baseline_pages = None
    if args.short:
        args.seconds, args.per_role, baseline_pages = 5.0, 1, 1

    with tempfile.TemporaryDirectory(prefix="jcjg-office-") as tmp:
        env = dict(os.environ)
        env.update(
            JCJG_ENV="dev", JCJG_DATA_DIR=f"{tmp}/var", JCJG_SECRET_KEY=secrets.token_hex(32)
        )
        drop = None
        if args.prepared:
            url, data_dir, secret, password = args.prepared
            env.update(JCJG_DATA_DIR=data_dir, JCJG_SECRET_KEY=secret)
        elif args.postgres:
            url, drop = _postgres_database()
        else:
            url = f"sqlite:///{tmp}/var/jcjg.db"
        env["JCJG_DATABASE_URL"] = url
        try:
            if args.prepared:
                accounts = one_of_each_role("", password)
            else:
                jcjg(env, "db", "upgrade")
                accounts = one_of_each_role(jcjg(env, "demo", "load"), None)
            lines = serve_and_walk(env, url, accounts, args, baseline_pages, Path(tmp))
        finally:
            if drop is not None:
                drop()
    for line in lines:
        print(line)
    return lines


def serve_and_walk(
    env: dict[str, str],
    url: str,
    accounts: list[tuple[str, str]],
    args: argparse.Namespace,
    baseline_pages: int | None,
    tmp: Path,
) -> list[str]:
    """``jcjg serve --simulate`` on ``url``; the baseline, then the load; the report."""
    port = free_port()
    base = f"http://{HOST}:{port}"
    log = tmp / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603 (our own command)
            [str(VENV_BIN / "jcjg"), "serve", "--simulate", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    began = time.monotonic()
    try:
        wait_up(base, server, log)
        up = time.monotonic() - began
        time.sleep(3)  # the simulator's labs register and begin sending
        one = asyncio.run(baseline(base, accounts, baseline_pages))
        start = time.time()
        many = asyncio.run(load(base, accounts, args.per_role, args.seconds))
        end = time.time()
    finally:
        stopping = time.monotonic()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            print("# the server did not stop within 30 s of SIGINT: killed", file=sys.stderr)
            server.kill()
            server.wait()
    stopped = time.monotonic() - stopping
    sent = messages_between(url, start, end)
    if args.log:
        args.log.write_bytes(log.read_bytes())
    lines = report(one, many, len(accounts) * args.per_role, log, sent)
    return [f"# server: answering {up:.1f} s after it started, stopped in {stopped:.1f} s", *lines]


def _postgres_database() -> tuple[str, object]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"jcjg_office_{secrets.token_hex(4)}"
    admin = create_engine(DEFAULT_POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(DEFAULT_POSTGRES_URL).set(database=name)
    return url.render_as_string(hide_password=False), drop


def report(one: Walk, many: Walk, sessions: int, log: Path, sent: int) -> list[str]:
    base_p99 = percentile(one.times(), 0.99)
    p99 = percentile(many.times(), 0.99)
    lines = [
        f"# baseline: {len(one.seen)} pages, p50 {percentile(one.times(), 0.5):.3f} s, "
        f"p99 {base_p99:.3f} s",
        f"# load: {sessions} sessions, {len(many.seen)} pages, "
        f"p50 {percentile(many.times(), 0.5):.3f} s, p99 {p99:.3f} s, "
        f"{sent} messages accepted meanwhile",
    ]
    for path, took, outcome in sorted(many.seen, key=lambda s: -s[1])[:5]:
        lines.append(f"# slowest: {path} {took:.3f} s {outcome}")
    errors = one.errors() + many.errors()
    for path, took, outcome in errors[:20]:
        lines.append(f"# error: {path} {outcome} after {took:.3f} s")
    for path, error in one.retried + many.retried:
        lines.append(f"# asked again: {path} after {error} on a kept-alive connection")
    lock = longest_lock(log)
    if lock is not None:
        lines.append(f"# longest write lock: {lock[0]} ms by {lock[1]}")
    total = len(one.seen) + len(many.seen)
    lines += [
        f"BENCH office_p99 {p99:.3f} s ratio={p99 / max(base_p99, 1e-6):.2f} baseline=one_session",
        f"BENCH office_errors {len(errors)} requests ratio={len(errors) / max(total, 1):.4f} "
        "baseline=requests",
    ]
    return lines


if __name__ == "__main__":
    main()
