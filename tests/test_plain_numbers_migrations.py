"""The data migrations of issue 44's rules: c3a9e71d5b40 stores a person's ID number and
registered certificate as certificate lending compares them (without surrounding blanks, an ID
number's x in capitals; from then on the model stores them so), d84b2f6a1c97 takes the bands
off flat frames' photo prints (photo_reuse compares those by their file only)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from jcjg.core.migrate import upgrade
from jcjg.registry.models import Person
from tests.conftest import sqlite_at

PERSON = """INSERT INTO person (id, institution_id, region_code, name, id_number, title,
    years_in_testing, is_inspector, registered_certificate_no, created_at, updated_at)
    VALUES (:id, 1, '360403', '张三', :number, 'none', 0, 1, :certificate,
    '2026-11-01 00:00:00', '2026-11-01 00:00:00')"""
PRINT = """INSERT INTO photo_print (id, kind, subject_type, subject_id, subject_label, region_code,
    sha256, phash, band0, band1, band2, band3, taken_at)
    VALUES (:id, 'sample', 'sample', :id, 'S', '360403', 'a', :phash, 1, 2, 3, 4,
    '2026-11-01 00:00:00')"""


@pytest.mark.sqlite_only  # migrates a SQLite file of its own whatever the backend
@pytest.mark.migrations
def test_earlier_numbers_are_stored_plain_and_flat_frames_lose_their_bands(tmp_path):
    with sqlite_at(tmp_path, "bbfe79d55845") as (url, engine):
        with engine.begin() as db:
            db.execute(
                text(PERSON), {"id": 1, "number": " 36040219850312001x\t", "certificate": None}
            )
            db.execute(
                text(PERSON), {"id": 2, "number": "360402198503120029", "certificate": "　S1 "}
            )
            db.execute(text(PERSON), {"id": 3, "number": "360402198503120037", "certificate": " "})
            for i, phash in enumerate(("0000000000000000", "fffffffffffffff7", "0123456789abcdef")):
                db.execute(text(PRINT), {"id": i + 1, "phash": phash})
        upgrade(url)
        with engine.connect() as db:
            rows = db.execute(
                text("SELECT id, id_number, registered_certificate_no FROM person ORDER BY id")
            ).all()
            banded = db.execute(text("SELECT id, band0, band3 FROM photo_print ORDER BY id")).all()
    assert [tuple(r) for r in banded] == [(1, None, None), (2, None, None), (3, 1, 4)]
    assert [tuple(r) for r in rows] == [
        (1, "36040219850312001X", None),
        (2, "360402198503120029", "S1"),
        (3, "360402198503120037", None),
    ]


def test_the_model_stores_the_numbers_plain():
    person = Person(id_number="\u300036040219850312001x ", registered_certificate_no="\ts360 ")
    assert (person.id_number, person.registered_certificate_no) == ("36040219850312001X", "s360")
    person.registered_certificate_no = "  "
    assert person.registered_certificate_no is None
