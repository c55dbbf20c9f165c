"""The harness's own parts: how a server error is filed, which classes fail a run, the links
the API fuzzer adds to its copy of the document."""

from __future__ import annotations

import pytest

from jcjg.generic.spec import specs
from tests.fuzz import api_fuzzer
from tests.fuzz.harness import NAMED_CLASSES, SERVER_ERROR, Tally, server_error_class

pytestmark = pytest.mark.once


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_server_errors_are_filed_by_what_raised_them() -> None:
    nul = ValueError("A string literal cannot contain NUL (0x00) characters.")
    assert server_error_class(_raised(nul)) == "text-nul-control"
    big = OverflowError("Python int too large to convert to SQLite INTEGER")
    assert server_error_class(_raised(big)) == "id-out-of-range"
    other = server_error_class(_raised(KeyError("x")))
    assert other.startswith("5xx:KeyError@")
    assert server_error_class(None) == "5xx:unknown"


def test_every_class_found_fails_the_run() -> None:
    tally = Tally()
    tally.record("text-nul-control", SERVER_ERROR, "curl …")
    tally.record("5xx:KeyError@x.py:f", SERVER_ERROR, "curl …")
    assert tally.failing() == ["5xx:KeyError@x.py:f", "text-nul-control"]
    assert "text-nul-control" in NAMED_CLASSES
    assert tally.summary() == "FUZZ requests=0 server_errors=2 schema_violations=0"


def test_the_document_copy_gets_links_and_a_create_per_registry_kind() -> None:
    doc = {
        "openapi": "3.1.0",
        "paths": {
            "/api/v1/users": {"post": {"operationId": "create_user", "responses": {}}},
            "/api/v1/users/{user_id}": {"get": {"operationId": "get_user", "responses": {}}},
            "/api/v1/registry/{kind}": {
                "post": {
                    "operationId": "create_row",
                    "parameters": [{"name": "kind", "in": "path", "schema": {"type": "string"}}],
                    "requestBody": {"content": {"application/json": {"schema": {}}}},
                    "responses": {},
                }
            },
        },
    }
    sharp = api_fuzzer.sharpened(doc, [7])
    links = sharp["paths"]["/api/v1/users"]["post"]["responses"]["201"]["links"]
    assert links["get_user-user_id"]["parameters"] == {"user_id": "$response.body#/id"}
    body = sharp["paths"]["/api/v1/registry/people"]["post"]["requestBody"]["content"]
    schema = body["application/json"]["schema"]
    assert set(schema["properties"]) == {f.name for f in specs()["people"].fields} | {
        "institution_id"
    }
    assert schema["properties"]["institution_id"]["enum"] == [7]
    assert sharp["paths"]["/api/v1/registry/{kind}"]["post"]["operationId"] == "create_row"
    assert doc["paths"]["/api/v1/registry/{kind}"]["post"]["operationId"] == "create_row"
