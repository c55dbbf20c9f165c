"""Data sharing (issue 43 item 4): a consumer receives the deliveries of a subscribed data set
with its masking applied, verifies their signatures with plain ``cryptography`` (RFC 9421
rebuilt here, apart from the platform's code), is retried after its endpoint fails (a real
HTTP server on loopback), and dead deliveries are replayed; on both databases."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update

from jcjg.auth.choices import Role
from jcjg.exchange.models import Message
from jcjg.governance import sharing
from jcjg.governance.models import Consumer, DataSet, Delivery, Subscription
from tests.exchange.conftest import apply_waiting, make_lims
from tests.factories import login, page_csrf

HTML = {"accept": "text/html"}
STAFF = {
    "people": [
        {
            "name": "王检测",
            "id_number": "360403199001011232",
            "mobile": "13912345678",
            "birth_date": "1990-01-01",
            "title": "senior",
        }
    ]
}


class Endpoint:
    """A consumer's endpoint on loopback: answers ``fail`` times 500, then 200; keeps what
    it received (path, headers, body)."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.received.append(
                    (self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = 500 if len(owner.received) <= owner.fail else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jcjg/deliveries"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify(key: dict[str, str], url: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    """What a consumer does, with nothing but ``cryptography`` and RFC 9421 and 9530."""
    digest = headers["content-digest"]
    assert digest == "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    signature_input = headers["signature-input"]
    label, params = signature_input.split("=", 1)
    covered = re.match(r"\(([^)]*)\)", params).group(1).split()
    assert 'keyid="{}"'.format(key["key_id"]) in params
    values = {
        '"@method"': "POST",
        '"@target-uri"': url,
        '"content-digest"': digest,
        '"content-type"': headers["content-type"],
    }
    lines = [f"{name}: {values[name]}" for name in covered]
    lines.append(f'"@signature-params": {params}')
    signature = re.match(rf"{label}=:([^:]+):", headers["signature"]).group(1)
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    public.verify(base64.b64decode(signature), "\n".join(lines).encode())  # raises if forged
    return json.loads(body)


def _province(client, factory):
    author = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    reviewer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    return author, reviewer


def _post(client, path: str, csrf: str, **form: Any):
    return client.post(
        path, data={"csrf_token": csrf, **form}, headers=HTML, follow_redirects=False
    )


def _set_up(client, db, factory, endpoint: str, *, grade: str = "public") -> tuple[Consumer, Any]:
    client.app.state.settings.sharing_private_endpoints = True  # the consumer is on loopback
    author, reviewer = _province(client, factory)
    login(client, author.username)
    csrf = page_csrf(client, "/governance/sharing")
    made = _post(
        client,
        "/governance/sharing/data-sets",
        csrf,
        code="staff",
        name="检测人员",
        category="人员",
        message_type="registry.staff",
        grade=grade,
    )
    assert made.status_code == 303, made.text[:300]
    data_set = db.scalar(select(DataSet).where(DataSet.code == "staff"))
    # the compiler may not publish it; another officer does
    assert (
        _post(client, f"/governance/sharing/data-sets/{data_set.id}/publish", csrf).status_code
        == 403
    )
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, "/governance/sharing")
    assert (
        _post(client, f"/governance/sharing/data-sets/{data_set.id}/publish", csrf).status_code
        == 303
    )
    made = _post(
        client,
        "/governance/sharing/consumers",
        csrf,
        name="某银行保函审核系统",
        kind="bank",
        contact="李经理",
        endpoint=endpoint,
    )
    assert made.status_code == 303, made.text[:300]
    consumer = db.scalar(select(Consumer).where(Consumer.name == "某银行保函审核系统"))
    masking = {
        "path_0": "people[].id_number",
        "method_0": "mask",
        "path_1": "people[].mobile",
        "method_1": "drop",
        "path_2": "people[].name",
        "method_2": "hash",
        "path_3": "people[].birth_date",
        "method_3": "generalise",
    }
    made = _post(
        client,
        f"/governance/sharing/consumers/{consumer.id}/subscriptions",
        csrf,
        data_set_id=str(data_set.id),
        **masking,
    )
    assert made.status_code == 303, made.text[:300]
    return consumer, reviewer


def test_a_consumer_gets_masked_signed_deliveries_and_is_retried(client, db, settings, factory):
    endpoint = Endpoint(fail=1)
    try:
        consumer, _ = _set_up(client, db, factory, endpoint.url)
        lims = make_lims(
            db, settings, factory, institution=factory.institution(region_code="360403")
        )
        assert lims.post(client, "registry.staff", lims.message(**STAFF)).status_code == 200
        apply_waiting(client)
        delivery = db.scalar(select(Delivery))
        assert delivery is not None
        assert delivery.status == "pending"
        # the first post meets a 500: tried again after 10 s
        assert sharing.deliver_due(db, settings) == (0, 1)
        db.expire_all()
        delivery = db.get(Delivery, delivery.id)
        assert (delivery.status, delivery.attempts) == ("pending", 1)
        assert "500" in delivery.last_error
        assert sharing.deliver_due(db, settings) == (0, 0)  # not due yet
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=11)
        assert sharing.deliver_due(db, settings, now=later) == (1, 0)
        db.expire_all()
        assert db.get(Delivery, delivery.id).status == "delivered"
        assert len(endpoint.received) == 2
        # the consumer: the platform's key from its public address, the signature, the masking
        key = client.get("/governance/sharing/key").json()
        _path, headers, body = endpoint.received[-1]
        doc = verify(key, endpoint.url, headers, body)
        assert doc["delivery_id"] == delivery.delivery_id
        assert doc["data_set"] == "staff"
        person = doc["data"]["people"][0]
        assert person["id_number"] == "360403********1232"
        assert "mobile" not in person
        assert re.fullmatch(r"[0-9a-f]{64}", person["name"])
        assert person["birth_date"] == "1990-01"
        assert person["title"] == "senior"
        # the message it came from; a masked delivery carries no ledger reference (the leaf's
        # entry holds the whole message's hash, a test of guesses at what was masked)
        message = db.scalar(select(Message).where(Message.message_type == "registry.staff"))
        assert doc["message_id"] == message.message_id
        assert "ledger" not in doc
        # a body altered on the way no longer verifies
        forged = body.replace(b"senior", b"junior")
        with pytest.raises(AssertionError):
            verify(key, endpoint.url, headers, forged)
        # the pages show it
        page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML)
        assert page.status_code == 200
        assert "已送达" in page.text
    finally:
        endpoint.close()


def test_a_dead_delivery_is_replayed(client, db, settings, factory):
    endpoint = Endpoint(fail=10**6)
    try:
        consumer, _reviewer = _set_up(client, db, factory, endpoint.url)
        lims = make_lims(
            db, settings, factory, institution=factory.institution(region_code="360403")
        )
        assert lims.post(client, "registry.staff", lims.message(**STAFF)).status_code == 200
        apply_waiting(client)
        moment = dt.datetime.now(dt.UTC)
        for _ in range(sharing.MAX_ATTEMPTS):
            moment += dt.timedelta(hours=2)
            sharing.deliver_due(db, settings, now=moment)
        db.expire_all()
        delivery = db.scalar(select(Delivery))
        assert (delivery.status, delivery.attempts) == ("dead", sharing.MAX_ATTEMPTS)
        assert len(endpoint.received) == sharing.MAX_ATTEMPTS
        csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
        assert (
            "推送失败"
            in client.get(
                f"/governance/sharing/consumers/{consumer.id}?status=dead", headers=HTML
            ).text
        )
        assert (
            _post(client, f"/governance/sharing/consumers/{consumer.id}/replay", csrf).status_code
            == 303
        )
        db.expire_all()
        assert (db.get(Delivery, delivery.id).status, db.get(Delivery, delivery.id).attempts) == (
            "pending",
            0,
        )
        exported = client.get(f"/governance/sharing/consumers/{consumer.id}?format=xlsx")
        assert exported.status_code == 200
        # a stopped subscription's deliveries wait: nothing is posted for it
        db.execute(update(Subscription).values(status="stopped"))
        db.commit()
        sent = len(endpoint.received)
        assert sharing.deliver_due(db, settings, now=moment + dt.timedelta(days=1)) == (0, 0)
        assert len(endpoint.received) == sent
    finally:
        endpoint.close()


def test_conditional_sets_wait_for_approval_and_restricted_ones_are_never_shared(
    client, db, settings, factory
):
    consumer, reviewer = _set_up(
        client, db, factory, "http://127.0.0.1:9/unused", grade="conditional"
    )
    subscription = db.scalar(select(Subscription))
    assert subscription.status == "pending"
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    assert lims.post(client, "registry.staff", lims.message(**STAFF)).status_code == 200
    apply_waiting(client)
    assert db.scalar(select(Delivery)) is None  # nothing opened before the approval
    csrf = page_csrf(client, f"/governance/sharing/consumers/{consumer.id}")
    # who asked may not approve; a refusal needs its reason
    mine = _post(
        client,
        f"/governance/sharing/subscriptions/{subscription.id}/decision",
        csrf,
        decision="approve",
    )
    assert mine.status_code == 403
    client.cookies.clear()
    third = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(client, third.username)
    csrf = page_csrf(client, "/governance/sharing")
    assert (
        _post(
            client,
            f"/governance/sharing/subscriptions/{subscription.id}/decision",
            csrf,
            decision="reject",
        ).status_code
        == 422
    )
    assert (
        _post(
            client,
            f"/governance/sharing/subscriptions/{subscription.id}/decision",
            csrf,
            decision="approve",
            note="按规定审核同意",
        ).status_code
        == 303
    )
    db.expire_all()
    assert db.get(Subscription, subscription.id).status == "active"
    # personal data never leaves unmasked: a subscription leaving the identity number bare
    other = _post(
        client,
        "/governance/sharing/consumers",
        csrf,
        name="某区住建局",
        kind="department",
        endpoint="http://127.0.0.1:9/x",
    )
    assert other.status_code == 303
    second = db.scalar(select(Consumer).where(Consumer.name == "某区住建局"))
    data_set = db.get(DataSet, subscription.data_set_id)
    bare = _post(
        client,
        f"/governance/sharing/consumers/{second.id}/subscriptions",
        csrf,
        data_set_id=str(data_set.id),
        path_0="people[].mobile",
        method_0="drop",
    )
    assert bare.status_code == 422
    assert "身份证" in bare.text or "个人信息" in bare.text
    # restricted: compiled and published, never subscribed
    made = _post(
        client,
        "/governance/sharing/data-sets",
        csrf,
        code="secret_staff",
        name="人员全量",
        message_type="registry.staff",
        grade="restricted",
    )
    assert made.status_code == 303
    restricted = db.scalar(select(DataSet).where(DataSet.code == "secret_staff"))
    client.cookies.clear()
    login(client, reviewer.username)
    csrf = page_csrf(client, "/governance/sharing")
    assert (
        _post(client, f"/governance/sharing/data-sets/{restricted.id}/publish", csrf).status_code
        == 303
    )
    refused = _post(
        client,
        f"/governance/sharing/consumers/{consumer.id}/subscriptions",
        csrf,
        data_set_id=str(restricted.id),
    )
    assert refused.status_code == 422


def test_bad_sharing_input_is_refused(client, db, factory):
    author, _ = _province(client, factory)
    login(client, author.username)
    csrf = page_csrf(client, "/governance/sharing")
    bad_sets = [
        {"code": "Bad Code", "name": "x", "message_type": "report", "grade": "public"},
        {"code": "reports", "name": "", "message_type": "report", "grade": "public"},
        {"code": "reports", "name": "x", "message_type": "no.such", "grade": "public"},
        {"code": "reports", "name": "x", "message_type": "report", "grade": "secret"},
        {"code": "reports", "name": "x" * 101, "message_type": "report", "grade": "public"},
        {"code": "reports", "name": "报\x00告", "message_type": "report", "grade": "public"},
    ]
    for form in bad_sets:
        assert _post(client, "/governance/sharing/data-sets", csrf, **form).status_code == 422, form
    bad_consumers = [
        {"name": "x", "kind": "bank", "endpoint": "ftp://example.cn/x"},
        {"name": "x", "kind": "bank", "endpoint": "https://user:pw@example.cn/x"},
        {"name": "x", "kind": "spy", "endpoint": "https://example.cn/x"},
        {"name": "", "kind": "bank", "endpoint": "https://example.cn/x"},
        {"name": "x", "kind": "bank", "endpoint": "https://example.cn/" + "a" * 600},
        {"name": "x", "kind": "bank", "endpoint": "http://127.0.0.1:8080/x"},
        {"name": "x", "kind": "bank", "endpoint": "http://169.254.169.254/latest"},
        {"name": "x", "kind": "bank", "endpoint": "http://10.0.0.8/x"},
        {"name": "x", "kind": "bank", "endpoint": "http://localhost/x"},
        {"name": "x", "kind": "bank", "endpoint": "http://[::1]/x"},
        {"name": "x", "kind": "bank", "endpoint": "http://a:b:c/"},
        {"name": "x", "kind": "bank", "endpoint": "http://[::1/"},
    ]
    for form in bad_consumers:
        assert _post(client, "/governance/sharing/consumers", csrf, **form).status_code == 422, form
    assert db.scalar(select(DataSet)) is None
    assert db.scalar(select(Consumer)) is None
    assert client.get("/governance/sharing/consumers/2147483648", headers=HTML).status_code == 404
    lab = factory.user(Role.INSTITUTION_ADMIN, institution=factory.institution())
    client.cookies.clear()
    login(client, lab.username)
    assert client.get("/governance/sharing", headers=HTML).status_code == 403


def test_the_worked_consumer_of_the_docs_verifies_a_real_delivery(client, db, settings, factory):
    """docs/sharing.md's consumer code, run as written, on a delivery the platform posted."""
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "sharing.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/sharing.md", "exec"), scope)  # noqa: S102 - the docs' own example
    endpoint = Endpoint(fail=0)
    try:
        _set_up(client, db, factory, endpoint.url)
        lims = make_lims(
            db, settings, factory, institution=factory.institution(region_code="360403")
        )
        assert lims.post(client, "registry.staff", lims.message(**STAFF)).status_code == 200
        apply_waiting(client)
        assert sharing.deliver_due(db, settings) == (1, 0)
        key = client.get("/governance/sharing/key").json()
        _path, headers, body = endpoint.received[0]
        doc = scope["verify_delivery"](key, endpoint.url, headers, body)
        assert doc["data"]["people"][0]["id_number"] == "360403********1232"
        with pytest.raises(ValueError, match="not the one signed"):
            scope["verify_delivery"](key, endpoint.url, headers, body.replace(b"senior", b"junior"))
    finally:
        endpoint.close()
