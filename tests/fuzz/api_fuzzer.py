"""Fuzzing the JSON API from its OpenAPI document with schemathesis, in-process (ASGI).

Every operation of ``/api/v1/openapi.json`` as each of two principals (an administrator of the
region and a lab staff member, with their API tokens): stateless, positive and negative data;
and stateful, schemathesis' state machine over the document's links. The document is the app's
own; the harness only sharpens its copy (:func:`sharpened`): the registry's ``kind`` becomes
the list of kinds (a free string answers 404 to nearly everything), its create and update
become one operation per kind with that kind's fields as the body, and links go from where ids
are made or listed to where they are read (the document has none yet; another branch is
improving the document itself).

Each response goes through schemathesis' checks: no server error, a documented status, a
documented content type, a body matching the documented schema, documented headers. A failing
check is counted under its class (:func:`classify`), never raised: a run reports everything.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import given, seed
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition, Unsatisfiable
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup, ServerError
from schemathesis.core.transport import Response
from schemathesis.openapi.checks import (
    JsonSchemaError,
    UndefinedContentType,
    UndefinedStatusCode,
)
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from jcjg.generic.spec import specs
from tests.factories import all_routes
from tests.fuzz.harness import (
    SCHEMA_VIOLATION,
    SEED,
    SERVER_ERROR,
    Tally,
    World,
    describe,
    generation_settings,
    repeatable,
    server_error_class,
)

OPENAPI = "/api/v1/openapi.json"

# A tus chunk (PATCH /exchange/v1/uploads/{id}) is raw bytes: schemathesis sends them as they are
# (unsigned, such a request is refused before its body counts; the exchange fuzzer signs)
schemathesis.openapi.media_type("application/offset+octet-stream", st.binary(max_size=256))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PROBLEM_JSON = "application/problem+json"


# --- the document, sharpened for fuzzing -----------------------------------------------------


def _link(operation_id: str, parameters: dict[str, str]) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def _operation_ids(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (method.upper(), path): op["operationId"]
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "operationId" in op
    }


# Where an id flows from one operation to others: (source method, path, status, expression of
# the id) -> the operations that take it, and the name of their parameter. Paths stay those of
# the document; an entry whose operation is missing is skipped (the document changed).
_FIRST_ITEM = "$response.body#/items/0"
LINKS: list[tuple[tuple[str, str, str], str, list[tuple[str, str, str]]]] = [
    (
        ("POST", "/api/v1/users", "201"),
        "$response.body#/id",
        [
            ("GET", "/api/v1/users/{user_id}", "user_id"),
            ("PATCH", "/api/v1/users/{user_id}", "user_id"),
            ("POST", "/api/v1/users/{user_id}/lock", "user_id"),
            ("POST", "/api/v1/users/{user_id}/unlock", "user_id"),
            ("GET", "/api/v1/users/{user_id}/contact", "user_id"),
        ],
    ),
    (
        ("GET", "/api/v1/users", "200"),
        _FIRST_ITEM + "/id",
        [
            ("GET", "/api/v1/users/{user_id}", "user_id"),
            ("GET", "/api/v1/users/{user_id}/contact", "user_id"),
            ("PATCH", "/api/v1/users/{user_id}", "user_id"),
        ],
    ),
    (
        ("POST", "/api/v1/tokens", "201"),
        "$response.body#/id",
        [("DELETE", "/api/v1/tokens/{token_id}", "token_id")],
    ),
    (
        ("GET", "/api/v1/regions", "200"),
        "$response.body#/0/code",
        [("GET", "/api/v1/regions/{code}", "code")],
    ),
    (
        ("GET", "/api/v1/alerts", "200"),
        _FIRST_ITEM + "/id",
        [("GET", "/api/v1/alerts/{alert_id}", "alert_id")],
    ),
    (
        ("GET", "/api/v1/audit", "200"),
        _FIRST_ITEM + "/id",
        [("GET", "/api/v1/audit/{log_id}", "log_id")],
    ),
    (
        ("GET", "/api/v1/catalogue/specialties", "200"),
        "$response.body#/0/id",
        [("PATCH", "/api/v1/catalogue/specialties/{specialty_id}/requirements", "specialty_id")],
    ),
    (
        ("GET", "/api/v1/rules", "200"),
        "$response.body#/0/id",
        [("PUT", "/api/v1/rules/{rule_id}/thresholds/{region_code}", "rule_id")],
    ),
]
_REGISTRY_ROW = [
    ("GET", "/api/v1/registry/{kind}/{row_id}"),
    ("PATCH", "/api/v1/registry/{kind}/{row_id}"),
    ("DELETE", "/api/v1/registry/{kind}/{row_id}"),
    ("POST", "/api/v1/registry/{kind}/{row_id}/status"),
    ("GET", "/api/v1/registry/{kind}/{row_id}/personal-data"),
]


def _add_links(doc: dict[str, Any]) -> None:
    ids = _operation_ids(doc)

    def add(source: tuple[str, str, str], name: str, target: str, params: dict[str, str]) -> None:
        method, path, status = source
        op = doc["paths"].get(path, {}).get(method.lower())
        if op is None:
            return
        response = op.setdefault("responses", {}).setdefault(status, {"description": "OK"})
        response.setdefault("links", {})[name] = _link(target, params)

    for source, expression, targets in LINKS:
        for method, path, parameter in targets:
            target = ids.get((method, path))
            if target is not None:
                add(source, f"{target}-{parameter}", target, {parameter: expression})
    # A registry row's id and kind, from where it was listed to where it is read (from where
    # it was made: _registry_writes).
    for method, path in _REGISTRY_ROW:
        target = ids.get((method, path))
        if target is not None:
            params = {"kind": "$request.path.kind", "row_id": _FIRST_ITEM + "/id"}
            add(("GET", "/api/v1/registry/{kind}", "200"), target, target, params)


def _field_schema(f: Any) -> dict[str, Any]:
    """A registry field as JSON Schema (what ``FieldSpec.parse`` takes from JSON)."""
    schema: dict[str, Any]
    if f.kind == "int":
        schema = {"type": "integer"}
    elif f.kind == "decimal":
        schema = {"type": "number"}
    elif f.kind == "date":
        schema = {"type": "string", "format": "date"}
    elif f.kind == "bool":
        schema = {"type": "boolean"}
    elif f.kind == "choice" and f.choices:
        schema = {"type": "string", "enum": [c.value for c in f.choices]}
    elif f.kind == "ref":
        schema = {"type": "integer", "minimum": 1}
    elif f.kind == "multi":
        schema = {"type": "array", "items": {"type": ["integer", "string"]}, "maxItems": 5}
    elif f.kind == "pairs":
        schema = {"type": "array", "items": {"type": "object"}, "maxItems": 5}
    else:
        schema = {"type": "string"}
        if f.max_length:
            schema["maxLength"] = f.max_length
    if f.minimum is not None and schema["type"] in ("integer", "number"):
        schema["minimum"] = f.minimum
    if f.maximum is not None and schema["type"] in ("integer", "number"):
        schema["maximum"] = f.maximum
    return schema


def _registry_body(spec: Any, institutions: list[int], *, create: bool) -> dict[str, Any]:
    """A kind's fields; a new row (but an institution) names its institution, one of
    ``institutions`` (the authority's choice; a lab's own staff may leave it out)."""
    properties = {f.name: _field_schema(f) for f in spec.fields}
    required = [f.name for f in spec.fields if f.required] if create else []
    if create and not spec.is_institution:
        properties["institution_id"] = {"type": "integer", "enum": institutions}
        required.append("institution_id")
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _registry_writes(doc: dict[str, Any], institutions: list[int]) -> None:
    """The registry's create and update, also one operation per kind with that kind's fields
    as the body (the document takes any object for any kind): creates that succeed, ids that
    flow to the row's reads, updates and deletion."""
    paths = doc["paths"]
    create = paths.get("/api/v1/registry/{kind}", {}).get("post")
    update = paths.get("/api/v1/registry/{kind}/{row_id}", {}).get("patch")
    ids = _operation_ids(doc)
    for kind, spec in sorted(specs().items()):
        if create is not None:
            op = copy.deepcopy(create)
            op["operationId"] += f"_{kind}"
            op["parameters"] = [p for p in op.get("parameters", []) if p["name"] != "kind"]
            body = _registry_body(spec, institutions, create=True)
            op["requestBody"]["content"]["application/json"]["schema"] = body
            links = op["responses"].setdefault("201", {"description": "OK"}).setdefault("links", {})
            targets = [ids.get(key) for key in _REGISTRY_ROW]
            if update is not None:
                targets.append(update["operationId"] + f"_{kind}")
            for target in filter(None, targets):
                params = {"kind": kind, "row_id": "$response.body#/id"}
                if target.endswith(f"_{kind}"):
                    params = {"row_id": "$response.body#/id"}
                links[target] = _link(target, params)
            paths.setdefault(f"/api/v1/registry/{kind}", {})["post"] = op
        if update is not None:
            op = copy.deepcopy(update)
            op["operationId"] += f"_{kind}"
            op["parameters"] = [p for p in op.get("parameters", []) if p["name"] != "kind"]
            body = _registry_body(spec, institutions, create=False)
            op["requestBody"]["content"]["application/json"]["schema"] = body
            paths.setdefault(f"/api/v1/registry/{kind}/{{row_id}}", {})["patch"] = op


