"""CPU per accepted message by stage, without a profiler (issue 44 item 1, the accept path).

Not a benchmark (``make bench`` skips files starting with ``_``). cProfile multiplies the cost
of code made of many small Python calls (the signature's structured-field parser: ~1.2 ms a
message profiled, ~0.11 ms not), so ``bench._profile``'s accept stages rank the stages but do
not say what they cost. This measures them with ``time.process_time`` alone, on
bench/exchange.py's ``registry.equipment`` messages (half Ed25519, half HMAC-SHA256):

* ``authenticate``, then ``accept`` (schema, value domains, idempotency, ledger promise), then
  ``store`` + COMMIT in batches of 20, each stage over all the round's messages;
* the whole request through the ASGI app in this process (every middleware, the endpoint, the
  group committer; no uvicorn and no apply: ``exchange_apply_workers=0``), 8 at a time.

Another version of the code runs from an archive of it by ``PYTHONPATH`` (alternate them):

    .venv/bin/python -m bench._accept_cpu --database sqlite
    git archive <base> src | tar -x -C /tmp/base && \\
        PYTHONPATH=/tmp/base/src:. .venv/bin/python -m bench._accept_cpu --database postgresql
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._profile import _request
from bench.exchange import (
    DEFAULT_POSTGRES_URL,
    SECRET_KEY,
    equipment_body,
    make_ledger_key,
    prepare,
)


class Rig:
    """The app and its database, as bench/exchange.py's server has them, with 8 LIMS."""

    def __init__(self, database: str, postgres_url: str, messages: int) -> None:
        import sqlalchemy as sa

        from jcjg.client.signing import load_key
        from jcjg.config import Settings
        from jcjg.core.db import make_engine, make_sessionmaker
        from jcjg.main import create_app

        work = Path(tempfile.mkdtemp())
        self.admin: Any = None
        self.name = f"jcjg_accept_{secrets.token_hex(4)}"
        if database == "sqlite":
            url = f"sqlite:///{work}/db.sqlite3"
        else:
            self.admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
            url = sa.make_url(postgres_url).set(database=self.name).render_as_string(False)
        data_dir = work / "data"
        self.creds = prepare(url, data_dir, 8)
        make_ledger_key(data_dir)
        self.settings = Settings(
            env="test",
            secret_key=SECRET_KEY,
            database_url=url,
            data_dir=data_dir,
            embedded_worker=False,
            exchange_apply_workers=0,
            exchange_rate_limit_per_minute=100_000_000,
        )
        self.engine = make_engine(url)
        self.sessions = make_sessionmaker(self.engine)
        self.app = create_app(self.settings, engine=self.engine, session_factory=self.sessions)
        self.keys = {c.key_id: load_key(c.alg, base64.b64decode(c.material)) for c in self.creds}
        self.n = messages
        self.statuses: dict[int, int] = {}

    def close(self) -> None:
        import sqlalchemy as sa

        self.engine.dispose()
        if self.admin is not None:
            with self.admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()

    def requests(self, offset: int) -> list[tuple[Any, bytes]]:
        out = []
        for i in range(self.n):
            cred = self.creds[i % len(self.creds)]
            body = equipment_body(cred, offset + i)
            out.append((_request(cred, self.keys[cred.key_id], body), body))
        return out

    def stages(self, offset: int, store_batch: int = 20) -> tuple[float, float, float]:
        """CPU per message (ms) of authenticate, accept, and store + COMMIT in batches of
        ``store_batch`` (the group committer's batch: 1-3 messages at a few hundred a second,
        up to hundreds when the process is busy)."""
        from jcjg.exchange.auth import authenticate
        from jcjg.exchange.cache import NeedDatabase
        from jcjg.exchange.service import accept, store
        from jcjg.exchange.types import message_types

        kind = message_types()["registry.equipment"]
        batch = self.requests(offset)
        settings, sessions, n = self.settings, self.sessions, self.n
        t0 = time.process_time()
        callers = []
        for request, body in batch:
            try:
                callers.append(authenticate(None, settings, request, body, remember_nonce=False))
            except NeedDatabase:
                with sessions() as db:
                    callers.append(authenticate(db, settings, request, body, remember_nonce=False))
        t1 = time.process_time()
        accepted = []
        for caller in callers:
            try:
                accepted.append(accept(None, caller, kind))
            except NeedDatabase:
                with sessions() as db:
                    accepted.append(accept(db, caller, kind))
        t2 = time.process_time()
        for i in range(0, n, store_batch):
            with sessions() as db:
                store(db, accepted[i : i + store_batch])  # type: ignore[arg-type]
                db.commit()
        t3 = time.process_time()
        return (t1 - t0) * 1000 / n, (t2 - t1) * 1000 / n, (t3 - t2) * 1000 / n

    async def one(self, scope: dict[str, Any], body: bytes) -> None:
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:  # the app listens for a disconnect: none comes
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                self.statuses[status] = self.statuses.get(status, 0) + 1

        await self.app(dict(scope), receive, send)

    async def whole(self, offset: int) -> float:
        """CPU per request (ms) through the ASGI app, 8 at a time."""
        batch = [(request.scope, body) for request, body in self.requests(offset)]
        started = time.process_time()
        for i in range(0, self.n, 8):
            await asyncio.gather(*(self.one(scope, body) for scope, body in batch[i : i + 8]))
        return (time.process_time() - started) * 1000 / self.n


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--store-batch", type=int, default=20, help="messages a store + COMMIT (default 20)"
    )
    args = parser.parse_args(argv)
    rig = Rig(args.database, args.postgres_url, args.messages)
    db = args.database

    async def through_app() -> None:
        await rig.whole(800_000)  # warm-up
        for k in range(args.rounds):
            ms = await rig.whole(1_000_000 + 100_000 * k)
            print(f"{db}: whole request (ASGI, in process) {ms:.3f} ms CPU", flush=True)
        print(f"{db}: answers {rig.statuses}")

    try:
        rig.stages(900_000, args.store_batch)  # warm-up: keys and editions in memory
        for k in range(args.rounds):
            auth_ms, accept_ms, store_ms = rig.stages(100_000 * (k + 1), args.store_batch)
            print(
                f"{db}: authenticate {auth_ms:.3f} ms, accept {accept_ms:.3f} ms, "
                f"store + COMMIT ({args.store_batch} a batch) {store_ms:.3f} ms CPU per message",
                flush=True,
            )
        asyncio.run(through_app())
    finally:
        rig.close()


if __name__ == "__main__":
    main()
