"""At a browser: a city platform applies online to join the province (000 6.0.7); the provincial
authority finds the application from 平台互联, reads it on a phone as a card, and approves it on
a PC (the city's address not reachable from here, so checked another way); the city then reads
its key id from its application."""

from __future__ import annotations

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.auth.choices import Role
from jcjg.client.signing import load_key
from jcjg.ledger.note import Signer, generate_signer
from jcjg.networking import applying
from tests.browser.test_sampling_flow import pc, shots

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _no_wider_than(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_a_city_applies_and_the_province_approves_on_pc_and_phone(
    browser, live_server, tmp_path
) -> None:
    out = shots(tmp_path)
    base = live_server.url
    key = load_key("ed25519", Ed25519PrivateKey.generate())
    log_skey, log_key = generate_signer("jcjg.jdz.example.invalid/ledger")
    fields = {
        "name": "景德镇市建设工程检测监管平台",
        "region_code": "360200",
        "base_url": "https://jcjg.jdz.example.invalid",
        "log_key": log_key,
        "contact_name": "王工",
        "contact_phone": "13907981234",
        "note": "景德镇市住建局检测监管平台申请接入省平台",
    }
    with httpx.Client(timeout=10) as http:
        sent = applying.send(base, key, fields, Signer(log_skey), http=http)
    assert sent["status"] == "pending"
    username = live_server.factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username
    live_server.factory.db.commit()

    phone, page = pc(browser, base, username, viewport=PHONE)
    page.goto(base + "/network")
    page.click("[data-testid=applications-link]")
    page.wait_for_url("**/network/applications?status=pending")
    card = page.locator("[data-testid=applications-table] tbody tr").first
    assert "139****1234" in card.inner_text()
    _no_wider_than(page, PHONE["width"])
    page.screenshot(path=str(out / "network-applications-phone.png"), full_page=True)
    phone.close()

    desk, page = pc(browser, base, username, viewport={"width": 1366, "height": 900})
    page.goto(base + "/network/applications")
    page.click("text=景德镇市建设工程检测监管平台")
    assert "待审批" in page.locator("[data-testid=application-status]").inner_text()
    page.screenshot(path=str(out / "network-application-pc.png"), full_page=True)
    page.click("[data-testid=approve] button[type=submit]")  # the address cannot be reached
    assert "地址核验未通过" in page.locator("[data-testid=approve]").inner_text()
    page.screenshot(path=str(out / "network-application-check-failed-pc.png"), full_page=True)
    page.check("[data-testid=approve] input[name=skip_address_check]")
    page.click("[data-testid=approve] button[type=submit]")
    page.wait_for_url("**/network/children/*?done=approved")
    assert "已批准接入" in page.content()
    _no_wider_than(page, 1366)
    desk.close()

    with httpx.Client(timeout=10) as http:
        answer = applying.status(base, sent["reference"], key, http=http)
    assert answer["status"] == "approved"
    assert answer["key_id"]
    assert answer["upstream_url"] == base
