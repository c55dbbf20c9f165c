"""Benchmark of the signed exchange API on PostgreSQL: accepted messages/s, p50 and p99.

Concurrent LIMS clients (``--clients``, default 16: half Ed25519, half HMAC-SHA256, one
keep-alive connection each) post a representative ~2 KB ``registry.equipment`` message (four
equipment records in Chinese; every message has a fresh ``message_id``, nonce and signature, and
renews the calibration dates of the client's four instruments: an update, as most syncs are) to
the real server (``uvicorn jcjg.main:create_app --factory``, 1 and then 2 workers, alert rules on
write as by default) on a fresh PostgreSQL database holding one province, the catalogue and one
institution with a lab per client (each ends up with 4 instruments). The baseline, measured in the
same run by the same load generator with the same worker count, is a bare FastAPI endpoint that
reads and parses the same bodies (bench/_bare_app.py).

    BENCH exchange_1worker <msg/s> msg/s ratio=<÷ bare requests/s> baseline=bare_post
    BENCH exchange_2workers <msg/s> msg/s ratio=<÷ bare requests/s> baseline=bare_post
    BENCH exchange_p99 <ms> ms ratio=<÷ bare p99> baseline=bare_post      (the 2-worker run)
    BENCH exchange_cpu_per_message <ms> ms ratio=<÷ bare CPU per request> baseline=bare_post
    BENCH exchange_sustained <msg/s> msg/s ratio=<÷ bare requests/s> baseline=bare_post
    BENCH exchange_apply_lag_p99 <s> s ratio=<÷ bare p99> baseline=bare_post  (at that rate)

Goals: ratio >= 0.40 and >= 2,000 messages/s with 2 workers on a 2-core machine, p99 <= 50 ms;
sustained >= 500 msg/s. The sustained rate is the highest offered rate (an open load: requests
evenly spaced, whatever the answers' speed) that 2 workers, each applying behind as ``jcjg
serve`` does by default, both accept (>= 95 % of it, no failure) and apply (none rejected,
none left waiting) with an apply lag (``applied_at - received_at``) whose p99 is at most 5 s:
found by steps of ``--sustain-search-seconds`` (30 s; up by half, then bisecting; a step that
falls short without a failed or rejected message is held once more), then held for
``--sustain-seconds`` (60), 15 % lower each time it does not hold. Every answer must be
202 ``accepted`` (200 ``ok`` from the baseline); any other answer makes the run invalid
(exit status 1). The lines before the figures also give, per run, the CPU that the server's
processes and the database's backends spent per accepted message in the timed window (from
/proc): unlike the rates, they hardly depend on what else the machine is doing.

The load generator runs in ``--loaders`` separate processes, each an asyncio loop speaking
HTTP/1.1 on raw keep-alive sockets, so the client side costs little CPU; requests are signed
before the timed phase (signing is the lab's cost, not the platform's) and sent after a warm-up.
Server, PostgreSQL and load generator share the machine's cores, as they would on one box.
uvicorn runs through bench/_uvicorn.py, which restores TCP_NODELAY that ``--workers 2`` loses
(uvicorn#3149: +40 ms per keep-alive request) and gives each worker a port of its own
(``Server.ports``): the load generators give their connections the ports in turn, an even split,
as the documented deployment's proxy shares requests among ``jcjg serve`` processes (on one
shared socket the first worker awake took every connection waiting; on a socket each bound with
``SO_REUSEPORT`` the kernel's hash split them 12/4 and 23/9); ``--stock-uvicorn`` measures
plain uvicorn (one shared socket).
The database (``jcjg_bench_<random>`` on ``--postgres-url``) is dropped at the end. On a server
running without autovacuum, the bench does the daemon's work itself (:class:`Autovacuum`), as
bench/pages.py runs ANALYZE: the platform is measured against PostgreSQL as it is deployed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from jcjg.client.signing import load_key, signed_headers

# The load generator imports this file too: what only the setup needs is imported there.

HOST = "127.0.0.1"
MESSAGE_TYPE = "registry.equipment"
PATH = f"/exchange/v1/messages/{MESSAGE_TYPE}"
PROVINCE, REGION = "360000", "360403"
INSTITUTION_CODE = "JG360403901"
SECRET_KEY = "bench-exchange-" + "k" * 32  # the HMAC secrets are sealed under it: server = setup
ALGS = ("ed25519", "hmac-sha256")
DEFAULT_POSTGRES_URL = os.environ.get(
    "JCJG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BENCH_DIR = Path(__file__).resolve().parent

# Four instruments of a mechanics lab: what a LIMS sends when calibrations are renewed.
EQUIPMENT = [
    {
        "name": "微机控制电液伺服万能试验机",
        "model": "WAW-1000B",
        "specification": "最大试验力 1000 kN，活塞行程 250 mm，配液压楔形夹具",
        "measuring_range": "20 kN～1000 kN",
        "accuracy": "1 级（示值相对误差 ±1%）",
        "calibration_body": "江西省计量测试研究院",
        "test_items": ["0102", "0103", "0104"],
    },
    {
        "name": "全自动恒应力压力试验机",
        "model": "YAW-3000D",
        "specification": "最大试验力 3000 kN，承压板 320 mm×320 mm",
        "measuring_range": "60 kN～3000 kN",
        "accuracy": "1 级",
        "calibration_body": "九江市计量检定测试所",
        "test_items": ["0101", "0201"],
    },
    {
        "name": "水泥胶砂抗折抗压试验机",
        "model": "TYE-300D",
        "specification": "抗压 300 kN，抗折 10 kN，含抗折夹具与抗压夹具",
        "measuring_range": "抗压 6 kN～300 kN；抗折 0.2 kN～10 kN",
        "accuracy": "1 级",
        "calibration_body": "江西省计量测试研究院",
        "test_items": ["0101"],
    },
    {
        "name": "混凝土钢筋检测仪（钢筋扫描仪）",
        "model": "GW-50A",
        "specification": "钢筋直径 6 mm～50 mm，保护层厚度 6 mm～190 mm",
        "measuring_range": "保护层厚度 6 mm～190 mm",
        "accuracy": "±1 mm（保护层厚度 ≤ 60 mm）",
        "calibration_body": "中国建筑科学研究院有限公司计量检定站",
        "test_items": ["0203"],
    },
]


@dataclass
class Credential:
    """One LIMS client as its load-generator connection sees it."""

    key_id: str
    alg: str
    material: str  # base64 of the Ed25519 seed or of the HMAC secret
    institution_code: str
    assets: list[str]


def equipment_body(cred: Credential, seq: int) -> bytes:
    """A fresh message: new message_id, the client's four instruments with renewed dates."""
    until = dt.date(2027, 1, 1) + dt.timedelta(days=seq % 700)
    records = [
        {
            "asset_number": asset,
            **{k: v for k, v in spec.items() if k != "test_items"},
            "calibration_valid_until": until.isoformat(),
            "status": "in_use",
            "lab_name": "力学室",
            "test_items": spec["test_items"],
        }
        for asset, spec in zip(cred.assets, EQUIPMENT, strict=True)
    ]
    message = {
        "message_id": str(uuid.uuid4()),
        "institution_code": cred.institution_code,
        "equipment": records,
    }
    return json.dumps(message, ensure_ascii=False).encode()


