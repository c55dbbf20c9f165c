"""The OpenAPI document describes the API as it is: how each operation authenticates, and every
error it may answer as ``application/problem+json`` (:mod:`jcjg.core.openapi`)."""

from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from jcjg.auth.choices import Role
from jcjg.auth.deps import Requires
from jcjg.core.errors import CSRF, FORBIDDEN, PASSWORD_EXPIRED, UNAUTHENTICATED
from jcjg.core.openapi import PROBLEM_SCHEMAS, Contract, complete
from tests.factories import login, page_csrf

PROBLEM = "application/problem+json"
SESSION = {"sessionCookie": []}
SESSION_CSRF = {"sessionCookie": [], "csrfHeader": []}
BEARER = {"bearerToken": []}
SIGNED = [{"httpSignatureInput": [], "httpSignature": []}]
UNSAFE = {"post", "put", "patch", "delete"}


@pytest.fixture
def spec(client) -> dict[str, Any]:
    return client.get("/api/v1/openapi.json").json()


def operations(spec: dict[str, Any], prefix: str = "/"):
    for path, item in spec["paths"].items():
        if path.startswith(prefix):
            for method, op in item.items():
                yield path, method, op


def test_the_document_names_its_security_schemes(spec, settings) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerToken"]["type"] == "http"
    assert schemes["bearerToken"]["scheme"] == "bearer"
    assert "/account/tokens" in schemes["bearerToken"]["description"]
    assert schemes["sessionCookie"] == {
        **schemes["sessionCookie"],
        "type": "apiKey",
        "in": "cookie",
    }
    assert schemes["sessionCookie"]["name"] == settings.session_cookie
    assert (schemes["csrfHeader"]["in"], schemes["csrfHeader"]["name"]) == (
        "header",
        "X-CSRF-Token",
    )
    assert schemes["httpSignature"]["name"] == "Signature"
    assert schemes["httpSignatureInput"]["name"] == "Signature-Input"
    assert "RFC 9421" in schemes["httpSignatureInput"]["description"]


def test_every_api_operation_says_how_it_authenticates(spec) -> None:
    """A token or the session, with the CSRF header on writes; 401 and 403 as problems."""
    seen = 0
    for path, method, op in operations(spec, "/api/v1/"):
        session = SESSION_CSRF if method in UNSAFE else SESSION
        if (method, path) in {("post", "/api/v1/tokens")}:  # a token cannot mint a token
            assert op["security"] == [session], (method, path)
        else:
            assert op["security"] == [BEARER, session], (method, path)
        for status in ("401", "403"):
            assert PROBLEM in op["responses"][status]["content"], (method, path, status)
        assert "/problems/forbidden" in op["responses"]["403"]["description"]
        assert ("/problems/csrf" in op["responses"]["403"]["description"]) == (method in UNSAFE)
        seen += 1
    assert seen > 30


def test_public_and_signed_operations(spec) -> None:
    assert spec["paths"]["/ledger/checkpoint"]["get"]["security"] == []
    assert spec["paths"]["/ledger/proof/inclusion"]["get"]["security"] == []
    assert spec["paths"]["/exchange/v1/schemas/{message_type}"]["get"]["security"] == []
    signed = [
        (path, method, op)
        for path, method, op in operations(spec, "/exchange/v1/")
        if not path.startswith("/exchange/v1/schemas")
    ]
    assert len(signed) >= 9
    for path, method, op in signed:
        assert op["security"] == SIGNED, (method, path)
        assert "/problems/exchange-signature-invalid" in op["responses"]["401"]["description"]
        assert "429" in op["responses"], (method, path)
        assert {"Retry-After", "RateLimit-Remaining"} <= set(op["responses"]["429"]["headers"])
    # rate limited: 429 where the ledger's limiter stands in front
    assert "429" in spec["paths"]["/ledger/key"]["get"]["responses"]
    assert "RateLimit-Reset" in spec["paths"]["/ledger/key"]["get"]["responses"]["429"]["headers"]


def test_operations_document_400_404_422_where_they_can_occur(spec) -> None:
    for path, method, op in operations(spec, "/api/v1/"):
        answers = op["responses"]
        params = op.get("parameters") or []
        if params or "requestBody" in op:
            assert "400" in answers, (method, path)
        if any(p["in"] == "path" for p in params):
            assert "404" in answers, (method, path)
        # 422 everywhere: a body that fails validation, and the text boundary's refusal of a
        # control character in any path or query (a bad parameter value itself is a 400)
        assert "422" in answers, (method, path)
        assert "/problems/validation" in answers["422"]["description"], (method, path)
    users = spec["paths"]["/api/v1/users"]["post"]["responses"]
    assert "/problems/conflict" in users["409"]["description"]  # a user name in use


