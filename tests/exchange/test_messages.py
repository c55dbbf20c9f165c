"""POST /exchange/v1/messages/{type}: receipts, duplicates, and every reason to refuse.

Each refusal is checked for its status, its stable problem type, and that nothing was stored:
no message, no domain row, no ledger leaf, no remembered nonce.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.audit.models import AuditLog
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.exchange import apply, clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import ExchangeFile, Message, SeenNonce
from jcjg.governance import checks
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf, LedgerQueued
from jcjg.ledger.note import parse_checkpoint
from jcjg.registry.models import Equipment, Lab, Person
from tests.exchange.conftest import BASE, Lims, apply_waiting, make_lims
from tests.factories import Factory, catalogue

LABS = [
    {"name": "力学室", "address": "南宁市民族大道 1 号", "area_m2": "120.50", "specialties": ["01"]}
]
PATH = "/exchange/v1/messages/registry.labs"


@pytest.fixture(autouse=True)
def _catalogue(db: Session) -> None:
    catalogue(db, "01")
    db.commit()


def counts(db: Session) -> tuple[int, ...]:
    db.expire_all()
    return tuple(
        db.scalar(select(func.count()).select_from(model)) or 0
        for model in (Message, Lab, LedgerQueued, SeenNonce)
    )


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    """The problem of a message refused in its request, or rejected when applied."""
    assert response.status_code == status, response.text
    if not getattr(response, "rejected", False):
        assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"/problems/{slug}", body
    assert body["title"]
    assert body["detail"]
    return body


def send(client: TestClient, lims: Lims, body: bytes, path: str = PATH, **sign: Any) -> Any:
    headers = lims.headers("POST", path, body, **sign)
    return client.post(path, content=body, headers=headers)


# --- accepted, duplicate, conflict --------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ed25519", "hmac-sha256"])
def test_accepted_receipt_is_notarised_and_message_kept_verbatim(
    client: TestClient, db: Session, settings: Settings, factory: Factory, alg: str
) -> None:
    lims = make_lims(db, settings, factory, alg=alg)
    payload = lims.message(labs=LABS)
    body = json.dumps(payload, ensure_ascii=False, indent=1).encode()  # not canonical on purpose
    response = send(client, lims, body)
    assert response.status_code == 202, response.text
    receipt = response.json()
    assert receipt["receipt_version"] == 2
    assert receipt["status"] == "accepted"
    assert receipt["message_id"] == payload["message_id"]
    assert receipt["status_url"] == f"{PATH}/{payload['message_id']}"
    assert "results" not in receipt  # applied behind: the status says what it did
    db.expire_all()
    row = db.scalars(select(Message)).one()
    assert row.body == body  # verbatim
    assert row.status == "accepted"
    assert row.leaf_hash.hex() == receipt["leaf_hash"]
    assert db.scalars(select(Lab)).all() == []  # not applied yet
    assert apply_waiting(client) == 1
    status = lims.status(client, "registry.labs", payload["message_id"]).json()
    assert status["status"] == "applied"
    assert status["results"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert status["receipt"] == receipt
    assert status["ledger"] is None  # promised, not yet in the log
    db.expire_all()
    lab = db.scalars(select(Lab)).one()
    assert lab.institution_id == lims.institution.id
    assert str(lab.area_m2) == "120.50"
    # the sequencer gives the leaf its index; the status then proves it is in the log
    ledger.integrate(db)
    db.commit()
    status = lims.status(client, "registry.labs", payload["message_id"]).json()
    found = status["ledger"]
    leaf = db.scalars(select(LedgerLeaf).where(LedgerLeaf.leaf_index == found["index"])).one()
    assert leaf.leaf_hash.hex() == receipt["leaf_hash"]
    assert leaf.entry_type == "message:registry.labs"
    root = parse_checkpoint(found["checkpoint"].split("\n\n")[0] + "\n").root
    assert merkle.verify_inclusion(
        leaf.leaf_hash,
        found["index"],
        found["size"],
        [bytes.fromhex(h) for h in found["hashes"]],
        root,
    )


def test_same_message_again_is_a_duplicate_with_the_same_receipt(
    client: TestClient, db: Session, lims: Lims
) -> None:
    payload = lims.message(labs=LABS)
    first = lims.post(client, "registry.labs", payload).response.json()
    # Re-sent with other whitespace and key order: the same content, a new signature and nonce.
    again = send(client, lims, json.dumps(dict(reversed(payload.items()))).encode())
    assert again.status_code == 200
    second = again.json()
    assert second["status"] == "duplicate"
    assert {k: v for k, v in second.items() if k != "status"} == {
        k: v for k, v in first.items() if k != "status"
    }
    assert apply_waiting(client) == 0  # nothing new to apply
    assert counts(db)[:3] == (1, 1, 1)


def test_same_id_with_other_content_is_409_and_changes_nothing(
    client: TestClient, db: Session, lims: Lims
) -> None:
    payload = lims.message(labs=LABS)
    assert lims.post(client, "registry.labs", payload).status_code == 200
    before = counts(db)
    changed = {**payload, "labs": [{**LABS[0], "area_m2": "99.00"}]}
    problem(lims.post(client, "registry.labs", changed), 409, "exchange-message-conflict")
    assert counts(db) == before
    assert str(db.scalars(select(Lab)).one().area_m2) == "120.50"


def test_update_by_natural_key_and_unchanged(client: TestClient, db: Session, lims: Lims) -> None:
    lims.post(client, "registry.labs", lims.message(labs=LABS))
    moved = [{**LABS[0], "address": "南宁市民族大道 2 号"}]
    receipt = lims.post(client, "registry.labs", lims.message(labs=moved)).json()
    assert receipt["results"] == {"created": 0, "updated": 1, "unchanged": 0}
    receipt = lims.post(client, "registry.labs", lims.message(labs=moved)).json()
    assert receipt["results"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert db.scalars(select(Lab)).one().address == "南宁市民族大道 2 号"


def test_a_row_renewed_in_place_is_written_logged_and_judged_as_by_a_flush(
    client: TestClient, db: Session, lims: Lims
) -> None:
    """A record that only renews columns of a row the platform holds is written without the
    unit of work (core.db.update_in_place): the same row, one change row with the columns
    that changed, its rules run; sent again unchanged, nothing is written nor logged."""
    lims.post(client, "registry.labs", lims.message(labs=LABS))
    record = {"asset_number": "LX-001", "name": "万能试验机", "lab_name": "力学室"}
    lims.post(client, "registry.equipment", lims.message(equipment=[record]))
    expired = (utcnow().date() - dt.timedelta(days=3)).isoformat()
    renewed = [{**record, "calibration_valid_until": expired, "model": "WAW-1000B"}]
    receipt = lims.post(client, "registry.equipment", lims.message(equipment=renewed)).json()
    assert receipt["results"] == {"created": 0, "updated": 1, "unchanged": 0}
    assert "calibration_expired" in [w["code"] for w in receipt["warnings"]]  # judged
    db.expire_all()
    row = db.scalars(select(Equipment)).one()
    assert (row.calibration_valid_until.isoformat(), row.model) == (expired, "WAW-1000B")
    logged = db.scalars(
        select(AuditLog).where(AuditLog.object_type == "equipment").order_by(AuditLog.id)
    ).all()
    assert [entry.action for entry in logged] == ["create", "update"]
    assert logged[1].before == {"calibration_valid_until": None, "model": None}
    assert logged[1].after == {"calibration_valid_until": expired, "model": "WAW-1000B"}
    assert (logged[1].object_id, logged[1].object_repr) == (str(row.id), "万能试验机")
    again = lims.post(client, "registry.equipment", lims.message(equipment=renewed)).json()
    assert again["results"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert db.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.object_type == "equipment")) == 2  # fmt: skip


def test_rule_findings_come_back_as_warnings(client: TestClient, db: Session, lims: Lims) -> None:
    lims.post(client, "registry.labs", lims.message(labs=LABS))
    expired = (utcnow().date() - dt.timedelta(days=3)).isoformat()
    equipment = [
        {
            "asset_number": "LX-001",
            "name": "万能试验机",
            "calibration_valid_until": expired,
            "lab_name": "力学室",
        }
    ]
    receipt = lims.post(client, "registry.equipment", lims.message(equipment=equipment)).json()
    assert receipt["status"] == "accepted"
    codes = [w["code"] for w in receipt["warnings"]]
    assert "calibration_expired" in codes
    alert = db.scalars(select(Alert).where(Alert.rule_id == "calibration_expired")).one()
    assert alert.institution_id == lims.institution.id
    # Renewed calibration: the alert closes, no warning any more.
    renewed = [{**equipment[0], "calibration_valid_until": "2099-01-01"}]
    receipt = lims.post(client, "registry.equipment", lims.message(equipment=renewed)).json()
    assert "calibration_expired" not in [w["code"] for w in receipt["warnings"]]


# --- validation ---------------------------------------------------------------------------------


def test_every_failing_field_is_listed_in_chinese(
    client: TestClient, db: Session, lims: Lims
) -> None:
    before = counts(db)
    bad = lims.message(labs=[{"name": "", "address": "x", "area_m2": "-1", "extra": 1}])
    bad["message_id"] = "not-a-uuid"
    body = problem(lims.post(client, "registry.labs", bad), 422, "validation")
    fields = {e["field"] for e in body["errors"]}
    assert {"message_id", "labs.0.name", "labs.0.area_m2", "labs.0.extra"} <= fields
    assert all(e["message"] for e in body["errors"])
    assert counts(db) == before


def test_unknown_catalogue_code_and_lab_are_rejected_when_applied(
    client: TestClient, db: Session, lims: Lims
) -> None:
    """What needs domain state is decided when the message is applied: the message is kept
    (it was accepted and notarised), rejected with the problem, and nothing of it written."""
    bad = lims.message(labs=[{**LABS[0], "specialties": ["77"]}])
    answer = lims.post(client, "registry.labs", bad)
    assert answer.response.status_code == 202
    assert answer.rejected
    body = problem(answer, 422, "validation")
    assert "77" in body["errors"][0]["message"]
    assert body["instance"] == f"{PATH}/{bad['message_id']}"
    people = [{"id_number": "11010519491231002X", "name": "张三", "lab_name": "不存在的室"}]
    problem(lims.post(client, "registry.staff", lims.message(people=people)), 422, "validation")
    db.expire_all()
    assert [m.status for m in db.scalars(select(Message).order_by(Message.id))] == [
        "rejected",
        "rejected",
    ]
    assert db.scalars(select(Lab)).all() == []
    assert db.scalars(select(Person)).all() == []


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", "\ufeff{}".encode(), b'{"a": NaN}', b"\xff\xfe"],
    ids=["malformed", "array", "bom", "nan", "not-utf8"],
)
def test_bad_json_is_refused(client: TestClient, db: Session, lims: Lims, body: bytes) -> None:
    before = counts(db)
    response = send(client, lims, body)
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/exchange-invalid-json"
    assert counts(db) == before


@pytest.mark.parametrize("where", ["top", "nested"])
def test_a_key_twice_in_one_object_is_refused(
    client: TestClient, db: Session, lims: Lims, where: str
) -> None:
    """Issue 40: json.loads keeps the last of two equal keys, so the stored body (byte for
    byte) would say what was not applied: a key twice in one object is a 422, nothing kept."""
    message = lims.message(labs=LABS)
    body = json.dumps(message, ensure_ascii=False)
    if where == "top":
        twice = body[:-1] + f', "institution_code": "{lims.institution.code}"}}'
    else:
        twice = body.replace('"name": "力学室"', '"name": "力学室", "name": "化学室"', 1)
        assert twice != body
    before = counts(db)
    response = send(client, lims, twice.encode())
    body_ = problem(response, 422, "validation")
    key = "institution_code" if where == "top" else "name"
    said = f"键“{key}”在同一个对象中出现多次：每个键只能出现一次"
    assert body_["errors"] == [{"field": "body", "code": "duplicate_key", "message": said}]
    assert counts(db) == before
    assert send(client, lims, body.encode()).status_code == 202  # once each: accepted


def test_numbers_beyond_ieee_safe_range_are_refused(client: TestClient, lims: Lims) -> None:
    body = json.dumps({**lims.message(labs=LABS), "x": 2**60}).encode()
    problem(send(client, lims, body), 422, "validation")


# --- institution, type, media, size, rate -------------------------------------------------------


def test_other_institutions_data_is_403(
    client: TestClient, db: Session, settings: Settings, factory: Factory, lims: Lims
) -> None:
    other = factory.institution()
    db.commit()
    before = counts(db)
    payload = {**lims.message(labs=LABS), "institution_code": other.code}
    problem(lims.post(client, "registry.labs", payload), 403, "exchange-wrong-institution")
    payload["institution_code"] = "NO-SUCH"
    problem(lims.post(client, "registry.labs", payload), 403, "exchange-wrong-institution")
    assert counts(db) == before


def test_platform_peer_may_send_for_institutions_in_its_region_only(
    client: TestClient, db: Session, settings: Settings, factory: Factory
) -> None:
    inside = factory.institution(region_code="360403")
    outside = factory.institution(region_code="360102")
    peer = clients.create_client(
        db,
        name="九江市平台",
        institution=None,
        region_code="360400",
        kind=clients.ClientKind.PLATFORM,
        status=ClientStatus.ACTIVE,
    )
    issued = clients.issue_key(db, peer, settings, alg="hmac-sha256")
    db.commit()
    from jcjg.client.signing import load_key

    assert issued.secret is not None
    lims = Lims(inside, peer, issued.key.key_id, load_key("hmac-sha256", issued.secret))
    assert lims.post(client, "registry.labs", lims.message(labs=LABS)).status_code == 200
    payload = {**lims.message(labs=LABS), "institution_code": outside.code}
    problem(lims.post(client, "registry.labs", payload), 403, "exchange-wrong-institution")
    payload["institution_code"] = "NO-SUCH"
    problem(lims.post(client, "registry.labs", payload), 422, "validation")


def test_unknown_type_is_404(client: TestClient, db: Session, lims: Lims) -> None:
    before = counts(db)
    response = send(client, lims, b"{}", path="/exchange/v1/messages/no.such")
    problem(response, 404, "exchange-unknown-type")
    assert counts(db) == before


def test_wrong_content_type_is_415(client: TestClient, lims: Lims) -> None:
    body = json.dumps(lims.message(labs=LABS)).encode()
    response = send(client, lims, body, content_type="text/plain")
    problem(response, 415, "unsupported-media-type")


def test_too_large_is_413(client: TestClient, db: Session, lims: Lims, settings: Settings) -> None:
    before = counts(db)
    big = json.dumps(
        {**lims.message(labs=LABS), "pad": "x" * settings.exchange_max_body_bytes}
    ).encode()
    problem(send(client, lims, big), 413, "too-large")
    assert counts(db) == before


def test_rate_limit_per_client_is_429_with_retry_after(
    client: TestClient, db: Session, settings: Settings, factory: Factory, lims: Lims
) -> None:
    from jcjg.core.ratelimit import RateLimiter

    client.app.state.rate_limiters["exchange"] = RateLimiter(2)  # type: ignore[attr-defined]
    other = make_lims(db, settings, factory)
    assert lims.post_raw(client, "registry.labs", lims.message(labs=LABS)).status_code == 202
    assert lims.post_raw(client, "registry.labs", lims.message(labs=LABS)).status_code == 202
    before = counts(db)
    response = lims.post_raw(client, "registry.labs", lims.message(labs=LABS))
    problem(response, 429, "too-many-requests")
    assert int(response.headers["retry-after"]) >= 1
    assert counts(db) == before
    # Another client has its own budget.
    assert other.post_raw(client, "registry.labs", other.message(labs=LABS)).status_code == 202


# --- signatures ---------------------------------------------------------------------------------


def _body(lims: Lims) -> bytes:
    return json.dumps(lims.message(labs=LABS)).encode()


def test_no_signature_is_401(client: TestClient, db: Session, lims: Lims) -> None:
    before = counts(db)
    response = client.post(PATH, content=_body(lims), headers={"content-type": "application/json"})
    problem(response, 401, "exchange-signature-missing")
    assert counts(db) == before


def test_malformed_signature_is_401(client: TestClient, lims: Lims) -> None:
    body = _body(lims)
    headers = lims.headers("POST", PATH, body)
    headers["Signature"] = "sig1=not-bytes"
    problem(client.post(PATH, content=body, headers=headers), 401, "exchange-signature-malformed")


def test_unknown_key_is_401(client: TestClient, lims: Lims) -> None:
    body = _body(lims)
    wrong = Lims(lims.institution, lims.client, "c999-000000000000", lims.key)
    problem(send(client, wrong, body), 401, "exchange-key-unknown")


def test_bad_signature_is_401(
    client: TestClient, db: Session, settings: Settings, factory: Factory, lims: Lims
) -> None:
    before = counts(db)
    impostor = make_lims(db, settings, factory)
    forged = Lims(lims.institution, lims.client, lims.key_id, impostor.key)  # lims's id, other key
    problem(send(client, forged, _body(lims)), 401, "exchange-signature-invalid")
    assert counts(db) == before


def test_body_changed_after_signing_is_401(client: TestClient, lims: Lims) -> None:
    body = _body(lims)
    headers = lims.headers("POST", PATH, body)
    tampered = body.replace(b"120.50", b"999.99")
    response = client.post(PATH, content=tampered, headers=headers)
    problem(response, 401, "exchange-digest-mismatch")


def test_digest_header_changed_too_is_a_bad_signature(client: TestClient, lims: Lims) -> None:
    from jcjg.exchange.digest import content_digest

    body = _body(lims)
    headers = lims.headers("POST", PATH, body)
    tampered = body.replace(b"120.50", b"999.99")
    headers["Content-Digest"] = content_digest(tampered)
    problem(client.post(PATH, content=tampered, headers=headers), 401, "exchange-signature-invalid")


def test_path_changed_after_signing_is_401(client: TestClient, lims: Lims) -> None:
    body = _body(lims)
    headers = lims.headers("POST", PATH, body)
    other = "/exchange/v1/messages/registry.staff"
    problem(client.post(other, content=body, headers=headers), 401, "exchange-signature-invalid")


def test_signature_not_covering_the_body_is_401(client: TestClient, lims: Lims) -> None:
    from jcjg.exchange.digest import content_digest
    from jcjg.exchange.signatures import Request, sign_request

    body = _body(lims)
    headers = {"Content-Type": "application/json", "Content-Digest": content_digest(body)}
    headers |= sign_request(
        Request("POST", BASE + PATH, list(headers.items())),
        key_id=lims.key_id,
        alg=lims.key.alg,
        key=lims.key,
        covered=("@method", "@target-uri"),  # body not covered
        created=int(time.time()),
        nonce="n-1",
    )
    problem(client.post(PATH, content=body, headers=headers), 401, "exchange-signature-incomplete")


def test_signature_without_nonce_is_401(client: TestClient, lims: Lims) -> None:
    from jcjg.exchange.digest import content_digest
    from jcjg.exchange.signatures import Request, sign_request

    body = _body(lims)
    headers = {"Content-Type": "application/json", "Content-Digest": content_digest(body)}
    headers |= sign_request(
        Request("POST", BASE + PATH, list(headers.items())),
        key_id=lims.key_id,
        alg=lims.key.alg,
        key=lims.key,
        covered=("@method", "@target-uri", "content-digest", "content-type"),
        created=int(time.time()),
        nonce=None,
    )
    problem(client.post(PATH, content=body, headers=headers), 401, "exchange-signature-incomplete")


@pytest.mark.parametrize("offset", [-330, 330])
def test_created_outside_the_window_is_401(client: TestClient, lims: Lims, offset: int) -> None:
    created = int(time.time()) + offset
    problem(send(client, lims, _body(lims), created=created), 401, "exchange-signature-stale")


def test_created_inside_the_window_is_accepted(client: TestClient, lims: Lims) -> None:
    created = int(time.time()) - 250
    assert send(client, lims, _body(lims), created=created).status_code == 202


def test_expires_passed_is_401(client: TestClient, lims: Lims) -> None:
    created = int(time.time()) - 100
    response = send(client, lims, _body(lims), created=created, expires_in=30)
    problem(response, 401, "exchange-signature-expired")


def test_replayed_nonce_is_401(client: TestClient, db: Session, lims: Lims) -> None:
    body = _body(lims)
    headers = lims.headers("POST", PATH, body)
    assert client.post(PATH, content=body, headers=headers).status_code == 202
    before = counts(db)
    problem(client.post(PATH, content=body, headers=headers), 401, "exchange-nonce-replayed")
    assert counts(db) == before


def test_replayed_nonce_is_401_when_the_checks_read_the_database(
    client: TestClient, db: Session, lims: Lims
) -> None:
    """A replay is refused whichever path its checks take: here the data standard's versions
    have left memory (their time to live ran out), so the request is checked with the database,
    which finds the stored message; the nonce is still the one already seen."""
    body = _body(lims)
    headers = lims.headers("POST", PATH, body)
    assert client.post(PATH, content=body, headers=headers).status_code == 202
    before = counts(db)
    checks.MEMORY.forget()
    problem(client.post(PATH, content=body, headers=headers), 401, "exchange-nonce-replayed")
    assert counts(db) == before
    checks.MEMORY.forget()  # signed anew (a new nonce) the same message is a duplicate
    again = client.post(PATH, content=body, headers=lims.headers("POST", PATH, body))
    assert again.status_code == 200, again.text
    assert again.json()["status"] == "duplicate"
    assert counts(db) == before


def test_a_refused_request_does_not_burn_its_nonce(
    client: TestClient, db: Session, lims: Lims
) -> None:
    """The nonce is remembered in the request's transaction: a refused request leaves none."""
    bad = json.dumps({**lims.message(labs=LABS), "labs": []}).encode()
    assert send(client, lims, bad, nonce="same-nonce").status_code == 422
    assert db.scalar(select(func.count()).select_from(SeenNonce)) == 0


