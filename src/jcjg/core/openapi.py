"""The OpenAPI document (``/api/v1/openapi.json``), completed from the routes themselves.

FastAPI writes the parameters, bodies and success answers. What it cannot see is how the app
authenticates (a dependency reading a header or a cookie) and that every error is an RFC 9457
problem (``application/problem+json``, :mod:`jcjg.core.errors`). :func:`install_openapi`
completes the document once, when it is first asked for:

- **security**: the security schemes the installed domains declare (hook
  ``openapi.security_schemes``, called with the settings: ``auth`` declares the bearer token, the
  session cookie and its CSRF header; ``exchange`` the RFC 9421 signature), and on each operation
  the alternatives it accepts. A route's dependency tells them (:class:`Contract`, through an
  ``openapi_contract(method, path)`` method: ``auth.deps.Requires``); a route that authenticates
  in its body says so itself with ``openapi_extra={"security": [...]}``; an operation nothing
  speaks for is public (``security: []``).
- **error answers**: parameters may answer 400 (the app answers a malformed address 400, see
  :mod:`jcjg.core.handlers`), path parameters 404, a request body 400 (unreadable: not UTF-8)
  and every operation 422: a body's invalid fields, and a path or query holding a character the
  text boundary refuses (FastAPI's ``HTTPValidationError`` answer is replaced: the app never
  sends it);
  dependencies add theirs
  (401/403 from ``Requires``, 429 from ``rate_limit``); a route's own ``responses`` add the rest
  (409 ...). Every 4xx and 5xx answer is ``application/problem+json`` with the ``ProblemDetails``
  schema, described by the problem types it may carry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from jcjg.config import Settings
from jcjg.core.domains import hooks
from jcjg.core.errors import BAD_REQUEST, NOT_FOUND, PROBLEM_JSON, VALIDATION, ProblemType
from jcjg.core.text import SINGLE_LINE_PATTERN, mark_text

SECURITY_SCHEMES_HOOK = "openapi.security_schemes"
PROBLEM = "ProblemDetails"
FIELD_ERROR = "FieldError"
_PROBLEM_REF = {"$ref": f"#/components/schemas/{PROBLEM}"}
# FastAPI's own validation answer, which the app never sends (it answers problem+json)
_FASTAPI_SCHEMAS = ("HTTPValidationError", "ValidationError")

# The schemas of a problem as :meth:`jcjg.core.errors.AppError.body` writes it; problem types
# may add members of their own (RFC 9457 extension members: ``change_password_url`` ...).
PROBLEM_SCHEMAS: dict[str, Any] = {
    PROBLEM: {
        "title": "ProblemDetails",
        "description": "RFC 9457 问题详情：type 稳定（其说明页为 GET {type}），"
        "title、detail 为中文；校验问题在 errors 中逐字段说明。某些问题类型另有扩展字段。",
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "问题类型，如 /problems/validation"},
            "title": {"type": "string", "description": "问题类型的中文标题"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "这一次的中文说明"},
            "instance": {"type": "string", "description": "出错的请求路径"},
            "errors": {
                "type": "array",
                "items": {"$ref": f"#/components/schemas/{FIELD_ERROR}"},
                "description": "未通过校验的字段，一项一个",
            },
        },
        "additionalProperties": True,
    },
    FIELD_ERROR: {
        "title": "FieldError",
        "type": "object",
        "required": ["field", "message", "code"],
        "properties": {
            "field": {"type": "string", "description": "位置，如 body.region_code、query.limit"},
            "message": {"type": "string", "description": "中文原因"},
            "code": {"type": "string", "description": "原因的种类，如 missing、value_error"},
        },
    },
}

SecurityRequirement = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Contract:
    """What a route's dependency adds to each operation using it: the security alternatives
    it accepts (``None``: it says nothing of security; empty: public), the statuses it may
    answer, each with the problem types it then carries, and the headers it adds to some
    (a rate limit's 429: ``Retry-After``, ``RateLimit-*``)."""

    security: Sequence[SecurityRequirement] | None = None
    statuses: Mapping[int, Sequence[ProblemType]] = field(default_factory=dict)
    headers: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)


@runtime_checkable
class Described(Protocol):
    """A dependency that tells the document what it adds to an operation."""

    def openapi_contract(self, method: str, path: str) -> Contract: ...


def contracts(dependant: Dependant, method: str, path: str) -> Iterator[Contract]:
    """The contracts of every dependency of a route (sub-dependencies too), outermost first."""
    for dep in dependant.dependencies:
        if isinstance(dep.call, Described):
            yield dep.call.openapi_contract(method, path)
        yield from contracts(dep, method, path)