# --- setup -------------------------------------------------------------------------------------


def prepare(url: str, data_dir: Path, n_clients: int, *, migrate: bool = True) -> list[Credential]:
    """Migrate the database (unless it is a copy of an upgraded one), load one province and
    the catalogue, and ``n_clients`` institutions with a lab and an approved client each
    (alternately Ed25519 and HMAC), one key each."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sqlalchemy.orm import Session

    from jcjg.config import Settings
    from jcjg.core.db import make_engine
    from jcjg.exchange import clients
    from jcjg.exchange.choices import ClientStatus
    from jcjg.refdata import upgrade
    from jcjg.registry.models import Lab
    from jcjg.tenancy.models import Institution

    if migrate:
        upgrade(url)
    else:
        from jcjg.domains import DOMAINS

        assert DOMAINS  # every domain's models imported, as the migrations import them
    settings = Settings(env="test", secret_key=SECRET_KEY, database_url=url, data_dir=data_dir)
    engine = make_engine(url)
    creds: list[Credential] = []
    try:
        with Session(engine) as db:
            for i in range(n_clients):
                # One institution per client: as in a region, each lab's LIMS sends its own
                # data (one institution's messages are handled one at a time).
                inst = Institution(
                    code=f"{INSTITUTION_CODE}-{i + 1:02d}",
                    name=f"九江市第{i + 1}建设工程质量检测中心",
                    region_code=REGION,
                )
                db.add(inst)
                db.flush()
                db.add(
                    Lab(
                        institution_id=inst.id,
                        region_code=inst.region_code,
                        name="力学室",
                        address="九江市浔阳区长虹大道 88 号",
                        area_m2=Decimal("320.00"),
                    )
                )
                alg = ALGS[i % 2]
                client = clients.create_client(
                    db, name=f"检测中心 LIMS {i + 1}", institution=inst, status=ClientStatus.ACTIVE
                )
                if alg == "ed25519":
                    private = Ed25519PrivateKey.generate()
                    public = base64.b64encode(private.public_key().public_bytes_raw())
                    issued = clients.issue_key(db, client, settings, alg=alg, public_key=public)
                    material = private.private_bytes_raw()
                else:
                    issued = clients.issue_key(db, client, settings, alg=alg)
                    assert issued.secret is not None
                    material = issued.secret
                creds.append(
                    Credential(
                        key_id=issued.key.key_id,
                        alg=alg,
                        material=base64.b64encode(material).decode(),
                        institution_code=inst.code,
                        assets=[f"LX-{i + 1:03d}-{n + 1}" for n in range(len(EQUIPMENT))],
                    )
                )
            db.commit()
    finally:
        engine.dispose()
    return creds


def make_ledger_key(data_dir: Path) -> None:
    """The log's signing key under ``data_dir``, made once here, not by two racing workers."""
    from jcjg.config import Settings
    from jcjg.ledger.keys import identity

    identity(Settings(env="test", secret_key=SECRET_KEY, data_dir=data_dir))


class Database:
    """A fresh PostgreSQL database, dropped (connections and all) by :meth:`drop`."""

    def __init__(self, admin_url: str, template: str | None = None) -> None:
        from sqlalchemy import create_engine
        from sqlalchemy.engine import make_url

        self.name = f"jcjg_bench_{secrets.token_hex(4)}"
        self.template = template  # an upgraded database to copy instead of migrating
        self.admin = create_engine(
            admin_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
        )
        self.url = make_url(admin_url).set(database=self.name).render_as_string(hide_password=False)

    def create(self) -> None:
        from jcjg.core.db import create_database

        create_database(self.admin, self.name, self.template)

    def backends(self) -> set[int]:
        """The process ids of the PostgreSQL backends connected to the database."""
        from sqlalchemy import text

        query = text("SELECT pid FROM pg_stat_activity WHERE datname = :name")
        with self.admin.connect() as conn:
            return {int(pid) for pid in conn.execute(query, {"name": self.name}).scalars()}

    def drop(self) -> None:
        from sqlalchemy import text

        try:
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        finally:
            self.admin.dispose()


