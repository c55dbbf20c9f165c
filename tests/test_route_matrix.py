"""Every route has a permission decision, and each role gets exactly what it is granted.

Adding a route without adding it to ``ROUTES`` fails ``test_every_route_is_decided``; changing who
may do what without changing ``GRANTS`` fails ``test_grants_are_as_decided``.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from jcjg.auth.choices import Role
from jcjg.auth.deps import Requires
from jcjg.auth.permissions import default_grants, permissions
from tests.factories import all_routes, login, page_csrf

PUBLIC = "public"  # anyone, logged in or not, reaches the route
NO_AUTH = "no-auth"  # probes and the schema: no principal is even resolved
# The exchange API: no principal either (a cookie or token opens nothing), each request signed
# by a client's key (RFC 9421); only routes under SIGNED_PREFIX may be so.
SIGNED = "signed"
SIGNED_PREFIX = "/exchange/v1/"

ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): NO_AUTH,
    ("GET", "/readyz"): NO_AUTH,
    ("GET", "/api/v1/openapi.json"): NO_AUTH,
    ("GET", "/api/docs"): NO_AUTH,
    ("GET", "/problems/{slug}"): PUBLIC,
    ("GET", "/login"): PUBLIC,
    ("GET", "/ledger"): PUBLIC,
    ("GET", "/ledger/checkpoint"): PUBLIC,
    ("GET", "/ledger/key"): PUBLIC,
    ("GET", "/ledger/entries/{index}"): PUBLIC,
    ("GET", "/ledger/proof/inclusion"): PUBLIC,
    ("GET", "/ledger/proof/by-hash"): PUBLIC,
    ("GET", "/ledger/proof/consistency"): PUBLIC,
    ("POST", "/ledger/checkpoint/{size}/cosignatures"): PUBLIC,
    ("POST", "/login"): PUBLIC,
    ("GET", "/login/totp"): PUBLIC,
    ("POST", "/login/totp"): PUBLIC,
    ("POST", "/logout"): "home:view",
    ("GET", "/"): "home:view",
    ("GET", "/api/v1/me"): "home:view",
    ("GET", "/account/password"): "account:manage",
    ("POST", "/account/password"): "account:manage",
    ("GET", "/account/totp"): "account:manage",
    ("POST", "/account/totp/begin"): "account:manage",
    ("POST", "/account/totp/confirm"): "account:manage",
    ("POST", "/account/totp/disable"): "account:manage",
    ("GET", "/account/tokens"): "account:manage",
    ("POST", "/account/tokens"): "account:manage",
    ("POST", "/account/tokens/{token_id}/revoke"): "account:manage",
    ("GET", "/api/v1/tokens"): "account:manage",
    ("POST", "/api/v1/tokens"): "account:manage",
    ("DELETE", "/api/v1/tokens/{token_id}"): "account:manage",
    ("GET", "/admin/users"): "user:read",
    ("GET", "/admin/users/{user_id}"): "user:read",
    ("GET", "/api/v1/users"): "user:read",
    ("GET", "/api/v1/users/{user_id}"): "user:read",
    ("GET", "/admin/users/new"): "user:create",
    ("POST", "/admin/users"): "user:create",
    ("POST", "/api/v1/users"): "user:create",
    ("GET", "/admin/users/{user_id}/edit"): "user:update",
    ("POST", "/admin/users/{user_id}"): "user:update",
    ("POST", "/admin/users/{user_id}/lock"): "user:update",
    ("POST", "/admin/users/{user_id}/unlock"): "user:update",
    ("POST", "/admin/users/{user_id}/reset-password"): "user:update",
    ("PATCH", "/api/v1/users/{user_id}"): "user:update",
    ("POST", "/api/v1/users/{user_id}/lock"): "user:update",
    ("POST", "/api/v1/users/{user_id}/unlock"): "user:update",
    ("POST", "/admin/users/{user_id}/contact"): "personal_data:unmask",
    ("GET", "/api/v1/users/{user_id}/contact"): "personal_data:unmask",
    ("GET", "/admin/roles"): "role:read",
    ("GET", "/api/v1/roles"): "role:read",
    ("POST", "/admin/roles"): "role:update",
    ("GET", "/regions"): "region:read",
    ("GET", "/api/v1/regions"): "region:read",
    ("GET", "/api/v1/regions/{code}"): "region:read",
    ("GET", "/registry"): "institution:read",
    ("GET", "/registry/{kind}"): "institution:read",
    ("GET", "/registry/{kind}/{row_id:int}"): "institution:read",
    ("GET", "/registry/{kind}/{row_id:int}/history"): "institution:read",
    ("GET", "/registry/{kind}/export"): "institution:read",
    ("GET", "/registry/institutions/{institution_id}/licences"): "institution:read",
    ("GET", "/registry/licences/{licence_id}/file"): "institution:read",
    ("GET", "/api/v1/registry/{kind}"): "institution:read",
    ("GET", "/api/v1/registry/{kind}/fields"): "institution:read",
    ("GET", "/api/v1/registry/{kind}/{row_id:int}"): "institution:read",
    ("GET", "/registry/{kind}/new"): "institution:update",
    ("POST", "/registry/{kind}"): "institution:update",
    ("GET", "/registry/{kind}/{row_id:int}/edit"): "institution:update",
    ("POST", "/registry/{kind}/{row_id:int}"): "institution:update",
    ("POST", "/registry/{kind}/{row_id:int}/delete"): "institution:update",
    ("GET", "/registry/{kind}/import"): "institution:update",
    ("POST", "/registry/{kind}/import"): "institution:update",
    ("GET", "/registry/{kind}/template"): "institution:update",
    ("POST", "/registry/institutions/{institution_id}/licences"): "institution:update",
    ("POST", "/api/v1/registry/{kind}"): "institution:update",
    ("PATCH", "/api/v1/registry/{kind}/{row_id:int}"): "institution:update",
    ("DELETE", "/api/v1/registry/{kind}/{row_id:int}"): "institution:update",
    ("POST", "/registry/{kind}/{row_id:int}/status"): "institution:status",
    ("POST", "/api/v1/registry/{kind}/{row_id:int}/status"): "institution:status",
    ("POST", "/registry/{kind}/{row_id:int}/unmask"): "personal_data:unmask",
    ("GET", "/api/v1/registry/{kind}/{row_id:int}/personal-data"): "personal_data:unmask",
    ("GET", "/catalogue"): "catalogue:read",
    ("GET", "/api/v1/catalogue/specialties"): "catalogue:read",
    ("GET", "/api/v1/catalogue/editions"): "catalogue:read",
    ("POST", "/catalogue/specialties/{specialty_id}"): "catalogue:update",
    ("POST", "/catalogue/items/{test_item_id}/parameters"): "catalogue:update",
    ("POST", "/catalogue/parameters/{parameter_id}/required"): "catalogue:update",
    ("PATCH", "/api/v1/catalogue/specialties/{specialty_id}/requirements"): "catalogue:update",
    ("GET", "/audit"): "audit:read",
    ("GET", "/audit/{log_id}"): "audit:read",
    ("GET", "/api/v1/audit"): "audit:read",
    ("GET", "/api/v1/audit/{log_id}"): "audit:read",
    ("GET", "/admin/jobs"): "job:read",
    ("GET", "/admin/deliveries"): "notify:read",
    ("GET", "/nonconformities"): "test_record:read",
    ("GET", "/nonconformities/{item_id}"): "test_record:read",
    ("POST", "/nonconformities/{item_id}"): "test_record:read",  # and case:handle/answer
    ("GET", "/inbox"): "account:manage",
    ("POST", "/inbox/read"): "account:manage",
    ("GET", "/account/notifications"): "account:manage",
    ("POST", "/account/notifications"): "account:manage",
    ("GET", "/alerts"): "alert:read",
    ("GET", "/alerts/rules"): "alert:read",
    ("GET", "/alerts/{alert_id}"): "alert:read",
    ("POST", "/alerts/{alert_id}/case"): "alert:read",  # and the step's case:handle/answer
    ("POST", "/alerts/bulk"): "alert:read",  # and case:handle
    ("GET", "/alerts/{alert_id}/case/evidence/{sha256}"): "alert:read",
    ("POST", "/alerts/rules/{rule_id}/thresholds"): "rule:configure",
    ("GET", "/rectification-orders"): "alert:read",
    ("GET", "/rectification-orders/new"): "case:handle",
    ("POST", "/rectification-orders/new"): "case:handle",
    ("GET", "/rectification-orders/{order_id}"): "alert:read",
    ("POST", "/rectification-orders/{order_id}"): "alert:read",  # and the step's handle/answer
    ("GET", "/rectification-orders/{order_id}/evidence/{sha256}"): "alert:read",
    ("GET", "/public/rectification-orders"): PUBLIC,
    ("GET", "/public/rectification-orders/{number}"): PUBLIC,
    ("GET", "/api/v1/alerts"): "alert:read",
    ("GET", "/api/v1/alerts/{alert_id}"): "alert:read",
    ("GET", "/api/v1/rules"): "alert:read",
    ("PUT", "/api/v1/rules/{rule_id}/thresholds/{region_code}"): "rule:configure",
    ("GET", "/exchange/clients"): "exchange_client:read",
    ("GET", "/exchange/clients/{client_id}"): "exchange_client:read",
    ("GET", "/exchange/keys/{key_id}"): "exchange_client:read",
    ("GET", "/exchange/monitor"): "exchange_client:read",
    ("GET", "/exchange/clients/apply"): "exchange_client:apply",
    ("POST", "/exchange/clients/apply"): "exchange_client:apply",
    ("POST", "/exchange/clients/{client_id}/keys"): "exchange_client:apply",
    ("POST", "/exchange/clients/{client_id}/keys/rotate"): "exchange_client:apply",
    ("GET", "/exchange/clients/register"): "exchange_client:approve",
    ("POST", "/exchange/clients/register"): "exchange_client:approve",
    ("POST", "/exchange/clients/{client_id}/decision"): "exchange_client:approve",
    ("POST", "/exchange/clients/{client_id}/suspend"): "exchange_client:approve",
    ("POST", "/exchange/clients/{client_id}/resume"): "exchange_client:approve",
    ("POST", "/exchange/keys/{key_id}/revoke"): "exchange_client:approve",
    # the exchange API: its schemas and the tus discovery are public, the rest is signed
    ("GET", "/exchange/v1/schemas"): NO_AUTH,
    ("GET", "/exchange/v1/schemas/{message_type}"): NO_AUTH,
    ("OPTIONS", "/exchange/v1/uploads/"): NO_AUTH,
    ("OPTIONS", "/exchange/v1/uploads/{token}"): NO_AUTH,
    ("POST", "/exchange/v1/messages/{message_type}"): SIGNED,
    # projects (003 IV(2)-(3)) and the sampling chain
    ("GET", "/projects"): "project:read",
    ("GET", "/projects/{project_id}"): "project:read",
    ("GET", "/projects/new"): "project:create",
    ("POST", "/projects"): "project:create",
    ("GET", "/projects/{project_id}/edit"): "project:update",
    ("POST", "/projects/{project_id}/edit"): "project:update",
    ("POST", "/projects/{project_id}/members"): "project:assign",
    ("POST", "/projects/{project_id}/codes"): "sample:issue_codes",
    ("GET", "/projects/{project_id}/codes/{batch_id}.pdf"): "sample:issue_codes",
    ("GET", "/samples"): "sample:read",
    ("GET", "/samples/{code}"): "sample:read",
    ("GET", "/samples/{code}/photos/{role}"): "sample:read",
    ("GET", "/samples/{code}/witness-record.pdf"): "sample:read",
    ("GET", "/samples/{code}/witness-record.json"): "sample:read",
    ("GET", "/commissions"): "sample:read",
    ("GET", "/commissions/{commission_id}"): "sample:read",
    ("GET", "/receipt"): "sample:receive",
    ("POST", "/receipt"): "sample:receive",
    ("GET", "/testing/records"): "test_record:read",
    ("GET", "/testing/records/{record_id}"): "test_record:read",
    ("GET", "/testing/curves/{curve_id}.json"): "test_record:read",
    ("GET", "/testing/stats"): "test_record:read",
    ("GET", "/reports"): "report:read",
    ("GET", "/contracts"): "contract:read",
    ("GET", "/projects/{project_id}/archive.zip"): "archive:export",
    ("GET", "/contracts/{contract_id}"): "contract:read",
    ("GET", "/contracts/{contract_id}/contract.pdf"): "contract:read",
    ("GET", "/reports/{report_id}"): "report:read",
    ("GET", "/reports/{report_id}/qr.{kind}"): "report:read",
    ("GET", "/v/{code}"): PUBLIC,
    ("GET", "/v/{code}.json"): PUBLIC,
    ("GET", "/v/{code}/curves/{curve_id}.json"): PUBLIC,
    ("GET", "/v/{code}/samples/{sample_code}/{role}"): PUBLIC,
    ("GET", "/v/{code}/report.pdf"): PUBLIC,
    ("GET", "/testing/onsite"): "test_record:read",
    ("GET", "/testing/onsite/plans/{plan_id}"): "test_record:read",
    ("GET", "/testing/onsite/records/{record_id}"): "test_record:read",
    ("GET", "/testing/onsite/records/{record_id}/media/{digest}"): "test_record:read",
    ("GET", "/m"): "project:read",
    ("GET", "/m/projects/{project_id}"): "project:read",
    ("POST", "/m/projects/{project_id}/samples"): "sample:register",
    ("GET", "/m/keys"): "sample:seal",
    ("POST", "/m/keys"): "sample:seal",
    ("GET", "/m/samples/{code}/seal"): "sample:seal",
    ("POST", "/m/samples/{code}/seal/prepare"): "sample:seal",
    ("POST", "/m/samples/{code}/seal"): "sample:seal",
    ("GET", "/s/{code}"): PUBLIC,
    ("GET", "/w/{token}"): PUBLIC,
    ("GET", "/witness-keys/{key_id}"): PUBLIC,
    ("PUT", "/exchange/v1/blobs/{sha256}"): SIGNED,
    ("HEAD", "/exchange/v1/blobs/{sha256}"): SIGNED,
    ("POST", "/exchange/v1/uploads/"): SIGNED,
    ("HEAD", "/exchange/v1/uploads/{token}"): SIGNED,
    ("PATCH", "/exchange/v1/uploads/{token}"): SIGNED,
    ("DELETE", "/exchange/v1/uploads/{token}"): SIGNED,
}

# API routes a token may not call: minting a token needs a logged-in person.
SESSION_ONLY = {("POST", "/api/v1/tokens")}

P, A, C, S = Role.PLATFORM_ADMIN, Role.PROVINCIAL_AUTHORITY, Role.CITY_AUTHORITY, Role.STATION
IA, IS_, PU, W = Role.INSTITUTION_ADMIN, Role.INSTITUTION_STAFF, Role.PARTY_UNIT, Role.WITNESS
SA, E, AU = Role.SAMPLER, Role.EXPERT, Role.AUDITOR
EVERYONE = frozenset(Role)

# Who holds each permission by default: the product decision, spelled out.
GRANTS: dict[str, frozenset[Role]] = {
    "home:view": EVERYONE,
    "account:manage": EVERYONE,
    "region:read": EVERYONE,
    "institution:read": frozenset({P, A, C, S, IA, IS_, AU}),
    "institution:create": frozenset({P, A, C}),
    "institution:update": frozenset({P, A, C, IA}),
    "institution:status": frozenset({P, A, C}),
    "catalogue:read": EVERYONE,
    "catalogue:update": frozenset({P, A}),
    "alert:read": frozenset({P, A, C, S, IA, IS_, AU}),
    "rule:configure": frozenset({P, A}),
    "case:handle": frozenset({P, A, C, S}),
    "case:answer": frozenset({P, IA, IS_}),
    "user:read": frozenset({P, A, C, S, IA, AU}),
    "user:create": frozenset({P, A, C, IA}),
    "user:update": frozenset({P, A, C, IA}),
    "role:read": frozenset({P, AU}),
    "role:update": frozenset({P}),
    "audit:read": frozenset({P, A, C, IA, AU}),
    "personal_data:unmask": frozenset({P, A, C}),
    "job:read": frozenset({P, AU}),
    "notify:read": frozenset({P, AU}),
    "exchange_client:read": frozenset({P, A, C, IA, AU}),
    "exchange_client:apply": frozenset({P, IA}),
    "exchange_client:approve": frozenset({P, A, C}),
    "project:read": frozenset({P, A, C, S, PU, W, SA, AU}),
    "project:create": frozenset({P, A, C, S}),
    "project:update": frozenset({P, A, C, S}),
    "project:assign": frozenset({P, A, C, S}),
    "sample:read": frozenset({P, A, C, S, IA, IS_, PU, W, SA, AU}),
    "sample:issue_codes": frozenset({P, S, PU}),
    "sample:register": frozenset({P, SA}),
    "sample:seal": frozenset({P, W}),
    "sample:receive": frozenset({P, IA, IS_}),
    "test_record:read": frozenset({P, A, C, S, IA, IS_, PU, AU}),
    "report:read": frozenset({P, A, C, S, IA, IS_, PU, AU}),
    "contract:read": frozenset({P, A, C, S, IA, IS_, PU, AU}),
    "archive:export": frozenset({P, A, C, S}),
}


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


def test_every_route_is_decided(app):
    seen = {(m, p): _declared(r) for m, p, r in _routes(app)}
    undecided = sorted(set(seen) - set(ROUTES))
    assert not undecided, f"routes without a permission decision in ROUTES: {undecided}"
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


def test_roles_on_every_route(app, client, factory):
    """Every role is let through (anything but 401/403) or refused (403) as granted, on every
    route; the anonymous public gets 401. The JSON API is called with a bearer token, pages
    with a logged-in browser session and its CSRF token. Failures are collected."""
    callers = {}
    for role in Role:
        user = factory.user(role)
        browser = TestClient(app, headers={"accept": "application/json"})
        login(browser, user.username)
        callers[role] = (factory.token(user), browser, page_csrf(browser))
    failures = []
    # logging out ends the session the later page checks use: it goes last
    order = sorted(ROUTES.items(), key=lambda item: item[0] == ("POST", "/logout"))
    for (method, path), permission in order:
        if permission in (NO_AUTH, PUBLIC, SIGNED):
            continue
        url = _concrete(path)
        anonymous = client.request(method, url)
        if anonymous.status_code != 401 or not anonymous.headers["content-type"].startswith(
            "application/problem+json"
        ):
            failures.append(("anonymous", method, path, anonymous.status_code))
        for role, (token, browser, csrf) in callers.items():
            if path.startswith("/api/") and (method, path) not in SESSION_ONLY:
                response = client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            else:
                response = browser.request(
                    method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=False
                )
            allowed = role in GRANTS[permission]
            if allowed and response.status_code in (401, 403):
                failures.append(
                    (role.value, method, path, response.status_code, response.text[:200])
                )
            if not allowed and (
                response.status_code != 403 or response.json()["type"] != "/problems/forbidden"
            ):
                failures.append((role.value, method, path, response.status_code))
        if (method, path) in SESSION_ONLY or not path.startswith("/api/"):
            # a bearer token never opens a page nor mints a token
            token = callers[Role.PLATFORM_ADMIN][0]
            response = client.request(method, url, headers={"Authorization": f"Bearer {token}"})
            if response.status_code != 401:
                failures.append(("token", method, path, response.status_code))
    for _, browser, _ in callers.values():
        browser.close()
    assert not failures, "\n".join(map(str, failures))


@pytest.mark.parametrize(
    ("method", "path"), [k for k, v in ROUTES.items() if v in (NO_AUTH, PUBLIC)], ids=str
)
def test_public_routes_need_no_login(client, method, path):
    """Reachable without logging in; anonymous forms still refuse a missing CSRF token."""
    response = client.request(method, _concrete(path).replace("999999", "not-found"))
    if path == "/login/totp" and method == "GET":  # the second step needs the first
        assert response.status_code == 401
    elif path.startswith("/ledger/"):  # signed by the caller, not logged in: 400 on a bad one
        assert response.status_code not in (401, 403), (method, path)
    elif method == "POST":
        assert response.status_code == 403
        assert response.json()["type"] == "/problems/csrf"
    else:
        assert response.status_code not in (401, 403), (method, path)


def _signed_requests(factory) -> dict[tuple[str, str], tuple[str, dict[str, str], bytes]]:
    """For each signed route, an unsigned request that passes every check made before the
    signature's (content type, size, address, tus version, an existing upload)."""
    import datetime as dt
    import hashlib

    from jcjg.core.db import utcnow
    from jcjg.exchange.choices import ClientStatus
    from jcjg.exchange.clients import create_client
    from jcjg.exchange.models import Upload

    owner = create_client(
        factory.db, name="LIMS", institution=factory.institution(), status=ClientStatus.ACTIVE
    )
    upload = Upload(
        token="a1" * 16,
        client_id=owner.id,
        length=10,
        offset=0,
        metadata_={},
        expires_at=utcnow() + dt.timedelta(hours=1),
    )
    factory.db.add(upload)
    factory.db.commit()
    sha = hashlib.sha256(b"x").hexdigest()
    tus = {"Tus-Resumable": "1.0.0"}
    chunk = {**tus, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    return {
        ("POST", "/exchange/v1/messages/{message_type}"): (
            "/exchange/v1/messages/registry.staff",
            {"Content-Type": "application/json"},
            b"{}",
        ),
        ("PUT", "/exchange/v1/blobs/{sha256}"): (f"/exchange/v1/blobs/{sha}", {}, b"x"),
        ("HEAD", "/exchange/v1/blobs/{sha256}"): (f"/exchange/v1/blobs/{sha}", {}, b""),
        ("POST", "/exchange/v1/uploads/"): (
            "/exchange/v1/uploads/",
            {**tus, "Upload-Length": "10"},
            b"",
        ),
        ("HEAD", "/exchange/v1/uploads/{token}"): (
            f"/exchange/v1/uploads/{upload.token}",
            tus,
            b"",
        ),
        ("PATCH", "/exchange/v1/uploads/{token}"): (
            f"/exchange/v1/uploads/{upload.token}",
            chunk,
            b"abc",
        ),
        ("DELETE", "/exchange/v1/uploads/{token}"): (
            f"/exchange/v1/uploads/{upload.token}",
            tus,
            b"",
        ),
    }


def test_signed_routes_open_to_no_session_and_no_token(app, client, factory):
    """A signed route answers an unsigned request with 401 (signature missing), whoever's
    session cookie or bearer token comes with it: only a client's key opens it."""
    requests = _signed_requests(factory)
    assert set(requests) == {k for k, v in ROUTES.items() if v == SIGNED}, "add a request"
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
