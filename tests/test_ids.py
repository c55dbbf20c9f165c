"""Ids in addresses: one bounded type (``core.forms.Id``) on every route, and 404 beyond it.

Ids are 32-bit integers on PostgreSQL; an id beyond 2,147,483,647 bound to such a column is an
error there (a 500) while SQLite takes it. So every integer in a path is an ``Id``
(1 to 2**31 - 1), and anything else in its place (0, -1, 2**31, twenty digits, a word) names no
row: 404, as an id that does not exist would, after the caller's permission is checked.
"""

from __future__ import annotations

import re
import typing

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import BaseModel

from jcjg.auth.choices import Role
from jcjg.core.forms import ID_CHECK, MAX_ID, Id, form_id, parse_id
from jcjg.core.pagination import page_params
from tests.factories import all_routes, login, page_csrf
from tests.generic import NO_AUTH, PUBLIC, SIGNED, cases, merged

pytestmark = pytest.mark.sqlite  # the embedded default: on SQLite too (CONTRIBUTING.md)

# Integer path parameters that are not ids: positions in the log (a BIGINT, 0-based), checked
# by the ledger's own bounds and answering 400 (docs/ledger.md).
NOT_IDS = {
    ("/ledger/entries/{index}", "index"),
    ("/ledger/checkpoint/{size}/cosignatures", "size"),
}
# Integer query parameters that are not ids: paging, periods, sizes, positions in the log.
NOT_ID_QUERIES = {"offset", "limit", "page", "hours", "scale", "expired", "first", "second"}
NOT_ID_QUERIES |= {"index", "size", "count"}
BAD = ("2147483648", "0", "-1", "99999999999999999999", "abc")
ROUTES = merged("routes")
GRANTS = merged("grants")
SESSION_ONLY = frozenset().union(*(c.session_only for c in cases()))


def _params(route: APIRoute, where: str) -> typing.Iterator[typing.Any]:
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        yield from getattr(dep, f"{where}_params")
        stack.extend(dep.dependencies)


def _is_int(field: typing.Any) -> bool:
    annotation = field.field_info.annotation
    return annotation is int or int in typing.get_args(annotation)


def _is_id(field: typing.Any) -> bool:
    """Declared as ``Id`` (or ``Id | None``): its check is in the field's metadata or in the
    metadata of the optional's inner type."""
    if ID_CHECK in field.field_info.metadata:
        return True
    return any(
        ID_CHECK in getattr(arg, "__metadata__", ())
        for arg in typing.get_args(field.field_info.annotation)
    )


def _id_routes(app) -> list[tuple[str, str, list[str]]]:
    out = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        names = [
            p.name
            for p in _params(route, "path")
            if (_is_int(p) or _is_id(p)) and (route.path, p.name) not in NOT_IDS
        ]
        if names:
            for method in sorted(route.methods - {"HEAD"} or route.methods):
                out.append((method, route.path, names))
    return out


def test_every_integer_path_parameter_is_a_bounded_id(app):
    """An integer in a path or a query that is an id, declared as a plain ``int`` or bounded
    by hand, fails here: declare it ``Id`` from ``jcjg.core.forms``."""
    plain = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        for param in _params(route, "path"):
            if _is_int(param) and not _is_id(param) and (route.path, param.name) not in NOT_IDS:
                plain.append((route.path, param.name))
        for param in _params(route, "query"):
            if _is_int(param) and not _is_id(param) and param.name not in NOT_ID_QUERIES:
                plain.append((route.path, f"?{param.name}"))
    assert not plain, f"declare these as jcjg.core.forms.Id: {sorted(set(plain))}"
    assert len(_id_routes(app)) > 60  # the walk sees the routes (an empty walk passes nothing)


def _json_fields(model: type[BaseModel], prefix: str = "") -> typing.Iterator[tuple[str, object]]:
    for name, info in model.model_fields.items():
        yield prefix + name, info
        for arg in (info.annotation, *typing.get_args(info.annotation)):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                yield from _json_fields(arg, f"{prefix}{name}.")


