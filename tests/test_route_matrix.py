"""Every route has a permission decision, and each role gets exactly what it is granted.

Each domain decides its routes (``ROUTES``) and who holds its permissions (``GRANTS``) in its own
test folder (``tests/<domain>/cases.py``, see ``tests/generic.py``): adding a route without a
decision fails ``test_every_route_of_a_domain_is_decided_in_its_folder``; changing who may do what
without changing ``GRANTS`` fails ``test_grants_are_as_decided``.
"""

from __future__ import annotations

import os
import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from jcjg.auth.choices import Role
from jcjg.auth.deps import Requires
from jcjg.auth.permissions import default_grants, permissions
from tests.factories import all_routes, login, page_csrf
from tests.generic import NO_AUTH, PUBLIC, SIGNED, SIGNED_PREFIX, Routes, cases, merged, routes_of

# The app's own routes, which belong to no domain (the probes, the schema and its page).
APP_ROUTES: Routes = {
    ("GET", "/healthz"): NO_AUTH,
    ("GET", "/readyz"): NO_AUTH,
    ("GET", "/api/v1/openapi.json"): NO_AUTH,
    ("GET", "/api/docs"): NO_AUTH,
}
ROUTES: Routes = {**APP_ROUTES, **merged("routes")}
GRANTS: dict[str, frozenset[Role]] = merged("grants")
# API routes a token may not call: minting a token needs a logged-in person.
SESSION_ONLY = frozenset().union(*(c.session_only for c in cases()))


def _routes(app):
    for route in all_routes(app.routes):
        if isinstance(route, APIRoute):
            # HEAD is left out where it comes with GET, kept where it is the route's own method
            for method in sorted(route.methods - {"HEAD"} or route.methods):
                yield method, route.path, route
        elif getattr(route, "path", None) == "/api/v1/openapi.json":
            yield "GET", route.path, route


def _declared(route) -> str:
    if not isinstance(route, APIRoute):
        return NO_AUTH
    stack = [route.dependant]
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Requires):
            return dep.call.permission or PUBLIC
        stack.extend(dep.dependencies)
    return NO_AUTH


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.domain.name)
def test_every_route_of_a_domain_is_decided_in_its_folder(case):
    seen = {(m, p) for m, p, _ in routes_of(case.domain)}
    undecided = sorted(seen - set(case.routes))
    assert not undecided, f"add a permission decision to ROUTES in {case.path()}: {undecided}"
    stale = sorted(set(case.routes) - seen)
    assert not stale, f"ROUTES in {case.path()} names routes it does not have: {stale}"


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.domain.name)
def test_every_permission_of_a_domain_has_its_grants_in_its_folder(case):
    missing = sorted(set(case.domain.permissions) - set(case.grants))
    assert not missing, f"add who holds {missing} to GRANTS in {case.path()}"
    stale = sorted(set(case.grants) - set(case.domain.permissions))
    assert not stale, f"GRANTS in {case.path()} names permissions it does not declare: {stale}"


def test_every_route_is_decided(app):
    seen = {(m, p): _declared(r) for m, p, r in _routes(app)}
    undecided = sorted(set(seen) - set(ROUTES))
    assert not undecided, f"routes of no domain without a decision in APP_ROUTES: {undecided}"
    stale = sorted(set(ROUTES) - set(seen))
    assert not stale, f"ROUTES names routes that no longer exist: {stale}"
    # a signed route resolves no principal: it declares nothing, like a probe
    expected = {k: NO_AUTH if v == SIGNED else v for k, v in ROUTES.items()}
    wrong = {k: (seen[k], expected[k]) for k in seen if seen[k] != expected[k]}
    assert not wrong, f"declared vs expected permission differ: {wrong}"
    misplaced = sorted(
        k for k, v in ROUTES.items() if v == SIGNED and not k[1].startswith(SIGNED_PREFIX)
    )
    assert not misplaced, f"signed routes outside {SIGNED_PREFIX}: {misplaced}"


def test_grants_are_as_decided():
    assert set(GRANTS) == set(permissions())
    defaults = default_grants()
    for permission, roles in GRANTS.items():
        holders = {role for role in Role if permission in defaults[role]}
        assert holders == roles, permission


def _concrete(path: str) -> str:
    path = path.replace("{kind}", "people").replace(":int}", "}")
    return re.sub(r"\{code\}", "360400", re.sub(r"\{(\w+)\}", "999999", path))


# `make e2e` (JCJG_E2E=1) calls every route as every role; `make test` as a granted and a
# refused role, taken in turn route after route so that each role is tried both ways on dozens
# of routes (a tenth of the requests).
EVERY_ROLE = os.environ.get("JCJG_E2E") == "1"


def _callers_of(index: int, permission: str) -> list[Role]:
    """The roles that call route ``index`` (of permission ``permission``)."""
    if EVERY_ROLE:
        return list(Role)
    granted = [role for role in Role if role in GRANTS[permission]]
    refused = [role for role in Role if role not in GRANTS[permission]]
    return [group[index % len(group)] for group in (granted, refused) if group]