def _narrow_kinds(doc: dict[str, Any]) -> None:
    """The registry's ``kind``: one of the kinds (the document says any string)."""
    kinds = sorted(specs())
    for path, item in doc["paths"].items():
        if not path.startswith("/api/v1/registry/{kind}"):
            continue
        for op in item.values():
            for parameter in op.get("parameters", []) if isinstance(op, dict) else []:
                if parameter.get("name") == "kind" and parameter.get("in") == "path":
                    parameter["schema"] = {"type": "string", "enum": kinds}


def sharpened(doc: dict[str, Any], institutions: list[int]) -> dict[str, Any]:
    """The app's document with the harness's additions (the app's own stays as it is);
    ``institutions``: the ids a new registry row may name."""
    doc = copy.deepcopy(doc)
    _narrow_kinds(doc)
    _registry_writes(doc, institutions)
    _add_links(doc)
    return doc


def load_schema(world: World) -> OpenApiSchema:
    """The app's OpenAPI document as the app serves it, sharpened, sent to in-process."""
    with TestClient(world.app.app) as http:  # type: ignore[arg-type]
        answer = http.get(OPENAPI)
    assert answer.status_code == 200, answer.text[:300]
    schema = schemathesis.openapi.from_dict(sharpened(answer.json(), world.institutions))
    schema.app = world.app
    schema.location = OPENAPI
    return schema


