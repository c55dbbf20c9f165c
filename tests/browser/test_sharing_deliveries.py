"""A consumer's page lists its deliveries of derived data with what each held in words
(行政处罚决定 · 公示 / 更正 · the decision's number): a table on a PC (1366 px), cards no wider
than a phone (390 px)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from jcjg.auth.choices import Role
from jcjg.governance import sharing_derived
from jcjg.governance.models import Consumer, DataSet, DataSetType, Subscription
from jcjg.penalties.models import Penalty
from tests.browser.test_sampling_flow import pc, phone, shots
from tests.penalties.helpers import make_penalty

pytestmark = pytest.mark.browser


def _deliveries(factory) -> tuple[int, list[str]]:
    """A set of published decisions, a bank subscribed to it, two decisions published and one
    of them corrected: three deliveries."""
    db = factory.db
    data_set = DataSet(
        code="penalties", name="行政处罚决定", category="信用", description="",
        message_type="penalty.decision", grade="public", status="published",
        types=[DataSetType(message_type="penalty.decision", position=0)],
    )  # fmt: skip
    consumer = Consumer(
        name="某银行信用审查系统", kind="bank", contact="李经理",
        endpoint="https://bank.example.cn/jcjg/deliveries",
    )  # fmt: skip
    db.add_all([data_set, consumer])
    db.flush()
    subscription = Subscription(
        consumer_id=consumer.id, data_set_id=data_set.id, status="active",
        masking={"persons[].id_number": "mask"}, words={},
    )  # fmt: skip
    db.add(subscription)
    decisions = [make_penalty(factory) for _ in range(2)]
    db.commit()
    assert sharing_derived.enqueue_changes(db, factory.settings) == 2
    db.execute(update(Penalty).where(Penalty.id == decisions[0].id).values(facts="更正后的事实。"))
    db.commit()
    assert sharing_derived.enqueue_changes(db, factory.settings) == 1
    return consumer.id, [d.number for d in decisions]


def test_derived_deliveries_on_the_consumers_page(live_server, browser, tmp_path):
    factory = live_server.factory
    consumer_id, numbers = _deliveries(factory)
    officer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    out = shots(tmp_path)
    url = f"{live_server.url}/governance/sharing/consumers/{consumer_id}"
    wanted = {
        f"行政处罚决定 · 公示 · {numbers[0]}",
        f"行政处罚决定 · 公示 · {numbers[1]}",
        f"行政处罚决定 · 更正 · {numbers[0]}",
    }
    context, page = pc(browser, live_server.url, officer.username, {"width": 1366, "height": 900})
    try:
        page.goto(url)
        cells = page.locator("[data-testid=delivery-content]")
        assert set(cells.all_inner_texts()) == wanted
        assert (
            page.locator("[data-testid=deliveries]").evaluate("e => getComputedStyle(e).display")
            == "table"
        )
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        page.locator("[data-testid=deliveries]").scroll_into_view_if_needed()
        page.screenshot(path=str(out / "sharing-deliveries-derived-pc.png"), full_page=True)
    finally:
        context.close()
    context, page = phone(browser, live_server.url, officer.username)
    try:
        page.goto(url)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        first = page.locator("[data-testid=deliveries] tbody tr").first
        assert first.evaluate("e => getComputedStyle(e).display") == "block"
        cell = first.locator("[data-testid=delivery-content]")
        label = cell.evaluate("e => getComputedStyle(e, '::before').content")
        assert label.strip('"') == "推送内容"
        assert cell.inner_text() in wanted
        page.screenshot(path=str(out / "sharing-deliveries-derived-phone.png"), full_page=True)
    finally:
        context.close()
