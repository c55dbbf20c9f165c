"""Camera pages: register, change, retire; the list (filters, scope); the password sealed and
never shown; a stream URL with credentials in it refused; another institution's camera 404."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.video.credentials import stream_address, unseal_password
from jcjg.video.models import Camera
from tests.factories import login, page_csrf
from tests.video.conftest import make_site

HTML = {"accept": "text/html"}


def _form(token: str, **values: str) -> dict[str, str]:
    base = {
        "csrf_token": token, "code": "CAM-02", "name": "收样室", "place_kind": "receiving",
        "form": "bullet", "location": "收样窗口", "resolution": "1920x1080",
        "stream_url": "rtsp://192.0.2.10:554/live", "username": "viewer", "password": "p@ss:w/rd",
    }  # fmt: skip
    return base | values


def test_register_change_and_retire(browser_client, db, settings, site):
    login(browser_client, site.admin.username)
    token = page_csrf(browser_client, "/video/cameras/new")
    page = browser_client.get("/video/cameras/new")
    assert page.status_code == 200
    assert "登记摄像机" in page.text
    assert "力学室" in page.text
    answer = browser_client.post("/video/cameras", data=_form(token, lab_id=str(site.lab.id)))
    assert answer.status_code == 303, answer.text[answer.text.find("<main") :][:1500]
    camera = db.scalars(select(Camera).where(Camera.code == "CAM-02")).one()
    assert camera.institution_id == site.institution.id
    assert camera.lab_id == site.lab.id
    assert camera.password_sealed
    assert b"p@ss" not in camera.password_sealed
    assert unseal_password(settings, camera) == "p@ss:w/rd"
    assert stream_address(settings, camera) == "rtsp://viewer:p%40ss%3Aw%2Frd@192.0.2.10:554/live"
    detail = browser_client.get(answer.headers["location"])
    assert "摄像机已登记" in detail.text
    assert "p@ss" not in detail.text
    assert "收样室" in detail.text
    edit = browser_client.get(f"/video/cameras/{camera.id}/edit")
    assert "不修改则留空" in edit.text
    assert "p@ss" not in edit.text
    changed = browser_client.post(
        f"/video/cameras/{camera.id}/edit", data=_form(token, name="收样室东", password="")
    )
    assert changed.status_code == 303
    db.expire_all()
    assert camera.name == "收样室东"
    assert unseal_password(settings, camera) == "p@ss:w/rd"
    renamed = browser_client.post(
        f"/video/cameras/{camera.id}/edit", data=_form(token, code="CAM-02B", password="")
    )
    assert renamed.status_code == 303
    db.expire_all()
    assert unseal_password(settings, camera) == "p@ss:w/rd"  # sealed again under the new code
    retired = browser_client.post(f"/video/cameras/{camera.id}/retire", data={"csrf_token": token})
    assert retired.status_code == 303
    db.expire_all()
    assert camera.status == "retired"
    assert camera.status_since is not None
    changes = db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "camera", AuditLog.object_id == str(camera.id)
        )
    ).all()
    assert len(changes) >= 3
    assert all("p@ss" not in str(c.after) for c in changes)


def test_stream_url_with_credentials_is_refused(browser_client, db, site):
    login(browser_client, site.admin.username)
    token = page_csrf(browser_client, "/video/cameras/new")
    for url, words in (
        ("rtsp://admin:secret@192.0.2.10/live", "用户名"),
        ("http://192.0.2.10/live", "rtsp://"),
        ("rtsp:///nohost", "主机"),
    ):
        answer = browser_client.post("/video/cameras", data=_form(token, stream_url=url))
        assert answer.status_code == 422, url
        assert words in answer.text, url
    assert db.scalar(select(Camera.id).where(Camera.code == "CAM-02")) is None
    bad = browser_client.post("/video/cameras", data=_form(token, name="收样\x00室"))
    assert bad.status_code == 422
    dup = browser_client.post("/video/cameras", data=_form(token, code=site.camera.code))
    assert dup.status_code == 422
    assert "已有这个摄像机编号" in dup.text


def test_list_scope_and_filters(browser_client, factory, site):
    other = make_site(factory, region_code="360102", code="CAM-NC")
    authority = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(browser_client, authority.username)
    page = browser_client.get("/video/cameras")
    assert page.status_code == 200
    assert site.camera.code in page.text
    assert other.camera.code not in page.text
    assert browser_client.get(f"/video/cameras/{other.camera.id}").status_code == 404
    filtered = browser_client.get("/video/cameras?place_kind=receiving")
    assert site.camera.code not in filtered.text
    assert "没有监控摄像机" in filtered.text
    assert browser_client.get("/video/cameras/new").status_code == 403
    sheet = browser_client.get("/video/cameras?format=xlsx")
    assert sheet.status_code == 200
    assert sheet.content[:2] == b"PK"


def test_another_institution_gets_404(browser_client, factory, site):
    other = make_site(factory, code="CAM-X")
    login(browser_client, other.admin.username)
    for path in (
        f"/video/cameras/{site.camera.id}",
        f"/video/cameras/{site.camera.id}/edit",
        f"/video/cameras/{site.camera.id}/watch",
        f"/video/cameras/{site.camera.id}/live.m3u8",
        "/video/cameras/2147483648",
        "/video/cameras/0",
    ):
        assert browser_client.get(path).status_code == 404, path
    token = page_csrf(browser_client, "/video/cameras")
    answer = browser_client.post(
        f"/video/cameras/{site.camera.id}/retire", data={"csrf_token": token}
    )
    assert answer.status_code == 404
