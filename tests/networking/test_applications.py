"""A platform applies online to become a child (000 6.0.7; docs/networking.md, 申请接入): the
signed application and its status on the API, the province's pages that approve (address
checked, the child registered with the applicant's own key) or reject it, and the applicant's
``jcjg network apply`` / ``application``. Every refusal says why in Chinese and writes nothing."""

from __future__ import annotations

import functools
import json
import re
import types
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.sessions import principal_for
from jcjg.client.signing import load_key, signed_headers
from jcjg.config import Settings
from jcjg.exchange.models import ClientKey
from jcjg.ledger import service as ledger
from jcjg.ledger.note import Signer, Verifier, generate_signer, sign_note
from jcjg.networking import applications, applying
from jcjg.networking import service as networking_service
from jcjg.networking.applications import APPLICATIONS_PATH, key_id_for, proof_text
from jcjg.networking.models import Application, Child
from tests.factories import Factory, login, page_csrf
from tests.lists import sheet

URL = "http://testserver" + APPLICATIONS_PATH
_SKEY, LOG_KEY = generate_signer("jcjg.jdz.example.cn/ledger")
LOG_SIGNER = Signer(_SKEY)  # the applicant's log key: it signs the proof


def _proof(key: Ed25519PrivateKey, signer: Signer = LOG_SIGNER) -> str:
    text = proof_text(ledger.log_identity().origin, key_id_for(_raw(key)))
    return sign_note(text, signer).decode()


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _fields(**changes: Any) -> dict[str, Any]:
    return {
        "name": "景德镇市建设工程检测监管平台",
        "region_code": "360200",
        "base_url": "https://jcjg.jdz.example.cn",
        "log_key": LOG_KEY,
        "contact_name": "王工",
        "contact_phone": "13907981234",
        "contact_email": "jcjg@jdz.example.cn",
        "note": "景德镇市住建局建设工程检测监管平台申请接入省平台",
    } | changes


def _post(
    http: TestClient,
    key: Ed25519PrivateKey,
    data: dict[str, Any] | None = None,
    *,
    body: bytes | None = None,
    key_id: str | None = None,
    signer: Ed25519PrivateKey | None = None,
) -> Any:
    """Post an application with ``key``'s public key in it, signed by ``signer`` (``key``)."""
    if body is None:
        pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        given = data or _fields()
        body = json.dumps(
            {"log_proof": _proof(key)} | given | {"public_key": pem.decode()}
        ).encode()
    signing = signer or key
    headers = signed_headers(
        "POST",
        URL,
        key_id=key_id or key_id_for(_raw(signing)),
        key=load_key("ed25519", signing),
        body=body,
        content_type="application/json",
    )
    return http.post(APPLICATIONS_PATH, content=body, headers=headers)


def _status(http: TestClient, reference: str, key: Ed25519PrivateKey) -> Any:
    url = f"{URL}/{reference}"
    headers = signed_headers("GET", url, key_id=key_id_for(_raw(key)), key=load_key("ed25519", key))
    return http.get(f"{APPLICATIONS_PATH}/{reference}", headers=headers)


def _count(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Application)) or 0


