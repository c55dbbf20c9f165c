"""The security headers every answer carries, and Strict-Transport-Security over https only:
the request's own scheme, which uvicorn takes from ``X-Forwarded-Proto`` only when the proxy
is trusted (``--forwarded-allow-ips``; 127.0.0.1 by default)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from jcjg.main import create_app
from tests.factories import login
from tests.servers import listening_socket, serving

HSTS = "strict-transport-security"


def test_every_answer_carries_the_security_headers(client) -> None:
    for path in ("/healthz", "/login", "/api/v1/users", "/api/docs", "/static/js/jcjg.js"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] == "same-origin", path
        assert headers["x-frame-options"] == "DENY", path
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert HSTS not in headers, path  # plain http
        assert headers["cross-origin-opener-policy"] == "same-origin", path
        policy = headers["permissions-policy"]
        assert "camera=(self)" in policy, path  # scanning a code, a sample's photos
        assert "geolocation=(self)" in policy, path  # a witness's place
        assert "microphone=()" in policy, path
        assert "no-store" not in headers.get("cache-control", ""), path  # nobody's answer


def test_an_accounts_answers_are_not_stored(client, db, factory) -> None:
    """Issue 40: a page or answer for one account goes into no shared cache (and the browser's
    back button after logging out shows no copy); static files are still cached."""
    user = factory.user()
    token = factory.token(user)
    api = client.get("/api/v1/users", headers={"authorization": f"Bearer {token}"})
    assert api.status_code == 200
    assert api.headers["cache-control"] == "no-store"
    login(client, user.username)
    for path in ("/", "/account/tokens"):
        page = client.get(path, headers={"accept": "text/html"})
        assert page.status_code == 200, path
        assert page.headers["cache-control"] == "no-store", path
    static = client.get("/static/js/jcjg.js")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("cache-control", "")


def test_hsts_over_https(app) -> None:
    with TestClient(app, base_url="https://testserver") as secure:
        for path in ("/healthz", "/login", "/api/v1/users"):
            assert secure.get(path).headers[HSTS] == "max-age=31536000", path


def test_hsts_can_be_switched_off(settings, engine, session_factory) -> None:
    quiet = settings.model_copy(update={"hsts_seconds": 0})
    app = create_app(quiet, engine=engine, session_factory=session_factory)
    with TestClient(app, base_url="https://testserver") as secure:
        assert HSTS not in secure.get("/healthz").headers


@pytest.mark.parametrize(
    ("trusted", "expected"), [("127.0.0.1", "max-age=31536000"), ("192.0.2.1", None)]
)
def test_behind_a_proxy_only_a_trusted_one_says_https(app, trusted, expected) -> None:
    """A live server: X-Forwarded-Proto counts from a trusted proxy, and from nobody else."""
    with serving(app, listening_socket(), forwarded_allow_ips=trusted) as url:
        forwarded = httpx.get(f"{url}/healthz", headers={"X-Forwarded-Proto": "https"})
        plain = httpx.get(f"{url}/healthz")
    assert forwarded.status_code == plain.status_code == 200
    assert forwarded.headers.get(HSTS) == expected
    assert HSTS not in plain.headers
