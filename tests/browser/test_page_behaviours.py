"""What the templates once did with inline handlers, now done by static/js/jcjg.js from data-*
attributes (the Content-Security-Policy refuses inline code): a delete asks first
(data-confirm), choosing a lab's institution reloads the form for it (data-go), the regions'
checkbox sends its form (data-autosubmit), and the error page goes back (data-back)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from jcjg.auth.choices import Role
from jcjg.registry.models import Lab
from tests.browser.test_sampling_flow import pc

pytestmark = pytest.mark.browser


def test_confirm_go_autosubmit_and_back_without_inline_code(live_server, browser):
    f, url = live_server.factory, live_server.url
    inst = f.institution(region_code="360402", name="行为测试检测站")
    lab = Lab(
        institution_id=inst.id,
        region_code="360402",
        name="一号场所",
        address="九江市濂溪区十里大道1号",
        area_m2=Decimal(120),
    )
    f.db.add(lab)
    admin = f.user(Role.PLATFORM_ADMIN).username
    f.db.commit()
    lab_id, inst_id = lab.id, inst.id
    context, page = pc(browser, url, admin)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Security Policy" in m.text else None)

    # data-confirm: dismissed, nothing is deleted; accepted, the lab is gone
    page.goto(f"{url}/registry/labs/{lab_id}")
    asked: list[str] = []

    def dismiss(dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", dismiss)
    page.click("form[data-confirm] button[type=submit]")
    assert asked == ["确定删除？删除会记入修改记录。"]
    assert page.url == f"{url}/registry/labs/{lab_id}"
    page.once("dialog", lambda d: d.accept())
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_url(lambda u: u != f"{url}/registry/labs/{lab_id}")
    before = page.url
    assert page.goto(f"{url}/registry/labs/{lab_id}").status == 404

    # data-back: the error page's 返回上一页 goes back to where the reader was
    page.click("[data-back]")
    page.wait_for_url(before)

    # data-go: choosing the institution reloads the new lab's form for it
    page.goto(f"{url}/registry/labs/new")
    page.select_option("select[name=institution_id]", str(inst_id))
    page.wait_for_url(f"{url}/registry/labs/new?institution_id={inst_id}")

    # data-autosubmit: the regions' checkbox sends its form
    page.goto(f"{url}/regions?code=360400")
    page.check("input[name=historical]")
    page.wait_for_url("**/regions?*historical=true*")
    assert errors == []
    context.close()


def test_no_menu_page_breaks_the_policy(live_server, browser):
    """Every page of the administrator's menu loads without a script error or a refusal by
    the Content-Security-Policy (an inline style or script some code still made)."""
    from jcjg.auth.permissions import default_grants
    from jcjg.core.domains import nav_for

    f, url = live_server.factory, live_server.url
    admin = f.user(Role.PLATFORM_ADMIN).username
    f.db.commit()
    grants = default_grants()[Role.PLATFORM_ADMIN]
    hrefs = [e.href for _, group in nav_for(Role.PLATFORM_ADMIN.value, grants.__contains__)
             for e in group]  # fmt: skip
    assert len(hrefs) > 25
    context, page = pc(browser, url, admin)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if "Security Policy" in m.text else None)
    for href in hrefs:
        assert page.goto(url + href).status == 200, href
        page.wait_for_load_state("load")
        assert errors == [], href
    context.close()
