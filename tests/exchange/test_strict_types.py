"""Strict JSON types in every message type (issue 21, docs/exchange-api/messages.md "JSON types").

For each message type the fields come from its published JSON Schema and the values from its
registered example: every field is sent once with values of the wrong JSON type ("8" for an
integer, "yes" for a boolean, 0 for a date …), and each must be refused in the request with a
422 naming exactly that field, in Chinese. The example as it is, and with integers where numbers
are due, is accepted.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from jcjg.client.signing import load_key
from jcjg.config import Settings
from jcjg.core.errors import field_errors_from_pydantic
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientKind, ClientStatus
from jcjg.exchange.models import ExchangeFile
from jcjg.exchange.types import message_types
from tests.exchange.conftest import Lims
from tests.factories import Factory

TYPES = sorted(message_types())

_DATETIME = "应为 ISO 8601 时间文本，如 2026-11-20T09:30:00+08:00"
_BOOL = "应为布尔值 true 或 false"
# what each JSON type refuses, with the message the field gets
REFUSED: dict[str, list[tuple[Any, str]]] = {
    "integer": [
        ("8", "应为整数（不接受字符串）"),
        (True, "应为整数（不接受 true/false）"),
        (8.0, "应为整数（不接受小数）"),
        (None, "应为整数（不接受 null）"),
    ],
    "number": [
        ("20.5", "应为数字（不接受字符串）"),
        (True, "应为数字（不接受 true/false）"),
        (None, "应为数字（不接受 null）"),
    ],
    "boolean": [
        ("yes", f"{_BOOL}（不接受字符串）"),
        ("true", f"{_BOOL}（不接受字符串）"),
        (1, f"{_BOOL}（不接受数字）"),
        (None, f"{_BOOL}（不接受 null）"),
    ],
    "date": [
        (0, "应为 YYYY-MM-DD 格式的日期文本（不接受数字）"),
        (20261120, "应为 YYYY-MM-DD 格式的日期文本（不接受数字）"),
        ("0", "日期格式不正确（应为 YYYY-MM-DD）"),
        ("2026-11-20T09:30:00+08:00", "日期格式不正确（应为 YYYY-MM-DD）"),
        (None, "应为 YYYY-MM-DD 格式的日期文本（不接受 null）"),
    ],
    "date-time": [
        (0, f"{_DATETIME}（不接受数字）"),
        (1763600000, f"{_DATETIME}（不接受数字）"),
        ("1763600000", "时间格式不正确（应为 ISO 8601，如 2026-11-20T09:30:00+08:00）"),
        ("2026-11-20", "时间格式不正确（应为 ISO 8601，如 2026-11-20T09:30:00+08:00）"),
        (None, f"{_DATETIME}（不接受 null）"),
    ],
    "uuid": [(1, "应为 UUID 文本（不接受数字）"), (None, "应为 UUID 文本（不接受 null）")],
    "string": [
        (8, "应为文本（不接受数字）"),
        (True, "应为文本（不接受 true/false）"),
        (None, "应为文本（不接受 null）"),
    ],
    "code": [(8, "不是允许的取值"), (None, "不是允许的取值")],  # enum / one of listed values
    "array": [
        ("x", "应为数组（不接受字符串）"),
        ({}, "应为数组"),
        (None, "应为数组（不接受 null）"),
    ],
    # a value of a map such as a specimen's values, or a revision's before and after
    "value": [
        (True, "应为数字、文本或 null（不接受 true/false）"),
        ([1], "应为数字、文本或 null"),
        ({}, "应为数字、文本或 null"),
    ],
    "object": [
        ([], "应为 JSON 对象"),
        ("x", "应为 JSON 对象（不接受字符串）"),
        (None, "应为 JSON 对象（不接受 null）"),
    ],
}


@dataclass(frozen=True)
class Field:
    path: tuple[str | int, ...]  # in the message: keys and list indexes
    kind: str  # a key of REFUSED, or "decimal" (a number or its text), or "union" (another)
    nullable: bool
    schema: dict[str, Any]

    @property
    def name(self) -> str:
        return ".".join(str(p) for p in self.path)


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _shape(schema: dict[str, Any], defs: dict[str, Any]) -> tuple[str, bool, dict[str, Any]]:
    """The field's JSON type as the table names it, whether null is allowed, its schema."""
    schema = _resolve(schema, defs)
    nullable = False
    if "anyOf" in schema:
        branches = [_resolve(b, defs) for b in schema["anyOf"]]
        nullable = any(b.get("type") == "null" for b in branches)
        rest = [b for b in branches if b.get("type") != "null"]
        if len(rest) > 1:
            kinds = sorted(b.get("type", "") for b in rest)
            named = {("number", "string"): "decimal", ("integer", "number", "string"): "value"}
            return named.get(tuple(kinds), "union"), nullable, schema
        schema = rest[0]
    kind = schema.get("type", "")
    if "enum" in schema or "const" in schema:
        kind = "code"
    elif kind == "string" and schema.get("format") in ("date", "date-time", "uuid"):
        kind = schema["format"]
    return kind, nullable, schema