def test_id_fields_of_json_bodies_are_bounded_ids(app):
    """A JSON body's ``*_id`` / ``*_ids`` fields are ``Id`` too (a 422 naming the field)."""
    plain = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute):
            continue
        for param in _params(route, "body"):
            model = param.field_info.annotation
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            for name, info in _json_fields(model):
                if not re.search(r"(^|_)ids?$", name.rsplit(".", 1)[-1]):
                    continue
                inner = [info.annotation, *typing.get_args(info.annotation)]
                inner += [a for t in inner for a in typing.get_args(t)]
                if ID_CHECK not in info.metadata and not any(
                    ID_CHECK in getattr(a, "__metadata__", ()) for a in inner
                ):
                    plain.append((route.path, model.__name__, name))
    assert not plain, f"declare these as jcjg.core.forms.Id: {sorted(set(plain))}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1), (" 12 ", 12), (str(MAX_ID), MAX_ID), (7, 7), ("0007", 7),
        (str(MAX_ID + 1), None), ("0", None), ("-1", None), ("+1", None), ("1.0", None),
        ("1e3", None), ("1_000", None), ("١٢", None), ("", None), ("99999999999999999999", None),
        (True, None), (1.0, None), (None, None), (0, None), (-5, None), (MAX_ID + 1, None),
    ],
)  # fmt: skip
def test_parse_id(raw, expected):
    assert form_id(raw) == expected if isinstance(raw, str) else parse_id(raw) == expected


def _sample(path: str, bad: str) -> str:
    """The route's address with ``bad`` for its ids and plausible values for the rest."""
    fills = {"kind": "people", "sha256": "0" * 64, "digest": "0" * 64, "code": "360400"}
    if "/qr." in path:
        fills["kind"] = "png"
    path = path.replace(":int}", "}")
    return re.sub(r"\{(\w+)\}", lambda m: fills.get(m.group(1), bad), path)


@pytest.fixture
def callers(app, factory):
    """Per role: a bearer token, and a logged-in browser with its CSRF token."""
    made = {}
    try:
        for role in Role:
            user = factory.user(role)
            browser = TestClient(app)
            login(browser, user.username)
            made[role] = (factory.token(user), browser, page_csrf(browser))
        yield made
    finally:
        for _, browser, _ in made.values():
            browser.close()


def _not_found(response, url: str) -> bool:
    """The not-found problem (the API, and pages under /exchange/, see ``wants_html``), or
    the not-found page."""
    if response.headers.get("content-type", "").startswith("text/html"):
        return "未找到" in response.text and not url.startswith("/api/")
    return response.json().get("type") == "/problems/not-found"


@pytest.mark.parametrize("bad", BAD)
def test_ids_out_of_range_are_404_on_every_route(app, client, callers, bad):
    """Each route with an id in its path, called with an id no row can have by the platform
    administrator (or, where the route is not theirs, by a role it is granted to): 404, a
    problem under /api, the not-found page in a browser; never a 500, never a 400 or 422."""
    failures = []
    seen = 0
    for method, path, _ in _id_routes(app):
        decision = ROUTES[(method, path)]
        if decision in (NO_AUTH, PUBLIC, SIGNED):
            role = Role.PLATFORM_ADMIN
        else:
            granted = GRANTS[decision]
            role = Role.PLATFORM_ADMIN if Role.PLATFORM_ADMIN in granted else min(granted)
        token, browser, csrf = callers[role]
        url = _sample(path, bad)
        seen += 1
        if path.startswith("/api/") and (method, path) not in SESSION_ONLY:
            response = client.request(method, url, headers={"Authorization": f"Bearer {token}"})
        else:
            html = {"accept": "text/html", "X-CSRF-Token": csrf}
            response = browser.request(method, url, headers=html, follow_redirects=False)
        if response.status_code != 404 or not _not_found(response, url):
            failures.append((role.value, method, url, response.status_code, response.text[:120]))
    assert seen > 60
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.parametrize("bad", [b for b in BAD if b != "0"])
def test_positions_in_the_log_out_of_range_are_refused_not_500(client, bad):
    """The two integer path parameters that are not ids answer 400 or 404, never a 500. (0 is
    a position like any other: the log's first entry, found when the log has one.)"""
    for method, url in (
        ("GET", f"/ledger/entries/{bad}"),
        ("POST", f"/ledger/checkpoint/{bad}/cosignatures"),
    ):
        response = client.request(method, url, content=b"")
        assert response.status_code in (400, 404), (method, url, response.text)


