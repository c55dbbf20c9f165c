"""Benchmark of an authority's pages on a year of a province's data, against a bare GET.

A fresh PostgreSQL database ``jcjg_bench_<random>`` (migrated as ``jcjg db upgrade`` does, with
the regions and the catalogue; dropped at the end) is filled in bulk with SQL, not through the
API, with a generated province-year: ``--institutions`` institutions (200) spread over the
province's cities, ten projects each, ``--records`` test records (1,000,000) over the last 365
days, ``--alerts`` alerts (100,000; a third open, some with cases), the nonconformities of the
records judged nonconforming (1 %) and ``--reports`` reports (50,000). Then the jobs that keep
what the pages read run once (the statistics' tally, ``testing.tally``), as the worker would,
and ANALYZE, as the autovacuum daemon would.

A city authority's staff (``--accounts``, 8; cookie sessions) ask the real server
(``uvicorn jcjg.main:create_app --factory``, ``--workers`` processes) for their home, the alert
list, the record list, the record statistics, the nonconformity register and the report list,
each of ``--connections`` keep-alive connections (32, the accounts' in turn) taking them in
turn. Every answer must be 200 and the page asked
for (any other answer makes the run invalid, exit status 1). The baseline, same generator,
connections and workers, is a bare FastAPI GET on the same paths (bench/_bare_app.py). The
server shares the lists between the readers of a scope for ``JCJG_SHARED_PAGES_SECONDS`` (2 s,
as deployed: core.pagecache; the home is the account's own, drawn every time); a third server
with 0 (and no analysis result kept, below) draws every page for its request:

    # <page>: <req/s> req/s, p50 <ms> ms, p99 <ms> ms       (each page, then the baseline)
    BENCH pages_p99 <ms> ms ratio=<÷ bare GET p99> baseline=bare_get
    BENCH pages_throughput <req/s> req/s ratio=<÷ bare GET req/s> baseline=bare_get
    # unshared page <page>: <req/s> req/s, p50 <ms> ms, p99 <ms> ms
    BENCH pages_unshared_p99 <ms> ms ratio=<÷ bare GET p99> baseline=bare_get
    BENCH pages_unshared_throughput <req/s> req/s ratio=<÷ bare GET req/s> baseline=bare_get
    # analysis <name>: <req/s> req/s, p50 <ms> ms, p99 <ms> ms   (each saved analysis, baseline)
    BENCH analytics_p99 <ms> ms ratio=<÷ bare GET p99 of the same paths> baseline=bare_get

Then the first account runs six typical saved analyses (``ANALYSES``: the decision-analysis
workbench's ``/api/v1/analyses/<id>/result``) the same way; goal (issue 24) p99 <= 1,000 ms.
The server keeps a result per scope and definition for ``JCJG_ANALYSIS_RESULTS_SECONDS`` (30 s,
as deployed); a third server with 0 keeps none, every answer computed by the database:

    # cold analysis <name>: <req/s> req/s, p50 <ms> ms, p99 <ms> ms
    BENCH analytics_cold_p99 <ms> ms ratio=<÷ bare GET p99 of the same paths> baseline=bare_get

Goals (issue 19, kept by later issues that change these pages): p99 <= 200 ms and throughput
ratio >= 0.10. ``--short`` (the test suite's run) uses small sizes (12 institutions, 8,000
records), 4 connections and two seconds of load.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
DEFAULT_POSTGRES_URL = os.environ.get(
    "JCJG_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PROVINCE = "360000"
# (name, path, what the answer must hold): the pages a city authority opens most
PAGES = [
    ("home", "/", "data-stat="),
    ("alerts", "/alerts", 'id="list-results"'),
    ("records", "/testing/records", 'id="list-results"'),
    ("stats", "/testing/stats", "<table"),
    ("nonconformities", "/nonconformities", "<table"),
    ("reports", "/reports", "<table"),
]
KINDS = [  # (test kind, its test item, the register's material label)
    ("concrete_compression", "0108", "混凝土立方体抗压强度"),
    ("mortar_strength", "0109", "砂浆抗压强度"),
    ("rebar_tensile", "0201", "钢筋拉伸"),
    ("other", "0301", "其他"),
]
# Typical saved analyses (the workbench, /api/v1/analyses/<id>/result), asked by the same city
# authority after the pages: counts and rates from the tally, percentiles by the database.
ANALYSES = [
    ("nc_rate_city_month", {"dataset": "test_records", "dimensions": ["city", "month"],
                            "measures": ["records", "nonconforming", "nonconforming_rate"]}),
    ("counts_institution_item", {"dataset": "test_records", "dimensions": ["institution", "item"],
                                 "measures": ["records", "manual_rate"]}),
    ("duration_p95_item", {"dataset": "test_records", "dimensions": ["item"],
                           "measures": ["duration_p50", "duration_p95"]}),
    ("upload_p90_quarter", {"dataset": "test_records", "dimensions": ["quarter"],
                            "measures": ["upload_delay_avg", "upload_delay_p90"]}),
    ("alerts_rule_month", {"dataset": "alerts", "dimensions": ["rule", "month"],
                           "measures": ["alerts", "open_rate"]}),
    ("nc_closed_county", {"dataset": "nonconformities", "dimensions": ["county"],
                          "measures": ["entries", "closed_rate", "days_to_close_p95"]}),
]  # fmt: skip
KEPT_BY_JOBS = ("testing.tally",)  # the jobs whose tables the pages read
RULES = ["loading_rate", "result_curve_mismatch", "manual_override", "judgement_mismatch",
         "equipment_invalid", "curve_reuse"]  # fmt: skip


def _exchange_bench() -> Any:
    """bench/exchange.py's server runner (a sibling module, loaded by path)."""
    spec = importlib.util.spec_from_file_location(
        "bench_exchange_for_pages", BENCH_DIR / "exchange.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# --- the province-year, in bulk ----------------------------------------------------------------


def _fill(conn: Any, table: str, given: dict[str, str]) -> tuple[str, str]:
    """The column list and the select list of an INSERT ... SELECT into ``table``: the
    expressions ``given``, and a neutral value for every other column that needs one (NOT NULL
    without a server default), so that a column added later does not break the bench."""
    rows = conn.exec_driver_sql(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s "
        "AND is_nullable = 'NO' AND column_default IS NULL",
        (table,),
    ).all()
    neutral = {
        "json": "'{}'",
        "jsonb": "'{}'",
        "boolean": "false",
        "date": "current_date",
        "timestamp with time zone": "now()",
        "timestamp without time zone": "now()",
    }
    out = dict(given)
    for name, kind in rows:
        if name not in out:
            number = kind in ("integer", "bigint", "smallint", "numeric", "double precision")
            out[name] = "0" if number else neutral.get(kind, "''")
    return ", ".join(out), ", ".join(out.values())


def _run(conn: Any, sql: str) -> Any:
    """One statement of our own, without parameters (its ``%`` are the modulo operator)."""
    return conn.exec_driver_sql(sql.replace("%", "%%"))


def _insert(conn: Any, table: str, given: dict[str, str], source: str) -> None:
    columns, values = _fill(conn, table, given)
    _run(conn, f"INSERT INTO {table} ({columns}) SELECT {values} {source}")


def generate(url: str, institutions: int, records: int, alerts: int, reports: int) -> str:
    """Fill the migrated database at ``url``; returns the city the bench's authority keeps."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        cities_sql = (
            "CREATE TEMP TABLE b_city ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY code)"
            " - 1 AS n, code FROM region WHERE parent_code = '%s' AND valid_to_id IS NULL"
        )
        _run(conn, cities_sql % PROVINCE)
        cities = conn.exec_driver_sql("SELECT count(*) FROM b_city").scalar_one()
        _institutions(conn, institutions, cities)
        _records(conn, records, institutions)
        _alerts(conn, records, alerts)
        _nonconformities(conn)
        _reports(conn, records, reports)
        city = conn.exec_driver_sql("SELECT code FROM b_city WHERE n = 0").scalar_one()
    _run_jobs(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return str(city)


def _run_jobs(engine: Any) -> None:
    """What the worker keeps for the pages (the statistics' tally), made once as it would."""
    import logging

    from sqlalchemy.orm import Session

    from jcjg.core.jobs import registered
    from jcjg.domains import install

    install()  # idempotent: the test session has already
    jobs = registered()
    with Session(engine) as db:
        for name in KEPT_BY_JOBS:
            jobs[name](db, logging.getLogger("bench"))


def _institutions(conn: Any, institutions: int, cities: int) -> None:
    _insert(
        conn, "institution",
        {"code": "'JG-B-' || g", "name": "'压测检测机构' || g", "region_code": "c.code",
         "status": "'active'", "investors": "'[]'"},
        f"FROM generate_series(0, {institutions - 1}) g JOIN b_city c ON c.n = g % {cities}",
    )  # fmt: skip
    _run(
        conn,
        "CREATE TEMP TABLE b_inst ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY id) - 1"
        " AS n, id, region_code FROM institution WHERE code LIKE 'JG-B-%'",
    )
    _insert(
        conn, "project",
        {"code": "'XM-B-' || g", "name": "'压测工程' || g", "region_code": "i.region_code"},
        f"FROM generate_series(0, {institutions * 10 - 1}) g JOIN b_inst i ON i.n = g / 10",
    )  # fmt: skip
    _run(
        conn,
        "CREATE TEMP TABLE b_proj ON COMMIT DROP AS SELECT row_number() OVER (ORDER BY id) - 1"
        " AS n, id, region_code FROM project WHERE code LIKE 'XM-B-%'",
    )


def _records(conn: Any, records: int, institutions: int) -> None:
    """Newest first by number; one in ten without a project, one in fifty uploaded late, one
    in five entered by hand, one in a hundred nonconforming."""
    kind = "(ARRAY[{}])[g % 4 + 1]"
    at = f"now() - (g::float8 / {records}) * interval '365 days'"
    _insert(
        conn, "test_record",
        {"institution_id": "i.id", "region_code": "i.region_code",
         "project_id": "CASE WHEN g % 10 = 0 THEN NULL ELSE p.id END",
         "number": "'JL-B-' || g", "kind": kind.format(", ".join(f"'{k}'" for k, _, _ in KINDS)),
         "item_code": kind.format(", ".join(f"'{c}'" for _, c, _ in KINDS)),
         "parameter_codes": "'[]'", "equipment": "'[]'", "inspectors": "'[]'",
         "inspector_person_ids": "'[]'", "environment": "'{}'", "results": "'{}'",
         "recomputed": "'{}'", "started_at": f"{at} - interval '5 minutes'", "ended_at": at,
         "received_at": f"{at} + CASE WHEN g % 50 = 3 THEN interval '3 days'"
                        " ELSE interval '10 minutes' END",
         "acquisition": "CASE WHEN g % 5 = 0 THEN 'manual' ELSE 'auto' END",
         "lab_judgement": "CASE WHEN g % 100 = 7 THEN 'nonconforming' ELSE 'conforming' END",
         "nonconforming_by": "CASE WHEN g % 100 = 7 THEN 'lab' ELSE '' END",
         "platform_judgement": "'none'", "grade": "'C30'"},
        f"FROM generate_series(0, {records - 1}) g JOIN b_inst i ON i.n = g % {institutions}"
        f" JOIN b_proj p ON p.n = i.n * 10 + (g / {institutions}) % 10",
    )  # fmt: skip


def _alerts(conn: Any, records: int, alerts: int) -> None:
    """One alert on every ``records / alerts``-th record (late uploads by ``late_upload``), a
    third of them open; a case for three in ten, in each status."""
    stride = max(1, records // alerts)
    rules = ", ".join(f"'{r}'" for r in RULES)
    _insert(
        conn, "alert",
        {"rule_id": f"CASE WHEN r.received_at - r.ended_at > interval '1 day' THEN 'late_upload'"
                    f" ELSE (ARRAY[{rules}])[r.id % {len(RULES)} + 1] END",
         "key": "'test_record:' || r.id", "severity": "(ARRAY['info', 'warning', 'critical'])"
         "[r.id % 3 + 1]", "subject_type": "'test_record'", "subject_id": "r.id::text",
         "subject_repr": "'检测数据 ' || r.number", "institution_id": "r.institution_id",
         "region_code": "r.region_code", "project_id": "r.project_id", "facts": "'{}'",
         "first_seen_at": "r.received_at", "last_seen_at": "r.received_at",
         "status": "CASE WHEN r.id % 3 = 0 THEN 'open' ELSE 'closed' END",
         "closed_at": "CASE WHEN r.id % 3 = 0 THEN NULL ELSE r.received_at END"},
        f"FROM test_record r WHERE r.id % {stride} = 0 ORDER BY r.id LIMIT {alerts}",
    )  # fmt: skip
    statuses = "ARRAY['confirmed', 'rectifying', 'rectified', 'closed', 'dismissed']"
    _insert(
        conn, "alert_case",
        {"alert_id": "a.id", "status": f"({statuses})[a.id % 5 + 1]",
         "region_code": "a.region_code", "institution_id": "a.institution_id",
         "project_id": "a.project_id", "responsible": "''", "escalation_level": "0",
         "deadline": "(a.first_seen_at + interval '15 days')::date",
         "opened_at": "a.first_seen_at", "updated_at": "a.first_seen_at"},
        "FROM alert a WHERE a.id % 10 < 3",
    )  # fmt: skip


def _nonconformities(conn: Any) -> None:
    """The register's entries of the nonconforming records: a quarter open, a quarter being
    handled, half closed."""
    material = " ".join(f"WHEN '{k}' THEN '{m}'" for k, _, m in KINDS)
    _insert(
        conn, "nonconformity",
        {"institution_id": "r.institution_id", "region_code": "coalesce(p.region_code,"
         " r.region_code)", "project_id": "r.project_id", "test_record_id": "r.id",
         "source": "'record'", "found_by": "r.nonconforming_by",
         "material": f"CASE r.kind {material} END", "item_code": "r.item_code",
         "grade": "r.grade", "values": "'{}'", "found_at": "r.received_at",
         "deadline": "(r.received_at + interval '21 days')::date",
         "status": "(ARRAY['open', 'handling', 'closed', 'closed'])[r.id % 4 + 1]",
         "closed_at": "CASE WHEN r.id % 4 >= 2 THEN r.received_at + interval '9 days' END"},
        "FROM test_record r LEFT JOIN project p ON p.id = r.project_id"
        " WHERE r.nonconforming_by <> ''",
    )  # fmt: skip


def _reports(conn: Any, records: int, reports: int) -> None:
    stride = max(1, records // reports)
    _insert(
        conn, "report",
        {"institution_id": "r.institution_id", "region_code": "r.region_code",
         "project_id": "r.project_id", "number": "'BG-B-' || r.id",
         "year": "extract(year FROM r.ended_at)::int", "sequence": "r.id",
         "supervision_code": "'B' || lpad(r.id::text, 16, '0')", "code_serial": "r.id",
         "code_year": "extract(year FROM r.ended_at)::int", "token": "md5(r.id::text)",
         "title": "'检测报告'", "items": "jsonb_build_array(r.item_code)::json",
         "conclusion": "'所检项目符合设计要求'", "judgement": "'conforming'", "results": "'{}'",
         "signatories": "'[]'", "signatory_person_ids": "'[]'",
         "issued_on": "(r.received_at + interval '1 day')::date",
         "received_at": "r.received_at + interval '1 day'",
         "status": "CASE WHEN r.id % 50 = 1 THEN 'withdrawn' ELSE 'issued' END",
         "pdf_checks": "'{}'"},
        f"FROM test_record r WHERE r.id % {stride} = 1 ORDER BY r.id LIMIT {reports}",
    )  # fmt: skip
    _run(
        conn,
        "INSERT INTO report_test_record (report_id, test_record_id) SELECT id, sequence "
        "FROM report WHERE number LIKE 'BG-B-%'",
    )


def city_sessions(url: str, city: str, accounts: int = 1) -> list[str]:
    """``accounts`` staff of the city authority of ``city``, each logged in: their session
    cookies' values (the first one's owns the saved analyses)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from jcjg.auth import sessions
    from jcjg.auth.choices import Role
    from jcjg.auth.models import User
    from jcjg.auth.passwords import hash_password

    engine = create_engine(url)
    tokens = []
    with Session(engine) as db:
        password = hash_password(secrets.token_urlsafe(16))
        for n in range(accounts):
            user = User(username="bench_city" if n == 0 else f"bench_city_{n}",
                        display_name="压测市级主管部门" if n == 0 else f"压测市级工作人员{n}",
                        role=Role.CITY_AUTHORITY.value, region_code=city,
                        password_hash=password)  # fmt: skip
            db.add(user)
            db.flush()
            token, _ = sessions.create_session(db=db, user=user, ip=HOST, user_agent="bench")
            tokens.append(token)
        db.commit()
    engine.dispose()
    return tokens


def save_analyses(url: str) -> list[tuple[str, str, str]]:
    """The bench's saved analyses, the city authority's own: their result pages to load."""
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    from jcjg.analytics.models import Analysis
    from jcjg.analytics.schemas import Definition
    from jcjg.auth.models import User

    engine = create_engine(url)
    out = []
    with Session(engine) as db:
        user = db.scalars(select(User).where(User.username == "bench_city")).one()
        for name, definition in ANALYSES:
            checked = Definition.model_validate(definition).model_dump()
            row = Analysis(name=name, owner_id=user.id, region_code=user.region_code,
                           shared=False, definition=checked, schedule="")  # fmt: skip
            db.add(row)
            db.flush()
            out.append((name, f"/api/v1/analyses/{row.id}/result", '"header"'))
        db.commit()
    engine.dispose()
    return out


# --- load ---------------------------------------------------------------------------------------


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes):
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    start = lower.find(b"\r\ncontent-length:")
    if start < 0:
        raise ValueError(f"no Content-Length in {head[:200]!r}")
    end = lower.find(b"\r\n", start + 2)
    body = await reader.readexactly(int(head[start + 17 : end].strip()))
    return int(head[9:12]), body


Latencies = dict[str, list[float]]


Pages = list[tuple[str, str, str]]  # (name, path, what the answer must hold)


async def _load(ports: list[int], cookie: str | list[str], connections: int, warmup: float,
                seconds: float, pages: Pages) -> tuple[Latencies, list[str]]:  # fmt: skip
    """Each connection asks for the pages in turn, from its own starting point; connection *n*
    goes to the *n*-th of the server's ``ports`` in turn (its workers', as a proxy shares them
    out), every request naming the first in its Host, as the *n*-th of the accounts whose
    session ``cookie`` gives in turn. The latencies of the answers that end within the timed
    phase, per page. The warm-up lasts ``warmup``
    seconds and until every connection had an answer (a cold worker's first pages on a busy
    machine can take longer than a short run's whole timed phase); at most two minutes."""
    cookies = [cookie] if isinstance(cookie, str) else cookie
    requests = [
        [
            f"GET {path} HTTP/1.1\r\nHost: {HOST}:{ports[0]}\r\nAccept: text/html\r\n"
            f"Cookie: jcjg_session={value}\r\n\r\n".encode()
            for _, path, _ in pages
        ]
        for value in cookies
    ]
    markers = [marker.encode() for _, _, marker in pages]
    start = time.perf_counter()
    giving_up = start + 120.0
    window: list[float] = []  # [begin, end] once every connection was answered
    waiting = set(range(connections))
    latencies: dict[str, list[float]] = {name: [] for name, _, _ in pages}
    failures: list[str] = []

    def answered(n: int, done: float) -> None:
        waiting.discard(n)
        if not waiting and not window:
            begin = max(start + warmup, done)
            window.extend((begin, begin + seconds))

    def going(now: float) -> bool:
        return now < window[1] if window else now < giving_up

    async def connection(n: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, ports[n % len(ports)])
        raws = requests[n % len(requests)]
        turn = n
        try:
            while going(time.perf_counter()):
                turn += 1
                i = turn % len(raws)
                sent = time.perf_counter()
                try:
                    status, body = await _get(reader, writer, raws[i])
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    failures.append(f"{pages[i][1]}: {error!r}")
                    return
                done = time.perf_counter()
                answered(n, done)
                if status != 200 or markers[i] not in body:
                    failures.append(f"{pages[i][1]} {status}: {body[:200]!r}")
                elif window and window[0] <= done < window[1]:
                    latencies[pages[i][0]].append((done - sent) * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(connection(n) for n in range(connections)))
    return {k: sorted(v) for k, v in latencies.items()}, failures


def _p(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


# --- the run ------------------------------------------------------------------------------------


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL,
                        help="an administrative database URL on the server to use")  # fmt: skip
    parser.add_argument(
        "--template", help="an upgraded database to copy, not migrate (the test suite's own)"
    )
    parser.add_argument("--short", action="store_true", help="a quick run for the test suite")
    parser.add_argument("--institutions", type=int, help="default 200 (20 with --short)")
    parser.add_argument("--records", type=int, help="default 1,000,000 (20,000 with --short)")
    parser.add_argument("--alerts", type=int, help="default 100,000 (3,000 with --short)")
    parser.add_argument("--reports", type=int, help="default 50,000 (1,500 with --short)")
    parser.add_argument("--connections", type=int, help="default 32 (4 with --short)")
    parser.add_argument(
        "--accounts", type=int, help="the city's staff the connections take in turn (default 8, 2)"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seconds", type=float, help="timed phase per run (default 20)")
    parser.add_argument("--warmup", type=float, help="untimed phase before it (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the database (printed)")
    args = parser.parse_args(argv)
    short = args.short
    for name, full, small in (("institutions", 200, 12), ("records", 1_000_000, 8_000),
                              ("alerts", 100_000, 1_500), ("reports", 50_000, 800),
                              ("connections", 32, 4), ("accounts", 8, 2),
                              # the short run's server is cold and the machine busy with the
                              # suite: few connections and a long warm-up, so pages complete
                              ("seconds", 20.0, 2.0), ("warmup", 3.0, 1.5)):  # fmt: skip
        if getattr(args, name) is None:
            setattr(args, name, small if short else full)
    return args


def _database(admin_url: str, name: str, drop: bool = False, template: str | None = None) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    from jcjg.core.db import create_database

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        if drop:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            create_database(admin, name, template)
    finally:
        admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


Served = tuple[dict[str, list[float]], list[str], str]


def _serve_cold(ex: Any, args: argparse.Namespace, env: dict[str, str], log: Path,
                cookies: list[str], analyses: Pages) -> tuple[Served, Served]:  # fmt: skip
    """The pages' load, then the saved analyses', on a server that shares no page
    (JCJG_SHARED_PAGES_SECONDS 0: every page drawn for its request) and keeps no result
    (JCJG_ANALYSIS_RESULTS_SECONDS 0: every answer computed by the database)."""
    cold = dict(env, JCJG_ANALYSIS_RESULTS_SECONDS="0", JCJG_SHARED_PAGES_SECONDS="0")
    server = ex.Server(["--factory", "jcjg.main:create_app"], args.workers, cold, log)
    server.start()
    try:
        server.wait_ready()
        pages, p_failures = asyncio.run(
            _load(server.ports, cookies, args.connections, args.warmup, args.seconds, PAGES)
        )
        found, failures = asyncio.run(
            _load(server.ports, cookies[0], args.connections, args.warmup, args.seconds, analyses)
        )
    finally:
        server.stop()
    said = [line for line in server.tail(400).splitlines() if "Error" in line][-3:]
    return (
        (pages, p_failures, f"# the server said {said}" if p_failures else ""),
        (found, failures, f"# the server said {said}" if failures else ""),
    )


def _serve(ex: Any, app: list[str], args: argparse.Namespace, env: dict[str, str], log: Path,
           cookies: list[str], analyses: Pages) -> tuple[Served, Served]:  # fmt: skip
    """The pages' load, then the saved analyses' load, on one server."""
    bare = app == ["bench._bare_app:app"]
    pages = [(name, path, '"ok":true' if bare else marker) for name, path, marker in PAGES]
    asked = [(name, path, '"ok":true' if bare else marker) for name, path, marker in analyses]
    server = ex.Server(app, args.workers, env, log)
    server.start()
    try:
        server.wait_ready()
        found, failures = asyncio.run(
            _load(server.ports, cookies, args.connections, args.warmup, args.seconds, pages)
        )
        a_found, a_failures = asyncio.run(
            _load(server.ports, cookies[0], args.connections, args.warmup, args.seconds, asked)
        )
    finally:
        server.stop()
    said = [line for line in server.tail(400).splitlines() if "Error" in line][-3:]
    return (
        (found, failures, f"# the server said {said}" if failures else ""),
        (a_found, a_failures, f"# the server said {said}" if a_failures else ""),
    )


def main(argv: list[str] | None = None) -> list[str]:
    args = _args(argv)
    from jcjg.refdata import upgrade

    ex = _exchange_bench()
    name = f"jcjg_bench_{secrets.token_hex(4)}"
    url = _database(args.postgres_url, name, template=args.template)
    lines: list[str] = []
    try:
        if not args.template:
            upgrade(url)
        started = time.perf_counter()
        city = generate(url, args.institutions, args.records, args.alerts, args.reports)
        made = time.perf_counter() - started
        cookies = city_sessions(url, city, args.accounts)
        analyses = save_analyses(url)
        with tempfile.TemporaryDirectory(prefix="jcjg-bench-pages-") as tmp:
            env = ex.server_env(url, Path(tmp) / "data")
            env["PYTHONPATH"] = os.pathsep.join([str(BENCH_DIR.parent), env.get("PYTHONPATH", "")])
            bare, bare_a = _serve(ex, ["bench._bare_app:app"], args, env, Path(tmp) / "bare.log",
                                  cookies, analyses)  # fmt: skip
            pages, pages_a = _serve(ex, ["--factory", "jcjg.main:create_app"], args, env,
                                    Path(tmp) / "pages.log", cookies, analyses)  # fmt: skip
            cold, cold_a = _serve_cold(ex, args, env, Path(tmp) / "cold.log", cookies, analyses)
    finally:
        if args.keep:
            print(f"# kept {url}", flush=True)
        else:
            _database(args.postgres_url, name, drop=True)
    lines += _report(args, city, made, bare, pages)
    lines += _report(args, city, made, bare, cold, unshared=True)
    lines += _report_analytics(args, bare_a, pages_a)
    lines += _report_analytics(args, bare_a, cold_a, cold=True)
    for line in lines:
        print(line, flush=True)
    failed = bare[1] or pages[1] or cold[1] or bare_a[1] or pages_a[1] or cold_a[1]
    if failed or not any(line.startswith("BENCH ") for line in lines):
        raise SystemExit(1)
    return lines


def _report(args: argparse.Namespace, city: str, made: float, bare: Any, pages: Any,
            unshared: bool = False) -> list[str]:  # fmt: skip
    """Each page's figures and the bare GET's, then ``BENCH pages_p99`` and
    ``pages_throughput`` (``pages_unshared_...``: on the server that shares no page)."""
    seconds = args.seconds
    lines = (
        []
        if unshared
        else [
            f"# {args.institutions} institutions, {args.records} records, {args.alerts} alerts, "
            f"{args.reports} reports generated in {made:.0f} s; city authority of {city}; "
            f"{args.connections} connections of {args.accounts} accounts, {seconds:g} s after a "
            f"{args.warmup:g} s warm-up, "
            f"{args.workers} uvicorn workers, PostgreSQL; machine: {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.1f}"
        ]
    )
    labels = (("unshared page", pages),) if unshared else (("page", pages), ("bare", bare))
    for label, (found, _, _) in labels:
        for page, lat in found.items():
            lines.append(f"# {label} {page}: {len(lat) / seconds:.1f} req/s, "
                         f"p50 {_p(lat, 0.5):.1f} ms, p99 {_p(lat, 0.99):.1f} ms")  # fmt: skip
    for _, failures, said in (bare, pages):
        if failures:
            lines += [f"# failed answers: {len(failures)}, e.g. {failures[0]}", said]
    every = sorted(x for lat in pages[0].values() for x in lat)
    bare_all = sorted(x for lat in bare[0].values() for x in lat)
    if not every or not bare_all:
        lines.append("# failed answers: no page was answered within the timed phase")
        return lines
    rate, bare_rate = len(every) / seconds, len(bare_all) / seconds
    p99, bare_p99 = _p(every, 0.99), _p(bare_all, 0.99)
    name = "pages_unshared" if unshared else "pages"
    lines += [
        f"BENCH {name}_p99 {p99:.2f} ms ratio={p99 / bare_p99:.3f} baseline=bare_get",
        f"BENCH {name}_throughput {rate:.1f} req/s ratio={rate / bare_rate:.3f} baseline=bare_get",
    ]
    return lines


def _report_analytics(
    args: argparse.Namespace, bare: Any, asked: Any, cold: bool = False
) -> list[str]:
    """Each saved analysis's figures, then ``BENCH analytics_p99`` (``analytics_cold_p99``:
    no result kept) against the bare GET p99 of the same paths."""
    lines = []
    labels = (("cold analysis", asked),) if cold else (("analysis", asked), ("bare", bare))
    for label, (found, _, _) in labels:
        for name, lat in found.items():
            lines.append(f"# {label} {name}: {len(lat) / args.seconds:.1f} req/s, "
                         f"p50 {_p(lat, 0.5):.1f} ms, p99 {_p(lat, 0.99):.1f} ms")  # fmt: skip
    for _, failures, said in (bare, asked):
        if failures:
            lines += [f"# failed answers: {len(failures)}, e.g. {failures[0]}", said]
    every = sorted(x for lat in asked[0].values() for x in lat)
    bare_all = sorted(x for lat in bare[0].values() for x in lat)
    if not every or not bare_all:
        lines.append("# failed answers: no analysis was answered within the timed phase")
        return lines
    p99, bare_p99 = _p(every, 0.99), _p(bare_all, 0.99)
    name = "analytics_cold_p99" if cold else "analytics_p99"
    lines.append(f"BENCH {name} {p99:.2f} ms ratio={p99 / bare_p99:.3f} baseline=bare_get")
    return lines


if __name__ == "__main__":
    main()
