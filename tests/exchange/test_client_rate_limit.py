"""A client's own limit of requests a minute (issue 44 item 4): an approver raises a lab's limit
for its bulk sync on the client's page; the exchange then limits that client by its own rate,
the others by the platform's; bad figures are refused beside the field and change nothing."""

from __future__ import annotations

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
