"""At a browser: an institution applies for data access, its authority approves, the institution
gets an HMAC key (its secret shown once) and registers an Ed25519 public key."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.exchange.models import Client, ClientKey
from tests.browser.test_sampling_flow import log_in

pytestmark = pytest.mark.browser


def _logout(page, base: str) -> None:
    page.click("[data-testid=logout]")
    page.wait_for_url(base + "/login?logged_out=1")


def _apply(page, base: str) -> str:
    """The lab's administrator applies for access from the menu; returns the client's page."""
    page.click("[data-testid=sidenav] a:has-text('数据接入')")
    page.wait_for_url(base + "/exchange/clients")
    page.click("[data-testid=apply-link]")
    page.fill("#f-name", "九江 LIMS")
    page.fill("#f-contact_name", "李工")
    page.fill("#f-contact_phone", "13812345678")
    page.fill("#f-purpose", "报送人员与设备")
    page.click("[data-testid=apply-form] button[type=submit]")
    page.wait_for_url("**/exchange/clients/*?done=applied")
    assert "待审批" in page.locator("[data-testid=status]").inner_text()
    assert "138****5678" in page.locator("[data-testid=client-facts]").inner_text()
    return page.url.split("?")[0]


def _approve(page, client_url: str) -> None:
    """The city authority approves, after a rejection without its reason is refused."""
    page.goto(client_url)
    page.click("[data-testid=decision] button[value=reject]")
    assert "驳回时须填写理由" in page.locator("[data-testid=decision]").inner_text()
    page.click("[data-testid=decision] button[value=approve]")
    page.wait_for_url("**?done=approved")
    assert "已开通" in page.locator("[data-testid=status]").inner_text()


def _issue_keys(page, client_url: str, out) -> tuple[str, bytes]:
    """An HMAC secret shown once, then an Ed25519 public key registered; returns the
    secret and the public key's raw bytes."""
    page.goto(client_url)
    page.check("[data-testid=issue-form] input[value=hmac-sha256]")
    page.click("[data-testid=issue-form] button[type=submit]")
    secret = page.locator("[data-testid=secret]").inner_text()
    assert len(base64.b64decode(secret)) == 32
    page.screenshot(path=str(out / "secret.png"), full_page=True)
    page.goto(client_url)
    assert secret not in page.content()  # never shown again

    private = Ed25519PrivateKey.generate()
    raw = private.public_key().public_bytes_raw()
    page.fill("#issue-public_key", base64.b64encode(raw).decode())
    page.click("[data-testid=issue-form] button[type=submit]")
    key_id = page.locator("[data-testid=issued-key] code").first.inner_text()
    page.goto(client_url)
    assert key_id in page.locator("[data-testid=keys-table]").inner_text()
    page.screenshot(path=str(out / "client.png"), full_page=True)
    return key_id, raw


def test_apply_approve_and_get_keys(live_server, browser, tmp_path):
    base, f = live_server.url, live_server.factory
    inst = f.institution(region_code="360403", name="九江接入测试检测站")
    f.db.commit()
    lab_admin = f.user(Role.INSTITUTION_ADMIN, institution=inst, username="lab_admin_x")
    f.user(Role.CITY_AUTHORITY, region_code="360400", username="city_x")
    page = browser.new_page(locale="zh-CN", viewport={"width": 1280, "height": 900})

    log_in(page, base, lab_admin.username)
    client_url = _apply(page, base)
    _logout(page, base)
    log_in(page, base, "city_x")
    _approve(page, client_url)
    _logout(page, base)
    log_in(page, base, lab_admin.username)
    key_id, raw = _issue_keys(page, client_url, tmp_path)

    f.db.expire_all()
    client = f.db.scalars(select(Client).where(Client.institution_id == inst.id)).one()
    assert client.status == "active"
    keys = {
        k.alg: k for k in f.db.scalars(select(ClientKey).where(ClientKey.client_id == client.id))
    }
    assert keys["ed25519"].key_material == raw
    assert keys["ed25519"].key_id == key_id
    assert set(keys) == {"ed25519", "hmac-sha256"}
