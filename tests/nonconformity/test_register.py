"""The nonconformity register (issue 9): a nonconforming result uploaded by a lab enters it at
once, notarised, its project's owner and the stations of its region told (an e-mail arrives
at a real SMTP server); its handling is recorded until an authority closes it; the summaries
match SQL written here; ``nonconformity_unhandled`` fires past the deadline."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.ledger.models import LedgerLeaf
from jcjg.nonconformity.models import Nonconformity
from jcjg.notify import service as notify
from jcjg.notify.channels import SmtpSender
from jcjg.notify.models import Notification
from tests.exchange.conftest import make_lims
from tests.factories import login, page_csrf
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}
LOW = (400.0, 402.0, 398.0)  # C30 cubes far below 30 MPa


@pytest.fixture
def lab(db, settings, factory):
    return make_lims(db, settings, factory)


@pytest.fixture
def site(db, factory, lab):
    project = factory.project(region_code=lab.institution.region_code, name="滨江花园二期")
    owner = factory.user(Role.PARTY_UNIT, project_ids=(project.id,), email="owner@build.example")
    station = factory.user(Role.STATION, region_code=lab.institution.region_code[:4] + "00",
                           email="station@jj.example")  # fmt: skip
    other = factory.user(Role.STATION, region_code="360100", email="nc@nc.example")
    db.commit()
    return {"project": project, "owner": owner, "station": station, "other": other}


def _post(client, lab, site, number: str, peaks=LOW, judgement="nonconforming"):
    record, _ = concrete_record(lab, number=number, peaks=peaks, judgement=judgement)
    record["project_code"] = site["project"].code
    response = lab.post(client, "test_record", record)
    assert response.status_code == 200, response.text
    return response


def test_a_nonconforming_result_enters_the_register_and_is_told(
    client,
    db,
    lab,
    site,
    mail_settings,
    smtp,
):
    _, box = smtp
    _post(client, lab, site, "JL-NC-1")
    _post(client, lab, site, "JL-OK-1", peaks=(800.0, 810.0, 795.0), judgement="conforming")
    db.expire_all()
    (item,) = db.scalars(select(Nonconformity)).all()
    assert item.found_by == "both"
    assert item.project_id == site["project"].id
    assert item.material == "混凝土立方体抗压强度"
    assert item.grade == "C30"
    assert item.status == "open"
    assert item.deadline > beijing_date(utcnow())
    assert item.values["platform_judgement"] == "nonconforming"
    leaf = db.get(LedgerLeaf, item.ledger_index)
    assert leaf.entry_type == "nonconformity:register"
    told = set(db.scalars(select(Notification.user_id).where(Notification.kind == "nonconformity")))
    assert told == {site["owner"].id, site["station"].id}
    assert item.notified == 2
    # and by e-mail, in the next digest
    sent = notify.deliver(db, mail_settings, utcnow(), email=SmtpSender(mail_settings), sms=None)
    assert sent.sent == 2
    addressed = sorted(to[0] for to, _ in box.messages)
    assert addressed == ["owner@build.example", "station@jj.example"]
    text = box.messages[0][1].get_content()
    assert "不合格结果" in text
    assert f"/nonconformities/{item.id}" in text


def test_a_project_in_another_city_is_supervised_where_it_is(
    client, browser_client, db, factory, lab, site
):
    """The lab is in Jiujiang, the project in Nanchang: Nanchang's station is told and opens
    the entry; Jiujiang's is not told but sees it too (its lab's entry); a third city's station
    does not; the lab sees it by institution."""
    project = factory.project(region_code="360102", name="南昌红谷滩项目")
    db.commit()
    record, _ = concrete_record(lab, number="JL-NC-X", peaks=LOW, judgement="nonconforming")
    record["project_code"] = project.code
    assert lab.post(client, "test_record", record).status_code == 200
    db.expire_all()
    (item,) = db.scalars(select(Nonconformity)).all()
    assert item.region_code == "360102"
    told = set(db.scalars(select(Notification.user_id).where(Notification.kind == "nonconformity")))
    assert told == {site["other"].id}  # Nanchang's station, not Jiujiang's
    elsewhere = factory.user(Role.STATION, region_code="360300")  # 萍乡
    for user, status in ((site["other"], 200), (site["station"], 200), (elsewhere, 404)):
        browser_client.cookies.clear()
        login(browser_client, user.username)
        assert browser_client.get(f"/nonconformities/{item.id}", headers=HTML).status_code == status
    browser_client.cookies.clear()
    login(
        browser_client, factory.user(Role.INSTITUTION_STAFF, institution=lab.institution).username
    )
    assert browser_client.get(f"/nonconformities/{item.id}", headers=HTML).status_code == 200


def test_handling_until_closed(client, browser_client, db, factory, lab, site):
    _post(client, lab, site, "JL-NC-2")
    item = db.scalars(select(Nonconformity)).one()
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)
    page = browser_client.get(f"/nonconformities/{item.id}", headers=HTML)
    assert page.status_code == 200
    assert 'data-status="open"' in page.text
    assert 'name="close"' not in page.text  # the institution records, an authority closes
    token = page_csrf(browser_client, f"/nonconformities/{item.id}")
    empty = browser_client.post(f"/nonconformities/{item.id}", headers=HTML,
                                data={"csrf_token": token, "handling": "", "note": ""})  # fmt: skip
    assert empty.status_code == 422
    assert "请选择处理方式" in empty.text
    closing = browser_client.post(f"/nonconformities/{item.id}", headers=HTML, data={
        "csrf_token": token, "handling": "retest", "note": "x", "close": "1"})  # fmt: skip
    assert closing.status_code == 403
    note = "双倍复检，报告 FJ-2026-0012"
    done = browser_client.post(f"/nonconformities/{item.id}", follow_redirects=False, data={
        "csrf_token": token, "handling": "retest", "note": note})  # fmt: skip
    assert done.status_code == 303
    db.expire_all()
    assert (item.status, item.handling) == ("handling", "retest")
    browser_client.cookies.clear()
    login(browser_client, site["station"].username)
    token = page_csrf(browser_client, f"/nonconformities/{item.id}")
    closed = browser_client.post(f"/nonconformities/{item.id}", follow_redirects=False, data={
        "csrf_token": token, "handling": "retest", "note": "复检合格", "close": "1"})  # fmt: skip
    assert closed.status_code == 303
    db.expire_all()
    assert item.status == "closed"
    assert item.closed_at is not None
    again = browser_client.post(f"/nonconformities/{item.id}", headers=HTML, data={
        "csrf_token": token, "handling": "retest", "note": "再来"})  # fmt: skip
    assert again.status_code == 409
    types = set(db.scalars(select(LedgerLeaf.entry_type).where(
        LedgerLeaf.entry_type.like("nonconformity:%"))))  # fmt: skip
    assert types == {"nonconformity:register", "nonconformity:handle", "nonconformity:close"}
    browser_client.cookies.clear()
    login(browser_client, site["other"].username)  # another city
    assert browser_client.get(f"/nonconformities/{item.id}", headers=HTML).status_code == 404
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert browser_client.get("/nonconformities", headers=HTML).status_code == 403


def test_summaries_match_sql(client, browser_client, db, factory, lab, site):
    for n in range(3):
        _post(client, lab, site, f"JL-NC-S{n}")
    items = db.scalars(select(Nonconformity).order_by(Nonconformity.id)).all()
    items[0].status = "closed"
    items[1].deadline = beijing_date(utcnow()) - dt.timedelta(days=1)  # overdue
    db.commit()
    login(browser_client, site["station"].username)
    page = browser_client.get("/nonconformities?by=institution", headers=HTML).text
    table = page.split('data-testid="nc-summary"', 1)[1].split("</table>", 1)[0]
    total = db.scalar(select(func.count()).select_from(Nonconformity))
    not_closed = db.scalar(select(func.count()).where(Nonconformity.status != "closed"))
    today = beijing_date(utcnow())
    overdue = db.scalar(select(func.count()).where(
        Nonconformity.status != "closed", Nonconformity.deadline < today))  # fmt: skip
    row = table.split(lab.institution.name, 1)[1].split("</tr>", 1)[0]
    cells = [c.split("<", 1)[0] for c in row.split("<td>")[1:]]
    assert cells[:2] == [str(total), str(not_closed)]
    assert f">{overdue}<" in row
    assert (total, not_closed, overdue) == (3, 2, 1)
    for by in ("region", "material", "month"):
        assert browser_client.get(f"/nonconformities?by={by}", headers=HTML).status_code == 200
    listed = browser_client.get("/nonconformities?status=open", headers=HTML).text
    assert listed.count('href="/nonconformities/') == 2
    assert browser_client.get("/nonconformities?by=bogus", headers=HTML).status_code == 400


def test_unhandled_past_the_deadline_fires(client, db, lab, site):
    _post(client, lab, site, "JL-NC-R")
    item = db.scalars(select(Nonconformity)).one()
    before = utcnow()
    run_rule(db, "nonconformity_unhandled", now=before)
    assert not db.scalars(select(Alert).where(Alert.rule_id == "nonconformity_unhandled")).all()
    later = dt.datetime.combine(item.deadline + dt.timedelta(days=2), dt.time(4), tzinfo=dt.UTC)
    run_rule(db, "nonconformity_unhandled", now=later)
    (alert,) = db.scalars(select(Alert).where(Alert.rule_id == "nonconformity_unhandled")).all()
    assert alert.subject_id == str(item.id)
    assert alert.facts["days_over"] == 2
    assert alert.project_id == site["project"].id
    item.status = "closed"
    run_rule(db, "nonconformity_unhandled", now=later)
    db.expire_all()
    assert alert.status == "closed"


@pytest.mark.parametrize(
    ("key", "label"),
    [("strength_mpa", "强度代表值（MPa）"), ("2.yield_mpa", "2 号屈服强度（MPa）"),
     ("mystery", "mystery"), ("made_up_mpa", "made up mpa")],
)  # fmt: skip
def test_value_labels(key, label):
    from jcjg.nonconformity.pages import _value_label

    assert _value_label(key) == label


def _verdict_on_page(browser_client, db, number: str) -> tuple[str, str]:
    from jcjg.testing.models import TestRecord

    record = db.scalars(select(TestRecord).where(TestRecord.number == number)).one()
    item = db.scalars(select(Nonconformity).where(Nonconformity.test_record_id == record.id)).one()
    page = browser_client.get(f"/nonconformities/{item.id}").text
    said = page.split('data-testid="nc-found-by">', 1)[1].split("<", 1)[0]
    linked = page.split('data-testid="nc-record">', 1)[1].split("</dd>", 1)[0]
    assert f'href="/testing/records/{record.id}"' in linked
    assert number in linked
    return said, page


def test_the_page_says_where_the_lab_and_the_platform_differ(
    client, browser_client, db, factory, lab, site
):
    _post(client, lab, site, "JL-DIFF", judgement="conforming")  # the platform finds it low
    _post(client, lab, site, "JL-BOTH")
    factory.user(Role.PLATFORM_ADMIN, username="verdicts")
    login(browser_client, "verdicts")
    db.expire_all()
    said, _ = _verdict_on_page(browser_client, db, "JL-DIFF")
    assert said == "机构判定合格，平台复核不合格"
    said, _ = _verdict_on_page(browser_client, db, "JL-BOTH")
    assert said == "机构判定与平台复核均不合格"