@pytest.mark.parametrize("state", ["revoked", "expired", "not_yet_valid"])
def test_key_states_are_401(client: TestClient, db: Session, lims: Lims, state: str) -> None:
    from jcjg.exchange.models import ClientKey

    key = db.scalars(select(ClientKey).where(ClientKey.key_id == lims.key_id)).one()
    now = utcnow()
    if state == "revoked":
        clients.revoke(db, key, "泄露")
    elif state == "expired":
        key.valid_until = now - dt.timedelta(seconds=1)
    else:
        key.valid_from = now + dt.timedelta(days=1)
    db.commit()
    before = counts(db)
    problem(send(client, lims, _body(lims)), 401, f"exchange-key-{state.replace('_', '-')}")
    assert counts(db) == before


@pytest.mark.parametrize("status", [ClientStatus.SUSPENDED, ClientStatus.PENDING])
def test_inactive_client_is_401(
    client: TestClient, db: Session, lims: Lims, status: ClientStatus
) -> None:
    lims.client.status = status.value
    db.commit()
    problem(send(client, lims, _body(lims)), 401, "exchange-client-inactive")


def test_rotation_keeps_both_keys_valid_during_the_overlap(
    client: TestClient, db: Session, settings: Settings, hmac_lims: Lims
) -> None:
    from jcjg.client.signing import load_key

    issued = clients.rotate(db, hmac_lims.client, settings, overlap_days=7)
    db.commit()
    assert issued.secret is not None
    new = Lims(
        hmac_lims.institution,
        hmac_lims.client,
        issued.key.key_id,
        load_key("hmac-sha256", issued.secret),
    )
    assert hmac_lims.post(client, "registry.labs", hmac_lims.message(labs=LABS)).status_code == 200
    assert new.post(client, "registry.labs", new.message(labs=LABS)).status_code == 200
    old = next(k for k in hmac_lims.client.keys if k.key_id == hmac_lims.key_id)
    db.refresh(old)
    assert old.valid_until is not None
    assert dt.timedelta(days=6) < old.valid_until - utcnow() <= dt.timedelta(days=7)


