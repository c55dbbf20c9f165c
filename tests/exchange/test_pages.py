"""Exchange pages (000 6.0.8, 6.0.4): apply, approve, keys issued once, rotated with an overlap
and revoked; scope (404) and permission (403); the monitoring page's numbers from the DB."""

from __future__ import annotations

import base64
import datetime as dt
import re

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from jcjg.alerts.models import Alert
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.exchange import keystore
from jcjg.exchange.models import Client, ClientKey, ClientStat
from jcjg.exchange.monitor import Recorder, hour_of
from tests.exchange.conftest import Lims
from tests.factories import Factory, login, page_csrf

PHONE = "13812345678"


def _as(http: TestClient, user: User) -> str:
    """Log ``http`` in as ``user`` (after logging anyone else out); return the CSRF token."""
    http.cookies.clear()
    login(http, user.username)
    return page_csrf(http)


def _apply(http: TestClient, csrf: str, **fields: str):
    data = {
        "csrf_token": csrf,
        "name": "九江测试 LIMS",
        "vendor": "某软件公司",
        "contact_name": "李工",
        "contact_phone": PHONE,
        "purpose": "报送本机构人员与设备",
        **fields,
    }
    return http.post("/exchange/clients/apply", data=data)


def _text(html: str) -> str:
    """The visible text of a page, tags dropped and whitespace squeezed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def _pem(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _raw(private: Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes_raw()


def test_apply_approve_issue_rotate_revoke(
    browser_client: TestClient, db: Session, factory: Factory, settings: Settings
) -> None:
    http = browser_client
    inst = factory.institution(region_code="360403", name="九江页面测试检测站")
    lab_admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    authority = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    client_id = _the_institution_applies(http, db, inst, lab_admin)
    _the_authority_approves(http, db, client_id, authority)
    hmac_key = _an_hmac_secret_shown_once(http, db, settings, client_id, lab_admin)
    csrf = page_csrf(http)
    ed_key = _an_ed25519_key_from_a_pem_file(http, db, client_id, csrf)
    _rotation_keeps_the_old_keys_for_the_overlap(
        http, db, settings, client_id, csrf, (hmac_key.key_id, ed_key.key_id)
    )
    csrf = _the_authority_revokes(http, db, ed_key, authority)
    _suspend_and_resume(http, db, client_id, csrf)
    csrf = _as(http, lab_admin)
    _an_sm2_key_where_the_platform_runs_the_national_profile(http, db, client_id, csrf)


def _the_institution_applies(http: TestClient, db: Session, inst, lab_admin: User) -> int:
    """Its own institution, nothing to choose; field errors write nothing; the phone masked
    on the page and in the change log; no decision and no key for the applicant."""
    csrf = _as(http, lab_admin)
    form = http.get("/exchange/clients/apply")
    assert form.status_code == 200
    assert "九江页面测试检测站" in form.text
    assert 'name="institution_id"' not in form.text
    bad = _apply(http, csrf, contact_phone="", name="x" * 101)
    assert bad.status_code == 422
    assert "请填写联系电话" in bad.text
    assert "业务系统名称不能超过 100 个字符" in bad.text
    assert db.scalar(select(func.count()).where(Client.institution_id == inst.id)) == 0
    created = _apply(http, csrf)
    assert created.status_code == 303
    client_id = int(
        re.search(r"/exchange/clients/(\d+)\?done=applied", created.headers["location"])[1]
    )
    client = db.get(Client, client_id)
    assert (client.status, client.institution_id, client.region_code) == (
        "pending",
        inst.id,
        "360403",
    )
    assert client.applied_by_id == lab_admin.id
    page = http.get(f"/exchange/clients/{client_id}?done=applied")
    assert "接入申请已提交" in page.text
    assert "138****5678" in page.text
    assert PHONE not in page.text  # masked wherever shown
    assert "待审批" in page.text
    assert "审批接入申请" not in page.text  # no decision for the applicant
    assert (
        http.post(
            f"/exchange/clients/{client_id}/decision",
            data={"csrf_token": csrf, "decision": "approve"},
        ).status_code
        == 403
    )
    assert "签发新密钥" not in page.text  # no key before approval
    audit = db.scalars(
        select(AuditLog).where(
            AuditLog.object_type == "exchange_client", AuditLog.object_id == str(client_id)
        )
    ).one()
    assert audit.after["contact_phone"] != PHONE  # masked in the change log too

    return client_id


def _the_authority_approves(http: TestClient, db: Session, client_id: int, authority: User) -> None:
    """A rejection needs a note; then it approves, once; it gets no keys for the institution."""
    csrf = _as(http, authority)
    listing = http.get("/exchange/clients")
    assert "有 1 条接入申请待审批" in listing.text
    assert "九江测试 LIMS" in listing.text
    assert "审批接入申请" in http.get(f"/exchange/clients/{client_id}").text
    refused = http.post(
        f"/exchange/clients/{client_id}/decision",
        data={"csrf_token": csrf, "decision": "reject", "note": "  "},
    )
    assert refused.status_code == 422
    assert "驳回时须填写理由" in refused.text
    db.expire_all()
    assert db.get(Client, client_id).status == "pending"
    approved = http.post(
        f"/exchange/clients/{client_id}/decision",
        data={"csrf_token": csrf, "decision": "approve", "note": "同意接入"},
    )
    assert approved.status_code == 303
    db.expire_all()
    client = db.get(Client, client_id)
    assert (client.status, client.decided_by_id, client.decision_note) == (
        "active",
        authority.id,
        "同意接入",
    )
    again = http.post(
        f"/exchange/clients/{client_id}/decision", data={"csrf_token": csrf, "decision": "reject"}
    )
    assert again.status_code == 422  # no note; and with one it is a conflict
    again = http.post(
        f"/exchange/clients/{client_id}/decision",
        data={"csrf_token": csrf, "decision": "reject", "note": "改主意"},
    )
    assert again.status_code == 409
    assert "不能重复审批" in again.text
    db.expire_all()
    assert db.get(Client, client_id).status == "active"
    # an authority does not get keys for the institution (exchange_client:apply)
    assert (
        http.post(
            f"/exchange/clients/{client_id}/keys", data={"csrf_token": csrf, "alg": "hmac-sha256"}
        ).status_code
        == 403
    )


def _an_hmac_secret_shown_once(
    http: TestClient, db: Session, settings: Settings, client_id: int, lab_admin: User
) -> ClientKey:
    """The institution gets an HMAC secret: shown once, never again."""
    csrf = _as(http, lab_admin)
    page = http.get(f"/exchange/clients/{client_id}")
    assert "签发新密钥" in page.text
    assert "/exchange/v1/schemas" in page.text
    assert "docs/exchange-api/" in page.text
    issued = http.post(
        f"/exchange/clients/{client_id}/keys", data={"csrf_token": csrf, "alg": "hmac-sha256"}
    )
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    assert "只显示这一次" in issued.text
    secret = re.search(r'data-testid="secret">([^<]+)<', issued.text)[1]
    hmac_key = db.scalars(select(ClientKey).where(ClientKey.client_id == client_id)).one()
    assert keystore.unseal(settings.secret_key, hmac_key.key_material, hmac_key.key_id) == (
        base64.b64decode(secret)
    )
    for later in (f"/exchange/clients/{client_id}", f"/exchange/keys/{hmac_key.key_id}"):
        shown = http.get(later)
        assert shown.status_code == 200
        assert hmac_key.key_id in shown.text
        assert secret not in shown.text
    assert "有效" in _text(http.get(f"/exchange/clients/{client_id}").text)

    return hmac_key


def _an_sm2_key_where_the_platform_runs_the_national_profile(
    http: TestClient, db: Session, client_id: int, csrf: str
) -> None:
    """The form recommends Ed25519, or SM2 (chosen by default) under JCJG_CRYPTO=sm; an SM2
    public key issues an sm2-sm3 key, shown as SM2 with its PEM; an Ed25519 PEM as SM2 is a
    form error."""
    from jcjg.exchange.signatures import SM2SigningKey

    page = http.get(f"/exchange/clients/{client_id}")
    assert "推荐 Ed25519" in page.text
    assert re.search(r'value="ed25519"\s+checked', page.text)
    app_settings = http.app.state.settings  # type: ignore[attr-defined]
    http.app.state.settings = app_settings.model_copy(update={"crypto": "sm"})  # type: ignore[attr-defined]
    try:
        page = http.get(f"/exchange/clients/{client_id}")
        assert "推荐 SM2" in page.text
        assert re.search(r'value="sm2-sm3"\s+checked', page.text)
    finally:
        http.app.state.settings = app_settings  # type: ignore[attr-defined]
    wrong = http.post(
        f"/exchange/clients/{client_id}/keys",
        data={"csrf_token": csrf, "alg": "sm2-sm3"},
        files={"public_key_file": ("lab.pem", _pem(Ed25519PrivateKey.generate()), "text/plain")},
    )
    assert wrong.status_code == 422
    assert "SM2 公钥" in wrong.text
    lab_key = SM2SigningKey.generate()
    issued = http.post(
        f"/exchange/clients/{client_id}/keys",
        data={"csrf_token": csrf, "alg": "sm2-sm3"},
        files={"public_key_file": ("lab.pem", lab_key.verifying_key().public_pem(), "text/plain")},
    )
    assert issued.status_code == 200, issued.text
    db.expire_all()
    sm_key = db.scalars(
        select(ClientKey).where(ClientKey.client_id == client_id, ClientKey.alg == "sm2-sm3")
    ).one()
    assert sm_key.key_material == lab_key.public_bytes
    assert "SM2（国密）" in http.get(f"/exchange/clients/{client_id}").text
    key_page = http.get(f"/exchange/keys/{sm_key.key_id}")
    assert "BEGIN PUBLIC KEY" in key_page.text


def _an_ed25519_key_from_a_pem_file(
    http: TestClient, db: Session, client_id: int, csrf: str
) -> ClientKey:
    # An Ed25519 key from an uploaded PEM file; a wrong key is a form error, nothing written.
    wrong = http.post(
        f"/exchange/clients/{client_id}/keys",
        data={"csrf_token": csrf, "alg": "ed25519", "public_key": "not a key"},
    )
    assert wrong.status_code == 422
    assert "公钥格式不正确" in wrong.text
    assert db.scalar(select(func.count()).where(ClientKey.client_id == client_id)) == 1
    lab_key = Ed25519PrivateKey.generate()
    issued = http.post(
        f"/exchange/clients/{client_id}/keys",
        data={"csrf_token": csrf, "alg": "ed25519"},
        files={"public_key_file": ("lab.pem", _pem(lab_key), "application/x-pem-file")},
    )
    assert issued.status_code == 200, issued.text
    assert 'data-testid="secret"' not in issued.text
    db.expire_all()
    ed_key = db.scalars(
        select(ClientKey).where(ClientKey.client_id == client_id, ClientKey.alg == "ed25519")
    ).one()
    assert ed_key.key_material == _raw(lab_key)
    key_page = http.get(f"/exchange/keys/{ed_key.key_id}")
    assert base64.b64encode(_raw(lab_key)).decode() in key_page.text
    assert "吊销密钥" not in key_page.text  # revoking is the authority's

    return ed_key


def _rotation_keeps_the_old_keys_for_the_overlap(
    http: TestClient,
    db: Session,
    settings: Settings,
    client_id: int,
    csrf: str,
    old_keys: tuple[str, ...],
) -> None:
    # Rotation: a new key, the old ones valid until the end of the overlap (two valid keys).
    successor = Ed25519PrivateKey.generate()
    before = utcnow()
    rotated = http.post(
        f"/exchange/clients/{client_id}/keys/rotate",
        data={
            "csrf_token": csrf,
            "alg": "ed25519",
            "public_key": base64.b64encode(_raw(successor)).decode(),
        },
    )
    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    assert "重叠期" in rotated.text
    end = before + dt.timedelta(days=settings.exchange_rotation_overlap_days)
    db.expire_all()
    keys = {
        k.key_id: k for k in db.scalars(select(ClientKey).where(ClientKey.client_id == client_id))
    }
    assert len(keys) == 3
    for old in old_keys:
        assert abs(keys[old].valid_until - end) < dt.timedelta(minutes=1)
        shown_end = keys[old].valid_until.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
        assert shown_end in rotated.text
    now = utcnow()
    assert sorted(k.state(now) for k in keys.values()) == ["valid", "valid", "valid"]


def _the_authority_revokes(
    http: TestClient, db: Session, ed_key: ClientKey, authority: User
) -> str:
    """The authority revokes the old Ed25519 key: the reason is required. Returns its CSRF
    token."""
    csrf = _as(http, authority)
    assert "吊销密钥" in http.get(f"/exchange/keys/{ed_key.key_id}").text
    no_reason = http.post(
        f"/exchange/keys/{ed_key.key_id}/revoke", data={"csrf_token": csrf, "reason": " "}
    )
    assert no_reason.status_code == 422
    assert "请填写吊销原因" in no_reason.text
    db.expire_all()
    assert db.get(ClientKey, ed_key.id).revoked_at is None
    revoked = http.post(
        f"/exchange/keys/{ed_key.key_id}/revoke",
        data={"csrf_token": csrf, "reason": "私钥疑似泄露"},
    )
    assert revoked.status_code == 303
    db.expire_all()
    assert db.get(ClientKey, ed_key.id).revoke_reason == "私钥疑似泄露"
    page = http.get(revoked.headers["location"])
    assert "密钥已吊销" in page.text
    row = re.search(rf'<tr data-key="{ed_key.key_id}">(.*?)</tr>', page.text, re.S)[1]
    assert "已吊销" in row
    assert "私钥疑似泄露" in row
    twice = http.post(
        f"/exchange/keys/{ed_key.key_id}/revoke", data={"csrf_token": csrf, "reason": "再来"}
    )
    assert twice.status_code == 409

    return csrf


def _suspend_and_resume(http: TestClient, db: Session, client_id: int, csrf: str) -> None:
    # Suspend and resume; the change log has a row for every write, none with key material.
    assert (
        http.post(f"/exchange/clients/{client_id}/suspend", data={"csrf_token": csrf}).status_code
        == 303
    )
    db.expire_all()
    assert db.get(Client, client_id).status == "suspended"
    conflict = http.post(f"/exchange/clients/{client_id}/suspend", data={"csrf_token": csrf})
    assert conflict.status_code == 409
    assert "已停用" in conflict.text
    assert (
        http.post(f"/exchange/clients/{client_id}/resume", data={"csrf_token": csrf}).status_code
        == 303
    )
    db.expire_all()
    assert db.get(Client, client_id).status == "active"
    key_rows = db.scalars(
        select(AuditLog).where(AuditLog.object_type == "exchange_client_key")
    ).all()
    assert len(key_rows) >= 3 + 2 + 1  # three created, two shortened by the rotation, a revocation
    assert all("key_material" not in (r.after or {}) for r in key_rows)


def test_reject_needs_a_note_and_the_applicant_sees_it(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    http = browser_client
    inst = factory.institution(region_code="360403")
    lab_admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    csrf = _as(http, lab_admin)
    client_id = int(_apply(http, csrf).headers["location"].split("/")[-1].split("?")[0])
    csrf = _as(http, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000"))
    rejected = http.post(
        f"/exchange/clients/{client_id}/decision",
        data={"csrf_token": csrf, "decision": "reject", "note": "用途不明确，请补充"},
    )
    assert rejected.status_code == 303
    _as(http, lab_admin)
    page = http.get(f"/exchange/clients/{client_id}")
    assert "未通过" in page.text
    assert "用途不明确，请补充" in page.text
    assert "签发新密钥" not in page.text
    db.expire_all()
    assert db.get(Client, client_id).status == "rejected"


def test_outside_scope_is_404_and_missing_permission_is_403(
    browser_client: TestClient, factory: Factory, lims: Lims
) -> None:
    http = browser_client
    key_id = lims.key_id
    client_id = lims.client.id
    other = factory.user(Role.INSTITUTION_ADMIN, institution=factory.institution("360403"))
    csrf = _as(http, other)
    assert http.get(f"/exchange/clients/{client_id}").status_code == 404
    assert http.get(f"/exchange/keys/{key_id}").status_code == 404
    assert lims.client.name not in http.get("/exchange/clients").text
    assert lims.client.name not in http.get("/exchange/monitor").text
    for path in (
        f"/exchange/clients/{client_id}/keys",
        f"/exchange/clients/{client_id}/keys/rotate",
    ):
        response = http.post(path, data={"csrf_token": csrf, "alg": "hmac-sha256"})
        assert response.status_code == 404, path
    nanchang = factory.user(Role.CITY_AUTHORITY, region_code="360100")
    csrf = _as(http, nanchang)
    assert http.get(f"/exchange/clients/{client_id}").status_code == 404
    response = http.post(
        f"/exchange/keys/{key_id}/revoke", data={"csrf_token": csrf, "reason": "x"}
    )
    assert response.status_code == 404
    response = http.post(f"/exchange/clients/{client_id}/suspend", data={"csrf_token": csrf})
    assert response.status_code == 404

    own = factory.user(Role.INSTITUTION_ADMIN, institution=lims.institution)
    _as(http, own)
    assert http.get(f"/exchange/clients/{client_id}").status_code == 200
    assert http.get(f"/exchange/keys/{key_id}").status_code == 200

    staff = factory.user(Role.INSTITUTION_STAFF, institution=lims.institution)
    csrf = _as(http, staff)
    for path in ("/exchange/clients", f"/exchange/clients/{client_id}", "/exchange/monitor"):
        response = http.get(path)
        assert response.status_code == 403, path
        assert "无权操作" in response.text
    assert "数据接入" not in http.get("/").text  # no menu entry without the permission
    auditor = factory.user(Role.AUDITOR, region_code="360000")
    csrf = _as(http, auditor)
    assert "数据接入" in http.get("/").text
    assert http.get(f"/exchange/clients/{client_id}").status_code == 200
    assert http.get("/exchange/clients/apply").status_code == 403
    response = http.post(
        f"/exchange/clients/{client_id}/decision", data={"csrf_token": csrf, "decision": "approve"}
    )
    assert response.status_code == 403


def test_authority_registers_clients_within_its_region(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    http = browser_client
    mine = factory.institution(region_code="360403", name="辖区内的检测机构")
    theirs = factory.institution(region_code="360102", name="辖区外的检测机构")
    authority = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    csrf = _as(http, authority)
    form = http.get("/exchange/clients/register")
    assert "辖区内的检测机构" in form.text
    assert "辖区外的检测机构" not in form.text

    def register(**fields: str):
        return http.post(
            "/exchange/clients/register",
            data={
                "csrf_token": csrf,
                "name": "接入方",
                "contact_name": "王工",
                "contact_phone": "0792-8123456",
                "purpose": "数据交换",
                **fields,
            },
        )

    outside = register(kind="lims", institution_id=str(theirs.id))
    assert outside.status_code == 422
    assert "请选择辖区内的检测机构" in outside.text
    outside = register(kind="platform", region_code="360100")
    assert outside.status_code == 422
    assert "只能登记本账号辖区内的平台" in outside.text
    assert register(kind="platform", region_code="12").status_code == 422
    assert db.scalar(select(func.count()).select_from(Client)) == 0

    lims = register(kind="lims", institution_id=str(mine.id), name="辖区 LIMS")
    assert lims.status_code == 303
    peer = register(kind="platform", region_code="360403", name="濂溪区平台")
    assert peer.status_code == 303
    db.expire_all()
    rows = {c.name: c for c in db.scalars(select(Client))}
    assert (rows["辖区 LIMS"].institution_id, rows["辖区 LIMS"].kind) == (mine.id, "lims")
    assert (rows["濂溪区平台"].institution_id, rows["濂溪区平台"].kind) == (None, "platform")
    assert rows["濂溪区平台"].region_code == "360403"
    assert rows["濂溪区平台"].status == "pending"
    # the platform peer belongs to no institution: an institution never sees it
    _as(http, factory.user(Role.INSTITUTION_ADMIN, institution=mine))
    assert http.get(f"/exchange/clients/{rows['濂溪区平台'].id}").status_code == 404
    assert http.get(f"/exchange/clients/{rows['辖区 LIMS'].id}").status_code == 200


def _speaks_labels(html: str, expected: str) -> None:
    """The page's main text says ``expected`` and no message type, rule id or key."""
    body = _text(html.split("<main", 1)[1].split("</main>", 1)[0])
    assert expected in body
    assert not re.findall(r"\b[a-z]+_[a-z0-9_]+", body)


