"""Benchmark of three-level networking on PostgreSQL: how fast a city forwards what it accepts to
its province, and how late it arrives.

A city platform and a province platform run on this machine (``uvicorn jcjg.main:create_app``,
one worker each, applying behind as ``jcjg serve`` does), each on a fresh PostgreSQL database of
its own holding the same institutions; the city is registered as the province's child and
forwards from a ``jcjg network forward`` process (a worker), signing with its Ed25519 key. The
labs' clients are those of bench/exchange.py (the same ~2 KB ``registry.equipment`` messages,
half Ed25519, half HMAC, one keep-alive connection each, its load generator).

1. **The baseline, the city's accept rate**: the clients post as fast as they can to the city,
   its forwarder stopped (``exchange_accept``, msg/s, measured in this run).
2. **The forward rate**: once the city applied them all, its forwarder starts; the rate is the
   messages accepted in 1 divided by the time until the province has stored every one of them
   (each checked leaf by leaf, its Ed25519 lab signatures verified). The forwarder's process
   start-up (importing the platform's domains: 5 s of CPU, 20 s on a loaded machine) is not
   timed: the bench holds the forward cursor's lease until the process is connected to the
   city's database, and reports the start-up on its own line.
3. **The forward lag**: an open load (evenly spaced requests) at half the rate at which the city
   applied run 1's messages (at most ``--lag-rate``: a city that cannot apply what it is sent
   falls behind before anything is forwarded, issue 44) with the forwarder running; each
   message's lag is the time from
   its acceptance by the city to its acceptance by the province (both clocks this machine's).
   Its baseline is the city's own apply lag of the same messages (``applied_at - received_at``):
   a message goes up once the city has applied it.

    BENCH forward_rate <msg/s> msg/s ratio=<÷ the city's accept rate> baseline=exchange_accept
    BENCH forward_lag_p99 <s> s ratio=<÷ the city's apply lag p99> baseline=city_apply_lag

Goals: ratio >= 0.5; lag p99 <= 5 s with city and province on one box. ``--short`` is the
suite's quick run. The databases (``jcjg_bench_<random>``) are dropped at the end.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

import exchange as ex  # noqa: E402 - bench/exchange.py: its clients, servers and load generator

LAG_GOAL_S = 5.0


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


class Level:
    """One platform of the bench: its database, data folder, log key and server."""

    def __init__(self, name: str, admin_url: str, workdir: Path, template: str | None) -> None:
        from jcjg.ledger.note import generate_signer

        self.name = name
        self.db = ex.Database(admin_url, template)
        self.data = workdir / name
        self.origin = f"{name}.bench/ledger"
        self.skey, self.vkey = generate_signer(self.origin)
        self.env = ex.server_env(self.db.url, self.data)
        self.env.update(
            JCJG_LEDGER_ORIGIN=self.origin,
            JCJG_LEDGER_SIGNING_KEY=self.skey,
            JCJG_UPSTREAM_FORWARDER="false",
            JCJG_EXCHANGE_APPLY_POLL_SECONDS="0.1",
            JCJG_UPSTREAM_POLL_SECONDS="0.1",
        )
        self.server = ex.Server(["--factory", "jcjg.main:create_app"], 1, self.env,
                                workdir / f"{name}.log")  # fmt: skip
        self.engine: Any = None

    def prepare(self, clients: int) -> list[ex.Credential]:
        from sqlalchemy import create_engine

        self.db.create()
        creds = ex.prepare(self.db.url, self.data, clients, migrate=not self.db.template)
        self.engine = create_engine(self.db.url, pool_size=2)
        return creds

    def count(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def close(self) -> None:
        self.server.stop()
        if self.engine is not None:
            self.engine.dispose()
        self.db.drop()


def _adopt(province: Level, city: Level) -> dict[str, str]:
    """The city registered below the province; the city's settings to forward there."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
    )
    from sqlalchemy.orm import Session

    from jcjg.config import Settings
    from jcjg.networking.service import register_child

    key = Ed25519PrivateKey.generate()
    settings = Settings(env="test", secret_key=ex.SECRET_KEY, database_url=province.db.url,
                        data_dir=province.data)  # fmt: skip
    with Session(province.engine) as db:
        made = register_child(
            db, settings, name="九江市检测监管平台", region_code="360400",
            base_url=f"http://{ex.HOST}:{city.server.port}", log_key=city.vkey,
            public_key=base64.b64encode(key.public_key().public_bytes_raw()),
        )  # fmt: skip
        db.commit()
        key_id = made.key.key.key_id
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    return {
        "JCJG_UPSTREAM_URL": f"http://{ex.HOST}:{province.server.port}",
        "JCJG_UPSTREAM_KEY_ID": key_id,
        "JCJG_UPSTREAM_KEY": pem,
        "JCJG_UPSTREAM_LOG_KEY": province.vkey,
    }


