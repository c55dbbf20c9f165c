from tests.factories import login, page_csrf


def test_login_and_home(client, factory):
    user = factory.user()
    login(client, user.username)
    page = client.get("/", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "您好" in page.text
    assert page_csrf(client)


def test_no_request_asks_whether_opentelemetry_was_configured(client, monkeypatch):
    """The platform is watched through its own /metrics: FastAPI's native OpenTelemetry is
    off, so no request asks whether a tracer, meter or logger provider was configured (each
    request did, ~3 µs of the exchange's every message: issue 44)."""
    from opentelemetry import _logs, metrics, trace

    asked: list[str] = []
    for module, name in (
        (trace, "get_tracer_provider"),
        (metrics, "get_meter_provider"),
        (_logs, "get_logger_provider"),
    ):
        real = getattr(module, name)

        def spy(real=real, name=name):
            asked.append(name)
            return real()

        monkeypatch.setattr(module, name, spy)
    assert client.get("/login", headers={"accept": "text/html"}).status_code == 200
    assert asked == []
