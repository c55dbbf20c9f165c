"""Proficiency testing in a real browser: a lab enters its results on a phone, the organiser
evaluates on a PC and the scheme's page draws its charts (scores, histograms, Youden plot)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.proficiency.models import ProficiencyResult
from tests.browser.test_sampling_flow import pc, phone, shots
from tests.proficiency.conftest import make_scheme, submit_all

pytestmark = pytest.mark.browser


def test_a_lab_submits_on_a_phone_and_the_organiser_evaluates(live_server, browser, tmp_path):
    out, url, f = shots(tmp_path), live_server.url, live_server.factory
    pt = make_scheme(f, labs=8)
    submit_all(f, pt, count=7)  # the eighth lab types its results itself
    staff = f.user(Role.INSTITUTION_STAFF, institution=pt.labs[7], username="pt_lab")
    f.user(Role.CITY_AUTHORITY, region_code="360400", username="pt_city")
    f.db.commit()
    lab_user, organiser, scheme_id = staff.username, pt.organiser.username, pt.scheme.id
    lab_id = pt.labs[7].id
    f.db.rollback()  # no read transaction of ours may hold SQLite's lock while the app writes

    context, page = phone(browser, url, lab_user)
    page.goto(f"{url}/proficiency/schemes/{scheme_id}")
    page.click("[data-testid=submit-result]")
    page.fill("[data-testid=value-A]", "498")
    page.fill("[data-testid=expanded_uncertainty-A]", "6")
    page.fill("[data-testid=value-B]", "512")
    page.screenshot(path=str(out / "proficiency-submit-phone.png"), full_page=True)
    page.click("[data-testid=result-save]")
    page.wait_for_url(f"**/proficiency/schemes/{scheme_id}?done=submitted")
    assert "结果已提交" in page.content()
    context.close()
    rows = f.db.execute(
        select(ProficiencyResult.sample, ProficiencyResult.value).where(
            ProficiencyResult.institution_id == lab_id
        )
    ).all()
    f.db.rollback()
    assert sorted(tuple(r) for r in rows) == [("A", 498.0), ("B", 512.0)]

    context, page = pc(browser, url, organiser)
    page.goto(f"{url}/proficiency/schemes/{scheme_id}")
    page.click("[data-testid=evaluate-form] button")
    page.wait_for_url(f"**/proficiency/schemes/{scheme_id}?done=evaluated")
    # ECharts drew each chart: per sample the scores and the histogram, and the Youden plot
    for chart in ("#pt-scores-A", "#pt-hist-A", "#pt-scores-B", "#pt-hist-B", "#pt-youden"):
        page.wait_for_selector(f"{chart} canvas")
    assert page.locator("[data-testid=results]").inner_text().count("行动信号") == 2
    page.screenshot(path=str(out / "proficiency-evaluated-pc.png"), full_page=True)
    context.close()