# --- files --------------------------------------------------------------------------------------


def test_message_with_missing_files_is_422_until_they_arrive(
    client: TestClient, db: Session, lims: Lims
) -> None:
    import hashlib

    lims.post(client, "registry.labs", lims.message(labs=LABS))
    pdf = b"%PDF-1.4 calibration certificate"
    digest = hashlib.sha256(pdf).hexdigest()
    equipment = [
        {"asset_number": "LX-9", "name": "压力试验机", "calibration_certificate_sha256": digest}
    ]
    payload = lims.message(equipment=equipment)
    before = counts(db)
    body = problem(lims.post(client, "registry.equipment", payload), 422, "exchange-files-missing")
    assert body["missing"] == [digest]
    assert counts(db) == before
    path = f"/exchange/v1/blobs/{digest}"
    headers = lims.headers("PUT", path, pdf, content_type="application/pdf")
    assert client.put(path, content=pdf, headers=headers).status_code == 201
    receipt = lims.post(client, "registry.equipment", payload).json()
    assert receipt["status"] == "accepted"
    eq = db.scalars(select(Equipment).where(Equipment.asset_number == "LX-9")).one()
    assert eq.calibration_certificate_sha256 == digest
    assert db.scalars(select(ExchangeFile)).one().client_id == lims.client.id


