"""The cameras' JSON API (list, one, register, change, retire) and the ``video.camera``
message (matched by code, created or updated, references by name, asset number and code, the
password sealed, ``retired`` retires)."""

from __future__ import annotations

from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.video.credentials import unseal_password
from jcjg.video.models import Camera
from tests.exchange.conftest import make_lims
from tests.video.conftest import make_site


def _auth(factory, user) -> dict[str, str]:
    return {"Authorization": f"Bearer {factory.token(user)}"}


def _body(**extra) -> dict:
    return {
        "code": "CAM-API",
        "name": "抗渗室",
        "place_kind": "impermeability",
        "stream_url": "rtsps://192.0.2.20:322/ch1",
        "username": "viewer",
        "password": "pw-1",
    } | extra


def test_register_read_change_and_retire(client, db, settings, factory, site):
    headers = _auth(factory, site.admin)
    created = client.post("/api/v1/cameras", json=_body(lab_id=site.lab.id), headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["has_password"] is True
    assert "password" not in body
    assert "password_sealed" not in body
    assert body["place_kind_label"] == "混凝土抗渗试验"
    assert body["status"] == "pending"
    camera = db.get(Camera, body["id"])
    assert unseal_password(settings, camera) == "pw-1"
    one = client.get(f"/api/v1/cameras/{camera.id}", headers=headers)
    assert one.status_code == 200
    assert one.json()["code"] == "CAM-API"
    listed = client.get("/api/v1/cameras?place_kind=impermeability", headers=headers).json()
    assert [c["code"] for c in listed["items"]] == ["CAM-API"]
    assert listed["total"] == 1
    changed = client.patch(
        f"/api/v1/cameras/{camera.id}", json={"name": "抗渗室 2"}, headers=headers
    )
    assert changed.status_code == 200
    assert changed.json()["name"] == "抗渗室 2"
    db.expire_all()
    assert unseal_password(settings, camera) == "pw-1"
    retired = client.patch(f"/api/v1/cameras/{camera.id}", json={"retired": True}, headers=headers)
    assert retired.json()["status"] == "retired"


def test_bad_requests(client, factory, site):
    headers = _auth(factory, site.admin)
    for body, field in (
        (_body(stream_url="rtsp://u:p@192.0.2.20/ch1"), "stream_url"),
        (_body(stream_url="http://192.0.2.20/ch1"), "stream_url"),
        (_body(place_kind="kitchen"), "place_kind"),
        (_body(code=""), "code"),
        (_body(name="抗渗\x00室"), "name"),
        (_body(name="抗渗\u202e室"), "name"),
        (_body(lab_id=2**31), "lab_id"),
        (_body(resolution="big"), "resolution"),
        (_body(place_kind="onsite"), "project_id"),
        (_body(extra=1), "extra"),
    ):
        answer = client.post("/api/v1/cameras", json=body, headers=headers)
        assert answer.status_code == 422, (body, answer.text)
        assert any(field in e["field"] for e in answer.json()["errors"]), (field, answer.json())
    other = make_site(factory, code="CAM-Z")
    refused = client.post("/api/v1/cameras", json=_body(lab_id=other.lab.id), headers=headers)
    assert refused.status_code == 422
    assert client.get(f"/api/v1/cameras/{other.camera.id}", headers=headers).status_code == 404
    path = f"/api/v1/cameras/{other.camera.id}"
    patched = client.patch(path, json={"name": "x"}, headers=headers)
    assert patched.status_code == 404
    assert client.get("/api/v1/cameras/2147483648", headers=headers).status_code == 404
    staff = _auth(factory, site.staff)
    assert client.post("/api/v1/cameras", json=_body(), headers=staff).status_code == 403
    assert client.post("/api/v1/cameras", json=_body()).status_code == 401
    witness = _auth(factory, factory.user(Role.WITNESS))
    assert client.get("/api/v1/cameras", headers=witness).status_code == 403


def test_authority_sees_its_region(client, factory, site):
    other = make_site(factory, region_code="360102", code="CAM-NC")
    city = _auth(factory, factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    codes = [c["code"] for c in client.get("/api/v1/cameras", headers=city).json()["items"]]
    assert site.camera.code in codes
    assert other.camera.code not in codes


def test_camera_message(client, db, settings, factory, site):
    lims = make_lims(db, settings, factory, institution=site.institution)
    record = {
        "code": "CAM-MSG", "name": "2 号压力机", "place_kind": "mechanical", "form": "dome",
        "lab_name": "力学室", "equipment_asset_number": "SB-001",
        "stream_url": "rtsp://192.0.2.30/ch1", "username": "viewer", "password": "pw-msg",
    }  # fmt: skip
    first = lims.post(client, "video.camera", lims.message(cameras=[record]))
    assert first.status_code == 200, first.body
    assert first.body["results"] == {"created": 1, "updated": 0, "unchanged": 0, "retired": 0}
    camera = db.scalars(select(Camera).where(Camera.code == "CAM-MSG")).one()
    assert camera.equipment_id == site.machine.id
    assert camera.lab_id == site.lab.id
    assert unseal_password(settings, camera) == "pw-msg"
    again = lims.post(client, "video.camera", lims.message(cameras=[record]))
    assert again.body["results"]["unchanged"] == 1
    no_password = {k: v for k, v in record.items() if k != "password"} | {"name": "2 号机"}
    changed = lims.post(
        client, "video.camera", lims.message(cameras=[no_password | {"retired": True}])
    )
    assert changed.body["results"] == {"created": 0, "updated": 1, "unchanged": 0, "retired": 1}
    db.expire_all()
    assert camera.status == "retired"
    assert unseal_password(settings, camera) == "pw-msg"
    for bad, field in (
        (record | {"equipment_asset_number": "NONE"}, "cameras.0.equipment_asset_number"),
        (record | {"lab_name": "无此室"}, "cameras.0.lab_name"),
        (record | {"project_code": "NONE"}, "cameras.0.project_code"),
        (record | {"stream_url": "rtsp://a:b@192.0.2.30/x"}, "cameras.0.stream_url"),
    ):
        answer = lims.post(client, "video.camera", lims.message(cameras=[bad]))
        assert answer.status_code == 422, answer.body
        assert [e["field"] for e in answer.body["errors"]] == [field], answer.body
    twice = lims.post(client, "video.camera", lims.message(cameras=[record, record]))
    assert twice.status_code == 422
