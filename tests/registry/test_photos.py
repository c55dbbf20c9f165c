"""People's photos (000 4.1.1 item 2) and training history (4.2.4): blurred for every reader,
clear for those who check identity and then audited; uploads refused in Chinese; the exam and
certificate fields of trainings and assessments."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from PIL import Image
from sqlalchemy import func, select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.registry.models import CapabilityAssessment, Training
from tests.factories import catalogue, login, page_csrf, photo, registry_row

HTML = {"accept": "text/html"}


def _unmasks(db) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "unmask"))


def _person_with_history(db, factory):
    inst = factory.institution(region_code="360403")
    person = registry_row(factory, "people", inst)
    specialty, _item, _parameter = catalogue(db)
    base = {"institution_id": inst.id, "region_code": inst.region_code, "person_id": person.id}
    db.add_all(
        [
            Training(
                course="新标准宣贯", syllabus="第一讲\n第二讲", start_date=dt.date(2026, 3, 1),
                hours=16, exam_score=Decimal("91.5"), passed=True, certificate_no="PX-001",
                valid_until=dt.date(2029, 2, 28), **base,
            ),
            CapabilityAssessment(
                specialty_id=specialty.id, assessed_on=dt.date(2026, 4, 1), method="盲样考核",
                score=Decimal("78"), result="passed", valid_until=dt.date(2027, 3, 31), **base,
            ),
        ]
    )  # fmt: skip
    db.commit()
    return inst, person


def test_upload_then_blurred_for_staff_and_clear_for_the_station_audited(
    browser_client, db, factory
):
    inst, person = _person_with_history(db, factory)
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    staff = factory.user(Role.INSTITUTION_STAFF, institution=inst)
    station = factory.user(Role.STATION, region_code="360400")
    db.commit()
    login(browser_client, admin.username)
    page = f"/registry/people/{person.id}/profile"
    token = page_csrf(browser_client, page)
    for files, text in (
        ({}, "请拍摄或选择照片"),
        ({"photo": ("x.txt", b"not an image", "text/plain")}, ""),
    ):
        bad = browser_client.post(
            f"/registry/people/{person.id}/photo", data={"csrf_token": token}, files=files,
            headers=HTML,
        )  # fmt: skip
        assert bad.status_code == 422
        assert text in bad.text
    original = photo(7)
    done = browser_client.post(
        f"/registry/people/{person.id}/photo", data={"csrf_token": token},
        files={"photo": ("p.jpg", original, "image/jpeg")}, headers=HTML, follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303
    body = browser_client.get(page, headers=HTML).text
    for text in ("新标准宣贯", "91.5", "PX-001", "2029-02-28", "盲样考核", "合格"):
        assert text in body
    browser_client.cookies.clear()
    login(browser_client, staff.username)  # a colleague: blurred only
    body = browser_client.get(page, headers=HTML).text
    assert "已模糊处理" in body
    assert 'data-testid="photo-clear"' not in body
    blurred = browser_client.get(f"/registry/people/{person.id}/photo")
    assert blurred.status_code == 200
    assert blurred.content != original
    assert Image.open(io.BytesIO(blurred.content)).size == Image.open(io.BytesIO(original)).size
    assert browser_client.get(f"/registry/people/{person.id}/photo?clear=true").status_code == 403
    browser_client.cookies.clear()
    login(browser_client, station.username)  # checks identity on site: clear, audited
    body = browser_client.get(page, headers=HTML).text
    assert 'data-testid="photo-clear"' in body
    before = _unmasks(db)
    clear = browser_client.get(f"/registry/people/{person.id}/photo?clear=true")
    assert clear.status_code == 200
    assert clear.content == original
    assert _unmasks(db) == before + 1


def test_another_region_or_institution_finds_no_photo(browser_client, db, factory):
    _inst, person = _person_with_history(db, factory)
    other = factory.user(Role.INSTITUTION_ADMIN, institution=factory.institution())
    nanchang = factory.user(Role.STATION, region_code="360100")
    db.commit()
    for user in (other, nanchang):
        browser_client.cookies.clear()
        login(browser_client, user.username)
        for path in ("profile", "photo", "photo?clear=true"):
            answer = browser_client.get(f"/registry/people/{person.id}/{path}", headers=HTML)
            assert answer.status_code == 404, (user.role, path)
    assert (
        browser_client.get("/registry/people/2147483648/profile", headers=HTML).status_code == 404
    )
    assert browser_client.get(f"/registry/people/{person.id}/photo").status_code == 404


def test_a_person_without_a_photo_has_none_to_show(browser_client, db, factory):
    _inst, person = _person_with_history(db, factory)
    station = factory.user(Role.STATION, region_code="360400")
    db.commit()
    login(browser_client, station.username)
    assert (
        "未上传照片"
        in browser_client.get(f"/registry/people/{person.id}/profile", headers=HTML).text
    )
    assert browser_client.get(f"/registry/people/{person.id}/photo").status_code == 404
    token = page_csrf(browser_client, f"/registry/people/{person.id}/profile")
    refused = browser_client.post(
        f"/registry/people/{person.id}/photo", data={"csrf_token": token},
        files={"photo": ("p.jpg", photo(1), "image/jpeg")}, headers=HTML,
    )  # fmt: skip
    assert refused.status_code == 403  # a station reads the registry, does not edit it


def test_training_exam_fields_through_the_api(client, db, factory):
    inst, person = _person_with_history(db, factory)
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    db.commit()
    headers = {"Authorization": f"Bearer {factory.token(admin)}"}
    body = {"institution_id": inst.id, "person_id": person.id, "course": "复训",
            "start_date": "2026-05-01", "exam_score": "95", "passed": True,
            "valid_until": "2029-04-30"}  # fmt: skip
    for bad in ({"exam_score": "101"}, {"exam_score": "九十"}, {"valid_until": "明年"}):
        answer = client.post("/api/v1/registry/trainings", json={**body, **bad}, headers=headers)
        assert answer.status_code == 422, bad
    made = client.post("/api/v1/registry/trainings", json=body, headers=headers)
    assert made.status_code == 201, made.text
    data = made.json()
    assert Decimal(data["exam_score"]) == 95
    assert (data["passed"], data["valid_until"]) == (True, "2029-04-30")
