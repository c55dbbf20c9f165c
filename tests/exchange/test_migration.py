"""Migration 6e59928b69b9: messages applied in their request before it become ``applied``,
with the results and warnings of their v1 receipt, their lane and their leaf's hash."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from jcjg.core.migrate import upgrade
from tests.conftest import sqlite_at

CLIENT = """INSERT INTO exchange_client (id, name, kind, institution_id, region_code, status,
    created_at, updated_at) VALUES (1, 'LIMS', 'lims', NULL, '360403', 'active',
    '2026-11-01 00:00:00', '2026-11-01 00:00:00')"""
LEAF = """INSERT INTO ledger_leaf (leaf_index, leaf_hash, entry_type, entry, created_at)
    VALUES (:index, :hash, 'message:registry.labs', X'7B7D', '2026-11-02 00:00:00')"""
MESSAGE = """INSERT INTO exchange_message (id, client_id, key_id, institution_id, region_code,
    message_type, message_id, body, content_sha256, signature_input, signature, received_at,
    receipt, ledger_index) VALUES (:id, 1, 'k', :institution, '360403', 'registry.labs', :mid,
    X'7B7D', :sha, '', '', '2026-11-02 00:00:00', :receipt, :index)"""


@pytest.mark.sqlite_only  # migrates a SQLite file of its own whatever the backend
@pytest.mark.migrations
def test_earlier_messages_become_applied_with_their_receipts_outcome(tmp_path):
    with sqlite_at(tmp_path, "162d688ed1cb") as (url, engine):
        receipt = {"status": "accepted", "results": {"created": 1}, "warnings": [{"code": "x"}]}
        with engine.begin() as db:
            db.execute(text(CLIENT))
            db.execute(text(LEAF), {"index": 0, "hash": b"\x01" * 32})
            db.execute(text(LEAF), {"index": 1, "hash": b"\x02" * 32})
            for n, institution in ((1, 9), (2, None)):
                db.execute(
                    text(MESSAGE),
                    {"id": n, "institution": institution, "mid": f"m{n}", "sha": "0" * 64,
                     "receipt": json.dumps(receipt), "index": n - 1},
                )  # fmt: skip
        upgrade(url)
        with engine.connect() as db:
            rows = db.execute(
                text(
                    "SELECT id, lane, leaf_hash, status, results, warnings, applied_at "
                    "FROM exchange_message ORDER BY id"
                )
            ).all()
            columns = {c[1] for c in db.execute(text("PRAGMA table_info(exchange_message)"))}
    assert [(r.id, r.lane, bytes(r.leaf_hash), r.status) for r in rows] == [
        (1, "i9", b"\x01" * 32, "applied"),
        (2, "r360403", b"\x02" * 32, "applied"),
    ]
    assert json.loads(rows[0].results) == {"created": 1}
    assert json.loads(rows[0].warnings) == [{"code": "x"}]
    assert rows[0].applied_at is not None
    assert "ledger_index" not in columns