def test_concurrent_duplicates_store_exactly_one(tmp_path: Any) -> None:
    """Eight copies of one message at once, through the real app on its own committed
    database: one is accepted, the others answer the same receipt as duplicates."""
    import concurrent.futures

    from jcjg.core.db import make_engine, make_sessionmaker
    from jcjg.main import create_app
    from tests.conftest import upgraded_database_url

    url, drop = upgraded_database_url(tmp_path)
    try:
        engine = make_engine(url)
        factory_ = make_sessionmaker(engine)
        settings = Settings(
            env="test",
            secret_key="concurrency-secret-0123456789abcdef",
            database_url=url,
            data_dir=tmp_path / "data",
            embedded_worker=False,
            exchange_stats_flush_seconds=3600,
        )
        with factory_() as session:
            catalogue(session, "01")
            session.commit()
            lims = make_lims(session, settings, Factory(session, settings))
            payload = lims.message(labs=LABS)
        app = create_app(settings, engine=engine, session_factory=factory_)

        def post(_: int) -> dict[str, Any]:
            response = lims.post_raw(http, "registry.labs", payload)
            assert response.status_code in (200, 202), response.text
            result: dict[str, Any] = response.json()
            return result

        # one app serving: its writer stores the copies (group commit), its worker applies
        with TestClient(app) as http, concurrent.futures.ThreadPoolExecutor(8) as pool:
            receipts = list(pool.map(post, range(8)))
        assert sorted(r["status"] for r in receipts) == ["accepted"] + ["duplicate"] * 7
        assert len({r["leaf_hash"] for r in receipts}) == 1
        apply.drain(factory_, settings)
        with factory_() as session:
            assert session.scalar(select(func.count()).select_from(Message)) == 1
            assert session.scalar(select(Message.status)) == "applied"
            assert session.scalar(select(func.count()).select_from(Lab)) == 1
            assert session.scalar(select(func.count()).select_from(LedgerQueued)) == 1
        engine.dispose()
    finally:
        drop()


