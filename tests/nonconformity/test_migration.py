"""Migration 539c11ebbc33 moves the entries made before it to their project's region."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from jcjg.core.migrate import upgrade
from tests.conftest import sqlite_at

PROJECT = """INSERT INTO project (id, code, name, region_code, address, site_radius_m, owner_unit,
    contractor_unit, supervisor_unit, station, permit_number, status, origin, notes, created_at,
    updated_at) VALUES (7, 'P-NC', '南昌红谷滩项目', '360102', '', 300, '', '', '', '', '',
    'active', 'platform', '', '2026-11-01 00:00:00', '2026-11-01 00:00:00')"""
ENTRY = """INSERT INTO nonconformity (id, institution_id, region_code, project_id, test_record_id,
    found_by, material, item_code, structure_part, grade, "values", found_at, deadline, status,
    handling, handling_note, notified) VALUES (:id, 1, '360403', :project, :record, 'lab',
    '混凝土', '0108', '', 'C30', '{}', '2026-11-02 00:00:00', '2026-11-20', 'open', '', '', 0)"""


@pytest.mark.sqlite_only  # migrates a SQLite file of its own whatever the backend
@pytest.mark.migrations
def test_earlier_entries_move_to_their_projects_region(tmp_path):
    with sqlite_at(tmp_path, "b25a8c5727ce") as (url, engine):
        with engine.begin() as db:
            db.execute(text(PROJECT))
            db.execute(text(ENTRY), {"id": 1, "project": 7, "record": 11})  # a Nanchang project
            db.execute(text(ENTRY), {"id": 2, "project": None, "record": 12})  # no project
        upgrade(url)
        with engine.connect() as db:
            rows = dict(
                db.execute(text("SELECT id, region_code FROM nonconformity ORDER BY id")).all()
            )
    assert rows == {1: "360102", 2: "360403"}  # the lab's region stays where there is no project
