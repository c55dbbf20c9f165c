"""The project pages and the phone pages, good and bad: what a station, a sampler and a witness
send, what a stranger or a slip of the finger sends, and that a refusal leaves nothing written."""

from __future__ import annotations

import base64
import json
import re

import pytest
from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.projects.models import Project, ProjectMember
from jcjg.sampling import codes
from jcjg.sampling.models import Sample, SampleCode, SampleSeal, WitnessKey
from tests.factories import login, page_csrf, photo
from tests.sampling.conftest import Chain

HTML = {"accept": "text/html"}

GOOD = {
    "code": "XM-PAGE-001",
    "name": "页面测试工程",
    "region_code": "360402",
    "address": "九江市濂溪区某路 1 号",
    "site_latitude": "29.7",
    "site_longitude": "116.0",
    "site_radius_m": "300",
    "contractor_unit": "某施工单位",
    "status": "under_construction",
}


def count(db, model) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def station(browser_client, factory, db):
    user = factory.user(Role.STATION, region_code="360400")
    login(browser_client, user.username)
    return browser_client


def test_station_enters_a_project(station, db):
    token = page_csrf(station, "/projects/new")
    response = station.post(
        "/projects", data={**GOOD, "csrf_token": token}, headers=HTML, follow_redirects=False
    )
    assert response.status_code == 303
    project = db.scalars(select(Project).where(Project.code == "XM-PAGE-001")).one()
    assert (project.site_latitude, project.site_radius_m) == (29.7, 300)
    page = station.get(f"/projects/{project.id}", headers=HTML)
    assert page.status_code == 200
    assert "页面测试工程" in page.text


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", ""),
        ({"region_code": "360102"}, "region_code", "只能登记本辖区内的工程项目"),
        ({"region_code": "999999"}, "region_code", "行政区划代码不存在"),
        ({"site_longitude": ""}, "site_latitude", "须同时填写"),
        ({"site_latitude": "north"}, "site_latitude", ""),
        ({"site_latitude": "95"}, "site_latitude", ""),
        ({"site_polygon": "[[116.0, 29.7]"}, "site_polygon", ""),
        ({"site_polygon": "[[116.0, 29.7], [116.1, 29.7]]"}, "site_polygon", "至少需要 3 个点"),
        ({"site_radius_m": "1"}, "site_radius_m", ""),
        ({"status": "demolished"}, "status", ""),
        ({"code": "XM 001/2"}, "code", ""),
        ({"name": "长" * 201}, "name", ""),
    ],
)
def test_bad_project_forms_are_refused_in_chinese_with_nothing_written(
    station, db, change, field, message
):
    before = count(db, Project)
    token = page_csrf(station, "/projects/new")
    response = station.post("/projects", data={**GOOD, **change, "csrf_token": token}, headers=HTML)
    assert response.status_code == 422
    assert f'id="f-{field}"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert message in response.text
    assert count(db, Project) == before


def test_duplicate_code_and_missing_csrf(station, db, factory):
    existing = factory.project()
    db.commit()
    token = page_csrf(station, "/projects/new")
    duplicate = station.post(
        "/projects", data={**GOOD, "code": existing.code, "csrf_token": token}, headers=HTML
    )
    assert duplicate.status_code == 422
    assert "该项目编号已存在" in duplicate.text
    before = count(db, Project)
    forged = station.post("/projects", data=GOOD, headers=HTML)
    assert forged.status_code == 403
    assert count(db, Project) == before


def test_others_cannot_enter_or_see_projects(browser_client, factory, db):
    elsewhere = factory.project(region_code="360102")  # 南昌: outside 九江's station
    sampler = factory.user(Role.SAMPLER)
    db.commit()
    login(browser_client, sampler.username)
    token = page_csrf(browser_client, "/m")
    refused = browser_client.post(
        "/projects", data={**GOOD, "csrf_token": token}, headers=HTML, follow_redirects=False
    )
    assert refused.status_code == 403
    assert browser_client.get(f"/projects/{elsewhere.id}", headers=HTML).status_code == 404
    assert browser_client.get("/projects/new", headers=HTML).status_code == 403


def test_members_and_codes_refuse_bad_input(station, chain: Chain, db, factory):
    project = chain.project
    other_role = factory.user(Role.WITNESS, username="not_a_sampler", commit=False)
    db.commit()
    token = page_csrf(station, f"/projects/{project.id}")
    members = count(db, ProjectMember)
    for data, text in (
        ({"username": "nobody", "role": "sampler", "starts_on": "2026-12-01"}, "没有该账号"),
        ({"username": other_role.username, "role": "sampler", "starts_on": "2026-12-01"}, ""),
        ({"username": chain.sampler.username, "role": "boss", "starts_on": "2026-12-01"}, ""),
        ({"username": chain.sampler.username, "role": "sampler", "starts_on": "明天"}, ""),
        (
            {
                "username": chain.sampler.username,
                "role": "sampler",
                "starts_on": "2026-12-01",
                "ends_on": "2026-11-01",
            },
            "结束日期不能早于开始日期",
        ),
        (
            {
                "username": chain.sampler.username,
                "role": "sampler",
                "starts_on": "2026-12-01",
                "id_number": "360402198503120018",
            },
            "校验码",
        ),
    ):
        response = station.post(
            f"/projects/{project.id}/members", data={**data, "csrf_token": token}, headers=HTML
        )
        assert response.status_code == 422, data
        assert text in response.text
    assert count(db, ProjectMember) == members

    issued = count(db, SampleCode)
    for value in ("0", "501", "abc", ""):
        response = station.post(
            f"/projects/{project.id}/codes", data={"count": value, "csrf_token": token}
        )
        assert response.status_code == 422, value
        assert "每批 1 至 500 个编码" in response.text
    assert count(db, SampleCode) == issued


