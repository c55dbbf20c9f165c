"""The registry through its API and pages: validation, scope, masking, import and export."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.registry.models import Lab, Person
from jcjg.tenancy.models import Institution
from tests.factories import catalogue, id_number, login, page_csrf, registry_row


def _auth(factory, user):
    return {"Authorization": f"Bearer {factory.token(user)}"}


GOOD_INSTITUTION = {
    "name": "九江市测试检测有限公司",
    "credit_code": "91350100M000100Y43",
    "region_code": "360403",
    "founded_date": "2010-05-20",
    "postcode": "332000",
    "email": "lab@example.com",
    "registered_capital": "1000.50",
    "investors": "九江建工集团:60；张某:40",
    "technical_staff_count": 45,
    "testing_area_m2": "3200",
}


def test_city_authority_registers_an_institution_with_a_platform_code(client, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    created = client.post(
        "/api/v1/registry/institutions", json=GOOD_INSTITUTION, headers=_auth(factory, city)
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["code"] == "JC360403-0001"
    assert body["investors"] == [
        {"name": "九江建工集团", "share": 60.0},
        {"name": "张某", "share": 40.0},
    ]
    assert body["registered_capital"] == "1000.50"
    second = client.post(
        "/api/v1/registry/institutions",
        json={**GOOD_INSTITUTION, "credit_code": "91360402MA3ABCDE1Q", "name": "另一家"},
        headers=_auth(factory, city),
    )
    assert second.json()["code"] == "JC360403-0002"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("credit_code", "91350100M000100Y44", "校验位"),
        ("credit_code", "91350100M00010OY43", "统一社会信用代码无效"),
        ("region_code", "36040", "6 位"),
        ("postcode", "33200", "格式不正确"),
        ("email", "not-an-email", "格式不正确"),
        ("founded_date", "2010-13-01", "日期格式"),
        ("registered_capital", "很多", "应为数字"),
        ("registered_capital", "-1", "不能小于"),
        ("technical_staff_count", "4.5", "应为整数"),
        ("investors", "甲:70；乙:40", "超过 100%"),
        ("investors", "没有比例", "格式应为"),
        ("name", "", "必填项缺失"),
        ("name", "名" * 201, "长度超出上限"),
    ],
)
def test_institution_fields_are_validated(client, db, factory, field, value, message):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    before = db.scalar(select(func.count()).select_from(Institution))
    response = client.post(
        "/api/v1/registry/institutions",
        json={**GOOD_INSTITUTION, field: value},
        headers=_auth(factory, city),
    )
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert message in errors[field]
    assert db.scalar(select(func.count()).select_from(Institution)) == before


def test_registration_scope(client, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    other_region = client.post(
        "/api/v1/registry/institutions",
        json={**GOOD_INSTITUTION, "region_code": "360102"},
        headers=_auth(factory, city),
    )
    assert other_region.status_code == 422
    assert other_region.json()["errors"][0]["field"] == "region_code"
    lab_admin = factory.user(Role.INSTITUTION_ADMIN)
    refused = client.post(
        "/api/v1/registry/institutions", json=GOOD_INSTITUTION, headers=_auth(factory, lab_admin)
    )
    assert refused.status_code == 403
    extra = client.post(
        "/api/v1/registry/institutions",
        json={**GOOD_INSTITUTION, "status": "active"},
        headers=_auth(factory, city),
    )
    assert extra.status_code == 422


def _person_body(inst, n: int = 1, **extra):
    return {
        "institution_id": inst.id,
        "name": f"李{n}",
        "id_number": id_number(n),
        "title": "intermediate",
        "years_in_testing": 5,
        "mobile": "13912345678",
        **extra,
    }


def test_person_fields_masking_and_audited_unmask(client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    headers = _auth(factory, admin)
    bad = client.post(
        "/api/v1/registry/people",
        json=_person_body(inst, id_number="360402198503120019", mobile="12345", title="大师"),
        headers=headers,
    )
    assert bad.status_code == 422
    fields = {e["field"]: e["message"] for e in bad.json()["errors"]}
    assert fields["id_number"] == "身份证号校验码不正确"
    assert "格式" in fields["mobile"]
    assert "可选" in fields["title"]

    created = client.post("/api/v1/registry/people", json=_person_body(inst), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id_number"] == "360402********" + id_number(1)[-4:]
    assert body["mobile"] == "139****5678"
    listed = client.get("/api/v1/registry/people", headers=headers).json()
    assert listed["items"][0]["id_number"].count("*") == 8

    refused = client.get(f"/api/v1/registry/people/{body['id']}/personal-data", headers=headers)
    assert refused.status_code == 403  # an institution admin has no unmask permission
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    clear = client.get(
        f"/api/v1/registry/people/{body['id']}/personal-data", headers=_auth(factory, city)
    )
    assert clear.json() == {"id_number": id_number(1), "mobile": "13912345678"}
    row = db.scalars(select(AuditLog).where(AuditLog.action == "unmask")).one()
    assert (row.username, row.object_type) == (city.username, "person")
    # the change log keeps personal data masked too
    created_row = db.scalars(
        select(AuditLog).where(AuditLog.object_type == "person", AuditLog.action == "create")
    ).one()
    assert "*" in created_row.after["id_number"]


def test_references_stay_inside_the_institution(client, factory):
    mine, theirs = factory.institution(), factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=mine)
    their_lab = registry_row(factory, "labs", theirs)
    factory.db.commit()
    response = client.post(
        "/api/v1/registry/people",
        json=_person_body(mine, lab_id=their_lab.id, specialties=[999999]),
        headers=_auth(factory, admin),
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"lab_id", "specialties"}
    into_theirs = client.post(
        "/api/v1/registry/labs",
        json={"institution_id": theirs.id, "name": "x", "address": "y", "area_m2": 10},
        headers=_auth(factory, admin),
    )
    assert into_theirs.status_code == 422
    assert into_theirs.json()["errors"][0]["field"] == "institution_id"


def test_institution_admin_sees_and_edits_only_its_own(client, factory):
    mine, theirs = factory.institution("360403"), factory.institution("360403")
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=mine)
    my_lab, their_lab = registry_row(factory, "labs", mine), registry_row(factory, "labs", theirs)
    factory.db.commit()
    headers = _auth(factory, admin)
    listed = client.get("/api/v1/registry/labs", headers=headers).json()
    assert [item["id"] for item in listed["items"]] == [my_lab.id]
    assert (
        client.patch(
            f"/api/v1/registry/labs/{my_lab.id}", json={"area_m2": "888"}, headers=headers
        ).json()["area_m2"]
        == "888.00"
    )
    assert (
        client.patch(
            f"/api/v1/registry/labs/{their_lab.id}", json={"area_m2": "1"}, headers=headers
        ).status_code
        == 404
    )
    assert (
        client.delete(f"/api/v1/registry/labs/{their_lab.id}", headers=headers).status_code == 404
    )
    staff = factory.user(Role.INSTITUTION_STAFF, institution=mine)
    assert (
        client.patch(
            f"/api/v1/registry/labs/{my_lab.id}",
            json={"area_m2": "1"},
            headers=_auth(factory, staff),
        ).status_code
        == 403
    )
    assert client.get("/api/v1/registry/labs").status_code == 401  # the public sees nothing


def test_city_sees_its_cities_institutions(client, factory):
    jiujiang, nanchang = factory.institution("360403"), factory.institution("360102")
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    items = client.get(
        "/api/v1/registry/institutions?limit=200", headers=_auth(factory, city)
    ).json()
    ids = {i["id"] for i in items["items"]}
    assert jiujiang.id in ids
    assert nanchang.id not in ids
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    items = client.get(
        "/api/v1/registry/institutions?limit=200", headers=_auth(factory, province)
    ).json()
    assert {jiujiang.id, nanchang.id} <= {i["id"] for i in items["items"]}


def test_status_is_for_authorities(client, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    url = f"/api/v1/registry/institutions/{inst.id}/status"
    assert (
        client.post(url, json={"status": "suspended"}, headers=_auth(factory, admin)).status_code
        == 403
    )
    assert (
        client.post(url, json={"status": "paused"}, headers=_auth(factory, city)).status_code == 422
    )
    done = client.post(url, json={"status": "suspended"}, headers=_auth(factory, city))
    assert done.json()["status"] == "suspended"
    assert (
        client.delete(
            f"/api/v1/registry/institutions/{inst.id}", headers=_auth(factory, city)
        ).status_code
        == 422
    )


def test_unknown_kind_is_404(client, factory):
    headers = _auth(factory, factory.user())
    assert client.get("/api/v1/registry/spaceships", headers=headers).status_code == 404


# --- pages -------------------------------------------------------------------------------------


def test_pages_create_edit_history(browser_client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    _, item, _ = catalogue(db)
    db.commit()
    login(browser_client, admin.username)
    form = browser_client.get("/registry/equipment/new")
    assert form.status_code == 200
    assert "检定/校准有效期至" in form.text
    token = page_csrf(browser_client, "/registry/equipment/new")
    bad = browser_client.post(
        "/registry/equipment",
        data={"csrf_token": token, "institution_id": inst.id, "name": "", "status": "in_use"},
    )
    assert bad.status_code == 422
    assert "必填项缺失" in bad.text
    made = browser_client.post(
        "/registry/equipment",
        data={
            "csrf_token": token,
            "institution_id": inst.id,
            "name": "万能材料试验机",
            "model": "WAW-1000B",
            "calibration_valid_until": "2027-03-31",
            "status": "in_use",
            "test_items": [str(item.id)],
        },
    )
    assert made.status_code == 303
    detail = browser_client.get(made.headers["location"])
    assert "万能材料试验机" in detail.text
    assert item.name in detail.text
    equipment_id = made.headers["location"].split("/")[3].split("?")[0]
    edited = browser_client.post(
        f"/registry/equipment/{equipment_id}",
        data={
            "csrf_token": token,
            "name": "万能材料试验机",
            "model": "WAW-2000B",
            "status": "in_use",
        },
    )
    assert edited.status_code == 303
    history = browser_client.get(f"/registry/equipment/{equipment_id}/history")
    assert "WAW-1000B" in history.text
    assert "WAW-2000B" in history.text
    assert "型号" in history.text  # the changed field by its label, not its column
    assert "<code>model</code>" not in history.text


def test_person_page_masks_until_an_audited_unmask(browser_client, db, factory):
    inst = factory.institution()
    person = registry_row(factory, "people", inst)
    person.mobile = "13700001111"
    db.commit()
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, city.username)
    page = browser_client.get(f"/registry/people/{person.id}")
    assert person.id_number not in page.text
    assert "137****1111" in page.text
    edit = browser_client.get(f"/registry/people/{person.id}/edit")
    assert person.id_number not in edit.text
    assert "13700001111" not in edit.text
    clear = browser_client.post(
        f"/registry/people/{person.id}/unmask", data={"csrf_token": page_csrf(browser_client)}
    )
    assert person.id_number in clear.text
    assert (
        db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "unmask"))
        == 1
    )


# --- import and export -------------------------------------------------------------------------


def _upload(client, kind: str, name: str, data: bytes):
    token = page_csrf(client, f"/registry/{kind}/import")
    return client.post(
        f"/registry/{kind}/import",
        data={"csrf_token": token},
        files={"file": (name, data, "application/octet-stream")},
    )


def test_export_masks_and_import_round_trip(browser_client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    specialty, _, _ = catalogue(db)
    for _ in range(3):
        lab = registry_row(factory, "labs", inst)
        lab.specialties = [specialty]
    person = registry_row(factory, "people", inst)
    db.commit()
    login(browser_client, admin.username)

    exported = browser_client.get("/registry/labs/export?format=xlsx")
    assert exported.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(exported.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "机构编号"
    assert len(rows) == 4
    # the same file imported again makes the same three labs once more
    imported = _upload(browser_client, "labs", "labs.xlsx", exported.content)
    assert imported.status_code == 200, imported.text
    assert "已导入 3 条" in imported.text
    labs = db.scalars(select(Lab).where(Lab.institution_id == inst.id)).all()
    assert len(labs) == 6
    assert sorted(lab.name for lab in labs) == sorted([lab.name for lab in labs[:3]] * 2)
    assert all(lab.specialties == [specialty] for lab in labs)

    people_csv = browser_client.get("/registry/people/export?format=csv")
    text = people_csv.content.decode("utf-8-sig")
    assert person.id_number not in text  # masked by default
    assert person.id_number[:6] + "********" in text
    refused = browser_client.get("/registry/people/export?format=csv&unmasked=true")
    assert refused.status_code == 403


def test_an_import_with_bad_rows_writes_nothing(browser_client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    db.commit()
    login(browser_client, admin.username)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["机构编号", "姓名", "身份证号", "职称等级", "从事检测工作年限"])
    writer.writerow([inst.code, "王一", id_number(11), "中级", "3"])
    writer.writerow([inst.code, "王二", "360402198503120019", "中级", "3"])  # bad check digit
    writer.writerow(["JC999999-0001", "王三", id_number(13), "中级", "3"])  # not theirs
    writer.writerow([inst.code, "王四", id_number(14), "宗师", "-2"])
    response = _upload(browser_client, "people", "people.csv", buffer.getvalue().encode("gb18030"))
    assert response.status_code == 422
    problems = response.text
    assert "身份证号校验码不正确" in problems
    assert "JC999999-0001 不存在或不在您的管辖范围内" in problems
    assert "不是允许的取值" in problems
    assert "不能小于 0" in problems
    assert (
        db.scalar(select(func.count()).select_from(Person).where(Person.institution_id == inst.id))
        == 0
    )
    wrong_header = _upload(browser_client, "people", "p.csv", "姓名,颜色\n张三,红\n".encode())
    assert "无法识别的列" in wrong_header.text
    assert "缺少必填列" in wrong_header.text
    not_a_sheet = _upload(browser_client, "people", "p.xlsx", b"not a zip")
    assert not_a_sheet.status_code == 400
    assert "无法读取 xlsx" in not_a_sheet.text
    wrong_type = _upload(browser_client, "people", "p.txt", b"x")
    assert wrong_type.status_code == 400


def test_e_licence_upload_and_download(browser_client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    db.commit()
    login(browser_client, admin.username)
    url = f"/registry/institutions/{inst.id}/licences"
    token = page_csrf(browser_client, url)
    pdf = b"%PDF-1.4\n% a certificate\n"
    done = browser_client.post(
        url,
        data={"csrf_token": token, "kind": "certificate", "number": "D136012345"},
        files={"file": ("资质证书.pdf", pdf, "application/pdf")},
    )
    assert done.status_code == 303
    page = browser_client.get(url)
    assert "D136012345" in page.text
    link = page.text.split('href="/registry/licences/')[1].split('"')[0]
    file = browser_client.get(f"/registry/licences/{link}")
    assert file.content == pdf
    wrong = browser_client.post(
        url,
        data={"csrf_token": token, "kind": "certificate", "number": "X"},
        files={"file": ("a.exe", b"MZ", "application/x-msdownload")},
    )
    assert wrong.status_code == 422
    assert "只接受 PDF" in wrong.text


@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "2101-01-01", "9999-12-31"])
def test_implausible_days_are_refused_with_the_range_named(client, db, factory, day):
    """Issue 40: a person employed from 0001-01-01 is a typing or conversion error."""
    inst = factory.institution()
    headers = _auth(factory, factory.user(Role.INSTITUTION_ADMIN, institution=inst))
    body = _person_body(inst, employed_from=day)
    refused = client.post("/api/v1/registry/people", json=body, headers=headers)
    assert refused.status_code == 422, refused.text
    fields = {e["field"]: e["message"] for e in refused.json()["errors"]}
    assert fields == {"employed_from": "日期应在 1900-01-01 至 2100-12-31 之间"}
    edge = client.post(
        "/api/v1/registry/people",
        json=_person_body(inst, employed_from="1900-01-01"),
        headers=headers,
    )
    assert edge.status_code == 201, edge.text