# --- one call: send, check, count ------------------------------------------------------------


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def guard(world: World, case: Case) -> None:
    """Keep the fuzzing principals usable: a case aimed at one of their accounts, their
    tokens or the staff member's institution (its status) is aimed at another account, token
    or institution instead."""
    params = case.path_parameters
    if params is None:
        return
    if params.get("user_id") in world.users.values():
        params["user_id"] = world.other_user
    if params.get("token_id") in world.token_ids:
        params["token_id"] = max(world.token_ids) + 10**6
    if params.get("kind") == "institutions" and params.get("row_id") == world.own_institution:
        params["row_id"] = world.own_institution + 10**6


def _failures(error: BaseException) -> list[Failure]:
    if isinstance(error, FailureGroup):
        return [f for f in error.exceptions if isinstance(f, Failure)]
    if isinstance(error, Failure):
        return [error]
    raise error


def classify(case: Case, response: Response, failure: Failure) -> tuple[str, str]:
    """A failed check's class and kind (server error or schema violation)."""
    label = f"{case.method.upper()} {case.path}"
    status = response.status_code
    media = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    if isinstance(failure, ServerError):
        return "5xx:unknown", SERVER_ERROR
    if isinstance(failure, UndefinedStatusCode):
        return "openapi-undocumented-status", SCHEMA_VIOLATION
    if isinstance(failure, UndefinedContentType):
        if media == PROBLEM_JSON:
            return "openapi-problem-media-type", SCHEMA_VIOLATION
        return f"openapi-content-type:{label}", SCHEMA_VIOLATION
    if isinstance(failure, JsonSchemaError):
        if status >= 400:
            return "openapi-error-body", SCHEMA_VIOLATION
        return f"response-schema:{label}", SCHEMA_VIOLATION
    return f"{type(failure).__name__}:{label}", SCHEMA_VIOLATION


def reproducer(case: Case, role: str, response: Response, detail: str = "") -> str:
    curl = case.as_curl_command(headers={"Authorization": f"Bearer <{role} token>"})
    lines = [f"as {role}: {curl}", f"-> {response.status_code} {response.text[:300]!r}"]
    if detail:
        lines.append(f"raised: {detail}")
    return "\n".join(lines)


def check(world: World, tally: Tally, case: Case, role: str, response: Response) -> None:
    """Count the request and what schemathesis' checks found in its answer."""
    tally.answered("api", response.status_code)
    error = world.app.take()
    if response.status_code >= 500:
        # A server error is one failure, whatever else its answer breaks.
        klass = server_error_class(error)
        tally.record(klass, SERVER_ERROR, reproducer(case, role, response, describe(error)))
        return
    try:
        case.validate_response(response, checks=CHECKS)
    except (Failure, FailureGroup) as exc:
        found = {classify(case, response, failure) for failure in _failures(exc)}
        for klass, kind in sorted(found):
            tally.record(klass, kind, reproducer(case, role, response))


def send(world: World, tally: Tally, case: Case, role: str) -> Response:
    guard(world, case)
    response = case.call(headers=_auth(world.tokens[role]))
    check(world, tally, case, role, response)
    return response


