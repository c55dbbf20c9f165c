"""Alerts carry their subject's kind, number and institution, in the API and on the page."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.testing.models import TestRecord
from tests.factories import login
from tests.testing.conftest import concrete_record
from tests.testing.test_rules import send


def test_an_alert_names_its_record_by_number_with_its_institution(
    client, browser_client, db, factory, lab
):
    send(client, lab, concrete_record(lab, number="SUBJ-ON-TIME", minutes_ago=5)[0])
    send(client, lab, concrete_record(lab, number="SUBJ-LATE", minutes_ago=90, seed=2)[0])
    db.expire_all()
    late = db.scalars(select(Alert).where(Alert.rule_id == "late_upload")).all()
    assert [a.subject_number for a in late] == ["SUBJ-LATE"]  # the one on time raised nothing
    record = db.scalars(select(TestRecord).where(TestRecord.number == "SUBJ-LATE")).one()

    admin = factory.user(Role.PLATFORM_ADMIN, username="subjects")
    headers = {"Authorization": f"Bearer {factory.token(admin)}"}
    listed = client.get("/api/v1/alerts", params={"rule_id": "late_upload"}, headers=headers)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    one = client.get(f"/api/v1/alerts/{item['id']}", headers=headers).json()
    for answer in (item, one):
        assert answer["subject_kind"] == "检测记录"
        assert answer["subject_number"] == "SUBJ-LATE"
        assert answer["institution"] == {
            "id": lab.institution.id,
            "name": lab.institution.name,
            "code": lab.institution.code,
        }

    login(browser_client, "subjects")
    page = browser_client.get(f"/alerts/{item['id']}").text
    subject = page.split('data-testid="alert-subject">', 1)[1].split("</dd>", 1)[0]
    assert "检测记录" in subject
    assert f'<a href="/testing/records/{record.id}">SUBJ-LATE</a>' in subject
    assert "test_record" not in subject
    institution = page.split('data-testid="alert-institution">', 1)[1].split("</dd>", 1)[0]
    assert lab.institution.name in institution
    assert lab.institution.code in institution


def test_an_alert_on_an_institution_has_no_subject_number(client, db, factory):
    institution = factory.institution()
    alert = Alert(rule_id="x_rule", key="k", severity="warning", subject_type="institution",
                  subject_id=str(institution.id), subject_repr=institution.name,
                  institution_id=institution.id, status="open")  # fmt: skip
    db.add(alert)
    db.commit()
    admin = factory.user(Role.PLATFORM_ADMIN, username="subjects2")
    headers = {"Authorization": f"Bearer {factory.token(admin)}"}
    answer = client.get(f"/api/v1/alerts/{alert.id}", headers=headers).json()
    assert answer["subject_kind"] == "检测机构"
    assert answer["subject_number"] is None
    assert answer["institution"]["code"] == institution.code
