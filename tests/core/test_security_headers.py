"""The security headers every answer carries, and Strict-Transport-Security over https only:
the request's own scheme, which uvicorn takes from ``X-Forwarded-Proto`` only when the proxy
is trusted (``--forwarded-allow-ips``; 127.0.0.1 by default)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from jcjg.main import create_app
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