def _problem(response: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text[:800]
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    if slug:
        assert problem["type"].endswith(slug), problem
    assert re.search(r"[\u4e00-\u9fff]", problem.get("detail") or problem["title"])
    return problem


# --- the API --------------------------------------------------------------------------------


@pytest.mark.sqlite
def test_an_application_is_kept_once_and_its_status_read_with_its_key(
    client: TestClient, db: Session
) -> None:
    key = Ed25519PrivateKey.generate()
    sent = _post(client, key)
    assert sent.status_code == 201, sent.text
    answer = sent.json()
    assert answer["status"] == "pending"
    assert answer["key_id"] is None
    assert answer["upstream_log_key"] is None
    assert sent.headers["location"] == f"{APPLICATIONS_PATH}/{answer['reference']}"
    row = db.scalar(select(Application).where(Application.reference == answer["reference"]))
    assert row is not None
    assert row.public_key == _raw(key)
    assert row.log_origin == "jcjg.jdz.example.cn/ledger"
    assert (row.contact_phone, row.status) == ("13907981234", "pending")

    again = _post(client, key)  # the same key sending again: its own application back
    assert again.status_code == 200
    assert again.json()["reference"] == answer["reference"]
    assert _count(db) == 1

    status = _status(client, answer["reference"], key)
    assert status.status_code == 200, status.text
    assert status.json()["status"] == "pending"
    # another key, or no signature, learns nothing of it
    _problem(_status(client, answer["reference"], Ed25519PrivateKey.generate()), 404,
             "network-application-not-found")  # fmt: skip
    _problem(client.get(f"{APPLICATIONS_PATH}/{answer['reference']}"), 401)
    _problem(_status(client, "A" * 24, key), 404, "network-application-not-found")
    for bad in ("short", "x" * 33, "a%00" + "b" * 20, "../../" + "a" * 20):
        assert client.get(f"{APPLICATIONS_PATH}/{bad}").status_code in (400, 404, 422), bad


@pytest.mark.sqlite
def test_bad_applications_are_refused_in_chinese_and_nothing_is_kept(
    client: TestClient, db: Session
) -> None:
    key = Ed25519PrivateKey.generate()
    # not signed, signed by another key, or under another key's id
    _problem(client.post(APPLICATIONS_PATH, json=_fields()), 401)
    _problem(_post(client, key, signer=Ed25519PrivateKey.generate()), 401,
             "network-application-key-mismatch")  # fmt: skip
    _problem(_post(client, key, key_id="apply-" + "0" * 32), 401,
             "network-application-key-mismatch")  # fmt: skip
    # the body altered after signing
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    body = json.dumps(_fields() | {"public_key": pem, "log_proof": _proof(key)}).encode()
    headers = signed_headers("POST", URL, key_id=key_id_for(_raw(key)),
                             key=load_key("ed25519", key), body=body,
                             content_type="application/json")  # fmt: skip
    altered = body.replace(b"360200", b"360300", 1)
    assert altered != body
    _problem(client.post(APPLICATIONS_PATH, content=altered, headers=headers), 401,
             "exchange-digest-mismatch")  # fmt: skip

    # malformed, wrong types, control characters, unknown fields, too large
    for raw in (b"{", b"[]", b"\xff\xfe"):
        _problem(_post(client, key, body=raw), 422)
    for changes, field in (
        ({"region_code": 360200}, "region_code"),
        ({"name": "景德镇\x00平台"}, "name"),
        ({"name": ""}, "name"),
        ({"contact_phone": "12"}, "contact_phone"),
        ({"contact_email": "不是邮箱"}, "contact_email"),
        ({"extra": 1}, "extra"),
    ):
        problem = _problem(_post(client, key, _fields(**changes)), 422)
        assert any(e["field"].endswith(field) for e in problem["errors"]), (field, problem)
    not_a_key = json.dumps(_fields(public_key="not a key", log_proof=_proof(key))).encode()
    problem = _problem(_post(client, key, body=not_a_key), 422)
    assert problem["errors"][0]["field"].endswith("public_key")
    huge = json.dumps(_fields(note="长" * 40_000)).encode()
    _problem(_post(client, key, body=huge), 413)
    # every field's problem at once: a region that does not exist, an address with a query,
    # a log key that is not one
    problem = _problem(
        _post(client, key, _fields(region_code="369999", base_url="ftp://x?y", log_key="abc")),
        422,
    )
    assert {e["field"] for e in problem["errors"]} == {"region_code", "base_url", "log_key"}
    # a real platform's public log key and address, without its log's private key: refused
    stranger = generate_signer("jcjg.jdz.example.cn/ledger")[0]
    for proof in (
        _proof(key, Signer(stranger)),
        "not a note",
        _proof(Ed25519PrivateKey.generate()),
    ):
        problem = _problem(_post(client, key, _fields(log_proof=proof)), 422)
        assert [e["field"] for e in problem["errors"]] == ["log_proof"], proof
    assert _count(db) == 0


@pytest.mark.sqlite
def test_a_log_already_a_child_or_already_applied_for_is_refused(
    client: TestClient, db: Session, settings: Settings
) -> None:
    first = Ed25519PrivateKey.generate()
    assert _post(client, first).status_code == 201
    problem = _problem(_post(client, Ed25519PrivateKey.generate()), 409,
                       "network-application-exists")  # fmt: skip
    assert "待审批" in problem["detail"]
    px_skey, px_key = generate_signer("jcjg.px.example.cn/ledger")
    other = _fields(log_key=px_key, region_code="360300", log_proof=_proof(first, Signer(px_skey)))
    _problem(_post(client, first, other), 409)  # one key, one application
    from jcjg.networking.service import register_child

    register_child(db, settings, name="萍乡市检测监管平台", region_code="360300",
                   base_url="https://jcjg.px.example.cn", log_key=other["log_key"])  # fmt: skip
    db.commit()
    third = Ed25519PrivateKey.generate()
    other["log_proof"] = _proof(third, Signer(px_skey))
    problem = _problem(_post(client, third, other), 409, "network-application-exists")
    assert "已登记为下级平台" in problem["detail"]
    assert _count(db) == 1


# --- the pages --------------------------------------------------------------------------------


def _as(http: TestClient, factory: Factory, role: Role, region: str) -> str:
    http.cookies.clear()
    login(http, factory.user(role, region_code=region).username)
    return page_csrf(http)


def _applied(http: TestClient, db: Session, **changes: Any) -> tuple[Application, Any]:
    key = Ed25519PrivateKey.generate()
    sent = _post(http, key, _fields(**changes))
    assert sent.status_code == 201, sent.text
    row = db.scalar(select(Application).where(Application.reference == sent.json()["reference"]))
    assert row is not None
    return row, key


@pytest.mark.sqlite
def test_the_applications_list_filters_counts_exports_and_masks_phones(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    http = browser_client
    _applied(http, db)
    _as(http, factory, Role.PROVINCIAL_AUTHORITY, "360000")
    network = http.get("/network")
    assert "待审批 1" in network.text
    listed = http.get("/network/applications", params={"status": "pending"})
    assert listed.status_code == 200
    assert "景德镇市建设工程检测监管平台" in listed.text
    assert "139****1234" in listed.text
    assert "13907981234" not in listed.text
    assert "共 1 条" in listed.text
    assert (
        http.get("/network/applications", params={"status": "approved"}).text.count(
            "景德镇市建设工程检测监管平台"
        )
        == 0
    )
    assert http.get("/network/applications", params={"status": "bogus"}).status_code == 400
    exported = http.get("/network/applications", params={"format": "xlsx"})
    rows = sheet(exported)
    assert rows[0][:2] == ["申请平台", "行政区划"]
    assert "139****1234" in rows[1]
    assert "待审批" in rows[1]


@pytest.mark.sqlite
def test_the_province_approves_after_checking_the_address_and_the_child_forwards_with_its_key(
    browser_client: TestClient,
    db: Session,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = browser_client
    row, key = _applied(http, db)
    csrf = _as(http, factory, Role.PROVINCIAL_AUTHORITY, "360000")
    page = http.get(f"/network/applications/{row.id}")
    assert page.status_code == 200
    assert key_id_for(_raw(key)) in page.text
    assert "批准接入" in page.text
    assert "13907981234" not in page.text

    # the address does not serve the log key: nothing is approved, the reason is shown
    monkeypatch.setattr(applications, "check_address", lambda url, key: "回答 HTTP 404")
    decide = f"/network/applications/{row.id}/decision"
    failed = http.post(decide, data={"csrf_token": csrf, "decision": "approve"})
    assert failed.status_code == 422
    assert "地址核验未通过" in failed.text
    assert db.scalar(select(func.count()).select_from(Child)) == 0

    served: list[tuple[str, str]] = []
    monkeypatch.setattr(applications, "check_address",
                        lambda url, log_key: served.append((url, log_key)))  # fmt: skip
    done = http.post(decide, data={"csrf_token": csrf, "decision": "approve"},
                     follow_redirects=False)  # fmt: skip
    assert done.status_code == 303, done.text[:500]
    assert served == [("https://jcjg.jdz.example.cn", LOG_KEY)]
    db.expire_all()
    assert row.status == "approved"
    assert row.child_id is not None
    child = db.get_one(Child, row.child_id)
    assert (child.name, child.region_code) == ("景德镇市建设工程检测监管平台", "360200")
    forward_key = db.scalar(select(ClientKey).where(ClientKey.key_id == row.key_id))
    assert forward_key is not None
    assert forward_key.key_material == _raw(key)
    assert "已批准接入" in http.get(done.headers["location"]).text

    answer = _status(http, row.reference, key).json()
    assert answer["status"] == "approved"
    assert answer["key_id"] == row.key_id
    assert answer["upstream_url"] == "http://testserver"
    assert answer["upstream_log_key"] == ledger.log_identity().vkey
    again = http.post(decide, data={"csrf_token": csrf, "decision": "approve"})
    assert again.status_code == 409
    assert "该申请已处理" in again.text


@pytest.mark.sqlite
def test_a_rejection_needs_a_reason_and_the_applicant_reads_it(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    http = browser_client
    row, key = _applied(http, db)
    csrf = _as(http, factory, Role.PROVINCIAL_AUTHORITY, "360000")
    decide = f"/network/applications/{row.id}/decision"
    empty = http.post(decide, data={"csrf_token": csrf, "decision": "reject", "reason": " "})
    assert empty.status_code == 422
    assert "请写明不批准的理由" in empty.text
    unknown = http.post(decide, data={"csrf_token": csrf, "decision": "maybe"})
    assert unknown.status_code == 422
    assert "请选择批准或不批准" in unknown.text
    db.expire_all()
    assert row.status == "pending"
    why = "平台地址尚未备案，请备案后重新申请"
    done = http.post(decide, data={"csrf_token": csrf, "decision": "reject", "reason": why},
                     follow_redirects=False)  # fmt: skip
    assert done.status_code == 303
    assert why in http.get(done.headers["location"]).text
    answer = _status(http, row.reference, key).json()
    assert (answer["status"], answer["reason"], answer["key_id"]) == ("rejected", why, None)


@pytest.mark.sqlite
def test_applications_are_seen_and_decided_within_scope(
    browser_client: TestClient, db: Session, factory: Factory
) -> None:
    http = browser_client
    row, _ = _applied(http, db)  # 景德镇 (360200)
    _as(http, factory, Role.CITY_AUTHORITY, "360100")  # 南昌 does not see it
    assert "景德镇" not in http.get("/network/applications").text
    assert http.get(f"/network/applications/{row.id}").status_code == 404
    csrf = _as(http, factory, Role.CITY_AUTHORITY, "360200")  # its own city reads, not decides
    assert http.get(f"/network/applications/{row.id}").status_code == 200
    decide = f"/network/applications/{row.id}/decision"
    refused = http.post(decide, data={"csrf_token": csrf, "decision": "reject", "reason": "不同意"})
    assert refused.status_code == 403
    _as(http, factory, Role.INSTITUTION_ADMIN, "360200")
    assert http.get("/network/applications").status_code == 403
    db.expire_all()
    assert row.status == "pending"


# --- the applicant's commands ------------------------------------------------------------------


@pytest.mark.sqlite
@pytest.mark.parametrize(("crypto", "alg"), [("standard", "ed25519"), ("sm", "sm2-sm3")])
def test_jcjg_network_apply_and_application(
    client: TestClient,
    db: Session,
    settings: Settings,
    factory: Factory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    crypto: str,
    alg: str,
) -> None:
    """A child applies with the key its profile signs with: Ed25519, or SM2 (and an SM2 log
    key and proof) under the national profile; the parent verifies either."""
    from jcjg.cli import main

    monkeypatch.setattr(ledger, "_identity", ledger.log_identity())  # kept for the next tests
    # one process plays both platforms: `network apply` configures the applicant's log, the
    # parent's checks must still see the parent's own
    parent_log = ledger.log_identity()
    monkeypatch.setattr(
        networking_service, "ledger", types.SimpleNamespace(log_identity=lambda: parent_log)
    )
    # the commands talk to this app
    monkeypatch.setattr(applying, "send", functools.partial(applying.send, http=client))
    monkeypatch.setattr(applying, "status",
                        functools.partial(applying.status, http=client))  # fmt: skip
    monkeypatch.setenv("JCJG_BASE_URL", "https://jcjg.jdz.example.cn")
    monkeypatch.setenv("JCJG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("JCJG_CRYPTO", crypto)
    from jcjg.config import reread_settings

    reread_settings()
    key = tmp_path / "upstream-key.pem"
    runner = CliRunner()
    name = f"景德镇市检测监管平台{'（国密）' if crypto == 'sm' else ''}"
    args = ["network", "apply", "--parent", "http://testserver", "--name", name,
            "--region", "360200", "--contact-name", "王工", "--contact-phone", "13907981234",
            "--key", str(key)]  # fmt: skip
    result = runner.invoke(main, args)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    assert "待审批" in result.output
    assert key.stat().st_mode & 0o077 == 0  # the private key is the owner's alone
    row = db.scalar(select(Application).where(Application.name == name))
    assert row is not None
    assert Verifier(row.log_key).is_sm2 == (crypto == "sm")
    assert row.base_url == "https://jcjg.jdz.example.cn"

    user = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    principal = principal_for(db=db, user=user, settings=settings)
    applications.approve(db, settings, row, principal, skip_address_check=True)
    db.commit()
    shown = runner.invoke(main, ["network", "application", "--key", str(key)])
    assert shown.exit_code == 0, shown.output
    assert f"JCJG_UPSTREAM_KEY_ID={row.key_id}" in shown.output
    assert "JCJG_UPSTREAM_URL=http://testserver" in shown.output
    assert f"JCJG_UPSTREAM_KEY_ALG={alg}" in shown.output
    issued = db.scalar(select(ClientKey).where(ClientKey.key_id == row.key_id))
    assert issued is not None
    assert issued.alg == alg
    assert "PRIVATE KEY" not in shown.output  # the key stays in its file

    again = runner.invoke(main, [*args[:-2], "--key", str(tmp_path / "other.pem")])
    assert again.exit_code != 0
    assert "上级平台拒绝" in again.output


def test_the_address_check_reads_the_applicants_log_key() -> None:
    """Approving asks ``<base_url>/ledger/key``: the same key passes; another key, an error
    status, a closed port each say why in Chinese."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    served = {"/ledger/key": LOG_KEY + "\n"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = served.get(self.path)
            self.send_response(200 if body else 404)
            self.end_headers()
            self.wfile.write((body or "").encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        assert applications.check_address(base, LOG_KEY) is None
        other = applications.check_address(base, generate_signer("x.example.cn/ledger")[1])
        assert other is not None
        assert "日志公钥与申请中的不同" in other
        missing = applications.check_address(base + "/elsewhere", LOG_KEY)
        assert missing is not None
        assert "HTTP 404" in missing
    finally:
        server.shutdown()
        server.server_close()
    closed = applications.check_address(base, LOG_KEY, timeout=2)
    assert closed is not None
    assert "无法连接" in closed


def test_a_child_log_is_never_this_platforms_own_nor_a_cosigner_key() -> None:
    """This platform cosigns its children's checkpoints: a child registered under this log's
    own name could have it sign that name's checkpoints; a cosigner's key is no log key."""
    from jcjg.core.errors import ValidationFailed
    from jcjg.networking.service import log_origin

    own = ledger.log_identity()
    with pytest.raises(ValidationFailed) as same:
        log_origin(own.vkey)
    assert "同名" in same.value.errors[0].message
    with pytest.raises(ValidationFailed) as cosigning:
        log_origin(own.cosigner.vkey)
    assert "副署密钥" in cosigning.value.errors[0].message
    _, other = generate_signer("jcjg.jdz.example.cn/ledger")
    assert log_origin(other) == "jcjg.jdz.example.cn/ledger"
