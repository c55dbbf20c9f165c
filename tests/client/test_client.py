"""The client against a live platform: signed sends, verified receipts, errors by kind, files."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.client import (
    Client,
    FilesMissing,
    PermanentError,
    Receipt,
    ReceiptMismatch,
    TransientError,
    expected_entry,
    message_sha256,
)
from jcjg.client.api import retry_after_seconds
from jcjg.client.receipt import envelope_leaf_hash
from jcjg.client.signing import infer_alg
from jcjg.ledger.canonical import canonical_json
from tests.client.live import LOG_VKEY, Lab, LiveExchange, signed_promise


@pytest.mark.parametrize("alg", ["ed25519", "hmac-sha256"])
def test_send_verifies_the_receipt(exchange: LiveExchange, alg: str) -> None:
    lab = exchange.lab(alg)
    payload = lab.labs_message()
    with lab.client(exchange.url) as client:
        receipt = client.send("registry.labs", payload, wait=30)
    assert client.alg == alg
    assert receipt.status == "accepted"
    assert receipt.outcome is not None
    assert receipt.outcome.status == "applied"
    assert receipt.results == {"created": 1, "updated": 0, "unchanged": 0}
    # send filled in an id; with it the receipt verifies against the payload, independently.
    sent = {**payload, "message_id": receipt.message_id}
    entry = {
        "message_type": "registry.labs",
        "message_id": receipt.message_id,
        "key_id": lab.key_id,
        "institution_code": lab.institution_code,
        "sha256": hashlib.sha256(canonical_json(sent)).hexdigest(),
    }
    assert receipt.entry == entry == expected_entry("registry.labs", sent, lab.key_id)
    envelope = {"entry_type": "message:registry.labs", "notarised_at": receipt.notarised_at}
    leaf = hashlib.sha256(b"\x00" + canonical_json({**envelope, "data": entry})).hexdigest()
    assert receipt.leaf_hash == leaf
    receipt.verify(sent, key_id=lab.key_id, message_type="registry.labs")
    with pytest.raises(ReceiptMismatch, match="sha256"):
        receipt.verify({**sent, "labs": []})
    with pytest.raises(ReceiptMismatch, match="key_id"):
        receipt.verify(sent, key_id="someone-else")


def test_duplicate_resend_verifies(exchange: LiveExchange, lab: Lab) -> None:
    payload = lab.labs_message(message_id=str(uuid.uuid4()).upper())
    with lab.client(exchange.url) as client:
        first = client.send("registry.labs", payload)
        again = client.send("registry.labs", payload)
    assert (first.status, again.status) == ("accepted", "duplicate")
    # The platform records the id in its normal form; the content hash is of what was sent.
    assert first.message_id == payload["message_id"].lower()
    assert again.leaf_hash == first.leaf_hash
    assert again.promise == first.promise
    again.verify(payload, key_id=lab.key_id, message_type="registry.labs")


def test_a_duplicate_after_key_rotation_still_verifies(
    exchange: LiveExchange, hmac_lab: Lab
) -> None:
    """Accepted under the old key, re-sent (say after a timeout) under its successor: the
    stored receipt names the old key, and the content still proves out."""
    import base64

    from jcjg.exchange import clients as service
    from jcjg.exchange.models import Client as ClientRow

    payload = hmac_lab.labs_message(message_id=str(uuid.uuid4()))
    with hmac_lab.client(exchange.url) as client:
        first = client.send("registry.labs", payload)
    with exchange.sessions() as db:
        row = db.get(ClientRow, hmac_lab.client_id)
        assert row is not None
        issued = service.rotate(db, row, exchange.settings, alg="hmac-sha256")
        db.commit()
        assert issued.secret is not None
        new_key_id, secret = issued.key.key_id, base64.b64encode(issued.secret).decode()
    with Client(exchange.url, new_key_id, secret, alg="hmac-sha256") as client:
        again = client.send("registry.labs", payload)
    assert again.status == "duplicate"
    assert again.entry["key_id"] == hmac_lab.key_id == first.entry["key_id"]


def test_same_id_other_body_is_permanent(exchange: LiveExchange, lab: Lab) -> None:
    payload = lab.labs_message(message_id=str(uuid.uuid4()))
    with lab.client(exchange.url) as client:
        client.send("registry.labs", payload)
        with pytest.raises(PermanentError) as caught:
            client.send(
                "registry.labs", lab.labs_message("化学室", message_id=payload["message_id"])
            )
    assert caught.value.status == 409
    assert caught.value.type == "/problems/exchange-message-conflict"
    assert caught.value.message_id == payload["message_id"]


def test_refusals_are_permanent(exchange: LiveExchange, lab: Lab) -> None:
    with lab.client(exchange.url) as client:
        with pytest.raises(PermanentError) as invalid:
            client.send("registry.labs", {"institution_code": lab.institution_code, "labs": []})
        with pytest.raises(PermanentError) as unknown:
            client.send("registry.nothing", lab.labs_message())
    assert (invalid.value.status, unknown.value.status) == (422, 404)
    wrong_key = Client(exchange.url, lab.key_id, Ed25519PrivateKey.generate())
    with wrong_key, pytest.raises(PermanentError) as bad_signature:
        wrong_key.send("registry.labs", lab.labs_message())
    assert bad_signature.value.type == "/problems/exchange-signature-invalid"


def test_files_missing_then_put(exchange: LiveExchange, lab: Lab, tmp_path: Path) -> None:
    certificate = tmp_path / "calibration.pdf"
    certificate.write_bytes(b"%PDF-1.4 calibration certificate " + uuid.uuid4().bytes)
    sha256 = hashlib.sha256(certificate.read_bytes()).hexdigest()
    payload = lab.equipment_message(sha256) | {"message_id": str(uuid.uuid4())}
    with lab.client(exchange.url) as client:
        with pytest.raises(FilesMissing) as caught:
            client.send("registry.equipment", payload)
        assert caught.value.missing == [sha256]
        assert not isinstance(caught.value, PermanentError | TransientError)
        assert not client.has_file(sha256)
        assert client.put_file(certificate) == sha256
        assert client.has_file(sha256)
        assert client.put_file(certificate) == sha256  # HEAD says present: nothing sent
        assert client.send("registry.equipment", payload).status == "accepted"
    stored = exchange.stored_file(lab, sha256)
    assert stored is not None
    assert stored.content_type == "application/pdf"


def test_put_file_above_the_threshold_goes_by_tus(
    exchange: LiveExchange, lab: Lab, tmp_path: Path
) -> None:
    big = tmp_path / "scan.bin"
    big.write_bytes(uuid.uuid4().bytes * 5000)  # 80 000 bytes: 3 chunks of 32 KiB
    requests: list[str] = []

    def log(request: httpx.Request) -> None:
        requests.append(f"{request.method} {request.url.path.rsplit('/', 1)[0]}")

    client = lab.client(exchange.url, put_threshold=64 * 1024, chunk_size=32 * 1024)
    client._http.event_hooks["request"].append(log)
    with client:
        sha256 = client.put_file(big)
    assert sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    assert requests == [
        "HEAD /exchange/v1/blobs",
        "POST /exchange/v1/uploads",
        *["PATCH /exchange/v1/uploads"] * 3,
    ]
    assert client.upload_urls.get(sha256) is None  # done: nothing left to resume
    stored = exchange.stored_file(lab, sha256)
    assert stored is not None
    assert (stored.size, stored.filename) == (80_000, "scan.bin")


def test_a_file_changed_since_enqueue_is_refused(lab: Lab, exchange: LiveExchange) -> None:
    with lab.client(exchange.url) as client, pytest.raises(PermanentError, match="SHA-256"):
        client.put_file(__file__, expected_sha256="0" * 64)


# --- without a server ------------------------------------------------------------------------


def _mock_client(handler: Any, **kwargs: Any) -> Client:
    return Client(
        "http://platform.test",
        "k1",
        Ed25519PrivateKey.generate(),
        transport=httpx.MockTransport(handler),
        **kwargs,
    )


def _forged(request: httpx.Request, **change: Any) -> httpx.Response:
    """The receipt an honest platform would give, with ``change`` applied."""
    body = json.loads(request.content)
    kind = request.url.path.rsplit("/", 1)[1]
    entry = expected_entry(kind, body, "k1")
    notarised_at = "2026-01-02T03:04:05.000006Z"
    leaf = envelope_leaf_hash("message:" + kind, notarised_at, entry)
    receipt = {
        "receipt_version": 2,
        "message_id": entry["message_id"],
        "message_type": kind,
        "status": "accepted",
        "received_at": notarised_at,
        "entry_type": "message:" + kind,
        "entry": entry,
        "notarised_at": notarised_at,
        "leaf_hash": leaf,
        "max_delay_seconds": 60,
        "promise": signed_promise(leaf, notarised_at),
        "status_url": f"/exchange/v1/messages/{kind}/{entry['message_id']}",
    }
    return httpx.Response(202, json=receipt | change)


def test_an_honest_mock_receipt_verifies() -> None:
    with _mock_client(_forged) as client:
        receipt = client.send("registry.labs", {"institution_code": "X1", "labs": []})
    assert isinstance(receipt, Receipt)
    assert receipt.max_delay_seconds == 60
    with _mock_client(_forged, log_key=LOG_VKEY) as client:
        assert client.send("registry.labs", {"institution_code": "X1", "labs": []}).promise


def test_a_receipt_signed_by_another_log_is_detected_when_the_log_key_is_known() -> None:
    from jcjg.ledger.note import generate_signer

    impostor, _ = generate_signer("mock.example/ledger")

    def forged(request: httpx.Request) -> httpx.Response:
        honest = _forged(request).json()
        note = signed_promise(honest["leaf_hash"], honest["notarised_at"], skey=impostor)
        return httpx.Response(202, json=honest | {"promise": note})

    with _mock_client(forged) as client:  # without the log's key only consistency is checked
        client.send("registry.labs", {"institution_code": "X1", "labs": []})
    with _mock_client(forged, log_key=LOG_VKEY) as client, pytest.raises(ReceiptMismatch):
        client.send("registry.labs", {"institution_code": "X1", "labs": []})


@pytest.mark.parametrize(
    "change",
    [
        {"leaf_hash": "00" * 32},
        {"entry_type": "message:registry.people"},
        {"notarised_at": "2026-01-02T03:04:05.000007Z"},
        {"max_delay_seconds": "60"},
        {"max_delay_seconds": 3600},
        {"receipt_version": 1},
        {"promise": "jcjg-ledger-promise/v1\norigin\nAAAA\nx\n60\n"},
        {"promise": "jcjg-ledger-receipt/v1\norigin\n8\nAAAA\nx\n60\n"},
        {"promise": ""},
        {"promise": "foo\nbar"},
    ],
)
def test_a_forged_receipt_is_detected(change: dict[str, Any]) -> None:
    client = _mock_client(lambda r: _forged(r, **change))
    with client, pytest.raises(ReceiptMismatch) as caught:
        client.send("registry.labs", {"institution_code": "X1", "labs": []})
    assert isinstance(caught.value, PermanentError)
    assert caught.value.problem["type"] == "urn:jcjg:client:receipt-mismatch"


def test_a_receipt_for_another_body_is_detected() -> None:
    def other(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        body["institution_code"] = "X2"
        entry = expected_entry("registry.labs", body, "k1")
        leaf = envelope_leaf_hash("message:registry.labs", "t", entry)
        return _forged(request, entry=entry, notarised_at="t", leaf_hash=leaf)

    with _mock_client(other) as client, pytest.raises(ReceiptMismatch, match="institution"):
        client.send("registry.labs", {"institution_code": "X1", "labs": []})


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [
        (500, {}, TransientError, None),
        (503, {"Retry-After": "7"}, TransientError, 7.0),
        (408, {}, TransientError, None),
        (429, {"Retry-After": "2"}, TransientError, 2.0),
        (400, {}, PermanentError, None),
        (403, {}, PermanentError, None),
        (413, {}, PermanentError, None),
        (415, {}, PermanentError, None),
        (422, {}, PermanentError, None),
    ],
)
def test_errors_by_kind(
    status: int, headers: dict[str, str], kind: type[Exception], retry_after: float | None
) -> None:
    problem = {"type": f"/problems/p{status}", "title": "t", "status": status}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=problem, headers=headers)

    with _mock_client(handler) as client, pytest.raises(kind) as caught:
        client.send("registry.labs", {"institution_code": "X1"})
    error = caught.value
    assert isinstance(error, TransientError | PermanentError)
    assert error.problem == problem
    assert error.message_id is not None
    if isinstance(error, TransientError):
        assert error.retry_after == retry_after


def test_files_missing_is_its_own_kind() -> None:
    missing = ["ab" * 32]
    problem = {"type": "/problems/exchange-files-missing", "status": 422, "missing": missing}
    handler = lambda r: httpx.Response(422, json=problem)  # noqa: E731
    with _mock_client(handler) as client, pytest.raises(FilesMissing) as caught:
        client.send("registry.equipment", {"institution_code": "X1"})
    assert caught.value.missing == missing


def test_network_errors_are_transient() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with _mock_client(down) as client, pytest.raises(TransientError, match="ConnectError"):
        client.send("registry.labs", {"institution_code": "X1"})


def test_send_signs_the_canonical_bytes() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _forged(request)

    payload = {"institution_code": "X1", "b": [1.0, "检测"], "a": {"z": None, "y": True}}
    with _mock_client(handler) as client:
        receipt = client.send("registry.labs", payload)
    (request,) = seen
    sent = json.loads(request.content)
    assert request.content == canonical_json(sent)
    assert receipt.entry["sha256"] == message_sha256(sent)
    assert request.headers["content-type"] == "application/json"
    assert "content-digest" in request.headers
    assert 'keyid="k1"' in request.headers["signature-input"]
    assert "message_id" not in payload  # the caller's dict is left alone


def test_alg_inference() -> None:
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    secret = bytes(range(32))
    assert infer_alg(private) == "ed25519"
    assert infer_alg(pem) == "ed25519"
    assert infer_alg(pem.decode()) == "ed25519"
    assert infer_alg(base64.b64encode(secret).decode()) == "hmac-sha256"
    assert infer_alg(secret + b"more") == "hmac-sha256"
    with pytest.raises(ValueError, match="name the algorithm"):
        infer_alg(secret)
    assert Client("http://x", "k", secret, alg="ed25519").alg == "ed25519"
    assert Client("http://x", "k", secret, alg="hmac-sha256").alg == "hmac-sha256"


def test_message_ids_are_checked_early() -> None:
    with _mock_client(_forged) as client, pytest.raises(ValueError, match="UUID"):
        client.send("registry.labs", {"message_id": "not-a-uuid", "institution_code": "X1"})
    with _mock_client(_forged) as client, pytest.raises(ValueError, match="message type"):
        client.send("../admin", {"institution_code": "X1"})


def test_retry_after_forms() -> None:
    assert retry_after_seconds("120") == 120.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_a_uuid_object_is_sent_as_its_text() -> None:
    message_id = uuid.uuid4()
    with _mock_client(_forged) as client:
        receipt = client.send("registry.labs", {"message_id": message_id, "institution_code": "X1"})
    assert receipt.message_id == str(message_id)


def test_clients_share_one_verifying_tls_context() -> None:
    """Every client of a process trusts what httpx would trust (certificates and host names
    checked), through one context built once: not the bundle read again per client."""
    import ssl

    from jcjg.client.api import tls_context

    context = tls_context()
    assert context is tls_context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] > 0  # the roots are loaded
    key = Ed25519PrivateKey.generate()
    with (
        Client("https://lab.example", "k1", key) as one,
        Client("https://x.example", "k2", key) as two,
    ):
        assert one._http._transport._pool._ssl_context is context
        assert two._http._transport._pool._ssl_context is context
