"""The text boundary on the exchange (issue 21): a message whose parsed values hold NUL, a
control, a bidi or zero-width character is refused in its request with a 422 naming the field;
accepted values are applied in NFC while the raw message stays byte for byte as sent."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_origin

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.core import text
from jcjg.exchange.models import Message
from jcjg.exchange.types import message_types
from jcjg.registry.models import Lab
from tests.exchange.conftest import Lims
from tests.factories import catalogue

MESSAGES_DOC = Path(__file__).parents[2] / "docs" / "exchange-api" / "messages.md"
LAB = {
    "name": "力学室",
    "address": "南宁市民族大道 1 号",
    "area_m2": "120.50",
    "specialties": ["01"],
}


@pytest.fixture(autouse=True)
def _catalogue(db: Session) -> None:
    catalogue(db, "01")
    db.commit()


def _stored(db: Session) -> tuple[int, int]:
    db.expire_all()
    messages = db.scalar(select(func.count()).select_from(Message)) or 0
    return messages, db.scalar(select(func.count()).select_from(Lab)) or 0


def _refused_fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == "/problems/validation"
    return {e["field"]: e["code"] for e in body["errors"]}


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x07", "\u202e", "\u2066", "\u200b", "\n"])
def test_a_message_with_a_control_character_in_a_string_is_refused_naming_the_field(
    client: TestClient, db: Session, lims: Lims, char: str
) -> None:
    before = _stored(db)
    payload = lims.message(labs=[LAB, {**LAB, "name": f"化学{char}室"}])
    assert _refused_fields(lims.post_raw(client, "registry.labs", payload)) == {
        "labs.1.name": "forbidden_character"
    }
    assert _stored(db) == before
    fine = lims.post(client, "registry.labs", lims.message(labs=[LAB]))
    assert fine.status_code == 200, fine.text


def test_the_institution_code_and_lists_of_strings_are_checked_too(
    client: TestClient, db: Session, lims: Lims
) -> None:
    payload = lims.message(labs=[LAB])
    payload["institution_code"] = lims.institution.code + "\x00"
    assert "institution_code" in _refused_fields(lims.post_raw(client, "registry.labs", payload))
    payload = lims.message(labs=[{**LAB, "specialties": ["0\x001"]}])
    assert "labs.0.specialties" in _refused_fields(lims.post_raw(client, "registry.labs", payload))


def test_values_are_applied_in_nfc_and_the_raw_message_stays_byte_exact(
    client: TestClient, db: Session, lims: Lims
) -> None:
    decomposed, composed = "Cafe\u0301 \uf900", "Caf\u00e9 \u8c48"
    payload = lims.message(labs=[{**LAB, "name": decomposed}])
    answer = lims.post(client, "registry.labs", payload)
    assert answer.status_code == 200, answer.text
    db.expire_all()
    assert db.scalars(select(Lab.name)).all() == [composed]
    sent = json.dumps(payload, ensure_ascii=False).encode()
    kept = db.scalars(select(Message.body)).one()
    assert bytes(kept) == sent
    assert decomposed.encode() in bytes(kept)


def test_a_multi_line_field_takes_line_breaks_and_a_single_line_one_does_not(
    client: TestClient, lims: Lims
) -> None:
    notes = "封条完好。\n样品编号与委托单一致；\r\n\t收样人：王五"
    event = {"sample_code": "YP-0001", "event": "received", "notes": notes}
    accepted = lims.post_raw(client, "sample_event", lims.message(**event))
    assert accepted.status_code == 202, accepted.text  # (rejected when applied: no such sample)
    refused = lims.post_raw(client, "sample_event", lims.message(**{**event, "notes": "封\x1b条"}))
    assert _refused_fields(refused) == {"notes": "forbidden_character"}
    refused = lims.post_raw(
        client, "sample_event", lims.message(**{**event, "sample_code": "YP-\n0001"})
    )
    assert _refused_fields(refused) == {"sample_code": "forbidden_character"}


def _multiline_paths(model: type[BaseModel], prefix: str = "") -> Iterator[str]:
    for name, info in model.model_fields.items():
        path = prefix + name
        if text.plan_of(model, name).multiline:
            yield path
        for inner in text.models_in(info.annotation):
            many = get_origin(info.annotation) is list
            yield from _multiline_paths(inner, f"{path}[]." if many else f"{path}.")


def test_the_docs_list_the_multi_line_fields_of_every_message_type() -> None:
    documented: set[tuple[str, str]] = set()
    table = MESSAGES_DOC.read_text().split("| type | multi-line fields |", 1)[1].split("\n\n")[0]
    for row in table.splitlines()[2:]:
        kind, fields = (cell.strip() for cell in row.strip("|").split("|"))
        documented |= {(kind.strip("`"), f) for f in re.findall(r"`([^`]+)`", fields)}
    declared = {
        (name, path)
        for name, kind in message_types().items()
        for path in _multiline_paths(kind.schema)
    }
    assert documented == declared
