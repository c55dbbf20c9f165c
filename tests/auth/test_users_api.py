"""The user administration API: a good request and the bad ones."""

from __future__ import annotations

from sqlalchemy import func, select

from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from tests.factories import login, page_csrf


def _auth(factory, user):
    return {"Authorization": f"Bearer {factory.token(user)}"}


def _count_users(db) -> int:
    return db.scalar(select(func.count()).select_from(User))


def test_city_authority_creates_a_station_user(client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    body = {
        "username": "jj_station_2",
        "display_name": "九江市监督站二科",
        "role": "station",
        "region_code": "360402",
        "phone": "13912345678",
    }
    response = client.post("/api/v1/users", json=body, headers=_auth(factory, city))
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["role_label"] == "质量安全监督站"
    assert data["phone"] == "139****5678"  # masked in the API
    assert data["must_change_password"] is True
    assert len(data["initial_password"]) >= 8
    created = db.scalars(select(User).where(User.username == "jj_station_2")).one()
    row = db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "user_account", AuditLog.object_id == str(created.id)
        )
    ).one()
    assert (row.action, row.username) == ("create", city.username)
    assert row.request_id == response.headers["x-request-id"]


def test_unmasked_contact_is_audited(client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    target = factory.user(Role.STATION, region_code="360400", phone="13912345678")
    listed = client.get(f"/api/v1/users/{target.id}", headers=_auth(factory, city)).json()
    assert listed["phone"] == "139****5678"
    clear = client.get(f"/api/v1/users/{target.id}/contact", headers=_auth(factory, city))
    assert clear.json()["phone"] == "13912345678"
    row = db.scalars(select(AuditLog).where(AuditLog.action == "unmask")).one()
    assert (row.username, row.object_id) == (city.username, str(target.id))


def test_bad_requests_leave_nothing_behind(client, db, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    headers = _auth(factory, city)
    before = _count_users(db)
    good = {
        "username": "ok_name",
        "display_name": "某人",
        "role": "station",
        "region_code": "360400",
    }

    malformed = client.post(
        "/api/v1/users",
        content=b"{not json",
        headers={**headers, "content-type": "application/json"},
    )
    assert malformed.status_code == 422
    assert malformed.headers["content-type"].startswith("application/problem+json")

    wrong_type = client.post("/api/v1/users", json={**good, "role": 42}, headers=headers)
    assert wrong_type.status_code == 422
    fields = {e["field"] for e in wrong_type.json()["errors"]}
    assert "body.role" in fields

    missing = client.post("/api/v1/users", json={"username": "x"}, headers=headers)
    assert missing.status_code == 422
    messages = [e["message"] for e in missing.json()["errors"]]
    assert "必填项缺失" in messages

    too_large = client.post(
        "/api/v1/users", json={**good, "display_name": "长" * 65}, headers=headers
    )
    assert too_large.status_code == 422
    assert "长度超出上限" in too_large.json()["errors"][0]["message"]

    bad_phone = client.post("/api/v1/users", json={**good, "phone": "12345"}, headers=headers)
    assert bad_phone.status_code == 422

    extra = client.post("/api/v1/users", json={**good, "is_admin": True}, headers=headers)
    assert extra.status_code == 422

    escalation = client.post(
        "/api/v1/users", json={**good, "role": "platform_admin"}, headers=headers
    )
    assert escalation.status_code == 403
    assert "平台管理员" in escalation.json()["detail"]

    out_of_region = client.post(
        "/api/v1/users", json={**good, "region_code": "360102"}, headers=headers
    )
    assert out_of_region.status_code == 422
    assert out_of_region.json()["errors"][0]["field"] == "region_code"

    unknown_region = client.post(
        "/api/v1/users", json={**good, "region_code": "369999"}, headers=headers
    )
    assert unknown_region.status_code == 422

    other_institution = factory.institution(region_code="360102")  # Nanchang
    someone_elses = client.post(
        "/api/v1/users",
        json={**good, "role": "institution_staff", "institution_id": other_institution.id},
        headers=headers,
    )
    assert someone_elses.status_code == 422
    assert someone_elses.json()["errors"][0]["field"] == "institution_id"

    weak = client.post("/api/v1/users", json={**good, "password": "weak"}, headers=headers)
    assert weak.status_code == 422

    assert _count_users(db) == before  # nothing half-written
    assert client.post("/api/v1/users", json=good, headers=headers).status_code == 201
    duplicate = client.post("/api/v1/users", json=good, headers=headers)
    assert duplicate.status_code == 409
    assert duplicate.json()["errors"][0]["field"] == "username"
    assert _count_users(db) == before + 1


def test_institution_admin_manages_only_its_staff(client, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    headers = _auth(factory, admin)
    body = {"username": "lab_new", "display_name": "新检测员", "role": "institution_staff"}
    ok = client.post("/api/v1/users", json={**body, "institution_id": inst.id}, headers=headers)
    assert ok.status_code == 201
    assert ok.json()["region_code"] == inst.region_code
    as_city = client.post(
        "/api/v1/users",
        json={**body, "username": "lab_x", "role": "city_authority", "region_code": "360400"},
        headers=headers,
    )
    assert as_city.status_code == 403
    listed = client.get("/api/v1/users", headers=headers).json()
    assert {u["institution_id"] for u in listed["items"]} == {inst.id}


def test_update_lock_unlock(client, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    headers = _auth(factory, city)
    target = factory.user(Role.STATION, region_code="360400")
    patched = client.patch(
        f"/api/v1/users/{target.id}", json={"display_name": "改名后"}, headers=headers
    )
    assert patched.json()["display_name"] == "改名后"
    assert (
        client.patch(
            f"/api/v1/users/{target.id}", json={"role": "platform_admin"}, headers=headers
        ).status_code
        == 422
    )
    locked = client.post(f"/api/v1/users/{target.id}/lock", headers=headers)
    assert locked.json()["is_locked"] is True
    target_token = factory.token(target)
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {target_token}"}).status_code
        == 401
    )
    unlocked = client.post(f"/api/v1/users/{target.id}/unlock", headers=headers)
    assert unlocked.json()["is_locked"] is False
    assert client.post(f"/api/v1/users/{city.id}/lock", headers=headers).status_code == 403


def test_null_leaves_a_field_that_cannot_be_empty_unchanged(client, factory):
    """The schema allows null for every field of an update; for the name and the active flag
    (columns that cannot be empty) it means "unchanged", not a 500 from the database."""
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    headers = _auth(factory, city)
    target = factory.user(Role.STATION, region_code="360400", email="old@example.com")
    body = {"display_name": None, "is_active": None, "email": None}
    patched = client.patch(f"/api/v1/users/{target.id}", json=body, headers=headers)
    assert patched.status_code == 200, patched.text
    data = patched.json()
    assert (data["display_name"], data["is_active"]) == (target.display_name, True)
    assert data["email"] is None  # a contact field may be emptied
    renamed = client.patch(
        f"/api/v1/users/{target.id}",
        json={"display_name": "新名", "is_active": False},
        headers=headers,
    )
    assert (renamed.json()["display_name"], renamed.json()["is_active"]) == ("新名", False)


def test_paging_and_filters(client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    for _ in range(3):
        factory.user(Role.WITNESS)
    headers = _auth(factory, admin)
    page = client.get("/api/v1/users?role=witness&limit=2", headers=headers).json()
    assert page["total"] >= 3
    assert len(page["items"]) == 2
    assert client.get("/api/v1/users?limit=0", headers=headers).status_code == 400
    assert client.get("/api/v1/users?limit=201", headers=headers).status_code == 400
    assert client.get("/api/v1/users?role=king", headers=headers).status_code == 400


def test_tokens_are_shown_once_and_can_be_revoked(client, factory):
    user = factory.user(Role.WITNESS)
    headers = _auth(factory, user)
    # a token cannot mint another one (a leaked token stays contained once revoked) ...
    minted = client.post("/api/v1/tokens", json={"name": "x"}, headers=headers)
    assert minted.status_code == 401
    # ... a logged-in person can
    login(client, user.username)
    created = client.post(
        "/api/v1/tokens",
        json={"name": "导出脚本", "days": 30},
        headers={"X-CSRF-Token": page_csrf(client)},
    )
    assert created.status_code == 201
    token = created.json()["token"]
    listed = client.get("/api/v1/tokens", headers=headers).json()
    assert all("token" not in t for t in listed)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == user.username
    assert (
        client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=headers).status_code == 204
    )
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_role_grants_are_data(client, factory):
    admin = factory.user(Role.PLATFORM_ADMIN)
    expert = factory.user(Role.EXPERT)
    expert_headers = _auth(factory, expert)
    assert client.get("/api/v1/registry/institutions", headers=expert_headers).status_code == 403
    login(client, admin.username)
    token = page_csrf(client, "/admin/roles")
    response = client.post(
        "/admin/roles",
        data={
            "role": "expert",
            "permission": "institution:read",
            "granted": "1",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert client.get("/api/v1/registry/institutions", headers=expert_headers).status_code == 200
    roles = client.get("/api/v1/roles").json()
    expert_row = next(r for r in roles["roles"] if r["role"] == "expert")
    assert "institution:read" in expert_row["permissions"]
    assert "institution:read" not in expert_row["default_permissions"]


def test_no_administrator_can_take_over_an_equal_or_higher_account(client, db, factory):
    city_a = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    city_b = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    auditor = factory.user(Role.AUDITOR, region_code="360400")
    station = factory.user(Role.STATION, region_code="360400")
    headers = _auth(factory, city_a)
    for target in (city_b, auditor):
        for action in ("lock", "unlock"):
            refused = client.post(f"/api/v1/users/{target.id}/{action}", headers=headers)
            assert refused.status_code == 403, (target.role, action)
        patched = client.patch(
            f"/api/v1/users/{target.id}", json={"display_name": "被改"}, headers=headers
        )
        assert patched.status_code == 403
    assert client.post(f"/api/v1/users/{station.id}/lock", headers=headers).status_code == 200

    inst = factory.institution()
    admin_1 = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    admin_2 = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    staff = factory.user(Role.INSTITUTION_STAFF, institution=inst)
    login(client, admin_1.username)
    csrf = {"X-CSRF-Token": page_csrf(client)}
    reset_peer = client.post(
        f"/admin/users/{admin_2.id}/reset-password", headers=csrf, follow_redirects=False
    )
    assert reset_peer.status_code == 403
    reset_own = client.post(
        f"/admin/users/{admin_1.id}/reset-password", headers=csrf, follow_redirects=False
    )
    assert reset_own.status_code == 403
    reset_staff = client.post(
        f"/admin/users/{staff.id}/reset-password",
        headers={**csrf, "accept": "text/html"},
        follow_redirects=False,
    )
    assert reset_staff.status_code == 200
    assert "初始密码" in reset_staff.text


def test_a_reset_revokes_the_tokens_of_the_account(client, factory):
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    station = factory.user(Role.STATION, region_code="360400")
    station_token = factory.token(station)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {station_token}"})
    assert me.status_code == 200
    login(client, city.username)
    reset = client.post(
        f"/admin/users/{station.id}/reset-password",
        headers={"X-CSRF-Token": page_csrf(client), "accept": "text/html"},
    )
    assert reset.status_code == 200
    again = client.get("/api/v1/me", headers={"Authorization": f"Bearer {station_token}"})
    assert again.status_code == 401


def test_project_grants_are_audited(client, db, factory):
    from jcjg.audit.models import AuditLog

    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    first, second = factory.project(), factory.project()
    elsewhere = factory.project(region_code="360102")  # 南昌: outside 九江's scope
    witness = factory.user(Role.WITNESS, region_code="360400", project_ids=(first.id,))
    refused = client.patch(
        f"/api/v1/users/{witness.id}",
        json={"project_ids": [first.id, elsewhere.id, 99999]},
        headers=_auth(factory, city),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"].endswith("project_ids")
    response = client.patch(
        f"/api/v1/users/{witness.id}",
        json={"project_ids": [first.id, second.id]},
        headers=_auth(factory, city),
    )
    assert response.status_code == 200
    row = db.scalars(
        select(AuditLog).where(
            AuditLog.detail == "可见工程项目变更", AuditLog.object_id == str(witness.id)
        )
    ).one()
    assert row.before == {"project_ids": [first.id]}
    assert row.after == {"project_ids": [first.id, second.id]}
    assert row.username == city.username


def test_edit_form_never_shows_contact_data_in_clear(client, db, factory):
    inst = factory.institution()
    admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    staff = factory.user(
        Role.INSTITUTION_STAFF, institution=inst, phone="13912345678", email="li.si@example.com"
    )
    login(client, admin.username)
    form = client.get(f"/admin/users/{staff.id}/edit", headers={"accept": "text/html"})
    assert form.status_code == 200
    assert "13912345678" not in form.text
    assert "li.si@example.com" not in form.text
    assert "139****5678" in form.text
    # saving the form with the contact fields left empty keeps them
    saved = client.post(
        f"/admin/users/{staff.id}",
        data={"display_name": "新名字", "is_active": "on", "csrf_token": page_csrf(client)},
        headers={"accept": "text/html"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    db.expire_all()
    kept = db.get(User, staff.id)
    assert (kept.display_name, kept.phone, kept.email) == (
        "新名字",
        "13912345678",
        "li.si@example.com",
    )


def test_an_officer_s_enforcement_card(client, db, factory):
    """Only officers' roles hold a 行政执法证号, one account per card; null clears it (issue 48:
    the spot-check draw takes card holders only)."""
    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    headers = _auth(factory, city)
    body = {"username": "jj_officer_9", "display_name": "张执法", "role": "station",
            "region_code": "360400", "enforcement_card": "赣执36040099"}  # fmt: skip
    made = client.post("/api/v1/users", json=body, headers=headers)
    assert made.status_code == 201, made.text
    assert made.json()["enforcement_card"] == "赣执36040099"
    before = _count_users(db)
    twice = client.post("/api/v1/users", headers=headers,
                        json={**body, "username": "jj_officer_10"})  # fmt: skip
    assert twice.status_code == 422
    assert "已登记在另一个账号上" in twice.text
    lab = client.post("/api/v1/users", headers=headers, json={
        **body, "username": "lab_9", "role": "institution_staff",
        "institution_id": factory.institution(region_code="360402").id,
        "enforcement_card": "赣执36040098"})  # fmt: skip
    assert lab.status_code == 422
    assert "只有主管部门和监督机构的执法人员" in lab.text
    for bad in ("赣执", "x" * 33, "赣执 3604", "赣执\x00"):
        sent = {**body, "username": "jj_bad", "enforcement_card": bad}
        refused = client.post("/api/v1/users", headers=headers, json=sent)
        assert refused.status_code in (400, 422), bad
    assert _count_users(db) == before
    officer = made.json()["id"]
    cleared = client.patch(f"/api/v1/users/{officer}", json={"enforcement_card": None},
                           headers=headers)  # fmt: skip
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["enforcement_card"] is None
