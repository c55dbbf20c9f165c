"""A masked delivery proven in the log (issue 43 item 4: "a consumer can verify each delivery
and its ledger proof"): one leaf per subscription and send pass commits to the SHA-256 of each
masked body as sent; the consumer of docs/sharing.md, run as written with ``hashlib`` and
``cryptography``, walks body -> batch root -> leaf -> signed checkpoint; an altered body, path,
position or index fails; nothing unmasked, nor the message's hash or leaf, is in the delivery
or the public entry. On both databases."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select, update

from jcjg.exchange.models import Message
from jcjg.governance import sharing
from jcjg.governance.models import Delivery, Subscription
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from tests.exchange.conftest import apply_waiting, make_lims
from tests.governance.test_sharing import HTML, STAFF, Endpoint, _set_up
from tests.governance.test_sharing_access import _docs

UNMASKED = ("360403199001011232", "13912345678", "王检测", "1990-01-01")


def _batches(db) -> int:
    return db.scalar(select(func.count()).where(LedgerLeaf.entry_type == sharing.BATCH_ENTRY_TYPE))


def _integrate(db) -> None:
    while ledger.integrate(db):  # as the log's job does
        pass
    db.commit()


def _stranger(log_key: str) -> str:
    """A well-formed note key of the log's name that is not the log's key."""
    name = log_key.strip().split("+", 1)[0]
    raw = b"\x01" + Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex()
    return f"{name}+{key_id}+{base64.b64encode(raw).decode()}"


def _send_two(client, db, settings, factory, endpoint: Endpoint) -> Any:
    consumer, _ = _set_up(client, db, factory, endpoint.url)
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    for _ in range(2):
        assert lims.post(client, "registry.staff", lims.message(**STAFF)).status_code == 200
    apply_waiting(client)
    return consumer


def test_a_masked_delivery_is_proven_in_the_log_by_the_docs_consumer(client, db, settings, factory):
    verify_delivery = _docs("verify_delivery")["verify_delivery"]
    verify_masked = _docs("verify_masked_delivery")["verify_masked_delivery"]
    endpoint = Endpoint(fail=0)
    try:
        _send_two(client, db, settings, factory, endpoint)
        assert _batches(db) == 0  # nothing notarised before the send pass
        assert sharing.deliver_due(db, settings) == (2, 0)
        assert _batches(db) == 1  # one leaf for the pass's two deliveries, not one each
        _integrate(db)
        key = client.get("/governance/sharing/key").json()
        log_key = client.get("/ledger/key").text
        proofs = []
        for _path, headers, body in endpoint.received:
            doc = verify_delivery(key, endpoint.url, headers, body)
            assert "ledger" not in doc
            entry = verify_masked(log_key, client.get, headers, body)
            assert entry["entry_type"] == "share_delivery:batch"
            assert entry["data"]["data_set"] == "staff"
            assert entry["data"]["deliveries"] == 2
            proofs.append(json.loads(headers["jcjg-ledger-proof"]))
        assert len({p["index"] for p in proofs}) == 1
        assert sorted(p["position"] for p in proofs) == [0, 1]

        _path, headers, body = endpoint.received[0]
        proof = json.loads(headers["jcjg-ledger-proof"])

        def altered(**changes: Any) -> dict[str, str]:
            return headers | {"jcjg-ledger-proof": json.dumps(proof | changes)}

        with pytest.raises(ValueError, match="another batch"):  # a body altered on the way
            verify_masked(log_key, client.get, headers, body.replace(b"senior", b"junior"))
        flipped = [("0" if h[0] != "0" else "1") + h[1:] for h in proof["path"]]
        with pytest.raises(ValueError, match="another batch"):  # an altered path
            verify_masked(log_key, client.get, altered(path=flipped), body)
        with pytest.raises(ValueError, match="path too short"):
            verify_masked(log_key, client.get, altered(path=[]), body)
        with pytest.raises(ValueError, match="another batch"):  # another place in the tree
            verify_masked(log_key, client.get, altered(position=1 - proof["position"]), body)
        message_leaf = db.scalar(
            select(LedgerLeaf.leaf_index).where(
                LedgerLeaf.leaf_hash == db.scalar(select(Message.leaf_hash).limit(1))
            )
        )
        with pytest.raises((ValueError, KeyError)):  # another leaf of the log (the message's)
            verify_masked(log_key, client.get, altered(index=message_leaf), body)
        with pytest.raises(ValueError, match="not signed by the log's key"):
            verify_masked(_stranger(log_key), client.get, headers, body)  # a key not the log's
    finally:
        endpoint.close()


def test_nothing_unmasked_nor_the_messages_hash_or_leaf_reaches_the_consumer(
    client, db, settings, factory
):
    endpoint = Endpoint(fail=0)
    try:
        consumer = _send_two(client, db, settings, factory, endpoint)
        page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML).text
        assert page.count("待发送时存证") == 2  # not notarised before the send pass
        assert sharing.deliver_due(db, settings) == (2, 0)
        _integrate(db)
        messages = db.scalars(select(Message)).all()
        secrets = [*UNMASKED]
        for message in messages:
            secrets += [bytes(message.leaf_hash).hex(), message.content_sha256]
        indices = set(
            db.scalars(
                select(LedgerLeaf.leaf_index).where(
                    LedgerLeaf.leaf_hash.in_([bytes(m.leaf_hash) for m in messages])
                )
            )
        )
        assert len(indices) == 2
        batch = db.scalar(
            select(LedgerLeaf).where(LedgerLeaf.entry_type == sharing.BATCH_ENTRY_TYPE)
        )
        public = client.get(f"/ledger/entries/{batch.leaf_index}").json()
        assert set(public["entry"]["data"]) == {"data_set", "consumer_id", "deliveries", "root"}
        for _path, headers, body in endpoint.received:
            proof = json.loads(headers["jcjg-ledger-proof"])
            assert set(proof) == {"entry_type", "index", "size", "position", "path"}
            assert proof["index"] == batch.leaf_index
            assert proof["index"] not in indices
            seen = body.decode() + headers["jcjg-ledger-proof"] + public["canonical"]
            for secret in secrets:
                assert secret not in seen
            assert "ledger" not in json.loads(body)
        # the consumer's page links each delivery to its batch's entry
        page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML).text
        link = f'<a href="/ledger/entries/{batch.leaf_index}">批次存证第 {batch.leaf_index} 条</a>'
        assert page.count(link) == 2
    finally:
        endpoint.close()


def test_a_retry_sends_the_same_body_and_proof_and_adds_no_leaf(client, db, settings, factory):
    endpoint = Endpoint(fail=1)
    try:
        _send_two(client, db, settings, factory, endpoint)
        assert sharing.deliver_due(db, settings, limit=1) == (0, 1)
        assert _batches(db) == 1  # this pass's one delivery, notarised before its post
        failed = endpoint.received[0]
        db.expire_all()
        first = db.scalar(select(Delivery).where(Delivery.attempts == 1))
        db.execute(update(Delivery).values(next_at=first.created_at))  # all due again
        db.commit()
        assert sharing.deliver_due(db, settings) == (2, 0)
        assert _batches(db) == 2  # the other delivery: its own pass, its own leaf
        again = next(r for r in endpoint.received[1:] if r[2] == failed[2])
        assert again[1]["jcjg-ledger-proof"] == failed[1]["jcjg-ledger-proof"]
        _integrate(db)
        verify_masked = _docs("verify_masked_delivery")["verify_masked_delivery"]
        log_key = client.get("/ledger/key").text
        sizes = {
            verify_masked(log_key, client.get, h, b)["data"]["deliveries"]
            for _p, h, b in endpoint.received
        }
        assert sizes == {1}
    finally:
        endpoint.close()


def test_a_masked_body_the_log_does_not_hold_is_never_posted(client, db, settings, factory):
    endpoint = Endpoint(fail=0)
    try:
        _send_two(client, db, settings, factory, endpoint)
        wrong = {"index": 0, "size": 1, "position": 0, "path": [], "sha256": "0" * 64}
        db.execute(update(Delivery).values(proof=wrong))
        db.commit()
        assert sharing.deliver_due(db, settings) == (0, 2)
        assert endpoint.received == []
        db.expire_all()
        assert {d.last_error for d in db.scalars(select(Delivery))} == {"推送内容未存证，暂不发送"}
        assert _batches(db) == 0
    finally:
        endpoint.close()


def test_an_unmasked_delivery_keeps_its_message_leaf_and_gets_no_batch(
    client, db, settings, factory
):
    endpoint = Endpoint(fail=0)
    try:
        consumer, _ = _set_up(client, db, factory, endpoint.url)
        db.execute(update(Subscription).values(masking={}))  # as a set without personal fields
        db.commit()
        lims = make_lims(
            db, settings, factory, institution=factory.institution(region_code="360403")
        )
        assert lims.post(client, "registry.staff", lims.message(**STAFF)).status_code == 200
        apply_waiting(client)
        assert sharing.deliver_due(db, settings) == (1, 0)
        _path, headers, body = endpoint.received[0]
        assert "jcjg-ledger-proof" not in headers
        message = db.scalar(select(Message))
        assert json.loads(body)["ledger"] == {
            "entry_type": "message:registry.staff",
            "leaf_hash": bytes(message.leaf_hash).hex(),
        }
        assert _batches(db) == 0
        assert db.scalar(select(Delivery)).proof is None
        page = client.get(f"/governance/sharing/consumers/{consumer.id}", headers=HTML).text
        assert "随消息存证" in page
        assert "批次存证" not in page
    finally:
        endpoint.close()
