"""Migration 2ac2d44b939c gives the alerts raised before it their subject's number, where the
subject's row has one."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from jcjg.core.migrate import upgrade
from tests.conftest import sqlite_at

CONTRACT = """INSERT INTO contract (id, institution_id, region_code, project_id, number, year,
    sequence, client_unit, signed_on, items, pdf_sha256, received_at) VALUES (5, 1, '360403', 1,
    'HT-2026-0005', 2026, 5, '建设单位', '2026-11-01', '[]', '', '2026-11-01 00:00:00')"""
ALERT = """INSERT INTO alert (id, rule_id, key, severity, subject_type, subject_id, subject_repr,
    facts, first_seen_at, last_seen_at, status) VALUES (:id, 'contract_late', :key, 'warning',
    :kind, :subject, '合同', '{}', '2026-11-02 00:00:00', '2026-11-02 00:00:00', 'open')"""


@pytest.mark.sqlite_only  # migrates a SQLite file of its own whatever the backend
@pytest.mark.migrations
def test_earlier_alerts_get_their_subjects_number(tmp_path):
    with sqlite_at(tmp_path, "85f2067790c0") as (url, engine):
        with engine.begin() as db:
            db.execute(text(CONTRACT))
            db.execute(text(ALERT), {"id": 1, "key": "a", "kind": "contract", "subject": "5"})
            db.execute(text(ALERT), {"id": 2, "key": "b", "kind": "contract", "subject": "99"})
            db.execute(text(ALERT), {"id": 3, "key": "c", "kind": "person", "subject": "5"})
        upgrade(url)
        with engine.connect() as db:
            rows = dict(db.execute(text("SELECT id, subject_number FROM alert ORDER BY id")).all())
    assert rows == {1: "HT-2026-0005", 2: None, 3: None}  # gone, or a kind with no number
