"""CPU per accepted and per applied message, by stage, under cProfile (issue 44).

Not a benchmark (``make bench`` skips files starting with ``_``): a tool to see where the
exchange's time goes, in one process and one thread, so that cProfile sees every stage.

* **accept**: ``--messages`` signed ``registry.equipment`` messages (bench/exchange.py's: four
  instruments renewed) of ``--clients`` LIMS are authenticated, checked (:func:`accept`) and
  stored by :func:`store` in group-commit batches of ``--commit-batch``, as the request path
  does without HTTP (the ASGI layer is the bare baseline's cost in bench/exchange.py);
* **apply**: :func:`jcjg.exchange.apply.drain` applies them (lane by lane, batches of 200);
* **curves** (``--records``): concrete compression test records of 3 curves of ~3,000 points
  (bench/curves.py's), accepted and applied the same way.

Prints, per stage, the inclusive CPU time per message (stages nest: "handler" includes
"audit" when the audit rows are written by its flush). ``--pstats FILE`` keeps the raw
profile of the apply run (``python -m pstats FILE``, or snakeviz / flameprof for a graph).

    .venv/bin/python -m bench._profile --database sqlite --messages 400
    .venv/bin/python -m bench._profile --database postgresql --messages 400 --records 20

``--trickle N`` also applies rounds of N messages a client, each round drained by a worker that
keeps its lanes (as ``jcjg serve`` applies behind a steady load: a few messages a lane a
batch, where the batch's own work weighs), and prints its CPU per message (``--plain``: also
without the profiler).

``--one-per-batch`` (SQLite) applies each message in a batch of its own, so that two runs
compared pay for the same number of batch ends (hooks, rules, COMMIT) whatever the clock says.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import pstats
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from bench.exchange import (
    DEFAULT_POSTGRES_URL,
    HOST,
    PATH,
    SECRET_KEY,
    Credential,
    Database,
    equipment_body,
    make_ledger_key,
    prepare,
)
from starlette.requests import Request

# (label, file suffix, function name): the inclusive time of these functions is the stage's
ACCEPT_STAGES = [
    ("signature (authenticate)", "exchange/auth.py", "authenticate"),
    ("schema: JSON + canonical form", "exchange/service.py", "parse_json"),
    ("schema: pydantic (strict JSON)", "pydantic/main.py", "model_validate_json"),
    ("schema: value domains", "exchange/service.py", "value_domain_check"),
    ("idempotency (stored copy?)", "exchange/service.py", "_existing"),
    ("ledger promise", "exchange/service.py", "promised"),
    ("accept (all checks)", "exchange/service.py", "accept"),
    ("group commit: store", "exchange/service.py", "store"),
    ("group commit: COMMIT", "orm/session.py", "commit"),
]
APPLY_STAGES = [
    ("batch (whole)", "exchange/apply.py", "_apply_batch"),
    ("one message (parse, handler, flush)", "exchange/apply.py", "apply_one"),
    ("  body parse + schema", "pydantic/main.py", "model_validate"),
    ("  handler", "", "handle_*"),
    ("  ORM flush (incl. audit)", "orm/session.py", "flush"),
    ("    audit rows (_write_changes)", "audit/service.py", "_write_changes"),
    ("    alert rules queued (after_flush)", "alerts/engine.py", "_collect"),
    ("batch hooks (data quality)", "governance/domain.py", "on_batch"),
    ("rules (run_triggered)", "alerts/engine.py", "run_triggered"),
    ("warnings of the rules", "exchange/apply.py", "_rule_warnings"),
    ("COMMIT", "orm/session.py", "commit"),
]


def _request(cred: Credential, key: Any, body: bytes, port: int = 8000) -> Request:
    from jcjg.client.signing import signed_headers

    headers = signed_headers(
        "POST",
        f"http://{HOST}:{port}{PATH}",
        key_id=cred.key_id,
        key=key,
        body=body,
        content_type="application/json",
    )
    headers["content-length"] = str(len(body))
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"host", f"{HOST}:{port}".encode()))
    scope = {
        "type": "http",
        "method": "POST",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": raw,
        "scheme": "http",
        "server": (HOST, port),
        "client": ("127.0.0.1", 50000),
    }
    return Request(scope)


def _stage_times(
    stats: pstats.Stats, stages: list[tuple[str, str, str]], count: int
) -> list[tuple[str, float]]:
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    out = []
    for label, suffix, name in stages:
        total = 0.0
        for (path, _line, func), (_cc, _nc, _tt, ct, callers) in raw.items():
            if name.endswith("*"):
                if not func.startswith(name[:-1]) or "/jcjg/" not in path:
                    continue
            elif suffix not in path or func != name:
                continue
            if any(caller[0] == path and caller[2] == func for caller in callers):
                continue  # recursive: counted at its outermost call
            total += ct
        out.append((label, total * 1000 / max(count, 1)))
    return out


def _print_table(title: str, rows: list[tuple[str, float]], total_ms: float) -> list[str]:
    lines = [f"## {title}: {total_ms:.2f} ms CPU per message (profiled)"]
    lines += [f"  {label:<40} {ms:8.2f} ms" for label, ms in rows]
    for line in lines:
        print(line)
    return lines


def _profiled(work: Callable[[], Any]) -> tuple[pstats.Stats, float, cProfile.Profile]:
    prof = cProfile.Profile(time.process_time)
    started = time.process_time()
    prof.enable()
    work()
    prof.disable()
    spent = time.process_time() - started
    return pstats.Stats(prof), spent, prof


def _counting(engine: Any) -> Counter[str]:
    """The statements ``engine`` runs from now on, counted by their text."""
    from sqlalchemy import event

    seen: Counter[str] = Counter()

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen[" ".join(statement.split())[:150]] += 1

    return seen


def _print_statements(seen: Counter[str], count: int, top: int) -> list[str]:
    lines = [f"## statements per applied message: {sum(seen.values()) / count:.1f}"]
    lines += [f"  {n / count:6.2f}  {text}" for text, n in seen.most_common(top)]
    for line in lines:
        print(line)
    return lines


def _accept_all(
    sessions: Any,
    settings: Any,
    requests: Iterable[tuple[Request, bytes]],
    kind_name: str,
    commit_batch: int,
) -> int:
    from jcjg.exchange.auth import authenticate
    from jcjg.exchange.cache import NeedDatabase
    from jcjg.exchange.service import Accepted, accept, store
    from jcjg.exchange.types import message_types

    kind = message_types()[kind_name]
    pending: list[Accepted] = []
    stored = 0

    def flush() -> None:
        nonlocal stored
        with sessions() as db:
            store(db, pending)
            db.commit()
        for item in pending:
            if not isinstance(item.outcome, dict):
                raise SystemExit(f"not stored: {item.outcome}")
        stored += len(pending)
        pending.clear()

    for request, body in requests:
        try:
            caller = authenticate(None, settings, request, body, remember_nonce=False)
        except NeedDatabase:
            with sessions() as db:
                caller = authenticate(db, settings, request, body, remember_nonce=False)
        try:
            checked = accept(None, caller, kind)
        except NeedDatabase:
            with sessions() as db:
                checked = accept(db, caller, kind)
        if isinstance(checked, dict):
            raise SystemExit(f"a duplicate: {checked}")
        pending.append(checked)
        if len(pending) >= commit_batch:
            flush()
    if pending:
        flush()
    return stored


def run(args: argparse.Namespace, url: str, workdir: Path) -> list[str]:
    from jcjg.client.signing import load_key
    from jcjg.config import Settings
    from jcjg.core.db import make_engine, make_sessionmaker
    from jcjg.exchange import apply
    from jcjg.main import create_app

    data_dir = workdir / "data"
    creds = prepare(url, data_dir, args.clients)
    make_ledger_key(data_dir)
    settings = Settings(
        env="test",
        secret_key=SECRET_KEY,
        database_url=url,
        data_dir=data_dir,
        embedded_worker=False,
        exchange_apply_workers=0,
        exchange_max_body_bytes=4 * 1024 * 1024,
    )
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    create_app(settings, engine=engine, session_factory=sessions)  # hooks, caches, domains
    keys = {c.key_id: load_key(c.alg, base64.b64decode(c.material)) for c in creds}
    lines: list[str] = [f"# {engine.dialect.name}: {args.messages} registry.equipment messages"]

    def requests(n: int, offset: int) -> list[tuple[Request, bytes]]:
        out = []
        for i in range(n):
            cred = creds[i % len(creds)]
            body = equipment_body(cred, offset + i)
            out.append((_request(cred, keys[cred.key_id], body), body))
        return out

    # warm up: a batch of each, unprofiled (imports, caches, the catalogue's editions)
    _accept_all(sessions, settings, requests(len(creds) * 2, 10_000), "registry.equipment", 50)
    apply.drain(sessions, settings)

    batch = requests(args.messages, 0)
    stats, spent, accepted = _profiled(
        lambda: _accept_all(sessions, settings, batch, "registry.equipment", args.commit_batch)
    )
    if args.accept_pstats:
        accepted.dump_stats(args.accept_pstats)
    per = spent * 1000 / args.messages
    lines += _print_table("accept", _stage_times(stats, ACCEPT_STAGES, args.messages), per)
    statements = _counting(engine) if args.sql else None
    stats, spent, prof = _profiled(lambda: apply.drain(sessions, settings))
    if statements is not None:
        lines += _print_statements(statements, args.messages, args.sql)
    if args.pstats:
        prof.dump_stats(args.pstats)
    per = spent * 1000 / args.messages
    lines += _print_table("apply", _stage_times(stats, APPLY_STAGES, args.messages), per)
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    if args.plain:  # as many again, applied without the profiler
        _accept_all(sessions, settings, requests(args.messages, 20_000), "registry.equipment", 50)
        started = time.process_time()
        apply.drain(sessions, settings)
        per = (time.process_time() - started) * 1000 / args.messages
        lines.append(f"## apply without the profiler: {per:.2f} ms CPU per message")
        print(lines[-1])

    if args.trickle:
        lines += _trickle(args, sessions, settings, requests)
    if args.records:
        lines += _curves(args, sessions, settings, creds[0], keys[creds[0].key_id])
    engine.dispose()
    return lines


def _trickle(
    args: argparse.Namespace,
    sessions: Any,
    settings: Any,
    requests: Callable[[int, int], list[tuple[Request, bytes]]],
) -> list[str]:
    """Applying behind as a server does at a steady rate: rounds of ``--trickle`` messages a
    client (every lane a few), each drained by a worker that keeps its lanes between passes
    (``apply_loop``'s ``held``), so that a batch holds a few messages and the per-batch work
    (lease, reads, hooks, rules, the end of the messages, COMMIT) weighs as it does there."""
    from jcjg.exchange import apply

    per_round = args.trickle * args.clients
    rounds = max(1, args.messages // per_round)
    count = rounds * per_round
    held: set[str] = set()
    others: dict[str, float] = {}

    def drain() -> None:
        apply.drain(sessions, settings, holder="profile", held=held, others=others)

    def go(offset: int, prof: cProfile.Profile | None) -> float:
        spent = 0.0
        for n in range(rounds):
            work = requests(per_round, offset + n * per_round)
            _accept_all(sessions, settings, work, "registry.equipment", args.commit_batch)
            started = time.process_time()
            if prof is not None:
                prof.enable()
            drain()
            if prof is not None:
                prof.disable()
            spent += time.process_time() - started
        return spent

    go(30_000, None)  # the lanes claimed, as a running worker holds them
    title = f"apply, {args.trickle} a lane a batch ({count} messages)"
    lines: list[str] = []
    if args.plain:
        per = go(40_000, None) * 1000 / count
        lines.append(f"## {title} without the profiler: {per:.2f} ms CPU per message")
        print(lines[-1])
    statements = _counting(sessions.kw["bind"]) if args.sql else None
    prof = cProfile.Profile(time.process_time)
    spent = go(50_000, prof)
    if statements is not None:
        lines += _print_statements(statements, count, args.sql)
    stats = pstats.Stats(prof)
    if args.trickle_pstats:
        prof.dump_stats(args.trickle_pstats)
    lines += _print_table(title, _stage_times(stats, APPLY_STAGES, count), spent * 1000 / count)
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    return lines


def _curves(
    args: argparse.Namespace, sessions: Any, settings: Any, cred: Credential, key: Any
) -> list[str]:
    from bench.curves import _record

    from jcjg.exchange import apply

    rng = random.Random(7)

    def bodies(n: int, start: int) -> list[tuple[Request, bytes]]:
        out = []
        for i in range(n):
            record = _record(cred.institution_code, f"JL-PROFILE-{start + i:05d}", rng)
            body = json.dumps(record, ensure_ascii=False).encode()
            out.append((_request_for(cred, key, body, "test_record"), body))
        return out

    _accept_all(sessions, settings, bodies(2, 90_000), "test_record", 50)
    apply.drain(sessions, settings)
    work = bodies(args.records, 0)
    stats, spent, _ = _profiled(
        lambda: _accept_all(sessions, settings, work, "test_record", args.commit_batch)
    )
    lines = _print_table(
        f"curves accept ({args.records} records)",
        _stage_times(stats, ACCEPT_STAGES, args.records),
        spent * 1000 / args.records,
    )
    statements = _counting(sessions.kw["bind"]) if args.sql else None
    stats, spent, prof = _profiled(lambda: apply.drain(sessions, settings))
    if statements is not None:
        lines += _print_statements(statements, args.records, args.sql)
    if args.curves_pstats:
        prof.dump_stats(args.curves_pstats)
    lines += _print_table(
        f"curves apply ({args.records} records)",
        _stage_times(stats, APPLY_STAGES, args.records),
        spent * 1000 / args.records,
    )
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    if args.plain:  # as many again, accepted and applied without the profiler
        work = bodies(args.records, 50_000)
        started = time.process_time()
        _accept_all(sessions, settings, work, "test_record", args.commit_batch)
        accepted = (time.process_time() - started) * 1000 / args.records
        started = time.process_time()
        apply.drain(sessions, settings)
        applied = (time.process_time() - started) * 1000 / args.records
        lines.append(
            f"## curves without the profiler: accept {accepted:.1f} ms, apply {applied:.1f} ms "
            "CPU per record"
        )
        print(lines[-1])
    return lines


def _request_for(cred: Credential, key: Any, body: bytes, kind: str) -> Request:
    request = _request(cred, key, body)
    path = f"/exchange/v1/messages/{kind}"
    from jcjg.client.signing import signed_headers

    headers = signed_headers(
        "POST",
        f"http://{HOST}:8000{path}",
        key_id=cred.key_id,
        key=key,
        body=body,
        content_type="application/json",
    )
    headers["content-length"] = str(len(body))
    raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw.append((b"host", f"{HOST}:8000".encode()))
    request.scope.update(path=path, raw_path=path.encode(), headers=raw)
    return Request(request.scope)


def main(argv: list[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--messages", type=int, default=400)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--commit-batch", type=int, default=20)
    parser.add_argument("--records", type=int, default=0, help="test records with curves")
    parser.add_argument(
        "--plain", action="store_true", help="also apply as many again without the profiler"
    )
    parser.add_argument(
        "--trickle",
        type=int,
        default=0,
        help="also apply in rounds of N messages a client, as a server applying behind does",
    )
    parser.add_argument("--trickle-pstats", help="keep the trickle's apply profile in this file")
    parser.add_argument("--top", type=int, default=0, help="print the N functions by own time")
    parser.add_argument("--sql", type=int, default=0, help="list the N commonest statements")
    parser.add_argument("--pstats", help="keep the apply run's profile in this file")
    parser.add_argument("--accept-pstats", help="keep the accept run's profile in this file")
    parser.add_argument("--curves-pstats", help="keep the curves' apply profile in this file")
    parser.add_argument(
        "--one-per-batch",
        action="store_true",
        help="SQLite: each message a batch of its own (a curve record is, past 50 ms of work; "
        "without this the number of batches, and so of the rules' runs, follows the clock)",
    )
    args = parser.parse_args(argv)
    if args.one_per_batch:
        from jcjg.exchange import apply

        apply.SQLITE_BATCH_SECONDS = 0.0
    with tempfile.TemporaryDirectory(prefix="jcjg-profile-") as tmp:
        workdir = Path(tmp)
        if args.database == "sqlite":
            return run(args, f"sqlite:///{workdir / 'profile.db'}", workdir)
        db = Database(args.postgres_url)
        db.create()
        try:
            return run(args, db.url, workdir)
        finally:
            db.drop()


if __name__ == "__main__":
    main()