class Autovacuum:
    """What PostgreSQL's autovacuum daemon would do, for a server running without it
    (``autovacuum = off``, as on the machines the suite runs on), in a thread of its own: every
    ``autovacuum_naptime``, each table of the bench's database whose dead rows (or rows
    inserted since its last vacuum) exceed the daemon's threshold, by the server's own
    settings, is vacuumed, and one changed past the analyze threshold analyzed. Without it the
    exchange's queue keeps every applied message's dead entry in the status index it is read
    by: finding the waiting lanes took 0.1 ms at the start of a run and 300 ms at its end, and
    the sustained rate was the unvacuumed database's (docs/development/performance.md,
    nineteenth pass). Its backend's CPU is counted with PostgreSQL's."""

    QUERY = """SELECT quote_ident(s.schemaname) || '.' || quote_ident(s.relname), s.n_dead_tup,
        s.n_ins_since_vacuum, s.n_mod_since_analyze, greatest(c.reltuples, 0)
        FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        self.engine = create_engine(url, isolation_level="AUTOCOMMIT")
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.runs = 0
        self.failures: list[str] = []
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT name, setting FROM pg_settings WHERE name LIKE 'autovacuum%%'"
            )
            self.settings = {name: setting for name, setting in rows}

    @property
    def needed(self) -> bool:
        return self.settings.get("autovacuum") == "off"

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="autovacuum", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        self.engine.dispose()

    def _setting(self, name: str) -> float:
        return float(self.settings[f"autovacuum_{name}"])

    def due(self, dead: float, inserted: float, changed: float, rows: float) -> str:
        """What the daemon would run on a table of ``rows`` rows (its estimate) with these
        dead rows, rows inserted since its last vacuum and changed since its last analyze:
        "VACUUM", "ANALYZE", both, or "" (PostgreSQL's thresholds, "Automatic Vacuuming")."""
        vacuum = (
            dead > self._setting("vacuum_threshold") + self._setting("vacuum_scale_factor") * rows
            or inserted
            > self._setting("vacuum_insert_threshold")
            + self._setting("vacuum_insert_scale_factor") * rows
        )
        analyze = (
            changed
            > self._setting("analyze_threshold") + self._setting("analyze_scale_factor") * rows
        )
        return " ".join(word for word, on in (("VACUUM", vacuum), ("ANALYZE", analyze)) if on)

    def _run(self) -> None:
        delay = self.settings["autovacuum_vacuum_cost_delay"]
        while not self.stop.wait(self._setting("naptime")):
            with self.engine.connect() as conn:
                if delay != "-1":  # paced as the daemon's workers are
                    conn.exec_driver_sql(f"SET vacuum_cost_delay = {float(delay)}")
                tables = conn.exec_driver_sql(self.QUERY).all()
                for name, dead, inserted, changed, rows in tables:
                    what = self.due(dead, inserted, changed, rows)
                    if what:
                        try:  # the name is the server's, quoted by it
                            conn.exec_driver_sql(f"{what} {name}")
                        except Exception as exc:  # said in the report
                            self.failures.append(f"{what} {name}: {exc}".splitlines()[0])
                            continue
                        self.runs += 1


# --- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


class Server:
    """A uvicorn server in its own process group, logging to a file. Each worker listens on a
    port of its own (``ports``; bench/_uvicorn.py), as several ``jcjg serve`` processes behind
    the documented proxy; a load generator gives its connections the ports in turn and every
    request names ``port`` (the first) in its Host, the address a proxy is reached at. With
    ``stock`` (plain uvicorn) one port, the workers sharing its socket."""

    def __init__(
        self, app: list[str], workers: int, env: dict[str, str], log: Path, stock: bool = False
    ) -> None:
        # stock uvicorn's workers share one socket (the split is then the accept race's)
        self.ports = [free_port() for _ in range(1 if stock else workers)]
        self.port = self.ports[0]
        self.workers = workers
        self.log = log
        uvicorn = ["-m", "uvicorn"] if stock else [str(BENCH_DIR / "_uvicorn.py")]
        self.cmd = [
            sys.executable,
            *uvicorn,
            *app,
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            # info for the "startup complete" line of each worker; no access log (cost).
            "--log-level",
            "info",
            "--no-access-log",
        ]
        self.env = {**env, "BENCH_WORKER_PORTS": ",".join(map(str, self.ports))}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                self.cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 120) -> None:
        """Every worker has finished its startup (so connections spread over all of them)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}):\n{self.tail()}")
            started = self.log.read_bytes().count(b"Application startup complete.")
            if started >= self.workers and self._listening():
                return
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s:\n{self.tail()}")

    def _listening(self) -> bool:
        """Whether every port takes connections (a single uvicorn worker says its startup is
        complete just before it listens)."""
        try:
            for port in self.ports:
                socket.create_connection((HOST, port), timeout=1).close()
        except OSError:
            return False
        return True

    def get(self, path: str) -> int:
        url = f"http://{HOST}:{self.port}{path}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)

    def terminate(self) -> None:
        """Ask the server (every process of its group) to shut down; do not wait."""
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)

    def stop(self) -> None:
        """Shut the server down and wait; kill what is left after 20 s."""
        proc = self.proc
        if proc is None:
            return
        self.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        proc.wait()


def untraced_env() -> dict[str, str]:
    """This environment without coverage's variables: under `make test` every Python child
    would otherwise run under coverage's tracer, and the figures would measure the tracer."""
    return {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}


def server_env(url: str, data_dir: Path, rate_limit_store: str = "auto") -> dict[str, str]:
    """A server's environment: the rate limit out of the way (each client sends beyond the
    default 1,200 a minute), in its store (``auto``: the database on PostgreSQL, as deployed
    without Redis), which each process then asks about once a second per client."""
    env = {k: v for k, v in untraced_env().items() if not k.startswith("JCJG_")}
    env.update(
        JCJG_ENV="test",
        JCJG_DATABASE_URL=url,
        JCJG_SECRET_KEY=SECRET_KEY,
        JCJG_DATA_DIR=str(data_dir),
        JCJG_EMBEDDED_WORKER="false",
        JCJG_EXCHANGE_RATE_LIMIT_PER_MINUTE="100000000",
        JCJG_RATE_LIMIT_STORE=rate_limit_store,
    )
    if rate_limit_store == "redis":
        env["JCJG_REDIS_URL"] = os.environ.get("JCJG_REDIS_URL", "redis://127.0.0.1:6379/0")
        env["JCJG_REDIS_PREFIX"] = f"jcjg-bench-{secrets.token_hex(4)}"
    return env


