"""Fuzzing the signed exchange API: every message type, signed like a real lab client.

For each type of :func:`jcjg.exchange.types.message_types` the messages come from three
generators: messages from the type's published JSON Schema, valid and invalid (schemathesis'
generators, over a document that takes each type's schema as a request body),
the type's example with one to three hostile mutations (wrong types, loose types such as
``"8"`` for 8, huge numbers, NUL and other control characters, bidi overrides, long strings,
missing and extra fields, nesting),
and bodies that are hardly JSON at all (empty, truncated, deep, numbers beyond any float,
another encoding). Each is signed with the LIMS's Ed25519 key (a region message, ``project``,
with another platform's key), POSTed, and the messages accepted are applied as the workers
would, then their status read.

Checks: no answer is a 5xx, nor a rejection with an internal problem when applied; a refusal
is ``application/problem+json``; an acceptance is a receipt; a message outside its type's JSON
Schema is not applied (else ``exchange-loose-types``).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from schemathesis import GenerationMode

from jcjg.exchange import apply
from jcjg.exchange.types import MessageType, json_schema, message_types
from tests.exchange.conftest import Lims
from tests.fuzz.harness import (
    SCHEMA_VIOLATION,
    SEED,
    SERVER_ERROR,
    Tally,
    World,
    describe,
    repeatable,
    server_error_class,
)

BASE = "http://testserver"
PROBLEM_JSON = "application/problem+json"

# Values a LIMS should never send, and some it may: each replaces a field of an example.
HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63, 2**64,
    10**30, -(10**30), 1e308, -1e-308, 0.5, -0.0, "", " ", "\t", "\x00", "a\x00b", "\x07\x1b[2J",
    "\u202eevil", "\u200b", "\ufeff", "\ud7ff", "８", "1e999", "NaN", "Infinity", "8", "yes",
    "true", "0", "1970-01-01", "2026-02-30", "9999-12-31T23:59:59Z", "0000-00-00",
    "00000000-0000-0000-0000-000000000000", "../../etc/passwd", "<script>alert(1)</script>",
    "' OR 1=1 --", [], {}, [None], [[[[[]]]]], {"a": {"b": {"c": {}}}},
]  # fmt: skip


def _deep(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _long(spec: tuple[str, int]) -> Any:
    text, n = spec
    return [0] * n if text == "list" else text * n


VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from([("x", 300), ("长", 5000), ("x", 100_000), ("list", 1000)]).map(_long),
    st.text(max_size=40),  # any code points, controls and surrogates' neighbours included
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=800).map(_deep),  # within json.dumps's recursion
    st.lists(st.text(max_size=5), max_size=5),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=4),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _paths(inner, (*prefix, index))


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _loose(value: Any) -> Any:
    """What a lenient parser would take for ``value`` though its schema does not: the number
    as text, ``"yes"`` for true, a number for a date."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and _DATE.match(value):
        return 0
    return value


def _mutate(doc: Any, path: tuple[Any, ...], op: str, value: Any) -> Any:
    """``doc`` (a copy) with the value at ``path`` replaced, removed, or given a sibling."""
    doc = json.loads(json.dumps(doc))
    if not path:
        return value if op == "replace" else doc
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if op == "replace":
        parent[last] = value
    elif op == "loosen":
        parent[last] = _loose(parent[last])
    elif op == "delete":
        del parent[last]
    elif op == "extra" and isinstance(parent, dict):
        parent[f"{last}_extra"] = value
    elif op == "wrap":
        parent[last] = [parent[last]]
    return doc