def describe(kinds: Sequence[ProblemType]) -> str:
    """A response's description from the problem types it may carry (Markdown)."""
    return "\n".join(f"- {k.title}（`{k.uri}`）：{k.description}" for k in dict.fromkeys(kinds))


def answers(statuses: Mapping[int, Sequence[ProblemType]]) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=``: each status described by the problem types it may carry."""
    return {status: {"description": describe(kinds)} for status, kinds in statuses.items()}


def _statuses(operation: dict[str, Any], found: list[Contract]) -> dict[int, list[ProblemType]]:
    """The error statuses an operation may answer, with their problem types."""
    # any address may hold a character the text boundary refuses (a control in the path or in
    # a query parameter, declared or not): 422 (core.deps.AddressTextMiddleware)
    out: dict[int, list[ProblemType]] = {422: [VALIDATION]}
    parameters = operation.get("parameters") or []
    if parameters:
        out.setdefault(400, []).append(BAD_REQUEST)
    if any(p.get("in") == "path" for p in parameters):
        out.setdefault(404, []).append(NOT_FOUND)
    if "requestBody" in operation:  # a body that cannot be read at all is a bad request
        out.setdefault(400, []).append(BAD_REQUEST)
    for contract in found:
        for status, kinds in contract.statuses.items():
            out.setdefault(status, []).extend(kinds)
    return out


def _security(found: list[Contract]) -> list[dict[str, list[str]]]:
    """The first contract that speaks of security decides (public when none does)."""
    for contract in found:
        if contract.security is not None:
            return [{name: list(scopes) for name, scopes in r.items()} for r in contract.security]
    return []


def complete_operation(operation: dict[str, Any], route: Any, method: str) -> None:
    """Give one operation its security and its error answers as problems."""
    found = list(contracts(route.dependant, method, route.path_format))
    operation.setdefault("security", _security(found))
    responses: dict[str, Any] = operation.setdefault("responses", {})
    statuses = _statuses(operation, found)
    declared = {str(code) for code in route.responses}
    if "422" in responses and 422 not in statuses and "422" not in declared:
        del responses["422"]  # FastAPI's, for parameters: the app answers those 400
    for status, kinds in statuses.items():
        entry = responses.setdefault(str(status), {})
        if str(status) not in declared or not entry.get("description"):
            entry["description"] = describe(kinds)
    for contract in found:
        for status, headers in contract.headers.items():
            responses.setdefault(str(status), {}).setdefault("headers", {}).update(headers)
    primary = responses.get(str(route.status_code or 200), {}).get("content")
    for code, entry in responses.items():
        if method == "HEAD":  # no answer to HEAD has a body
            entry.pop("content", None)
        elif code[:1] in {"4", "5"} or code == "default":
            entry["content"] = {PROBLEM_JSON: {"schema": dict(_PROBLEM_REF)}}
        elif code[:1] == "2" and "content" not in entry and primary and code != "204":
            entry["content"] = primary  # another success answer, with the same body
    operation["responses"] = dict(sorted(responses.items()))


def complete(spec: dict[str, Any], routes: Sequence[Any], settings: Settings) -> dict[str, Any]:
    """``spec`` (FastAPI's document of ``routes``) completed: security and problems."""
    paths: dict[str, Any] = spec.get("paths", {})
    for route in iter_route_contexts(routes):
        if not isinstance(route.original_route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = paths.get(route.path_format or "", {}).get(method.lower())
            if operation is not None:
                complete_operation(operation, route, method)
    for item in paths.values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()) if isinstance(operation, dict) else ():
                if parameter.get("in") in {"path", "query"} and "schema" in parameter:
                    mark_text(parameter["schema"], SINGLE_LINE_PATTERN)
    components = spec.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    schemas.update(PROBLEM_SCHEMAS)
    text = json.dumps(spec["paths"])
    for name in _FASTAPI_SCHEMAS:
        if f'"#/components/schemas/{name}"' not in text:
            schemas.pop(name, None)
    components["schemas"] = dict(sorted(schemas.items()))
    schemes: dict[str, Any] = {}
    for declare in hooks(SECURITY_SCHEMES_HOOK):
        schemes.update(declare(settings))
    if schemes:
        components["securitySchemes"] = schemes
    return spec


def install_openapi(app: FastAPI, settings: Settings) -> None:
    """Serve ``app``'s document completed by :func:`complete` (built once, when first asked)."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(generate(), app.routes, settings)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