def test_an_id_of_the_column_range_is_looked_up(client, factory):
    """The upper bound is an id like any other: a row that does not exist, 404 as ever; and
    a JSON body's id beyond it is a 422 naming the field."""
    admin = factory.user(Role.PLATFORM_ADMIN)
    auth = {"Authorization": f"Bearer {factory.token(admin)}"}
    response = client.get(f"/api/v1/alerts/{MAX_ID}", headers=auth)
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/not-found"
    body = {
        "username": "ids-check",
        "display_name": "编号检查",
        "role": "institution_admin",
        "institution_id": MAX_ID + 1,
        "project_ids": [1, 0],
    }
    refused = client.post("/api/v1/users", json=body, headers=auth)
    assert refused.status_code == 422, refused.text
    fields = {e["field"] for e in refused.json()["errors"]}
    assert fields == {"body.institution_id", "body.project_ids.1"}
    query = client.get("/api/v1/alerts", params={"project_id": str(MAX_ID + 1)}, headers=auth)
    assert query.status_code == 400
    assert query.json()["errors"][0]["field"] == "query.project_id"


class _Body(BaseModel):
    one: Id
    many: list[Id] = []


def test_the_id_type_in_a_body():
    assert _Body.model_validate({"one": 5, "many": [" 6", 7]}).many == [6, 7]
    with pytest.raises(ValueError, match="应为编号"):
        _Body.model_validate({"one": MAX_ID + 1})
    schema = _Body.model_json_schema()["properties"]["one"]
    assert (schema["type"], schema["minimum"], schema["maximum"]) == ("integer", 1, MAX_ID)


def _list_pages(app) -> list[str]:
    """The pages paged by ``core.pagination.page_params`` (lists), without path parameters."""
    out = []
    for route in all_routes(app.routes):
        if not isinstance(route, APIRoute) or "GET" not in route.methods or "{" in route.path:
            continue
        stack = [route.dependant]
        while stack:
            dep = stack.pop()
            if dep.call is page_params:
                out.append(route.path)
                break
            stack.extend(dep.dependencies)
    return out


@pytest.mark.parametrize(
    "cursor", ["after=99999999999999999999", "before=-9999999999999999999", "after=2147483648"]
)
def test_list_cursors_beyond_their_columns_give_the_first_page(app, callers, cursor):
    """A list's keyset cursor (``?after=`` / ``?before=``) ends with the last row's id: one no
    row can have is ignored (the first page), never a 500."""
    failures = []
    pages = _list_pages(app)
    for path in pages:
        if path.startswith("/api/"):
            continue  # the API pages by offset and limit
        decision = ROUTES[("GET", path)]
        granted = GRANTS.get(decision, frozenset(Role))
        role = Role.PLATFORM_ADMIN if Role.PLATFORM_ADMIN in granted else min(granted)
        browser = callers[role][1]
        response = browser.get(f"{path}?{cursor}&page=3", headers={"accept": "text/html"})
        if response.status_code != 200:
            failures.append((role.value, path, response.status_code, response.text[:120]))
    assert len(pages) > 15
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.parametrize("bad", ["2147483648", "99999999999", "0", "x"])
def test_ids_posted_in_forms_out_of_range_are_422(browser_client, factory, bad):
    """A form's id field (the inbox's one notification, the alert list's ticked alerts) no
    row can have: the form's 422 naming the field, never a database error."""
    admin = factory.user(Role.PLATFORM_ADMIN)
    login(browser_client, admin.username)
    csrf = page_csrf(browser_client)
    for url, data in (
        ("/inbox/read", {"id": bad}),
        ("/alerts/bulk", {"alert_id": ["1", bad], "action": "confirm"}),
    ):
        response = browser_client.post(
            url, data={**data, "csrf_token": csrf}, headers={"accept": "application/json"}
        )
        assert response.status_code == 422, (url, response.text)
        assert response.json()["errors"][0]["field"] in ("id", "alert_id")