FORWARDER = "jcjg-bench-forwarder"  # its connections' application_name


def _forwarder(city: Level, upstream: dict[str, str]) -> tuple[subprocess.Popen[bytes], float]:
    """The city's ``jcjg network forward`` process, started while the bench holds the forward
    cursor's lease (it polls, forwarding nothing) and let go once it is connected to the
    city's database; the seconds it took to start."""
    from sqlalchemy import text

    with city.engine.begin() as conn:  # the lease, an hour long: given back below
        conn.execute(
            text(
                "INSERT INTO network_forward_cursor (id, upstream, position, holder, lease_until,"
                " forwarded, refused, failures) VALUES (1, '', 0, 'bench', now() + interval "
                "'1 hour', 0, 0, 0) ON CONFLICT (id) DO UPDATE SET holder = 'bench', "
                "lease_until = now() + interval '1 hour'"
            )
        )
    url = city.db.url + ("&" if "?" in city.db.url else "?") + f"application_name={FORWARDER}"
    jcjg = str(Path(sys.executable).with_name("jcjg"))
    process = subprocess.Popen(  # noqa: S603 - our own command
        [jcjg, "network", "forward"],
        env={**city.env, **upstream, "JCJG_DATABASE_URL": url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    connected = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
    try:
        started = _wait("the forwarder starting", lambda: city.count(connected, name=FORWARDER),
                        300)  # fmt: skip
    except BaseException:
        process.kill()
        raise
    with city.engine.begin() as conn:
        conn.execute(text("UPDATE network_forward_cursor SET holder = NULL, lease_until = NULL"))
    return process, started


def _cpu(forwarder: subprocess.Popen[bytes], *levels: Level) -> dict[str, dict[int, float]]:
    """CPU seconds so far of the forwarder, each level's server and its database's backends
    (/proc: empty elsewhere)."""
    found = {"forwarder": ex._cpu(pids={forwarder.pid})}
    for level in levels:
        proc = level.server.proc
        found[level.name] = ex._cpu(group=proc.pid if proc else 0)
        found[f"{level.name} PostgreSQL"] = ex._cpu(pids=level.db.backends())
    return found


def _wait(what: str, done: Any, timeout: float) -> float:
    """Seconds until ``done()``; RuntimeError after ``timeout``."""
    start = time.perf_counter()
    while not done():
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - start


LAB_MESSAGES = "SELECT count(*) FROM exchange_message WHERE institution_id IS NOT NULL"


def run(args: argparse.Namespace, workdir: Path) -> list[str]:
    city = Level("city", args.postgres_url, workdir, args.template)
    province = Level("province", args.postgres_url, workdir, args.template)
    forwarder: subprocess.Popen[bytes] | None = None
    loaders: list[ex.Loaders] = []
    try:
        city.server.start()
        province.server.start()
        creds = city.prepare(args.clients)
        province.prepare(args.clients)  # the same institutions: the province keeps the city's
        city.server.wait_ready()
        province.server.wait_ready()
        upstream = _adopt(province, city)
        ex.progress("city and province ready")
        # 1. the city's accept rate, nothing forwarded
        accept = ex.Loaders("exchange", city.server.ports, creds, args, workdir, args.max_rate)
        loaders.append(accept)
        accept.wait_ready()
        accepted = accept.run(city.server, city.db)
        total = city.count(LAB_MESSAGES)
        waiting = "SELECT count(*) FROM exchange_message WHERE status = 'accepted'"
        applied = _wait("the city applying", lambda: city.count(waiting) == 0, 600)
        ex.progress(f"city: {accepted.rate:.0f} msg/s accepted, {total} applied in {applied:.1f} s")
        # 2. forwarding what it holds: the forwarder started (its process imports the
        # platform's domains: seconds of CPU) while the bench holds the cursor's lease, timed
        # from the lease given back
        forwarder, started = _forwarder(city, upstream)
        before = _cpu(forwarder, city, province)
        took = _wait("forwarding", lambda: province.count(LAB_MESSAGES) >= total, 900)
        spent = {k: ex._cpu_delta(before[k], v) for k, v in _cpu(forwarder, city, province).items()}
        forward_rate = total / took
        ex.progress(f"forwarded {total} messages in {took:.1f} s: {forward_rate:.0f} msg/s")
        refused = province.count("SELECT count(*) FROM network_forwarded WHERE outcome = 'refused'")
        # 3. the lag at an offered rate
        # half the rate at which the city applied the first run's messages (accepting and
        # then draining): the lag measured is forwarding's, not a city falling behind itself
        apply_rate = total / (args.warmup + args.seconds + applied)
        rate = max(5.0, min(args.lag_rate, apply_rate / 2))
        paced = ex.Loaders("exchange", city.server.ports, creds, args, workdir, rate,
                           paced=True, seconds=args.lag_seconds)  # fmt: skip
        loaders.append(paced)
        paced.wait_ready()
        since = dt.datetime.now(dt.UTC)
        offered = paced.run(city.server, city.db)
        expected = city.count(LAB_MESSAGES)
        _wait("the lag run forwarded", lambda: province.count(LAB_MESSAGES) >= expected, 600)
        lags, apply_lags = _lags(city, province, since)
    finally:
        for group in loaders:
            group.kill()
        if forwarder is not None and forwarder.poll() is None:
            forwarder.send_signal(signal.SIGTERM)
            forwarder.wait(timeout=20)
        city.close()
        province.close()
    lag = _percentile(lags, 0.99)
    apply_lag = _percentile(apply_lags, 0.99)
    return [
        f"# {args.clients} clients; city accept run {args.seconds:g} s; lag run "
        f"{args.lag_seconds:g} s offered {rate:.0f} msg/s ({offered.rate:.0f} accepted)",
        f"# machine: {os.cpu_count()} cores; load average (1 min) {os.getloadavg()[0]:.1f}",
        f"# forwarded {total} messages in {took:.1f} s (the forwarder's start-up before, "
        f"not timed: {started:.1f} s); refused by the province: {refused}",
        "# CPU while forwarding, per message: "
        + ", ".join(f"{k} {1000 * v / total:.2f} ms" for k, v in spent.items()),
        f"# lag p50 {_percentile(lags, 0.5):.2f} s p99 {lag:.2f} s over {len(lags)} messages; "
        f"the city's apply lag p99 {apply_lag:.2f} s",
        f"# failed answers: {sum(accepted.failed.values()) + sum(offered.failed.values())}",
        f"BENCH forward_rate {forward_rate:.0f} msg/s "
        f"ratio={ex._ratio(forward_rate, accepted.rate):.3f} baseline=exchange_accept",
        f"BENCH forward_lag_p99 {lag:.2f} s ratio={ex._ratio(lag, apply_lag):.2f} "
        "baseline=city_apply_lag",
    ]


def _lags(city: Level, province: Level, since: dt.datetime) -> tuple[list[float], list[float]]:
    """Per message of the lag run: city acceptance to province acceptance, and the city's own
    apply lag."""
    from sqlalchemy import text

    query = text(
        "SELECT message_id, received_at, applied_at FROM exchange_message "
        "WHERE institution_id IS NOT NULL AND received_at >= :since"
    )
    with city.engine.connect() as conn:
        at_city = {m: (r, a) for m, r, a in conn.execute(query, {"since": since})}
    with province.engine.connect() as conn:
        at_province = {m: r for m, r, _ in conn.execute(query, {"since": since})}
    lags = [
        (at_province[m] - received).total_seconds()
        for m, (received, _applied) in at_city.items()
        if m in at_province
    ]
    applying = [(a - r).total_seconds() for r, a in at_city.values() if a is not None]
    return lags, applying


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, help="the accept run (default 10)")
    parser.add_argument("--warmup", type=float, help="untimed phase before a run (default 2)")
    parser.add_argument("--clients", type=int, help="clients = connections (default 16)")
    parser.add_argument("--loaders", type=int, default=2, help="load-generator processes")
    parser.add_argument("--max-rate", type=float, default=1000, help="msg/s to pre-sign for")
    parser.add_argument("--lag-seconds", type=float, help="the lag run (default 20)")
    parser.add_argument("--lag-rate", type=float, help="its highest offered rate (default 200)")
    parser.add_argument("--postgres-url", default=ex.DEFAULT_POSTGRES_URL, help="an admin URL")
    parser.add_argument(
        "--template", help="an upgraded database to copy, not migrate (the test suite's own)"
    )
    parser.add_argument("--short", action="store_true", help="a quick run for the test suite")
    args = parser.parse_args(argv)
    short = args.short
    args.seconds = args.seconds or (1.0 if short else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if short else 2.0)
    args.clients = args.clients or (2 if short else 16)
    args.lag_seconds = args.lag_seconds or (1.5 if short else 20.0)
    args.lag_rate = args.lag_rate or (20.0 if short else 200.0)
    if short:
        args.max_rate = min(args.max_rate, 300)
    args.loaders = max(1, min(args.loaders, args.clients))
    return args


def main(argv: list[str] | None = None) -> list[str]:
    args = _arguments(argv)
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-forward-") as tmp:
        lines = run(args, Path(tmp))
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    main()