def test_deeply_nested_json_is_refused_cheaply(client: TestClient, db: Session, lims: Lims) -> None:
    deep: Any = "x"
    for _ in range(200):
        deep = {"k": deep}
    body = json.dumps({**lims.message(labs=LABS), "extra": deep}).encode()
    response = send(client, lims, body)
    problem(response, 422, "validation")
    assert "嵌套" in response.json()["detail"]


def test_staff_signatories_and_capabilities_sync(
    client: TestClient, db: Session, lims: Lims
) -> None:
    """Each registry type creates, updates, leaves alone and (where it may) removes."""
    from jcjg.registry.models import Capability, Person, Signatory

    catalogue(db, "02")
    db.commit()
    assert lims.post(client, "registry.labs", lims.message(labs=LABS)).status_code == 200
    person = {"id_number": "11010519491231002X", "name": "张三", "specialties": ["01"]}
    staff = lims.post(client, "registry.staff", lims.message(people=[person])).json()
    assert staff["results"] == {"created": 1, "updated": 0, "unchanged": 0}
    leaver = {**person, "employed_until": "2026-10-31", "lab_name": "力学室"}
    staff = lims.post(client, "registry.staff", lims.message(people=[leaver])).json()
    assert staff["results"] == {"created": 0, "updated": 1, "unchanged": 0}
    moved = {**leaver, "specialties": ["01", "02"]}  # only the links change: still an update
    staff = lims.post(client, "registry.staff", lims.message(people=[moved])).json()
    assert staff["results"] == {"created": 0, "updated": 1, "unchanged": 0}
    row = db.scalars(select(Person)).one()
    assert str(row.employed_until) == "2026-10-31"
    assert sorted(s.code for s in row.specialties) == ["01", "02"]

    signer = {"id_number": person["id_number"], "position": "技术负责人", "specialties": ["01"]}
    sent = lims.post(client, "registry.signatories", lims.message(signatories=[signer])).json()
    assert sent["results"]["created"] == 1
    sent = lims.post(client, "registry.signatories", lims.message(signatories=[signer])).json()
    assert sent["results"]["unchanged"] == 1
    gone = {**signer, "active": False}
    sent = lims.post(client, "registry.signatories", lims.message(signatories=[gone])).json()
    assert sent["results"]["deleted"] == 1
    assert db.scalar(select(func.count()).select_from(Signatory)) == 0
    stranger = {**signer, "id_number": "110105194912310038"}
    body = problem(
        lims.post(client, "registry.signatories", lims.message(signatories=[stranger])),
        422,
        "validation",
    )
    assert body["errors"][0]["field"] == "signatories.0.id_number"
    assert "请先报送人员信息" in body["errors"][0]["message"]

    both = lims.message(lab_name="力学室", parameters=["010101", "020101"])
    assert lims.post(client, "registry.capabilities", both).json()["results"] == {
        "created": 2, "deleted": 0, "unchanged": 0,
    }  # fmt: skip
    one = lims.message(lab_name="力学室", parameters=["020101"])
    assert lims.post(client, "registry.capabilities", one).json()["results"] == {
        "created": 0, "deleted": 1, "unchanged": 1,
    }  # fmt: skip
    db.expire_all()
    assert [c.parameter.code for c in db.scalars(select(Capability))] == ["020101"]


def test_public_keys_are_read_in_every_form_a_lab_may_give() -> None:
    """PEM, base64 of the raw key, and the raw 32 bytes, even when those begin or end with
    bytes that look like white space (a raw key is not text: nothing may be trimmed)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from jcjg.core.errors import ValidationFailed
    from jcjg.exchange.clients import parse_public_key

    raw = b" " + bytes(range(1, 30)) + b"\n\t"
    assert len(raw) == 32
    key = Ed25519PublicKey.from_public_bytes(raw)  # any 32 bytes load; validity is signing's
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert parse_public_key(raw) == raw
    assert parse_public_key(pem) == raw
    assert parse_public_key(b"  " + base64.b64encode(raw) + b"\n") == raw
    for bad in (b"", b"not a key", raw[:31], b"-----BEGIN PUBLIC KEY-----\nxx\n"):
        with pytest.raises(ValidationFailed):
            parse_public_key(bad)