def _as_role(client, caller, role: Role, allowed: bool, method: str, path: str, url: str):
    """Call ``url`` as ``role`` (a bearer token on the API, else its logged-in session and
    CSRF token); what went wrong, if anything."""
    token, browser, csrf = caller
    if path.startswith("/api/") and (method, path) not in SESSION_ONLY:
        response = client.request(method, url, headers={"Authorization": f"Bearer {token}"})
    else:
        response = browser.request(
            method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=False
        )
    if allowed and response.status_code in (401, 403):
        return (role.value, method, path, response.status_code, response.text[:200])
    if not allowed and (
        response.status_code != 403 or response.json()["type"] != "/problems/forbidden"
    ):
        return (role.value, method, path, response.status_code)
    return None


@pytest.mark.once  # who may call what is the app's decision, the same on both databases
def test_roles_on_every_route(app, client, factory):
    """A role is let through (anything but 401/403) or refused (403) as granted, on every
    route (every role on every route in `make e2e`); the anonymous public gets 401. The JSON
    API is called with a bearer token, pages with a logged-in browser session and its CSRF
    token. Failures are collected."""
    callers = {}
    for role in Role:
        user = factory.user(role)
        browser = TestClient(app, headers={"accept": "application/json"})
        login(browser, user.username)
        callers[role] = (factory.token(user), browser, page_csrf(browser))
    failures = []
    # logging out ends the session the later page checks use: it goes last
    order = sorted(ROUTES.items(), key=lambda item: item[0] == ("POST", "/logout"))
    tried: dict[tuple[Role, bool], int] = {}
    for index, ((method, path), permission) in enumerate(order):
        if permission in (NO_AUTH, PUBLIC, SIGNED):
            continue
        url = _concrete(path)
        anonymous = client.request(method, url)
        if anonymous.status_code != 401 or not anonymous.headers["content-type"].startswith(
            "application/problem+json"
        ):
            failures.append(("anonymous", method, path, anonymous.status_code))
        for role in _callers_of(index, permission):
            allowed = role in GRANTS[permission]
            tried[role, allowed] = tried.get((role, allowed), 0) + 1
            failure = _as_role(client, callers[role], role, allowed, method, path, url)
            if failure:
                failures.append(failure)
        if (method, path) in SESSION_ONLY or not path.startswith("/api/"):
            # a bearer token never opens a page nor mints a token
            token = callers[Role.PLATFORM_ADMIN][0]
            response = client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                failures.append(("token", method, path, response.status_code))
    for _, browser, _ in callers.values():
        browser.close()
    assert not failures, "\n".join(map(str, failures))
    # every role was let through somewhere and refused somewhere (the platform's admin and
    # the auditor, who hold nearly every permission, at least let through)
    for role in Role:
        assert tried.get((role, True), 0) >= 3, role
    assert sum(1 for role in Role if tried.get((role, False), 0) >= 3) >= len(Role) - 2


@pytest.mark.parametrize(
    ("method", "path"), [k for k, v in ROUTES.items() if v in (NO_AUTH, PUBLIC)], ids=str
)
def test_public_routes_need_no_login(client, method, path):
    """Reachable without logging in; anonymous forms still refuse a missing CSRF token."""
    response = client.request(method, _concrete(path).replace("999999", "not-found"))
    if (
        path in {"/login/totp", "/login/code"} and method == "GET"
    ):  # the second step needs the first
        assert response.status_code == 401
    elif path.startswith("/ledger/"):  # signed by the caller, not logged in: 400 on a bad one
        assert response.status_code not in (401, 403), (method, path)
    elif method == "POST":
        assert response.status_code == 403
        assert response.json()["type"] == "/problems/csrf"
    else:
        assert response.status_code not in (401, 403), (method, path)


def test_signed_routes_open_to_no_session_and_no_token(app, client, factory):
    """A signed route answers an unsigned request with 401 (signature missing), whoever's
    session cookie or bearer token comes with it: only a client's key opens it."""
    requests = {}
    for case in cases():
        if case.signed_requests is not None:
            requests.update(case.signed_requests(factory))
    assert set(requests) == {k for k, v in ROUTES.items() if v == SIGNED}, "add SIGNED_REQUESTS"
    admin = factory.user(Role.PLATFORM_ADMIN)
    token = factory.token(admin)
    browser = TestClient(app, headers={"accept": "application/json"})
    login(browser, admin.username)
    csrf = page_csrf(browser)
    failures = []
    for (method, _), (url, headers, body) in sorted(requests.items()):
        for who, http, extra in (
            ("anonymous", client, {}),
            ("session", browser, {"X-CSRF-Token": csrf}),
            ("token", client, {"Authorization": f"Bearer {token}"}),
        ):
            response = http.request(method, url, headers={**headers, **extra}, content=body)
            problem = "" if method == "HEAD" else response.json().get("type")
            if response.status_code != 401 or problem not in (
                "",
                "/problems/exchange-signature-missing",
            ):
                failures.append((who, method, url, response.status_code, problem))
    browser.close()
    assert not failures, "\n".join(map(str, failures))