def test_no_operation_documents_json_for_an_error(spec) -> None:
    count = 0
    for path, method, op in operations(spec):
        for status, answer in op["responses"].items():
            if status[0] in "45" and method != "head":
                assert answer["content"] == {
                    PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
                }, (method, path, status)
                count += 1
            if method == "head":
                assert "content" not in answer, (method, path, status)
    assert count > 150
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "ValidationError" not in spec["components"]["schemas"]
    assert spec["components"]["schemas"]["ProblemDetails"]["required"] == [
        "type", "title", "status", "detail"
    ]  # fmt: skip
    schema = spec["paths"]["/exchange/v1/schemas/{message_type}"]["get"]["responses"]["200"]
    assert list(schema["content"]) == ["application/schema+json"]


def _problem_schema() -> dict[str, Any]:
    problem = dict(PROBLEM_SCHEMAS["ProblemDetails"])
    return {**problem, "components": {"schemas": PROBLEM_SCHEMAS}}


def _assert_problem(response, status: int, kind: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    jsonschema.validate(body, _problem_schema())
    assert body["type"] == kind
    return body


def test_real_errors_are_problems_as_documented(client, factory) -> None:
    _assert_problem(client.get("/api/v1/users"), 401, "/problems/unauthenticated")
    staff = factory.user(Role.INSTITUTION_STAFF)
    auth = {"Authorization": f"Bearer {factory.token(staff)}"}
    _assert_problem(client.get("/api/v1/users", headers=auth), 403, "/problems/forbidden")
    admin = {"Authorization": f"Bearer {factory.token(factory.user(Role.PLATFORM_ADMIN))}"}
    _assert_problem(client.get("/api/v1/users/999999", headers=admin), 404, "/problems/not-found")
    _assert_problem(
        client.get("/api/v1/users?limit=x", headers=admin), 400, "/problems/bad-request"
    )
    body = _assert_problem(
        client.post("/api/v1/users", json={"username": 1}, headers=admin),
        422,
        "/problems/validation",
    )
    assert {e["field"] for e in body["errors"]} >= {"body.username"}
    _assert_problem(
        client.post(
            "/api/v1/users", content=b"\xff", headers={**admin, "content-type": "application/json"}
        ),
        400,
        "/problems/bad-request",
    )


def test_a_public_route_refuses_a_token_that_is_not_valid(client) -> None:
    """Documented as 401 on public routes too: a bad token is never silently ignored."""
    assert client.get("/ledger/key").status_code == 200
    bad = {"Authorization": "Bearer jcjg_not-a-token"}
    _assert_problem(client.get("/ledger/key", headers=bad), 401, "/problems/unauthenticated")


def test_a_session_write_without_its_csrf_header_is_the_documented_403(browser_client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(browser_client, admin.username)
    body = {"name": "脚本"}
    refused = browser_client.post("/api/v1/tokens", json=body)
    _assert_problem(refused, 403, "/problems/csrf")
    headers = {"X-CSRF-Token": page_csrf(browser_client)}
    assert browser_client.post("/api/v1/tokens", json=body, headers=headers).status_code == 201


def test_requires_tells_its_contract() -> None:
    reader = Requires("user:read").openapi_contract("GET", "/api/v1/users")
    assert reader.security == ({"bearerToken": []}, {"sessionCookie": []})
    assert reader.statuses == {401: (UNAUTHENTICATED,), 403: (FORBIDDEN, PASSWORD_EXPIRED)}
    writer = Requires("user:create").openapi_contract("POST", "/api/v1/users")
    assert writer.security == ({"bearerToken": []}, {"sessionCookie": [], "csrfHeader": []})
    assert writer.statuses[403] == (FORBIDDEN, PASSWORD_EXPIRED, CSRF)
    minting = Requires("account:manage", allow_token=False, allow_expired=True)
    assert minting.openapi_contract("POST", "/api/v1/tokens") == Contract(
        security=({"sessionCookie": [], "csrfHeader": []},),
        statuses={401: (UNAUTHENTICATED,), 403: (FORBIDDEN, CSRF)},
    )
    # a token opens no page: off /api/ only the session is offered
    page = Requires("user:read").openapi_contract("GET", "/admin/users")
    assert page.security == ({"sessionCookie": []},)
    public = Requires(None).openapi_contract("GET", "/ledger/key")
    assert public.security == ()


def test_fastapis_own_422_is_replaced(settings) -> None:
    """A route with parameters only: FastAPI says 422 HTTPValidationError, the app says 400 for
    a bad value and 422 (a problem) only for what the text boundary refuses in the address."""
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/api/v1/things/{thing_id}")
    def thing(thing_id: int, q: str | None = None) -> dict[str, int]:
        return {"id": thing_id}

    spec = complete(app.openapi(), app.routes, settings)
    answers = spec["paths"]["/api/v1/things/{thing_id}"]["get"]["responses"]
    assert sorted(answers) == ["200", "400", "404", "422"]
    assert answers["422"]["content"] == {
        PROBLEM: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}
    }
    assert spec["paths"]["/api/v1/things/{thing_id}"]["get"]["security"] == []
    assert "HTTPValidationError" not in spec["components"]["schemas"]