def mutations(example: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The example with one to three mutations, each at a place it has."""

    def one(doc: Any) -> st.SearchStrategy[Any]:
        return st.tuples(
            st.sampled_from(list(_paths(doc))),
            st.sampled_from(["replace", "replace", "loosen", "delete", "extra", "wrap"]),
            VALUES,
        ).map(lambda t: _mutate(doc, *t))

    def chain(doc: Any, n: int) -> st.SearchStrategy[Any]:
        return one(doc) if n == 1 else one(doc).flatmap(lambda d: chain(d, n - 1))

    return st.integers(1, 3).flatmap(lambda n: chain(example, n))


def loosened(example: dict[str, Any]) -> st.SearchStrategy[Any]:
    """The example with one value in a type its schema does not allow but a lenient parser
    takes (``"8"`` for 8, ``"yes"`` for true, 0 for a date): otherwise as valid as it was."""
    places = [p for p in _paths(example) if p and _loose(_get(example, p)) is not _get(example, p)]
    if not places:
        return st.nothing()
    return st.sampled_from(places).map(lambda p: _mutate(example, p, "loosen", None))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _raw_bodies(example: dict[str, Any]) -> list[bytes]:
    text = json.dumps(example, ensure_ascii=False)
    head = text[: text.index(",") + 1] if "," in text else "{"
    return [
        b"",
        b"{",
        b"[]",
        b"null",
        b'"message"',
        b"\xff\xfe{\x00}",
        text.encode("utf-16"),
        text.encode()[:-1],
        text.encode() + b"garbage",
        (head + '"x": ' + "[" * 100_000 + "]" * 100_000 + "}").encode(),
        (head + '"x": ' + '{"a":' * 50_000 + "1" + "}" * 50_000 + "}").encode(),
        (head + '"x": 1e999, "y": -1e999, "z": ' + "9" * 5000 + "}").encode(),
        (head + '"x": NaN, "y": Infinity}').encode(),
        text.replace("{", '{"message_id": "dup", ', 1).encode(),  # a key twice
        text.encode().replace(b'"', b"'"),
    ]


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema for validating: no ``$id`` (nothing to fetch), no examples."""
    return {k: v for k, v in schema.items() if k not in {"$id", "examples"}}


def _encode(doc: Any) -> bytes:
    """A generated body as sent: JSON, or the bytes themselves (negative data may be bytes)."""
    if isinstance(doc, bytes):
        return doc
    return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")


def _moved_refs(node: Any, prefix: str) -> Any:
    """``node`` with its ``#/$defs/X`` references pointing to ``components/schemas``."""
    if isinstance(node, dict):
        return {
            k: (
                v.replace("#/$defs/", f"#/components/schemas/{prefix}")
                if k == "$ref" and isinstance(v, str)
                else _moved_refs(v, prefix)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_moved_refs(v, prefix) for v in node]
    return node


def messages_document() -> dict[str, Any]:
    """An OpenAPI document with one operation per message type, the type's JSON Schema its
    request body: for schemathesis to generate messages from (valid ones and invalid ones)."""
    paths: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for name, kind in message_types().items():
        schema = json_schema(kind, BASE)
        prefix = name.replace(".", "_") + "__"
        for key, definition in schema.pop("$defs", {}).items():
            components[prefix + key] = _moved_refs(definition, prefix)
        body = _moved_refs(
            {k: v for k, v in schema.items() if k not in {"$schema", "$id", "examples"}}, prefix
        )
        paths[f"/exchange/v1/messages/{name}"] = {
            "post": {
                "operationId": name,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                },
                "responses": {"202": {"description": "accepted"}},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "messages", "version": "1"},
        "paths": paths,
        "components": {"schemas": components},
    }


@dataclass
class TypeFuzzer:
    kind: MessageType[Any]
    sender: Lims
    operation: Any
    """The type's operation in :func:`messages_document`."""
    validator: Any
    counter: list[int] = field(default_factory=lambda: [0])

    def message_id(self) -> str:
        self.counter[0] += 1
        return str(uuid.UUID(int=uuid.UUID(self.example_id).int + self.counter[0], version=4))

    def fresh(self, doc: Any) -> Any:
        """``doc`` under a new id, if it still has the example's."""
        if isinstance(doc, dict) and doc.get("message_id") == self.example_id:
            return {**doc, "message_id": self.message_id()}
        return doc

    @property
    def example_id(self) -> str:
        kind = zlib.crc32(self.kind.name.encode())
        return str(uuid.UUID(int=(SEED << 64) | (kind << 32), version=4))

    def own(self, doc: Any) -> Any:
        """Most messages are about the sender's own data, under a new id: so they get past
        the sender check and the duplicate check to the type's own validation."""
        if not isinstance(doc, dict):
            return doc
        doc = dict(doc)
        if isinstance(doc.get("message_id"), str) or "message_id" not in doc:
            doc.setdefault("message_id", "")
            doc["message_id"] = self.message_id()
        if self.kind.per_institution and isinstance(doc.get("institution_code"), str):
            doc["institution_code"] = self.sender.institution.code
        return doc

    def bodies(self) -> st.SearchStrategy[bytes]:
        example = {**self.own(self.kind.example), "message_id": self.example_id}
        encoded = st.one_of(
            mutations(example).map(self.own),
            mutations(example).map(self.fresh),  # codes as mutated too
            loosened(example).map(self.own),
        ).map(_encode)
        raw = _raw_bodies(example)
        strategies = [encoded, encoded, st.integers(0, len(raw) - 1).map(raw.__getitem__)]
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            cases = self.operation.as_strategy(generation_mode=mode)
            strategies.append(cases.map(lambda c: _encode(self.own(c.body))))
        return st.one_of(strategies)


class _Handlers(logging.Handler):
    """The exceptions the apply workers log (a handler that failed on a message)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.errors.append(record.exc_info[1])


def _is_problem(answer: Any) -> bool:
    media = answer.headers.get("content-type", "").split(";")[0].strip()
    if media != PROBLEM_JSON:
        return False
    try:
        body = answer.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == answer.status_code and "type" in body


def _reproducer(kind: str, sender: Lims, body: bytes, answer: Any, detail: str = "") -> str:
    shown = body[:400].decode("utf-8", "backslashreplace")
    more = f" … ({len(body)} bytes)" if len(body) > 400 else ""
    lines = [
        f"POST /exchange/v1/messages/{kind} signed with {sender.key_id} (Content-Type: "
        f"application/json): {shown}{more}",
        f"-> {answer.status_code} {answer.text[:300]!r}",
    ]
    if detail:
        lines.append(f"raised: {detail}")
    return "\n".join(lines)


def _valid(validator: Any, body: bytes) -> bool:
    try:
        return bool(validator.is_valid(json.loads(body)))
    except (ValueError, RecursionError):
        return False


def fuzz_type(world: World, tally: Tally, operation: Any, examples: int) -> None:
    """``examples`` messages of one type, each signed, POSTed, applied and checked."""
    kind = message_types()[operation.definition.raw["operationId"]]
    sender = world.lims if kind.per_institution else world.peer
    schema = json_schema(kind, BASE)
    validator = jsonschema_rs.validator_for(_strict(schema), validate_formats=True)
    fuzzer = TypeFuzzer(kind, sender, operation, validator)
    http = TestClient(world.app, base_url=BASE, raise_server_exceptions=False)  # type: ignore[arg-type]
    failed = _Handlers()
    logging.getLogger("jcjg.exchange.apply").addHandler(failed)
    try:
        # the example itself first: what it makes (a lab, a project ...) lets the next types'
        # examples and their mutations be applied, not only refused
        post(world, tally, http, fuzzer, _encode(fuzzer.own(kind.example)), failed)

        @repeatable(examples)
        @given(body=fuzzer.bodies())
        def run(body: bytes) -> None:
            post(world, tally, http, fuzzer, body, failed)

        run()
    finally:
        logging.getLogger("jcjg.exchange.apply").removeHandler(failed)


def post(
    world: World, tally: Tally, http: TestClient, fuzzer: TypeFuzzer, body: bytes, failed: Any
) -> None:
    name, sender = fuzzer.kind.name, fuzzer.sender
    path = f"/exchange/v1/messages/{name}"
    headers = sender.headers("POST", path, body, content_type="application/json")
    answer = http.post(path, content=body, headers=headers)
    tally.answered("exchange", answer.status_code)
    error = world.app.take()
    if answer.status_code >= 500:
        klass = server_error_class(error)
        tally.record(klass, SERVER_ERROR, _reproducer(name, sender, body, answer, describe(error)))
        return
    if answer.status_code >= 400:
        if not _is_problem(answer):
            tally.record(
                f"exchange-not-problem:{name}",
                SCHEMA_VIOLATION,
                _reproducer(name, sender, body, answer),
            )
        return
    receipt = answer.json()
    if answer.status_code != 202:
        return  # a duplicate of one sent before
    apply.drain(world.sessionmaker, world.settings)
    status_path = f"/exchange/v1/messages/{name}/{receipt['message_id']}"
    status = http.get(status_path, headers=sender.headers("GET", status_path))
    tally.answered("exchange-status", status.status_code)
    if status.status_code != 200:
        kind = SERVER_ERROR if status.status_code >= 500 else SCHEMA_VIOLATION
        detail = describe(world.app.take())
        tally.record(
            f"exchange-status:{name}", kind, _reproducer(name, sender, body, status, detail)
        )
        return
    doc = status.json()
    problem = doc.get("problem") or {}
    tally.statuses[f"exchange-{doc['status']} {problem.get('status', 200)}"] += 1
    if doc["status"] == "rejected" and int(problem.get("status", 0)) >= 500:
        exc = failed.errors[-1] if failed.errors else None
        failed.errors.clear()
        klass = server_error_class(exc)
        tally.record(
            klass.replace("5xx:", "exchange-apply:", 1),
            SERVER_ERROR,
            _reproducer(name, sender, body, status, describe(exc)),
        )
    elif doc["status"] == "applied" and not _valid(fuzzer.validator, body):
        tally.record(
            "exchange-loose-types", SCHEMA_VIOLATION, _reproducer(name, sender, body, status)
        )


# Types in the order their data builds on each other (the rest after them, by name).
ORDER = [
    "registry.labs", "registry.staff", "registry.equipment", "registry.capabilities",
    "registry.signatories", "project", "contract", "commission", "sample_event", "test_record",
    "test_revision", "onsite_plan", "onsite_record", "report", "report_file",
    "report_withdrawal", "nonconformity",
]  # fmt: skip


def fuzz_exchange(world: World, tally: Tally, examples: int) -> None:
    """Every message type, ``examples`` messages each (and its example first)."""
    document = schemathesis.openapi.from_dict(messages_document())
    operations = {
        r.ok().definition.raw["operationId"]: r.ok() for r in document.get_all_operations()
    }
    rank = {name: i for i, name in enumerate(ORDER)}
    for name in sorted(operations, key=lambda n: (rank.get(n, len(ORDER)), n)):
        fuzz_type(world, tally, operations[name], examples)
