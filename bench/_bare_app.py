"""The baseline of bench/exchange.py: a bare FastAPI endpoint that reads and parses the body.

Served by uvicorn exactly like the platform (same worker count, same flags) on the exchange's
path, so the difference between the two is what the platform does with a message: signature,
schema, database, rules, ledger. Not a benchmark itself (`make bench` skips ``bench/_*.py``).
"""

from __future__ import annotations

import json
import os

from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/exchange/v1/messages/{message_type}")
async def post_message(message_type: str, request: Request) -> dict[str, bool]:
    json.loads(await request.body())
    return {"ok": True}


@app.get("/v/{code}")
async def verify(code: str) -> dict[str, bool]:
    """The baseline of bench/verify.py: a GET on the verification page's path."""
    return {"ok": True}


@app.get("/pid")
async def pid() -> dict[str, int]:
    """Which process answered (tests/test_bench.py: each worker on a port of its own)."""
    return {"pid": os.getpid()}


@app.get("/{path:path}")
async def page(path: str) -> dict[str, bool]:
    """The baseline of bench/pages.py: a GET on any of the pages' paths."""
    return {"ok": True}
