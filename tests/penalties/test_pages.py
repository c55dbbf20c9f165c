# ruff: noqa: PT018  (a page shows several things at once; one assert per page read)
"""The penalty pages as a city authority uses them: a decision recorded through the form (a
duplicate number and a fine without an amount refused with the typing kept), its page, the
correction form (a bad correction refused, a good one logged), the register's filters."""

from __future__ import annotations

import datetime as dt

from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.penalties.models import Penalty
from jcjg.registry.models import Person
from tests.factories import login, page_csrf
from tests.penalties.helpers import make_penalty


def _form(inst, person, token, **extra) -> dict:
    today = beijing_date(utcnow())
    return {
        "csrf_token": token, "number": "浔建罚字〔2026〕第 201 号",
        "institution_id": str(inst.id), "person_ids": [str(person.id)], "basis_code": "jz57",
        "basis_article": "第三十条", "facts": "出具虚假检测报告。", "kind": "fine",
        "amount": "30000.00", "decided_on": today.isoformat(), "public_from": today.isoformat(),
        "public_until": (today + dt.timedelta(days=90)).isoformat(), "issuer": "九江市住建局",
    } | extra  # fmt: skip


def test_a_decision_is_recorded_shown_and_corrected_through_the_pages(browser_client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    inst = factory.institution(region_code="360403")
    person = Person(institution_id=inst.id, region_code=inst.region_code, name="李四",
                    id_number="360403199001011234", key_role="technical_director")  # fmt: skip
    db.add(person)
    make_penalty(factory, inst, number="浔建罚字〔2026〕第 001 号")
    db.commit()
    page = login(browser_client, city.username)
    blank = page.get("/penalties/new")
    assert blank.status_code == 200 and inst.name in blank.text and "李四" in blank.text
    # the bases offered: what applies in Jiangxi, never Guangxi's 办法 nor a draft
    assert 'value="jz57"' in blank.text
    assert 'value="002"' not in blank.text and 'value="000"' not in blank.text
    token = page_csrf(page, "/penalties/new")

    twice = page.post(
        "/penalties", data=_form(inst, person, token, number="浔建罚字〔2026〕第 001 号")
    )
    assert twice.status_code == 409 and "已登记" in twice.text
    no_amount = page.post("/penalties", data=_form(inst, person, token, amount=""))
    assert no_amount.status_code == 422 and "出具虚假检测报告。" in no_amount.text
    assert db.query(Penalty).count() == 1

    made = page.post("/penalties", data=_form(inst, person, token))
    assert made.status_code == 303, made.text[:400]
    where = made.headers["location"]
    shown = page.get(where)
    assert shown.status_code == 200
    assert "浔建罚字〔2026〕第 201 号" in shown.text and "李四" in shown.text
    assert "建设工程质量检测管理办法" in shown.text  # the basis by its title
    row = db.query(Penalty).filter_by(number="浔建罚字〔2026〕第 201 号").one()

    edit = page.get(f"/penalties/{row.id}/edit")
    assert edit.status_code == 200 and "30000.00" in edit.text
    values = _form(inst, person, token)
    for key in ("number", "institution_id"):
        values.pop(key)
    backwards = values | {
        "public_until": (beijing_date(utcnow()) - dt.timedelta(days=5)).isoformat(),
        "reason": "公示期限填写有误",
    }
    refused = page.post(f"/penalties/{row.id}", data=backwards)
    assert refused.status_code == 422
    assert "浔建罚字〔2026〕第 201 号" in refused.text  # the number stays on the form
    corrected = page.post(
        f"/penalties/{row.id}", data=values | {"amount": "25000.00", "reason": "罚款金额笔误"}
    )
    assert corrected.status_code == 303, corrected.text[:400]
    assert corrected.headers["location"].endswith("done=corrected")
    db.expire_all()
    assert str(db.get(Penalty, row.id).amount) == "25000.00"

    everything = page.get("/penalties")
    assert "第 201 号" in everything.text and "第 001 号" in everything.text
    by_number = page.get("/penalties?q=201")
    assert "第 201 号" in by_number.text and "第 001 号" not in by_number.text
    warned = page.get("/penalties?kind=warning")
    assert "第 201 号" not in warned.text
    today = beijing_date(utcnow())
    recent = page.get(f"/penalties?since={today.isoformat()}&until={today.isoformat()}")
    assert "第 201 号" in recent.text and "第 001 号" not in recent.text
    public = page.get("/penalties?public=yes")
    assert "第 201 号" in public.text


def test_another_city_cannot_open_or_correct_the_decision(browser_client, db, factory):
    inst = factory.institution(region_code="360403")
    row = make_penalty(factory, inst)
    db.commit()
    stranger = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    page = login(browser_client, stranger.username)
    assert page.get(f"/penalties/{row.id}").status_code == 404
    assert page.get(f"/penalties/{row.id}/edit").status_code == 404
    token = page_csrf(page, "/penalties")
    tried = page.post(
        f"/penalties/{row.id}", data={"csrf_token": token, "facts": "改", "reason": "x"}
    )
    assert tried.status_code == 404
    db.expire_all()
    assert db.get(Penalty, row.id).facts == "出具虚假检测报告。"
