"""Plausibility bounds and schema-stated constraints on the exchange (issue 40): a day outside
1900–2100 or a subnormal number in any message is refused in the request naming the field; the
published schemas state what the platform checks (text without controls, numbers within
±(2^53−1), decimals' form, resident ID numbers' form), so a schema-valid message is not refused
for a reason the schema hides."""

from __future__ import annotations

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jcjg.exchange.types import MAX_SAFE_INTEGER
from tests.exchange.conftest import Lims
from tests.factories import id_number

PERSON = {"id_number": id_number(7), "name": "李七", "years_in_testing": 3}


def _schema(client: TestClient, name: str) -> dict:
    answer = client.get(f"/exchange/v1/schemas/{name}")
    assert answer.status_code == 200
    schema = answer.json()
    return {k: v for k, v in schema.items() if k not in {"$id", "examples"}}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("employed_from", "0001-01-01"),
        ("birth_date", "1899-12-31"),
        ("employed_until", "2101-01-01"),
    ],
)
def test_a_day_outside_1900_to_2100_is_refused_in_the_request(
    client: TestClient, db: Session, lims: Lims, field: str, value: str
) -> None:
    answer = lims.post_raw(
        client, "registry.staff", lims.message(people=[{**PERSON, field: value}])
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    [error] = answer.json()["errors"]
    assert error["field"] == f"people.0.{field}"
    assert error["code"] == "date_out_of_range"
    assert error["message"] == "日期应在 1900-01-01 至 2100-12-31 之间"
    fine = lims.post(
        client, "registry.staff", lims.message(people=[{**PERSON, field: "1990-05-01"}])
    )
    assert fine.status_code == 200, fine.json()


def test_the_schemas_state_the_days_the_text_and_the_numbers(client: TestClient) -> None:
    staff = _schema(client, "registry.staff")
    person = staff["$defs"]["StaffRecord"]["properties"]
    days = [b for b in person["employed_from"]["anyOf"] if b.get("format") == "date"]
    assert days[0]["formatMinimum"] == "1900-01-01"
    assert days[0]["formatMaximum"] == "2100-12-31"
    validator = jsonschema_rs.validator_for(staff)
    base = {"message_id": "3f1c7a52-8d1e-4c1b-9a57-2d5f0e6b9c10", "institution_code": "JG1"}
    assert validator.is_valid({**base, "people": [PERSON]})
    # what the platform refuses, the schema refuses too
    for bad in (
        {**PERSON, "name": "李\x00七"},
        {**PERSON, "name": "李\u202e七"},
        {**PERSON, "name": "李\n七"},
        {**PERSON, "id_number": "12345678901234567A"},
        {**PERSON, "id_number": "360402185503120019"},
    ):
        assert not validator.is_valid({**base, "people": [bad]}), bad
    assert validator.is_valid({**base, "people": [{**PERSON, "name": " 李七\n"}]})  # trimmed
    record = _schema(client, "test_record")
    curve = jsonschema_rs.validator_for(record["$defs"]["CurveIn"] | {"$defs": record["$defs"]})
    assert not curve.is_valid({"points": [[0, 2.0**60]] * 10})
    assert curve.is_valid({"points": [[0, float(MAX_SAFE_INTEGER)]] * 10})
    labs = _schema(client, "registry.labs")
    area = labs["$defs"]["LabRecord"]["properties"]["area_m2"]["anyOf"]
    text = jsonschema_rs.validator_for(next(b for b in area if b["type"] == "string"))
    assert text.is_valid("120.50")
    assert not text.is_valid("120.505")
    assert not text.is_valid("约 120")


def test_schema_valid_messages_of_the_common_forms_are_taken(
    client: TestClient, db: Session, lims: Lims
) -> None:
    """A text with spaces and line breaks around it is valid by the schema and taken."""
    answer = lims.post(
        client, "registry.staff", lims.message(people=[{**PERSON, "name": "\n 李七 \u3000"}])
    )
    assert answer.status_code == 200, answer.json()
