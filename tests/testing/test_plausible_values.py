"""Values that make no physical sense (issue 40): a force of 0 or less on any force test, and a
subnormal number anywhere in a record (its values, results or curve), are refused with the
field named; a record dated outside 1900–2100 likewise."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from jcjg.core import plausible
from jcjg.testing.models import TestRecord
from tests.testing.conftest import concrete_record


@pytest.mark.parametrize("force", [0, 0.0, -12.5])
def test_a_concrete_cube_broken_under_no_force_is_refused(client, db, lab, force):
    payload, _ = concrete_record(lab, number="ZERO-1")
    payload["specimens"][1]["values"]["peak_kn"] = force
    answer = lab.post(client, "test_record", payload)
    assert answer.status_code == 422, answer.json()
    [error] = answer.json()["errors"]
    assert error["field"] == "specimens[1].values.peak_kn"
    assert error["message"] == "peak_kn（破坏荷载（kN））应大于 0"
    assert db.scalars(select(TestRecord).where(TestRecord.number == "ZERO-1")).first() is None


@pytest.mark.parametrize(
    ("where", "field"),
    [
        (("specimens", 0, "values", "peak_kn"), "specimens.0.values"),
        (("results", "strength_mpa"), "results"),
        (("specimens", 2, "curve", "points", 4, 1), "specimens.2.curve.points"),
    ],
)
@pytest.mark.parametrize("tiny", [5e-324, 1e-310, -2.2e-308])
def test_a_subnormal_number_is_refused_in_the_request(client, db, lab, where, field, tiny):
    payload, _ = concrete_record(lab, number="TINY-1")
    parent = payload
    for step in where[:-1]:
        parent = parent[step]
    parent[where[-1]] = tiny
    answer = lab.post_raw(client, "test_record", payload)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == field
    assert error["code"] == "number_too_small"
    assert "1e-300" in error["message"]


def test_a_record_dated_outside_1900_to_2100_is_refused_naming_the_field(client, lab):
    payload, _ = concrete_record(lab, number="OLD-1")
    payload["started_at"] = "0001-01-01T08:00:00+08:00"
    answer = lab.post_raw(client, "test_record", payload)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["code"]) == ("started_at", "date_out_of_range")
    assert "1900-01-01 至 2100-12-31" in error["message"]


def test_a_curve_written_plainly_is_not_read_again_and_a_tiny_one_written_out_is_refused(
    client, lab, monkeypatch
):
    """A large record whose numbers hold no exponent and no run of 300 digits cannot hold a
    subnormal one: its curves' points are not read again as arrays for it (its days still
    are). A point written out in full, 0.000…01 below 1e-300, is refused as one written
    5e-324."""
    walked: list[int] = []
    real = plausible.problems

    def spy(value, path=""):
        walked.append(len(value) if isinstance(value, list) else 1)
        return real(value, path)

    monkeypatch.setattr(plausible, "problems", spy)
    payload, _ = concrete_record(lab, number="PLAIN-1")
    points = len(payload["specimens"][2]["curve"]["points"])
    answer = lab.post_raw(client, "test_record", payload)
    assert answer.status_code == 202, answer.text
    assert points > 1000
    assert points not in walked
    payload, _ = concrete_record(lab, number="PLAIN-2")
    payload["specimens"][2]["curve"]["points"][4][1] = 12345.5
    body = json.dumps(payload, ensure_ascii=False).encode()
    body = body.replace(b"12345.5", b"0." + b"0" * 310 + b"1", 1)
    path = "/exchange/v1/messages/test_record"
    answer = client.post(path, content=body, headers=lab.headers("POST", path, body))
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["code"]) == ("specimens.2.curve.points", "number_too_small")
