"""A panel in real browsers: the province's officer on a PC creates a review, draws and
completes it; a drawn expert on a phone lands on 我的评审, accepts, and submits scores and an
opinion; both pages fit their screens."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jcjg.experts.models import PanelMember
from jcjg.ledger import service as ledger
from tests.browser.test_sampling_flow import pc, phone, shots
from tests.experts.conftest import build_pool

pytestmark = pytest.mark.browser


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width + 1


def test_a_review_drawn_on_a_pc_and_answered_on_a_phone(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f, url = live_server.factory, live_server.url
    pool = build_pool(f)
    officer, institution_id = pool.officer.username, pool.institution.id
    accounts = {i: u.username for i, u in pool.accounts.items()}
    f.db.rollback()  # SQLite: no transaction of ours open while the server writes
    context, desk = pc(browser, url, officer)
    desk.goto(url + "/panels/new")
    desk.fill("#f-title", "九江被评审检测有限公司资质评审")
    desk.select_option("#f-institution_id", str(institution_id))
    desk.select_option("#f-specialty_0", "01")
    desk.fill("#f-count_0", "2")
    desk.click("[data-testid=panel-save]")
    desk.click("[data-testid=draw-request]")
    assert "已存证" in desk.locator("[data-testid=done]").inner_text()
    ledger.integrate(f.db)
    f.db.commit()
    desk.click("[data-testid=draw-complete]")
    assert "抽取已完成" in desk.locator("[data-testid=done]").inner_text()
    assert desk.locator("[data-testid=members] tbody tr").count() == 2
    assert desk.locator("[data-testid=inputs-1]").is_visible()
    desk.screenshot(path=str(out / "panel-pc.png"), full_page=True)
    _fits(desk, 1280)
    context.close()
    member = f.db.scalars(select(PanelMember).order_by(PanelMember.id)).first()
    member_id, username = member.id, accounts[member.expert_id]
    f.db.rollback()
    context, hand = phone(browser, url, username)
    hand.goto(url + "/my/reviews")
    hand.click(f"[data-testid=review-{member_id}]")
    hand.click("[data-testid=accept]")
    assert hand.locator("[data-testid=member-status]").inner_text() == "已接受"
    for key, value in (
        ("personnel", "22"),
        ("equipment", "20"),
        ("premises", "21"),
        ("quality_system", "19"),
    ):
        hand.fill(f"#f-{key}", value)
    hand.fill("#f-opinion", "人员与设备满足要求，建议通过。")
    hand.screenshot(path=str(out / "review-phone.png"), full_page=True)
    _fits(hand, 390)
    hand.click("[data-testid=opinion-submit]")
    assert hand.locator("[data-testid=score]").inner_text() == "82"
    hand.goto(url + "/my/expert")
    hand.screenshot(path=str(out / "profile-phone.png"), full_page=True)
    _fits(hand, 390)
    context.close()
