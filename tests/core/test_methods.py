"""``Allow`` on 405 and OPTIONS lists every method an address takes, over every route of the app;
HEAD is answered wherever GET is (:mod:`jcjg.core.methods`)."""

from __future__ import annotations

import re

from starlette.routing import Mount

from jcjg.core.methods import allow_header
from tests.factories import all_routes

TRIED = ("GET", "POST", "PUT", "PATCH", "DELETE")
_PARAM = re.compile(r"{([^}:]+)(?::([^}]+))?}")


def _example(path: str) -> str:
    """An address the route's path matches: ``1`` for every parameter (``x`` for a file)."""
    return _PARAM.sub(lambda m: "x.css" if m[2] == "path" else "1", path)


def _addresses(app) -> dict[str, set[str]]:
    """Each route's example address and the methods every route matching it takes (GET
    implying HEAD; OPTIONS always): what Allow must say, found without the app's code."""
    routes = all_routes(app.routes)
    addresses = {_example(getattr(r, "path_format", r.path)) for r in routes}
    out: dict[str, set[str]] = {}
    for address in addresses:
        methods: set[str] = set()
        for route in routes:
            if route.path_regex.match(address):
                methods |= {"GET", "HEAD"} if isinstance(route, Mount) else set(route.methods)
        if "GET" in methods:
            methods.add("HEAD")
        out[address] = methods | {"OPTIONS"}
    return out


def _allowed(response) -> set[str]:
    return {m.strip() for m in response.headers["allow"].split(",")}


def test_options_and_405_list_exactly_the_methods_of_every_address(client, app) -> None:
    addresses = _addresses(app)
    assert len(addresses) > 150
    refused = 0
    for address, methods in sorted(addresses.items()):
        options = client.options(address)
        assert options.status_code == 204, address
        assert _allowed(options) == methods, address
        assert options.content == b""
        other = next((m for m in TRIED if m not in methods), None)
        if other is None:
            continue
        answer = client.request(other, address)
        assert answer.status_code == 405, (other, address, answer.status_code)
        assert _allowed(answer) == methods, (other, address)
        assert answer.headers["content-type"] == "application/problem+json"
        refused += 1
    assert refused > 150


def test_one_address_of_two_routes(client) -> None:
    """/api/v1/users has a GET route and a POST route: both in Allow, whichever is first."""
    expected = {"GET", "HEAD", "POST", "OPTIONS"}
    assert _allowed(client.options("/api/v1/users")) == expected
    refused = client.delete("/api/v1/users")
    assert refused.status_code == 405
    assert refused.headers["allow"] == "GET, HEAD, POST, OPTIONS"
    assert refused.json()["type"] == "/problems/method-not-allowed"


def test_options_of_no_address_is_404(client) -> None:
    assert client.options("/api/v1/nothing-here").status_code == 404
    assert client.options("/api/v1/users").status_code == 204


def test_tus_discovery_keeps_its_own_answer_and_gets_allow(client) -> None:
    answer = client.options("/exchange/v1/uploads/")
    assert answer.status_code == 204
    assert answer.headers["tus-version"] == "1.0.0"
    assert _allowed(answer) == {"POST", "OPTIONS"}


def test_head_is_answered_wherever_get_is(client, app) -> None:
    """HEAD answers as GET does, headers and all, without the body."""
    addresses = [a for a, methods in _addresses(app).items() if "GET" in methods]
    assert len(addresses) > 100
    for address in sorted(addresses):
        get, head = client.get(address), client.head(address)
        assert head.status_code == get.status_code, address
        assert head.headers.get("content-type") == get.headers.get("content-type"), address
        assert head.content == b"", address
    healthz = client.head("/healthz")
    assert healthz.status_code == 200
    assert healthz.headers["content-length"] == str(len(client.get("/healthz").content))


def test_head_where_get_is_not_is_405(client) -> None:
    refused = client.head("/api/v1/tokens/1")  # DELETE only
    assert refused.status_code == 405
    assert _allowed(refused) == {"DELETE", "OPTIONS"}


def test_allow_lists_methods_in_the_usual_order() -> None:
    assert allow_header({"OPTIONS", "POST", "GET", "HEAD"}) == "GET, HEAD, POST, OPTIONS"
    assert allow_header({"DELETE", "PROPFIND"}) == "DELETE, PROPFIND"
