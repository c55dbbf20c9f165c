"""The child's side: the forwarder follows this platform's log, in order, resumably."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from jcjg.client.api import Client as ExchangeClient
from jcjg.core.db import utcnow
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from jcjg.networking import forward
from jcjg.networking.models import ForwardCursor
from tests.exchange.conftest import apply_waiting
from tests.networking.test_forwards import LABS

UPSTREAM = "http://province.test"


class Upstream:
    """A parent that records each forward and answers as told."""

    def __init__(self) -> None:
        self.forwards: list[dict[str, Any]] = []
        self.blobs: set[str] = set()
        self.answers: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert "signature" in request.headers
        if request.url.path.startswith("/exchange/v1/blobs/"):
            sha = request.url.path.rsplit("/", 1)[-1]
            if request.method == "HEAD":
                return httpx.Response(200 if sha in self.blobs else 404)
            self.blobs.add(sha)
            return httpx.Response(201, json={"sha256": sha, "status": "stored"})
        body = json.loads(request.content)
        self.forwards.append(body)
        if self.answers:
            return self.answers.pop(0)
        last = body["items"][-1]["index"]
        return httpx.Response(200, json={"next_index": last + 1, "outcomes": {}, "refused": []})

    def client(self) -> ExchangeClient:
        return ExchangeClient(UPSTREAM, "c1-parent", Ed25519PrivateKey.generate(), alg="ed25519",
                              transport=httpx.MockTransport(self))  # fmt: skip


def _pass(http, upstream: Upstream) -> forward.Pass:
    state = http.app.state
    with upstream.client() as client:
        return forward.forward_once(state.sessionmaker, state.settings, client, holder="t")


def _position(db) -> int:
    db.expire_all()
    return db.get(ForwardCursor, forward.CURSOR_ID).position


@pytest.fixture(autouse=True)
def base(db) -> int:
    """Where this test's leaves start: the shared database may hold leaves of servers other
    tests ran (committed outside their transaction); the cursor starts past them."""
    ledger.sequence(db)
    end = db.scalar(select(func.max(LedgerLeaf.leaf_index)))
    start = 0 if end is None else end + 1
    forward.cursor(db).position = start
    db.commit()
    return start


@pytest.mark.sqlite
def test_the_log_goes_up_in_order_with_each_message_as_the_lab_signed_it(client, db, lims, base):
    ledger.notarise(db, "sample:seal", {"n": 1})
    db.commit()
    first = lims.message(**LABS)
    assert lims.post(client, "registry.labs", first).status_code == 200
    upstream = Upstream()
    done = _pass(client, upstream)
    assert (done.forwarded, done.error) == (2, None)
    (sent,) = upstream.forwards
    assert sent["origin"] == ledger.log_identity().origin
    assert [i["index"] for i in sent["items"]] == [base, base + 1]
    assert sent["items"][0]["message"] is None
    assert "after_relays" not in sent["items"][0]  # no child's relay to come after it
    message = sent["items"][1]["message"]
    assert json.loads(base64.b64decode(message["body"]))["message_id"] == first["message_id"]
    assert message["status"] == "applied"
    assert message["key"]["key_id"] == lims.key_id
    assert message["key"]["alg"] == "ed25519"
    assert message["request"]["url"].endswith("/exchange/v1/messages/registry.labs")
    assert {name for name, _ in message["request"]["headers"]} == {
        "content-digest",
        "content-type",
    }
    assert "keyid=" in message["signature_input"]
    assert _position(db) == base + 2
    # a fact went up: the log's checkpoint covers it (the parent relays it with its proof)
    db.expire_all()
    assert ledger.head(db).size >= base + 2
    assert ledger.latest_checkpoint(db).size >= base + 2
    # nothing new: an idle pass, which writes nothing (not even the lease)
    db.expire_all()
    lease = db.get(ForwardCursor, forward.CURSOR_ID).lease_until
    assert _pass(client, upstream).idle
    assert len(upstream.forwards) == 1
    db.expire_all()
    assert db.get(ForwardCursor, forward.CURSOR_ID).lease_until == lease


def test_a_message_not_yet_applied_waits_and_its_code_goes_with_it(client, db, lims):
    from tests.reports.test_reports import report_message

    response = lims.post_raw(client, "report", report_message(lims, test_record_numbers=[]))
    assert response.status_code == 202
    upstream = Upstream()
    _pass(client, upstream)
    assert upstream.forwards == [] or all(
        i["message"] is None for f in upstream.forwards for i in f["items"]
    )
    apply_waiting(client)
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"] if i["message"]]
    (report,) = items
    results = report["message"]["results"]
    assert set(results) == {"supervision_code", "token"}  # no QR images


def test_the_cursor_follows_the_parent_and_failures_back_off(client, db, lims, base):
    for n in range(3):
        ledger.notarise(db, "sample:seal", {"n": n})
    db.commit()
    upstream = Upstream()
    # the parent was restored from a backup: it expects leaf 1 again
    upstream.answers.append(
        httpx.Response(
            409,
            json={"type": "/problems/network-forward-gap", "status": 409, "expected": base + 1},
            headers={"content-type": "application/problem+json"},
        )
    )
    _pass(client, upstream)
    assert _position(db) == base + 1
    upstream.answers.append(httpx.Response(503, json={"title": "维护中"}))
    failed = _pass(client, upstream)
    assert failed.error is not None
    assert "503" in failed.error
    db.expire_all()
    row = db.get(ForwardCursor, forward.CURSOR_ID)
    assert (row.position, row.failures) == (base + 1, 1)
    assert row.next_attempt_at is not None
    assert row.last_error
    # backing off: no request until next_attempt_at (full jitter may draw a time a loaded
    # machine passes before the next pass: held a minute ahead here)
    row.next_attempt_at = max(row.next_attempt_at, utcnow() + dt.timedelta(minutes=1))
    db.commit()
    sent = len(upstream.forwards)
    assert _pass(client, upstream).idle
    assert len(upstream.forwards) == sent
    row.next_attempt_at = None
    db.commit()
    _pass(client, upstream)
    assert _position(db) == base + 3
    assert forward.status(db)["backlog"] == 0


def test_a_second_forwarder_waits_for_the_lease(client, db):
    ledger.notarise(db, "sample:seal", {"n": 1})
    db.commit()
    state = client.app.state
    with state.sessionmaker() as other:
        assert forward.claim(other, "someone-else", utcnow())
    upstream = Upstream()
    assert _pass(client, upstream).idle
    assert upstream.forwards == []


def test_the_files_a_message_names_go_first(client, db, lims, settings):
    from jcjg.core.blobs import blob_store

    pdf = b"%PDF-1.7 not really\n"
    sha = blob_store(settings).put(pdf)
    put = client.put(f"/exchange/v1/blobs/{sha}", content=pdf,
                     headers=lims.headers("PUT", f"/exchange/v1/blobs/{sha}", pdf,
                                          content_type="application/pdf"))  # fmt: skip
    assert put.status_code == 201, put.text
    from tests.reports.test_reports import report_message

    lims.post(client, "report", report_message(lims, test_record_numbers=[]))
    lims.post(client, "report_file", lims.message(number="BG-2026-0001", pdf_sha256=sha))
    upstream = Upstream()
    done = _pass(client, upstream)
    assert done.uploaded == 1
    assert upstream.blobs == {sha}
    assert [
        json.loads(base64.b64decode(i["message"]["body"]))["number"]
        for i in upstream.forwards[0]["items"]
        if i["message"]
    ] == ["BG-2026-0001", "BG-2026-0001"]


def test_a_child_of_the_national_profile_forwards_signing_with_sm2(settings) -> None:
    """JCJG_UPSTREAM_KEY_ALG=sm2-sm3: the forwarder's requests carry SM2 signatures that the
    parent verifies with the public key it registered."""
    from pydantic import SecretStr

    from jcjg.exchange.signatures import Request as SignedRequest
    from jcjg.exchange.signatures import SM2SigningKey, verify_request

    key = SM2SigningKey.generate()
    seen: list[httpx.Request] = []

    def parent(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"next_index": 1, "outcomes": {}, "refused": []})

    configured = settings.model_copy(
        update={
            "upstream_url": UPSTREAM,
            "upstream_key_id": "c7-sm2child",
            "upstream_key": SecretStr(key.private_pem().decode()),
            "upstream_key_alg": "sm2-sm3",
        }
    )
    with forward.upstream_client(configured, transport=httpx.MockTransport(parent)) as client:
        assert client.alg == "sm2-sm3"
        client.request("POST", "/exchange/v1/forwards", body=b"{}", content_type="application/json")
    (sent,) = seen
    request = SignedRequest(sent.method, str(sent.url), sent.headers.multi_items())
    public = key.verifying_key()
    assert verify_request(request, resolve_key={"c7-sm2child": public}.get).keyid == "c7-sm2child"


def test_only_a_type_that_may_refer_to_files_is_read_again_for_them() -> None:
    """The forwarder reads an applied message again for the files it refers to only when its
    type may refer to some: a type without files skips the schema (~50 us a message)."""
    from jcjg.exchange.models import Message
    from jcjg.exchange.types import message_types

    kinds = message_types()
    equipment = kinds["registry.equipment"]
    assert equipment.has_files
    plain = next(k for k in kinds.values() if not k.has_files)
    assert forward._files(Message(message_type=plain.name, body=b"not read")) == []
    sha = "ab" * 32
    body = json.loads(json.dumps(equipment.example))
    body["equipment"][0]["calibration_certificate_sha256"] = sha
    message = Message(message_type=equipment.name, body=json.dumps(body).encode())
    assert forward._files(message) == [sha]