# --- the phone pages ---------------------------------------------------------------------------


def _register_data(code: str, **extra: str) -> dict[str, str]:
    return {
        "sample_code": code,
        "material": "混凝土试块",
        "specification": "C30",
        "specimen_count": "3",
        "prepared_at": "2026-11-18T09:55",
        "latitude": "29.7112",
        "longitude": "116.0021",
        **extra,
    }


def _photos(**override: object) -> dict[str, object]:
    files: dict[str, object] = {
        "photo_sample": ("s.jpg", photo(1), "image/jpeg"),
        "photo_tag": ("t.jpg", photo(2), "image/jpeg"),
        "photo_sampler": ("p.jpg", photo(1001), "image/jpeg"),
    }
    for key, value in override.items():
        if value is None:
            files.pop(key)
        else:
            files[key] = value
    return files


def test_phone_registration_refuses_bad_input(browser_client, chain: Chain, db, factory, settings):
    other = factory.project()
    foreign = factory.institution()
    db.commit()
    login(browser_client, chain.sampler.username)
    path = f"/m/projects/{chain.project.id}/samples"
    token = page_csrf(browser_client, f"/m/projects/{chain.project.id}")
    code = chain.codes[0]
    big = b"\xff\xd8" + b"0" * (settings.sampling_photo_max_bytes + 10)
    cases = [
        (_register_data(code), _photos(photo_tag=None), "photo_tag"),
        (_register_data(code), _photos(photo_sample=("s.txt", b"not an image", "text/plain")), ""),
        (_register_data(code), _photos(photo_sample=("s.jpg", big, "image/jpeg")), ""),
        (_register_data(code, prepared_at="昨天"), _photos(), "时间格式不正确"),
        (_register_data(code, specimen_count="0"), _photos(), "试件数量应为 1 至 100"),
        (_register_data(code[:-1] + ("A" if code[-1] != "A" else "B")), _photos(), "校验"),
        (_register_data(codes.make_code("360402", 2026, 7_777_777)), _photos(), ""),
        (_register_data(code, material=""), _photos(), ""),
    ]
    for data, files, text in cases:
        response = browser_client.post(
            path, data={**data, "csrf_token": token}, files=files, headers=HTML
        )
        assert response.status_code == 422, (data, files.keys(), text)
        assert 'role="alert"' in response.text
        assert text in response.text
    assert count(db, Sample) == 0
    # a project that is not the sampler's, and a code of another project
    assert (
        browser_client.post(
            f"/m/projects/{other.id}/samples",
            data={**_register_data(code), "csrf_token": token},
            files=_photos(),
            headers=HTML,
        ).status_code
        == 404
    )
    # no CSRF token: refused before anything is read
    response = browser_client.post(path, data=_register_data(code), files=_photos(), headers=HTML)
    assert response.status_code == 403
    assert count(db, Sample) == 0
    assert foreign.id  # an institution account is not a sampler (route matrix covers roles)


def test_phone_key_and_seal_refuse_bad_input(browser_client, chain: Chain, db, factory):
    sample = chain.register()
    stranger = factory.user(Role.WITNESS, commit=False)  # a witness of another project
    db.commit()
    login(browser_client, chain.witness.username)
    keys_page = browser_client.get("/m/keys", headers=HTML).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', keys_page).group(1)
    keys = count(db, WitnessKey)
    headers = {"X-CSRF-Token": token, "accept": "*/*"}  # as the page's fetch() sends
    for body in (b"not json", b"[1, 2]", json.dumps({"public_key": "abc"}).encode()):
        response = browser_client.post(
            "/m/keys", content=body, headers={**headers, "content-type": "application/json"}
        )
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    short = base64.b64encode(b"\x01" * 31).decode()
    response = browser_client.post("/m/keys", json={"public_key": short}, headers=headers)
    assert response.status_code == 422
    assert count(db, WitnessKey) == keys

    seal_path = f"/m/samples/{sample.sample_code}/seal"
    seals = count(db, SampleSeal)
    for body in (
        {"statement": "!!!", "signature": "!!!"},
        {"statement": base64.b64encode(b"{}").decode(), "signature": "eA=="},
        {"statement": "a", "signature": "b", "extra": 1},
        {"statement": "a" * 20_000, "signature": "b"},
        {"statement": 5, "signature": None},
    ):
        response = browser_client.post(seal_path, json=body, headers=headers)
        assert response.status_code == 422, body
        assert response.json()["title"]
    prepare = browser_client.post(
        f"{seal_path}/prepare",
        data={"key_id": "0" * 64, "latitude": "29.7", "longitude": "116.0"},
        files={
            "photo_seal": ("s.jpg", photo(9), "image/jpeg"),
            "photo_witness": ("w.jpg", photo(1002), "image/jpeg"),
        },
        headers=headers,
    )
    assert prepare.status_code == 422  # not this witness's key
    assert count(db, SampleSeal) == seals

    browser_client.cookies.clear()
    login(browser_client, stranger.username)
    home = browser_client.get("/m", headers=HTML).text
    other_token = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    response = browser_client.get(seal_path, headers=HTML)
    assert response.status_code == 404
    response = browser_client.post(
        seal_path,
        json={"statement": "a", "signature": "b"},
        headers={"X-CSRF-Token": other_token, "accept": "*/*"},
    )
    assert response.status_code in (404, 422)
    assert count(db, SampleSeal) == seals
