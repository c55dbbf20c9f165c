"""A client's own limit of requests a minute (issue 44 item 4): an approver raises a lab's limit
for its bulk sync on the client's page; the exchange then limits that client by its own rate,
the others by the platform's; bad figures are refused beside the field and change nothing."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.config import Settings
from jcjg.core.ratelimit import ByRate, RateLimiter
from jcjg.exchange.models import Client
from tests.exchange.conftest import Lims, make_lims
from tests.exchange.test_messages import LABS, counts, problem
from tests.factories import Factory, login, page_csrf


def _limit(db: Session, client_id: int) -> int | None:
    db.expire_all()
    row = db.get(Client, client_id)
    assert row is not None
    return row.rate_limit_per_minute


def _post(http: TestClient, client_id: int, csrf: str, value: str):
    return http.post(
        f"/exchange/clients/{client_id}/rate-limit",
        data={"csrf_token": csrf, "rate_limit_per_minute": value},
    )


@pytest.mark.sqlite
def test_an_approver_sets_a_client_s_own_limit_and_bad_figures_are_refused(
    browser_client: TestClient, db: Session, factory: Factory, lims: Lims
) -> None:
    http = browser_client
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(http, city.username)
    csrf = page_csrf(http)
    page = http.get(f"/exchange/clients/{lims.client.id}").text
    assert "每分钟 1200 次（平台默认）" in page
    assert 'data-testid="rate-limit-form"' in page
    saved = _post(http, lims.client.id, csrf, " 6000 ")
    assert saved.status_code == 303, saved.text
    assert _limit(db, lims.client.id) == 6000
    assert "每分钟 6000 次（本接入方专用）" in http.get(f"/exchange/clients/{lims.client.id}").text
    change = db.scalars(select(AuditLog).where(AuditLog.object_type == "exchange_client")).all()
    assert any("rate_limit_per_minute" in str(c.after) for c in change)
    for bad in ("abc", "0", "-5", "600001", "1.5", "１２", "9" * 40, "1" * 5000):
        refused = _post(http, lims.client.id, csrf, bad)
        assert refused.status_code == 422, bad
        assert 'id="e-rate" class="error">请填写 1 到 600000 之间的整数' in refused.text, bad
        assert _limit(db, lims.client.id) == 6000, bad
    control = _post(http, lims.client.id, csrf, "12\x00")
    assert control.status_code == 422
    assert _limit(db, lims.client.id) == 6000
    assert _post(http, lims.client.id, csrf, "").status_code == 303  # the platform's again
    assert _limit(db, lims.client.id) is None
    # not an approver: 403; another region's approver: 404
    for user, status in (
        (factory.user(Role.INSTITUTION_ADMIN, institution=lims.institution), 403),
        (factory.user(Role.CITY_AUTHORITY, region_code="360100"), 404),
    ):
        http.cookies.clear()
        login(http, user.username)
        assert _post(http, lims.client.id, page_csrf(http), "9000").status_code == status
        assert _limit(db, lims.client.id) is None


@pytest.mark.sqlite
def test_a_client_with_its_own_limit_is_limited_by_it_and_the_others_by_the_platform_s(
    client: TestClient, db: Session, settings: Settings, factory: Factory, lims: Lims
) -> None:
    state = client.app.state  # type: ignore[attr-defined]
    state.rate_limiters["exchange"] = RateLimiter(2)
    state.exchange_own_limits = ByRate(RateLimiter)
    row = db.get(Client, lims.client.id)
    assert row is not None
    row.rate_limit_per_minute = 4
    db.commit()
    for _ in range(4):
        assert lims.post_raw(client, "registry.labs", lims.message(labs=LABS)).status_code == 202
    before = counts(db)
    problem(lims.post_raw(client, "registry.labs", lims.message(labs=LABS)), 429,
            "too-many-requests")  # fmt: skip
    assert counts(db) == before
    other = make_lims(db, settings, factory)  # the platform's limit
    for _ in range(2):
        assert other.post_raw(client, "registry.labs", other.message(labs=LABS)).status_code == 202
    problem(other.post_raw(client, "registry.labs", other.message(labs=LABS)), 429,
            "too-many-requests")  # fmt: skip


def _bucket(per_minute: int, burst_seconds: float = 60.0) -> tuple[RateLimiter, list[float]]:
    """A limiter on a clock the test moves (``clock[0]``, seconds)."""
    clock = [1000.0]
    return RateLimiter(per_minute, burst_seconds=burst_seconds, clock=lambda: clock[0]), clock


@pytest.mark.sqlite
def test_every_answer_says_the_client_s_limit_and_a_429_when_to_come_back(
    client: TestClient, lims: Lims
) -> None:
    """RateLimit-Limit (the bucket), -Remaining, -Reset (seconds until full), -Policy (the rate
    a minute and the burst) on accepted and refused answers alike; the 429 is problem+json in
    Chinese with Retry-After."""
    state = client.app.state  # type: ignore[attr-defined]
    state.rate_limiters["exchange"], clock = _bucket(60, burst_seconds=3)  # 1 a second, 3 at once
    answers = [lims.post_raw(client, "registry.labs", lims.message(labs=LABS)) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert [a.headers["ratelimit-remaining"] for a in answers] == ["2", "1", "0", "0"]
    for answer in answers:
        assert answer.headers["ratelimit-limit"] == "3"
        assert answer.headers["ratelimit-policy"] == "60;w=60;burst=3"
    assert [a.headers["ratelimit-reset"] for a in answers] == ["1", "2", "3", "3"]
    refused = problem(answers[3], 429, "too-many-requests")
    assert answers[3].headers["retry-after"] == "1"
    assert refused["detail"] == "请求过于频繁，请 1 秒后再试。"
    assert answers[3].headers.get_list("ratelimit-remaining") == ["0"]  # once, not twice
    clock[0] += 1.0  # a second later: one more
    path = f"/exchange/v1/messages/registry.labs/{uuid.uuid4()}"
    status = client.get(path, headers=lims.headers("GET", path))
    assert status.status_code == 404  # counted, and says so
    assert status.headers["ratelimit-remaining"] == "0"
    assert client.get("/exchange/v1/schemas").headers.get("ratelimit-limit") is None  # unsigned


@pytest.mark.sqlite
def test_a_bulk_sync_at_the_documented_rate_is_never_refused(
    client: TestClient, settings: Settings, lims: Lims
) -> None:
    """At the platform's figures (1,200 a minute, a minute's burst): a client that has spent
    its whole burst and then sends at 20 a second gets every one through; one more at once
    is 429, and another client meanwhile is not limited."""
    state = client.app.state  # type: ignore[attr-defined]
    limiter, clock = _bucket(
        settings.exchange_rate_limit_per_minute,
        burst_seconds=settings.exchange_rate_limit_burst_seconds,
    )
    state.rate_limiters["exchange"] = limiter
    key = f"client:{lims.client.id}"
    assert limiter.capacity == 1200
    assert all(limiter.check(key) == 0 for _ in range(1200))  # the burst spent
    step = 60 / settings.exchange_rate_limit_per_minute  # 0.05 s
    for _ in range(15):
        clock[0] += step
        answer = lims.post_raw(client, "registry.labs", lims.message(labs=LABS))
        assert answer.status_code == 202, answer.text
        assert answer.headers["ratelimit-remaining"] == "0"
    problem(lims.post_raw(client, "registry.labs", lims.message(labs=LABS)), 429,
            "too-many-requests")  # fmt: skip
    assert limiter.check("client:another") == 0  # the other clients' buckets are their own


@pytest.mark.sqlite
def test_the_settings_lift_one_client_by_its_number_or_its_institution_and_its_page_comes_first(
    client: TestClient, browser_client: TestClient, db: Session, settings: Settings,
    factory: Factory, lims: Lims, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """JCJG_EXCHANGE_CLIENT_RATE_LIMITS: ``c<id>`` (as in its key ids) or the institution's
    code lifts that client; the others keep the platform's; a limit on the client's page is
    used before it; the page says where the figure comes from."""
    state = client.app.state  # type: ignore[attr-defined]
    state.rate_limiters["exchange"] = RateLimiter(1)
    state.exchange_own_limits = ByRate(RateLimiter)
    other = make_lims(db, settings, factory)
    monkeypatch.setattr(state.settings, "exchange_client_rate_limits", {f"c{lims.client.id}": 3})

    def sent(who: Lims, n: int) -> list[int]:
        return [who.post_raw(client, "registry.labs", who.message(labs=LABS)).status_code
                for _ in range(n)]  # fmt: skip

    assert sent(lims, 4) == [202, 202, 202, 429]
    assert sent(other, 2) == [202, 429]  # the platform's: 1
    monkeypatch.setattr(state.settings, "exchange_client_rate_limits", {other.institution.code: 2})
    assert sent(other, 3) == [202, 202, 429]  # by its institution's code: a bucket at 2
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, city.username)
    page = browser_client.get(f"/exchange/clients/{other.client.id}").text
    assert "每分钟 2 次（运维配置）" in page
    assert "留空为运维配置的 2 次" in page
    row = db.get(Client, other.client.id)
    assert row is not None
    row.rate_limit_per_minute = 4  # its page's figure comes first
    db.commit()
    assert (
        "每分钟 4 次（本接入方专用）"
        in browser_client.get(f"/exchange/clients/{other.client.id}").text
    )