# --- stateless -------------------------------------------------------------------------------


def operations(schema: OpenApiSchema) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def fuzz_operation(
    world: World,
    tally: Tally,
    operation: Any,
    role: str,
    examples: int,
    mode: GenerationMode,
) -> None:
    """``examples`` generated cases of one operation in one mode, sent as ``role``."""

    @repeatable(examples)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        send(world, tally, case, role)

    try:
        run()
    except Unsatisfiable:  # nothing to negate: an operation without parameters or body
        assert mode is GenerationMode.NEGATIVE, operation.label


def fuzz_stateless(
    world: World, tally: Tally, schema: OpenApiSchema, roles: Iterable[str], examples: int
) -> None:
    """Every operation, as every role, with positive and negative data (half each)."""
    positive = max(1, examples // 2)
    negative = max(1, examples - positive)
    for operation in operations(schema):
        for role in roles:
            fuzz_operation(world, tally, operation, role, positive, GenerationMode.POSITIVE)
            fuzz_operation(world, tally, operation, role, negative, GenerationMode.NEGATIVE)


# --- stateful --------------------------------------------------------------------------------


STATEFUL_BATCH = 10  # scenarios per run of the state machine


def fuzz_stateful(
    world: World, tally: Tally, schema: OpenApiSchema, role: str, scenarios: int, steps: int
) -> None:
    """``scenarios`` runs of schemathesis' state machine (up to ``steps`` calls each) over the
    document's links, as ``role``: each call checked and counted like a stateless one."""
    base: Any = schema.as_state_machine()

    class Machine(base):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"headers": _auth(world.tokens[role])}

        def before_call(self, case: Case) -> None:
            guard(world, case)

        def validate_response(self, response: Response, case: Case, *a: Any, **k: Any) -> None:
            check(world, tally, case, role, response)

    # In batches, each from a seed of its own: what a step may do depends on what the app
    # answered before (an id listed, a row made), so over a long run Hypothesis may find the
    # same choices leading to other rules and stop with FlakyStrategyDefinition. That says
    # nothing of the app (every answer is checked and counted as it comes, never raised): the
    # batch ends there and the next goes on.
    for batch, start in enumerate(range(0, scenarios, STATEFUL_BATCH)):
        size = min(STATEFUL_BATCH, scenarios - start)
        try:
            run_state_machine_as_test(
                seed(SEED + batch)(Machine),
                settings=generation_settings(size, stateful_step_count=steps),
            )
        except FlakyStrategyDefinition:
            tally.interrupted += 1


# --- Allow and OPTIONS -----------------------------------------------------------------------

_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path.replace("{kind}", "people"))


def _served(app: Any) -> dict[str, set[str]]:
    """The methods the app serves at each path (documented or not: pages share some)."""
    served: dict[str, set[str]] = {}
    for route in all_routes(app.routes):
        path = re.sub(r"\{([^}:]+)(:[^}]*)?\}", r"{\1}", getattr(route, "path", ""))
        served.setdefault(path, set()).update(getattr(route, "methods", None) or ())
    return served


def probe_methods(world: World, tally: Tally, schema: OpenApiSchema, token: str) -> None:
    """Each path with a method it does not have (405 with an ``Allow`` of those it has) and
    OPTIONS (likewise): counted as one class, a known one until the document's branch lands."""
    served = _served(world.app.app)
    with TestClient(world.app, raise_server_exceptions=False) as http:  # type: ignore[arg-type]
        for path, item in schema.raw_schema["paths"].items():
            if path not in served:
                continue  # a path of the harness's (one per registry kind)
            declared = {m.upper() for m in item if m.upper() in _METHODS}
            taken = declared | served[path]  # by the document's operations or by pages
            url = _concrete(path)
            undeclared = [m for m in _METHODS if m not in taken][:1]
            for method in [*undeclared, "OPTIONS"]:
                answer = http.request(method, url, headers=_auth(token))
                tally.answered("methods", answer.status_code)
                error = world.app.take()
                repro = (
                    f"curl -X {method} -H 'Authorization: Bearer <token>' http://testserver{url}"
                    f"\n-> {answer.status_code} Allow: {answer.headers.get('allow')}"
                )
                if answer.status_code >= 500:
                    tally.record(server_error_class(error), SERVER_ERROR, repro)
                    continue
                allowed = {m.strip().upper() for m in answer.headers.get("allow", "").split(",")}
                if (answer.status_code != 405 and method != "OPTIONS") or not declared <= allowed:
                    tally.record("allow-options", SCHEMA_VIOLATION, repro)