def fields(schema: dict[str, Any]) -> Iterator[Field]:
    """Every field the example can carry: the properties of each object the example has
    (those it leaves out too), through lists (their first element) and nested objects."""
    defs = schema.get("$defs", {})

    def walk(node: dict[str, Any], path: tuple[str | int, ...], value: Any) -> Iterator[Field]:
        for key, prop in node.get("properties", {}).items():
            kind, nullable, inner = _shape(prop, defs)
            here = (*path, key)
            yield Field(here, kind, nullable, inner)
            present = value.get(key) if isinstance(value, dict) else None
            if kind == "object" and isinstance(present, dict):
                yield from walk(inner, here, present)
                extra = inner.get("additionalProperties")
                if isinstance(extra, dict) and present:  # a map: its first key's value
                    yield Field((*here, next(iter(present))), *_shape(extra, defs))
            elif kind == "array" and isinstance(present, list) and present:
                items = _resolve(inner.get("items", {}), defs)
                if items.get("type") == "object" and isinstance(present[0], dict):
                    yield from walk(items, (*here, 0), present[0])

    yield from walk(schema, (), example_of(schema))


def example_of(schema: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(schema["examples"][0])


def put(message: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(message)
    node: Any = out
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return out


@dataclass
class Sender:
    """Another platform whose region holds the institution: it may send every type."""

    lims: Lims
    db: Session

    def own(self, example: dict[str, Any]) -> dict[str, Any]:
        """The example as this sender's: its institution (or region), a fresh id, and every
        file it names already uploaded."""
        message = {**copy.deepcopy(example), "message_id": str(uuid.uuid4())}
        if "institution_code" in message:
            message["institution_code"] = self.lims.institution.code
        for sha256 in set(re.findall(r'"([0-9a-f]{64})"', json.dumps(message))):
            if (
                self.db.query(ExchangeFile)
                .filter_by(sha256=sha256, client_id=self.lims.client.id)
                .first()
                is None
            ):
                self.db.add(
                    ExchangeFile(
                        sha256=sha256,
                        size=4,
                        client_id=self.lims.client.id,
                        institution_id=self.lims.institution.id,
                        region_code=self.lims.institution.region_code,
                    )
                )
        self.db.commit()
        return message


@pytest.fixture
def sender(db: Session, settings: Settings, factory: Factory) -> Sender:
    institution = factory.institution(region_code="360402")
    peer = clients.create_client(
        db,
        name="九江市平台",
        institution=None,
        region_code="360400",
        kind=ClientKind.PLATFORM,
        status=ClientStatus.ACTIVE,
    )
    issued = clients.issue_key(db, peer, settings, alg="hmac-sha256")
    db.commit()
    assert issued.secret is not None
    key = load_key("hmac-sha256", issued.secret)
    return Sender(Lims(institution, peer, issued.key.key_id, key), db)


def schema_of(client: TestClient, name: str) -> dict[str, Any]:
    response = client.get(f"/exchange/v1/schemas/{name}")
    assert response.status_code == 200
    schema: dict[str, Any] = response.json()
    return schema


@pytest.mark.parametrize("name", TYPES)
def test_the_example_is_accepted_as_it_is(client: TestClient, sender: Sender, name: str) -> None:
    message = sender.own(example_of(schema_of(client, name)))
    response = sender.lims.post_raw(client, name, message)
    assert response.status_code == 202, response.text


@pytest.mark.parametrize("name", TYPES)
def test_every_field_refuses_values_of_another_json_type(
    client: TestClient, sender: Sender, name: str
) -> None:
    schema = schema_of(client, name)
    base = sender.own(example_of(schema))
    sent = 0
    wrong: list[str] = []
    for field in fields(schema):
        for value, expected in REFUSED.get(field.kind, []):
            if value is None and field.nullable:
                continue  # null is that field's "not given"
            message = put({**base, "message_id": str(uuid.uuid4())}, field.path, value)
            response = sender.lims.post_raw(client, name, message)
            sent += 1
            got = (
                [(e["field"], e["message"]) for e in response.json().get("errors", [])]
                if response.status_code == 422
                else response.status_code
            )
            if got != [(field.name, expected)]:
                wrong.append(f"{field.name} = {json.dumps(value)}: {got}")
    assert sent, f"{name}: no field to try"
    assert not wrong, f"{name}: " + "\n".join(wrong)


@pytest.mark.parametrize("name", TYPES)
def test_integers_are_numbers_and_decimals_may_be_text(
    client: TestClient, sender: Sender, name: str
) -> None:
    """Where a number is due an integer is one (a JSON 3 for a float field is fine); a
    decimal field takes its number as a JSON number or as text ("120.50")."""
    schema = schema_of(client, name)
    base = sender.own(example_of(schema))
    tried = []
    for field in fields(schema):
        try:
            present = _at(base, field.path)
        except (KeyError, IndexError):
            continue
        if field.kind == "number" and isinstance(present, float):
            variants: list[Any] = [round(present)]
        elif field.kind == "decimal" and present is not None:
            variants = [str(present), float(Decimal(str(present)))]
        else:
            continue
        for value in variants:
            message = put({**base, "message_id": str(uuid.uuid4())}, field.path, value)
            response = sender.lims.post_raw(client, name, message)
            assert response.status_code == 202, (field.name, value, response.text)
            tried.append(field.name)
    if name in ("registry.labs", "contract", "test_record", "onsite_record", "project"):
        assert tried, f"{name}: its example has numbers or decimals to try"


def _at(message: Any, path: tuple[str | int, ...]) -> Any:
    for step in path:
        message = message[step]
    return message


def test_every_integer_boolean_date_and_time_field_is_tried(client: TestClient) -> None:
    """The walk reaches every field of these types that any schema has (none hides in an
    object the examples leave out)."""
    for name in TYPES:
        schema = schema_of(client, name)
        reached = {f.name for f in fields(schema) if f.kind in REFUSED}
        declared = _typed_paths(schema)
        assert declared <= {re.sub(r"\.0(\.|$)", r"\1", n) for n in reached}, name


def _typed_paths(schema: dict[str, Any]) -> set[str]:
    """Every property of the schema (through lists and objects) typed integer, boolean, date
    or date-time, by its path without list indexes."""
    defs = schema.get("$defs", {})
    out: set[str] = set()

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, prop in node.get("properties", {}).items():
            kind, _nullable, inner = _shape(prop, defs)
            path = f"{prefix}{key}"
            if kind in ("integer", "boolean", "date", "date-time"):
                out.add(path)
            elif kind == "object":
                walk(inner, path + ".")
            elif kind == "array":
                items = _resolve(inner.get("items", {}), defs)
                if items.get("type") == "object":
                    walk(items, path + ".")

    walk(schema, "")
    return out


def test_a_string_for_an_integer_says_so_in_chinese() -> None:
    """The messages of strict errors name what was given (field_errors_from_pydantic)."""
    errors = [
        {"loc": ("people", 0, "years_in_testing"), "type": "int_type", "input": "8"},
        {"loc": ("tag_intact",), "type": "bool_type", "input": 1},
        {"loc": ("issued_on",), "type": "date_type", "input": 0},
        {"loc": ("n",), "type": "int_parsing", "input": "x"},  # lax: no "given" words
    ]
    assert [(e.field, e.message) for e in field_errors_from_pydantic(errors)] == [
        ("people.0.years_in_testing", "应为整数（不接受字符串）"),
        ("tag_intact", "应为布尔值 true 或 false（不接受数字）"),
        ("issued_on", "应为 YYYY-MM-DD 格式的日期文本（不接受数字）"),
        ("n", "应为整数"),
    ]