# --- load generator (runs in its own processes: ``--loader JOB``) -------------------------------

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


def build_request(mode: str, port: int, cred: Credential, key: Any, seq: int) -> bytes:
    """The bytes of one POST: signed for the platform, unsigned for the bare baseline."""
    body = equipment_body(cred, seq)
    if mode == "exchange":
        headers = signed_headers(
            "POST",
            f"http://{HOST}:{port}{PATH}",
            key_id=cred.key_id,
            key=key,
            body=body,
            content_type="application/json",
        )
    else:
        headers = {"Content-Type": "application/json"}
    lines = [
        f"POST {PATH} HTTP/1.1",
        f"Host: {HOST}:{port}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass
class Tally:
    ok: int = 0  # accepted answers completed inside the timed window
    latencies_us: list[int] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    live_signed: int = 0

    def fail(self, what: str, detail: str) -> None:
        self.failed[what] += 1
        if len(self.samples) < 3:
            self.samples.append(f"{what}: {detail}"[:400])


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = _CONTENT_LENGTH.search(head)
    if length is None:
        raise ValueError(f"no Content-Length in {head[:200]!r}")
    body = await reader.readexactly(int(length.group(1)))
    return status, body, _CLOSE.search(head) is not None


async def _connection(
    port: int,
    source: Iterator[bytes],
    marker: bytes,
    window: tuple[float, float],
    tally: Tally,
    pace: tuple[float, float] | None = None,
) -> None:
    """One keep-alive connection sending request after request until the window closes; only
    answers completed inside the window count, every failed answer counts. With ``pace``
    (first moment, interval) it sends on that schedule instead (an open load: a connection
    behind schedule sends at once), so the offered rate does not follow the server's speed."""
    begin, end = window
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    due = pace[0] if pace else 0.0
    try:
        while time.perf_counter() < end:
            if pace is not None:
                wait = due - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                due += pace[1]
                if time.perf_counter() >= end:
                    break
            if writer is None or reader is None:
                reader, writer = await asyncio.open_connection(HOST, port)
            raw = next(source)
            sent = time.perf_counter()
            writer.write(raw)
            try:
                status, body, close = await _response(reader)
            except (OSError, ValueError, asyncio.IncompleteReadError) as exc:
                tally.fail(type(exc).__name__, str(exc))
                writer.close()
                reader = writer = None
                continue
            done = time.perf_counter()
            if status not in (200, 202) or marker not in body:
                tally.fail(str(status), body.decode("utf-8", "replace"))
            elif begin <= done < end:
                tally.ok += 1
                tally.latencies_us.append(int((done - sent) * 1e6))
            if close:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


def run_loader(job_path: str) -> None:
    """Sign the requests, say ``ready``, wait for ``go``, load, print the tally as JSON."""
    job = json.loads(Path(job_path).read_text("utf-8"))
    mode, port = job["mode"], int(job["port"])
    tally = Tally()
    sources: list[Iterator[bytes]] = []

    def source(cred: Credential) -> Iterator[bytes]:
        key = load_key(cred.alg, base64.b64decode(cred.material)) if mode == "exchange" else None
        ready = [build_request(mode, port, cred, key, seq) for seq in range(job["per_conn"])]
        ready.reverse()

        def stream() -> Iterator[bytes]:
            if mode != "exchange":  # the baseline does not mind seeing a body again
                yield from itertools.cycle(ready)
            seq = len(ready)
            while ready:
                yield ready.pop()
            while True:  # more than pre-signed: sign now (reported; the lab's cost)
                tally.live_signed += 1
                seq += 1
                yield build_request(mode, port, cred, key, seq)

        return stream()

    for raw in job["conns"]:
        sources.append(source(Credential(**raw)))
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return  # the benchmark went away

    async def drive() -> None:
        start = time.perf_counter()
        window = (start + job["warmup"], start + job["warmup"] + job["seconds"])
        marker = b'"status":"accepted"' if mode == "exchange" else b'"ok":true'
        interval = job.get("interval") or 0.0
        await asyncio.gather(
            *(
                _connection(
                    to,
                    s,
                    marker,
                    window,
                    tally,
                    (start + offset, interval) if interval else None,
                )
                for s, offset, to in zip(
                    sources,
                    job.get("offsets") or [0.0] * len(sources),
                    job.get("ports") or [port] * len(sources),
                    strict=True,
                )
            ),
        )

    asyncio.run(drive())
    out = asdict(tally)
    out["failed"] = dict(tally.failed)
    print(json.dumps(out), flush=True)


# --- one measurement -----------------------------------------------------------------------------


@dataclass
class Figures:
    rate: float
    p50_ms: float
    p99_ms: float
    answers: int
    failed: Counter[str]
    samples: list[str]
    live_signed: int
    server_cpu_ms: float  # CPU of the server's processes per accepted answer (timed window)
    postgres_cpu_ms: float  # CPU of the database's backends per accepted answer (NaN: bare)
    loader_cpu_ms: float = float("nan")  # CPU of the load generator's processes per answer


def _cpu(pids: set[int] | None = None, group: int | None = None) -> dict[int, float]:
    """User + system CPU seconds of processes, by pid (the given ones, or every member of a
    process group), from /proc; empty without /proc (the CPU figures are then left out)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit() or (pids is not None and int(entry.name) not in pids):
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if group is None or int(fields[2]) == group:
            out[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    return out


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    if not after:
        return float("nan")
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def _percentile(ordered: list[int], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


class Loaders:
    """The load-generator processes of one measurement, started (and signing) ahead of it.
    For the exchange, each connection pre-signs enough requests for ``sign_rate`` msg/s."""

    def __init__(
        self,
        mode: str,
        ports: list[int],
        creds: list[Credential],
        args: argparse.Namespace,
        workdir: Path,
        sign_rate: float = 0,
        *,
        paced: bool = False,
        seconds: float | None = None,
    ) -> None:
        """``ports``: the server's (``Server.ports``): each load generator gives its connections
        the ports in turn, from the *i*-th for the *i*-th generator (an even split, every
        generator driving every worker), and every request names the first in its Host.
        ``paced``: the connections together offer ``sign_rate`` msg/s, evenly spaced, for
        ``seconds`` (default ``args.seconds``) after the warm-up."""
        port = ports[0]
        self.mode = mode
        self.seconds = float(seconds or args.seconds)
        self.timeout = args.warmup + self.seconds + 120
        total = sign_rate * (args.warmup + self.seconds)
        self.per_conn = math.ceil(total / len(creds)) + 10 if mode == "exchange" else 100
        self.warmup = float(args.warmup)
        interval = len(creds) / sign_rate if paced and sign_rate > 0 else 0.0
        self.procs: list[subprocess.Popen[str]] = []
        for i in range(args.loaders):
            job = workdir / f"load-{mode}-{port}-{i}.json"
            mine = list(range(i, len(creds), args.loaders))
            spec = {
                "mode": mode,
                "port": port,
                # its k-th connection to port i + k: every load generator drives every worker
                "ports": [ports[(i + k) % len(ports)] for k in range(len(mine))],
                "conns": [asdict(creds[n]) for n in mine],
                "per_conn": self.per_conn,
                "warmup": args.warmup,
                "seconds": self.seconds,
                "interval": interval,
                # connection n of all starts n/rate after the first: the requests evenly spaced
                "offsets": [n * interval / len(creds) for n in mine],
            }
            job.write_text(json.dumps(spec), "utf-8")
            self.procs.append(
                subprocess.Popen(  # noqa: S603 - our own interpreter and this script
                    [sys.executable, str(Path(__file__).resolve()), "--loader", str(job)],
                    env=untraced_env(),
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )

    def wait_ready(self) -> None:
        for proc in self.procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {self.mode} load generator failed to start (its stderr)")

    def run(self, server: Server, db: Database | None = None) -> Figures:
        """Start every process at once; add up what they saw, and the CPU that the server's
        processes (and the database's backends) used in the timed window per answer in it."""
        assert server.proc is not None

        def cpu() -> tuple[dict[int, float], dict[int, float], dict[int, float]]:
            backends = _cpu(pids=db.backends()) if db is not None else {}
            loaders = _cpu(pids={proc.pid for proc in self.procs})
            return _cpu(group=server.proc.pid if server.proc else 0), backends, loaders

        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        go = time.perf_counter()
        time.sleep(self.warmup)
        server_before, db_before, loaders_before = cpu()
        self.window_utc = (dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC))
        time.sleep(max(0.0, go + self.warmup + self.seconds - time.perf_counter()))
        server_after, db_after, loaders_after = cpu()
        self.window_utc = (self.window_utc[0], dt.datetime.now(dt.UTC))
        tallies = []
        for proc in self.procs:
            out, _ = proc.communicate(timeout=self.timeout)
            if proc.returncode != 0:
                raise RuntimeError(f"a {self.mode} load generator exited with {proc.returncode}")
            tallies.append(json.loads(out))
        answers = max(1, sum(t["ok"] for t in tallies))
        latencies = sorted(lat for t in tallies for lat in t["latencies_us"])
        failed: Counter[str] = Counter()
        for t in tallies:
            failed.update(t["failed"])
        figures = Figures(
            rate=sum(t["ok"] for t in tallies) / self.seconds,
            p50_ms=_percentile(latencies, 0.50),
            p99_ms=_percentile(latencies, 0.99),
            answers=len(latencies),
            failed=failed,
            samples=[s for t in tallies for s in t["samples"]][:3],
            live_signed=sum(t["live_signed"] for t in tallies) if self.mode == "exchange" else 0,
            server_cpu_ms=_cpu_delta(server_before, server_after) * 1000 / answers,
            postgres_cpu_ms=_cpu_delta(db_before, db_after) * 1000 / answers,
            loader_cpu_ms=_cpu_delta(loaders_before, loaders_after) * 1000 / answers,
        )
        progress(f"{self.mode}: {figures.rate:.0f}/s, {sum(failed.values())} failed")
        return figures

    def kill(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()


def run_all(
    db: Database, args: argparse.Namespace, workdir: Path
) -> tuple[list[Credential], dict[int, tuple[Figures, Figures]]]:
    """The clients, and {workers: (exchange, bare)} for 1 and 2 uvicorn workers. The bare
    servers and the first platform server start together (an idle bare server costs nothing)
    while the database is prepared; the other platform server starts when its run comes: its
    apply workers share the database and would apply what the run before accepted (the
    2-worker server's appliers took lanes during the 1-worker run, whose figures then missed
    that work). Each pair is measured in turn, the bare server first, each server shut down
    once measured.
    The load generators of a run start (and sign) before it; the exchange's pre-sign for 3x
    the previous run's rate (more is signed live)."""
    from sqlalchemy import create_engine

    make_ledger_key(workdir / "data")
    env = server_env(db.url, workdir / "data", args.rate_limit_store)
    pairs: dict[int, tuple[Server, Server]] = {}
    for workers in (1, 2):
        bare = Server(
            ["--app-dir", str(BENCH_DIR), "_bare_app:app"],
            workers,
            env,
            workdir / f"bare-{workers}.log",
            args.stock_uvicorn,
        )
        platform = Server(
            ["--factory", "jcjg.main:create_app"],
            workers,
            env,
            workdir / f"exchange-{workers}.log",
            args.stock_uvicorn,
        )
        pairs[workers] = (bare, platform)
    servers = [server for pair in pairs.values() for server in pair]
    loaders: list[Loaders] = []
    results: dict[int, tuple[Figures, Figures]] = {}
    sign_rate = args.max_rate
    current = 1
    early = [bare for bare, _ in pairs.values()] + [pairs[1][1]]
    queue = create_engine(db.url, pool_size=1)
    try:
        for server in early:
            server.start()
        creds = prepare(db.url, workdir / "data", args.clients, migrate=not db.template)
        progress(f"database ready: {args.clients} clients")
        for server in early:
            server.wait_ready()
        _healthy(pairs[1][1])
        progress("servers ready")
        for workers, (bare, platform) in pairs.items():
            current = workers
            if platform.proc is None:
                platform.start()
                platform.wait_ready()
                _healthy(platform)
            loaders = [
                Loaders("bare", bare.ports, creds, args, workdir),
                Loaders("exchange", platform.ports, creds, args, workdir, sign_rate),
            ]
            for group in loaders:
                group.wait_ready()
            progress(f"{workers} worker(s): {loaders[1].per_conn} signed requests/client")
            base = loaders[0].run(bare)
            bare.stop()
            exchange = loaders[1].run(platform, db)
            _drain(queue, time.monotonic() + 120)  # its backlog applied by itself, not the next
            platform.stop()
            if exchange.failed:
                print(f"# exchange server log, {workers} worker(s):", file=sys.stderr)
                print(platform.tail(), file=sys.stderr)
            results[workers] = (exchange, base)
            sign_rate = min(args.max_rate, 3 * exchange.rate + 50)
    except BaseException:
        print(f"# exchange server log, {current} worker(s):", file=sys.stderr)
        print(pairs[current][1].tail(), file=sys.stderr)
        raise
    finally:
        for group in loaders:
            group.kill()
        for server in servers:
            server.stop()
        queue.dispose()
    return creds, results


def _healthy(platform: Server) -> None:
    if platform.get("/healthz") != 200:
        raise RuntimeError(f"/healthz failed:\n{platform.tail()}")


# --- sustained: accepted and applied ------------------------------------------------------------

LAG_GOAL_S = 5.0  # the apply lag's p99 at which a rate still counts as sustained


@dataclass
class Step:
    """One offered rate held for a while: what was accepted, and how long applying lagged."""

    offered: float
    accepted: float  # msg/s answered 202 in the window
    lag_p99_s: float  # applied_at - received_at of the window's messages (unapplied: until now)
    lag_p50_s: float
    unapplied: int  # still waiting when the wait for them ended
    rejected: int
    failed: int
    figures: Figures | None = None  # the window's answers and CPU (bench/_hold.py prints them)

    @property
    def sustained(self) -> bool:
        return (
            self.failed == 0
            and self.rejected == 0
            and self.unapplied == 0
            and self.accepted >= 0.95 * self.offered
            and self.lag_p99_s <= LAG_GOAL_S
        )

    def describe(self) -> str:
        verdict = "sustained" if self.sustained else "not sustained"
        cpu = (
            ""
            if self.figures is None or math.isnan(self.figures.server_cpu_ms)
            else f"; CPU a message: server {self.figures.server_cpu_ms:.1f} ms, PostgreSQL "
            f"{self.figures.postgres_cpu_ms:.1f} ms, load generator "
            f"{self.figures.loader_cpu_ms:.2f} ms"
        )
        return (
            f"offered {self.offered:.0f} msg/s: accepted {self.accepted:.0f} msg/s, apply lag "
            f"p50 {self.lag_p50_s:.2f} s p99 {self.lag_p99_s:.2f} s, {self.unapplied} unapplied, "
            f"{self.rejected} rejected, {self.failed} failed: {verdict}{cpu}"
        )


def _waiting(engine: Any) -> int:
    from sqlalchemy import text

    with engine.connect() as conn:
        query = text("SELECT count(*) FROM exchange_message WHERE status = 'accepted'")
        return int(conn.execute(query).scalar_one())


def _drain(engine: Any, deadline: float) -> bool:
    """Wait until no accepted message waits (True), or until ``deadline`` (False)."""
    while time.monotonic() < deadline:
        if _waiting(engine) == 0:
            return True
        time.sleep(0.2)
    return False


def _lags(engine: Any, window: tuple[dt.datetime, dt.datetime]) -> tuple[list[float], int, int]:
    """The apply lags (s) of the messages received in ``window``, sorted (one still waiting
    counts until now); how many still wait, and how many were rejected."""
    from sqlalchemy import text

    query = text(
        "SELECT extract(epoch FROM coalesce(applied_at, now()) - received_at), status "
        "FROM exchange_message WHERE received_at >= :begin AND received_at < :end"
    )
    with engine.connect() as conn:
        rows = conn.execute(query, {"begin": window[0], "end": window[1]}).all()
    lags = sorted(float(lag) for lag, _ in rows)
    waiting = sum(1 for _, status in rows if status == "accepted")
    rejected = sum(1 for _, status in rows if status == "rejected")
    return lags, waiting, rejected


def hold_rate(
    server: Server, engine: Any, creds: list[Credential], args: argparse.Namespace,
    workdir: Path, rate: float, seconds: float, db: Database | None = None,
) -> Step:  # fmt: skip
    """Offer ``rate`` msg/s for ``seconds``; wait for what was accepted to be applied (at most
    ``LAG_GOAL_S`` past the window's end plus a margin) and measure the apply lag. With ``db``
    the window's CPU per answer counts its PostgreSQL backends too."""
    loaders = Loaders("exchange", server.ports, creds, args, workdir, rate, paced=True,
                      seconds=seconds)  # fmt: skip
    try:
        loaders.wait_ready()
        figures = loaders.run(server, db)
    finally:
        loaders.kill()
    _drain(engine, time.monotonic() + 2 * LAG_GOAL_S)
    lags, waiting, rejected = _lags(engine, loaders.window_utc)
    step = Step(
        offered=rate,
        accepted=figures.rate,
        lag_p99_s=_percentile([int(x * 1000) for x in lags], 0.99),
        lag_p50_s=_percentile([int(x * 1000) for x in lags], 0.50),
        unapplied=waiting,
        rejected=rejected,
        failed=sum(figures.failed.values()),
        figures=figures,
    )
    progress(f"sustained: {step.describe()}")
    if not _drain(engine, time.monotonic() + 120):  # the next step starts with nothing waiting
        raise RuntimeError(f"{_waiting(engine)} messages still waiting 2 minutes after a step")
    return step


def _search_rates(
    hold: Any, start: float, limit: float, steps: int
) -> tuple[Step | None, list[Step]]:
    """The highest sustained rate: up by half each time until one is not sustained (or
    ``limit``), then ``steps`` bisections between the last sustained and the first not. A
    step that falls short without a failed or rejected message (too few accepted, applied or
    applied in time: what a burst of the machine's other work does to a short step) is held
    once more before it counts as not sustained."""
    tried: list[Step] = []

    def held(rate: float) -> Step:
        step = hold(rate)
        tried.append(step)
        if not step.sustained and step.failed == 0 and step.rejected == 0:
            step = hold(rate)
            tried.append(step)
        return step

    good: Step | None = None
    bad: float | None = None
    rate = start
    while rate <= limit:
        step = held(rate)
        if not step.sustained:
            bad = rate
            break
        good = step
        rate *= 1.5
    low = good.offered if good else 0.0
    high = bad if bad is not None else None
    for _ in range(steps if high is not None else 0):
        assert high is not None
        rate = (low + high) / 2
        if high - low < 0.05 * high:
            break
        step = held(rate)
        if step.sustained:
            good, low = step, rate
        else:
            high = rate
    return good, tried


def run_sustained(
    db: Database, creds: list[Credential], args: argparse.Namespace, workdir: Path
) -> tuple[Step | None, list[Step]]:
    """The highest rate (2 workers, each applying behind as ``jcjg serve`` does by default) at
    which accepted messages are also applied with a p99 lag within ``LAG_GOAL_S``: a search
    in ``--sustain-search-seconds`` steps, then ``--sustain-seconds`` at the rate found (15 %
    lower each time it does not hold, at most ten times)."""
    from sqlalchemy import create_engine

    env = server_env(db.url, workdir / "data", args.rate_limit_store)
    server = Server(["--factory", "jcjg.main:create_app"], 2, env, workdir / "sustained.log",
                    args.stock_uvicorn)  # fmt: skip
    engine = create_engine(db.url, pool_size=1)
    server.start()
    try:
        server.wait_ready()
        # what the closed-loop runs accepted and left waiting is applied before the first step
        backlog = _waiting(engine)
        if not _drain(engine, time.monotonic() + 900):
            raise RuntimeError(f"{_waiting(engine)} messages still waiting after 15 minutes")
        progress(f"sustained: the {backlog} messages left waiting by the runs before applied")

        def hold(rate: float, seconds: float = args.sustain_search_seconds) -> Step:
            return hold_rate(server, engine, creds, args, workdir, rate, seconds, db)

        found, tried = _search_rates(
            hold, args.sustain_from, args.sustain_limit, args.sustain_steps
        )
        if found is None or args.sustain_seconds <= args.sustain_search_seconds:
            return found, tried
        rate = found.offered
        for _ in range(10):  # a short step can hold a rate a long one cannot: step down
            final = hold(rate, args.sustain_seconds)
            tried.append(final)
            if final.sustained:
                return final, tried
            rate *= 0.85
        return None, tried
    except BaseException:
        print("# exchange server log, sustained run:", file=sys.stderr)
        print(server.tail(), file=sys.stderr)
        raise
    finally:
        server.stop()
        engine.dispose()


_STARTED = time.perf_counter()


def progress(message: str) -> None:
    """Where the run is, on stderr (the figures go to stdout)."""
    print(f"# [{time.perf_counter() - _STARTED:5.1f} s] {message}", file=sys.stderr, flush=True)


def _ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 else 0.0


def _describe(fig: Figures, unit: str) -> str:
    return f"{fig.rate:7.0f} {unit} p50 {fig.p50_ms:6.1f} ms p99 {fig.p99_ms:6.1f} ms"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line, with the defaults of a full or a ``--short`` run filled in."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, help="timed phase per run (default 10)")
    parser.add_argument("--warmup", type=float, help="untimed phase before it (default 2)")
    parser.add_argument("--clients", type=int, help="clients = connections (default 16)")
    parser.add_argument("--loaders", type=int, default=2, help="load-generator processes")
    parser.add_argument(
        "--max-rate", type=float, default=1000, help="msg/s to pre-sign for (more: signed live)"
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL, help="an admin URL")
    parser.add_argument(
        "--template", help="an upgraded database to copy, not migrate (the test suite's own)"
    )
    parser.add_argument("--short", action="store_true", help="a quick run for the test suite")
    parser.add_argument(
        "--rate-limit-store", default="auto", choices=["auto", "memory", "database", "redis"],
        help="where the servers keep the rate limits' buckets (JCJG_RATE_LIMIT_STORE)",
    )  # fmt: skip
    parser.add_argument(
        "--stock-uvicorn",
        action="store_true",
        help="plain uvicorn, without bench/_uvicorn.py's TCP_NODELAY fix (uvicorn#3149) and "
        "its port per worker",
    )
    parser.add_argument(
        "--sustain-seconds", type=float, help="the sustained rate's final run (default 60)"
    )
    parser.add_argument(
        "--sustain-search-seconds", type=float, help="each step of its search (default 30)"
    )
    parser.add_argument("--sustain-from", type=float, help="its first rate (default 250 msg/s)")
    parser.add_argument(
        "--sustain-limit", type=float, help="its highest rate (default 4 x --max-rate)"
    )
    parser.add_argument(
        "--sustain-steps", type=int, help="bisections after the first failed rate (default 3)"
    )
    parser.add_argument("--loader", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    short = args.short
    args.seconds = args.seconds or (1.5 if short else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if short else 2.0)
    args.clients = args.clients or (8 if short else 16)
    if short:
        args.max_rate = min(args.max_rate, 500)
    args.loaders = max(1, min(args.loaders, args.clients))
    args.sustain_seconds = args.sustain_seconds or (1.5 if short else 60.0)
    args.sustain_search_seconds = args.sustain_search_seconds or (1.5 if short else 30.0)
    args.sustain_from = args.sustain_from or (40.0 if short else 250.0)
    args.sustain_limit = args.sustain_limit or (60.0 if short else 4 * args.max_rate)
    if args.sustain_steps is None:
        args.sustain_steps = 0 if short else 3
    return args


def main(argv: list[str] | None = None) -> list[str]:
    args = _arguments(argv)
    if args.loader:
        run_loader(args.loader)
        return []
    load_before = os.getloadavg()[0]
    db = Database(args.postgres_url, args.template)
    with tempfile.TemporaryDirectory(prefix="jcjg-bench-exchange-") as tmp:
        workdir = Path(tmp)
        db.create()
        daemon: Autovacuum | None = None
        try:
            daemon = Autovacuum(db.url)
            if daemon.needed:
                daemon.start()
            creds, results = run_all(db, args, workdir)
            sustained, steps = run_sustained(db, creds, args, workdir)
        finally:
            try:
                if daemon is not None:
                    daemon.close()
            finally:
                db.drop()

    size = len(equipment_body(creds[0], 0))
    lines = [
        f"# {MESSAGE_TYPE}: {size} bytes, {len(EQUIPMENT)} records; {args.clients} clients "
        f"({args.clients - args.clients // 2} ed25519, {args.clients // 2} hmac-sha256), "
        f"{args.loaders} load processes; {args.seconds:g} s per run after a "
        f"{args.warmup:g} s warm-up",
        f"# machine: {os.cpu_count()} cores; load average (1 min) {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (other work on the machine skews the figures)",
    ]
    if daemon is not None and daemon.needed:
        lines.append(
            f"# autovacuum is off on this server: the bench did its work ({daemon.runs} "
            f"VACUUM or ANALYZE, every {daemon.settings['autovacuum_naptime']} s as needed)"
        )
        lines += [f"# autovacuum by the bench failed: {failure}" for failure in daemon.failures]
    failures = 0
    for workers, (exchange, bare) in results.items():
        label = f"{workers} worker{'s' if workers > 1 else ' '}"
        lines.append(f"# {label}: exchange {_describe(exchange, 'msg/s')}")
        lines.append(f"# {label}: bare     {_describe(bare, 'req/s')}")
        for name, fig in (("exchange", exchange), ("bare", bare)):
            failures += sum(fig.failed.values())
            if fig.failed:
                lines.append(f"# {label}: {name} failed answers {dict(fig.failed)}")
                lines += [f"#   {sample}" for sample in fig.samples]
        if not math.isnan(exchange.server_cpu_ms):
            lines.append(
                f"# {label}: CPU per message: server {exchange.server_cpu_ms:.1f} ms + "
                f"PostgreSQL {exchange.postgres_cpu_ms:.1f} ms (bare: {bare.server_cpu_ms:.2f} "
                f"ms); load generator {exchange.loader_cpu_ms:.2f} ms (bare: "
                f"{bare.loader_cpu_ms:.2f} ms)"
            )
        if exchange.live_signed:
            lines.append(f"# {label}: {exchange.live_signed} requests signed during the run")
    lines += [f"# sustained, 2 workers applying behind: {step.describe()}" for step in steps]
    failures += sum(step.failed for step in steps)
    lines.append(f"# failed answers: {failures}")
    (one, bare1), (two, bare2) = results[1], results[2]
    rate = sustained.offered if sustained else 0.0
    lag_ms = sustained.lag_p99_s * 1000 if sustained else float("nan")
    lines += [
        f"BENCH exchange_1worker {one.rate:.0f} msg/s ratio={_ratio(one.rate, bare1.rate):.3f} "
        "baseline=bare_post",
        f"BENCH exchange_2workers {two.rate:.0f} msg/s ratio={_ratio(two.rate, bare2.rate):.3f} "
        "baseline=bare_post",
        f"BENCH exchange_p99 {two.p99_ms:.1f} ms ratio={_ratio(two.p99_ms, bare2.p99_ms):.2f} "
        "baseline=bare_post",
        f"BENCH exchange_cpu_per_message {two.server_cpu_ms + two.postgres_cpu_ms:.2f} ms "
        f"ratio={_ratio(two.server_cpu_ms + two.postgres_cpu_ms, bare2.server_cpu_ms):.2f} "
        "baseline=bare_post",
        f"BENCH exchange_sustained {rate:.0f} msg/s ratio={_ratio(rate, bare2.rate):.3f} "
        "baseline=bare_post",
        f"BENCH exchange_apply_lag_p99 {lag_ms / 1000:.2f} s "
        f"ratio={_ratio(lag_ms, bare2.p99_ms):.1f} baseline=bare_post",
    ]
    for line in lines:
        print(line)
    return lines


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C: the servers are stopped and the database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    output = main()
    if any(line == "# failed answers: 0" for line in output) or not output:
        sys.exit(0)
    sys.exit(1)
