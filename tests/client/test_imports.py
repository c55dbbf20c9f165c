"""The client must install and run at a lab with httpx and cryptography only."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_SIDE = ("sqlalchemy", "pydantic", "fastapi", "starlette", "click", "jcjg.config")
ALLOWED_JCJG = {
    "jcjg",
    "jcjg.exchange",
    "jcjg.exchange.signatures",
    "jcjg.exchange.digest",
    "jcjg.ledger",
    "jcjg.ledger.canonical",
    "jcjg.ledger.merkle",
    "jcjg.ledger.note",
}

# Refuse the server's dependencies outright, so that even an import guarded by try/except or
# made lazily in a function that runs at import time shows up, then list what got loaded.
PROBE = """
import importlib.abc, json, sys

BLOCKED = {blocked!r}

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED or name == "jcjg.config":
            raise ImportError(f"{{name}} is not available at a lab")
        return None

sys.meta_path.insert(0, Refuse())
import jcjg.client, jcjg.client.cli, jcjg.client.outbox, jcjg.client.api
jcjg.client.cli._parser()
print(json.dumps(sorted(sys.modules)))
"""


def test_the_client_imports_no_server_code() -> None:
    blocked = {"sqlalchemy", "pydantic", "fastapi", "starlette", "click", "requests", "uvicorn"}
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", PROBE.format(blocked=blocked)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    modules = set(json.loads(out))
    for name in SERVER_SIDE:
        assert name not in modules
        assert not any(m.startswith(name + ".") for m in modules)
    ours = {m for m in modules if m == "jcjg" or m.startswith("jcjg.")}
    assert ours - {m for m in ours if m.startswith("jcjg.client")} <= ALLOWED_JCJG