def _cells(html: str, client_id: int) -> list[str]:
    row = re.search(rf'<tr data-client="{client_id}">(.*?)</tr>', html, re.S)
    assert row, f"no row for client {client_id}"
    return [_text(c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)]


def test_monitor_counts_files_missing_apart_from_refusals(
    browser_client: TestClient,
    session_factory: sessionmaker[Session],
    factory: Factory,
    lims: Lims,
) -> None:
    """Upload-then-resend is the normal flow of a message with files: 待补传文件, not 被拒."""
    now = utcnow()
    recorder = Recorder()
    for _ in range(8):
        recorder.record(lims.client.id, "testing.record", "accepted", 100, 5.0, now=now)
    recorder.record(lims.client.id, "testing.record", "exchange-files-missing", 100, 5.0, now=now)
    recorder.record(lims.client.id, "testing.record", "exchange-files-missing", 100, 5.0, now=now)
    recorder.record(lims.client.id, "testing.record", "exchange-signature-invalid", 1, 1.0, now=now)
    recorder.flush(session_factory)
    http = browser_client
    _as(http, factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    page = http.get("/exchange/monitor")
    cells = _cells(page.text, lims.client.id)
    assert cells[2:5] == ["11", "1（9.1%）", "2"]  # one real refusal of 11, two awaiting files
    assert "待补传文件（上传后重发）" in page.text
    totals = _text(page.text)
    assert re.search(r"被拒 1 占 9\.1%", totals)
    assert re.search(r"待补传文件 2 次", totals)


def test_monitor_shows_the_counters_and_open_alerts(
    browser_client: TestClient,
    db: Session,
    session_factory: sessionmaker[Session],
    factory: Factory,
    lims: Lims,
    hmac_lims: Lims,
) -> None:
    now = utcnow()
    recorder = Recorder()
    for latency in (10.0, 20.0, 30.0):
        recorder.record(lims.client.id, "registry.staff", "accepted", 1000, latency, now=now)
    recorder.record(
        lims.client.id, "registry.staff", "exchange-signature-invalid", 500, 90.0, now=now
    )
    recorder.record(lims.client.id, "", "stored", 2048, 40.0, now=now - dt.timedelta(hours=2))
    recorder.record(hmac_lims.client.id, "registry.labs", "validation", 10, 1.0, now=now)
    assert recorder.flush(session_factory) == 4
    three_days_ago = hour_of(now) - dt.timedelta(days=3)
    db.add(
        ClientStat(
            client_id=lims.client.id,
            hour=three_days_ago,
            message_type="registry.staff",
            outcome="accepted",
            count=7,
            bytes=7000,
            latency_ms_sum=70.0,
            latency_ms_max=15.0,
        )
    )
    db.add(
        Alert(
            rule_id="client_error_spike",
            key=f"client:{lims.client.id}",
            severity="warning",
            subject_type="exchange_client",
            subject_id=str(lims.client.id),
            subject_repr=lims.client.name,
            institution_id=lims.institution.id,
            region_code=lims.institution.region_code,
        )
    )
    db.commit()

    http = browser_client
    _as(http, factory.user(Role.CITY_AUTHORITY, region_code="360400"))
    page = http.get("/exchange/monitor")
    assert page.status_code == 200
    # name and institution, status, requests, refused (ratio), awaiting files, bytes, latency,
    # last seen, alerts
    cells = _cells(page.text, lims.client.id)
    assert cells[2:6] == ["5", "1（20.0%）", "0", "5.4 KB"]  # 3 × 1000 + 500 + 2048 bytes
    assert cells[6] == "38 / 90 ms"  # (10 + 20 + 30 + 90 + 40) / 5, max 90
    assert lims.institution.name in cells[0]
    assert cells[7] == now.astimezone(factory.settings.tz).strftime("%Y-%m-%d %H:%M")
    assert "业务系统报送被拒比例异常" in cells[8]
    other = _cells(page.text, hmac_lims.client.id)
    assert other[2:4] == ["1", "1（100.0%）"]
    assert other[7] == "从未"  # a refusal is no sign of life
    totals = _text(page.text)
    assert re.search(r"请求 6 次", totals)
    assert "签名无效" in page.text
    assert "exchange-signature-invalid" not in page.text  # the problem type by its title only
    _speaks_labels(page.text, "签名无效")
    assert "文件上传" in page.text
    assert "文件已保存" in page.text
    assert "业务系统报送被拒比例异常" in page.text  # the open alerts table
    assert 'id="hourly-data"' in page.text

    week = http.get("/exchange/monitor?hours=168")
    assert _cells(week.text, lims.client.id)[2:4] == ["12", "1（8.3%）"]
    one = http.get(f"/exchange/monitor?client_id={hmac_lims.client.id}")
    assert f'data-client="{lims.client.id}"' not in one.text
    assert _cells(one.text, hmac_lims.client.id)[2] == "1"
    assert http.get("/exchange/monitor?hours=0").status_code == 400

    listing = http.get("/exchange/clients")
    assert "被拒 1" in listing.text

    # An institution sees its own client only; a region elsewhere sees none of them.
    _as(http, factory.user(Role.INSTITUTION_ADMIN, institution=lims.institution))
    own = http.get("/exchange/monitor")
    assert _cells(own.text, lims.client.id)[2] == "5"
    assert f'data-client="{hmac_lims.client.id}"' not in own.text
    _as(http, factory.user(Role.AUDITOR, region_code="440000"))
    far = http.get("/exchange/monitor")
    assert far.status_code == 200
    assert "data-client=" not in far.text
    assert re.search(r'data-testid="total-count">0<', far.text)


def test_institution_admin_without_institution_cannot_apply(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    inst = factory.institution()
    lab_admin = factory.user(Role.INSTITUTION_ADMIN, institution=inst)
    lab_admin.institution_id = None
    db.commit()
    csrf = _as(browser_client, lab_admin)
    response = _apply(browser_client, csrf)
    assert response.status_code == 422
    assert "本账号没有关联检测机构" in response.text
    assert db.scalar(select(func.count()).select_from(Client)) == 0
