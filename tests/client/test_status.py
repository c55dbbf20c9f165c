"""Statuses on the lab's side: reading them, following a message to its outcome, and checking
an inclusion proof against a signed checkpoint (a mock platform, an honest log of our own)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.client import (
    Client,
    MessageRejected,
    PermanentError,
    ReceiptMismatch,
    Status,
    TransientError,
)
from jcjg.client.receipt import envelope_leaf_hash, expected_entry
from jcjg.ledger import merkle
from jcjg.ledger.note import Signer, format_checkpoint, generate_signer, sign_note
from tests.client.live import LOG_SKEY, LOG_VKEY, signed_promise

MOMENT = "2026-01-02T03:04:05.000006Z"


def _receipt(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    entry = expected_entry(kind, body, "k1")
    leaf = envelope_leaf_hash("message:" + kind, MOMENT, entry)
    return {
        "receipt_version": 2, "message_id": entry["message_id"], "message_type": kind,
        "status": "accepted", "received_at": MOMENT, "entry_type": "message:" + kind,
        "entry": entry, "notarised_at": MOMENT, "leaf_hash": leaf, "max_delay_seconds": 60,
        "promise": signed_promise(leaf, MOMENT),
        "status_url": f"/exchange/v1/messages/{kind}/{entry['message_id']}",
    }  # fmt: skip


def _log_with(leaf_hex: str, others: int = 4, skey: str = LOG_SKEY) -> dict[str, Any]:
    """A log of ``others`` leaves and this one last: its index, proof and signed checkpoint."""
    leaves = [bytes([n]) * 32 for n in range(others)] + [bytes.fromhex(leaf_hex)]
    size, index = len(leaves), len(leaves) - 1
    root = merkle.root_hash(leaves)
    note = sign_note(format_checkpoint("mock.example/ledger", size, root), Signer(skey))
    proof = merkle.inclusion_proof(leaves, index, size)
    return {"index": index, "size": size, "hashes": [h.hex() for h in proof],
            "checkpoint": note.decode()}  # fmt: skip


class Platform:
    """Accepts messages; answers their status as ``outcome`` says (after ``polls`` asks)."""

    def __init__(self, outcome: str = "applied", polls: int = 1, ledger: bool = True) -> None:
        self.outcome, self.polls, self.ledger = outcome, polls, ledger
        self.receipts: dict[str, dict[str, Any]] = {}
        self.asked = 0

    def status(self, message_id: str) -> dict[str, Any]:
        receipt = self.receipts[message_id]
        self.asked += 1
        final = self.asked >= self.polls
        doc: dict[str, Any] = {
            "message_id": message_id, "message_type": receipt["message_type"],
            "status": self.outcome if final else "accepted", "received_at": MOMENT,
            "applied_at": MOMENT if final else None, "receipt": receipt, "ledger": None,
        }  # fmt: skip
        if final and self.outcome == "applied":
            doc |= {"results": {"created": 1}, "warnings": [{"code": "x", "message": "y"}]}
            if self.ledger:
                doc["ledger"] = _log_with(receipt["leaf_hash"])
        elif final:
            doc["problem"] = {"type": "/problems/validation", "title": "数据校验未通过",
                              "status": 422, "detail": "实验室不存在"}  # fmt: skip
        return doc

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/exchange/v1/status":
            ids = json.loads(request.content)["message_ids"]
            found = [self.status(i) for i in ids if i in self.receipts]
            unknown = [i for i in ids if i not in self.receipts]
            return httpx.Response(200, json={"messages": found, "unknown": unknown})
        if request.method == "GET":
            message_id = path.rsplit("/", 1)[1]
            if message_id not in self.receipts:
                return httpx.Response(404, json={"type": "/problems/exchange-message-unknown",
                                                 "title": "消息不存在", "status": 404})  # fmt: skip
            return httpx.Response(200, json=self.status(message_id))
        receipt = _receipt(path.rsplit("/", 1)[1], json.loads(request.content))
        self.receipts[receipt["message_id"]] = receipt
        return httpx.Response(202, json=receipt)


def _client(platform: Any, **kwargs: Any) -> Client:
    return Client("http://platform.test", "k1", Ed25519PrivateKey.generate(),
                  transport=httpx.MockTransport(platform), **kwargs)  # fmt: skip


MESSAGE = {"institution_code": "X1", "labs": [{"name": "力学室"}]}


def test_send_waits_for_the_outcome_and_checks_the_inclusion() -> None:
    platform = Platform(polls=3)
    with _client(platform, log_key=LOG_VKEY) as client:
        receipt = client.send("registry.labs", MESSAGE, wait=10, poll=0.01)
    assert receipt.outcome is not None
    assert receipt.outcome.final
    assert receipt.results == {"created": 1}
    assert receipt.warnings == [{"code": "x", "message": "y"}]
    assert platform.asked == 3
    assert receipt.outcome.verify_inclusion(LOG_VKEY)
    assert receipt.outcome.verify_inclusion()  # without the key: the proof alone


def test_a_wait_that_ends_first_gives_the_status_as_it_stands() -> None:
    with _client(Platform(polls=1000)) as client:
        receipt = client.send("registry.labs", MESSAGE, wait=0.05, poll=0.01)
    assert receipt.outcome is not None
    assert receipt.outcome.status == "accepted"
    assert receipt.results is None
    assert receipt.warnings == []
    assert receipt.outcome.verify_inclusion() is False  # not in the log yet


def test_a_rejected_message_raises_with_its_problem() -> None:
    with _client(Platform(outcome="rejected")) as client, pytest.raises(MessageRejected) as caught:
        client.send("registry.labs", MESSAGE, wait=5, poll=0.01)
    assert caught.value.status == 422
    assert caught.value.problem["detail"] == "实验室不存在"
    assert "实验室不存在" in str(caught.value)


def test_statuses_of_many_and_one() -> None:
    platform = Platform()
    with _client(platform) as client:
        ids = [client.send("registry.labs", MESSAGE).message_id for _ in range(3)]
        found = client.statuses([*ids, "6f0c7c3e-0000-4000-8000-000000000000"])
        assert [s.message_id for s in found] == ids
        assert client.status("registry.labs", ids[0]).status == "applied"
        with pytest.raises(PermanentError) as missing:
            client.status("registry.labs", "6f0c7c3e-0000-4000-8000-000000000000")
    assert getattr(missing.value, "status", None) == 404


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, content=b"not json"),
        httpx.Response(200, json={"nothing": []}),
        httpx.Response(200, json=[1]),
    ],
    ids=["not-json", "no-messages", "not-an-object"],
)
def test_statuses_that_are_not_statuses_are_a_mismatch(answer: httpx.Response) -> None:
    with _client(lambda request: answer) as client, pytest.raises(ReceiptMismatch):
        client.statuses(["6f0c7c3e-0000-4000-8000-000000000000"])


def test_statuses_of_a_platform_that_is_down_are_transient() -> None:
    with _client(lambda request: httpx.Response(503)) as client, pytest.raises(TransientError):
        client.statuses(["6f0c7c3e-0000-4000-8000-000000000000"])


def _applied() -> dict[str, Any]:
    platform = Platform()
    receipt = _receipt(
        "registry.labs", {**MESSAGE, "message_id": "6f0c7c3e-0000-4000-8000-00000000000a"}
    )
    platform.receipts[receipt["message_id"]] = receipt
    return platform.status(receipt["message_id"])


@pytest.mark.parametrize(
    "change",
    [
        {"status": "lost"},
        {"warnings": "x"},
        {"problem": "x"},
        {"ledger": []},
        {"ledger": {"index": 1, "size": 2, "hashes": "x", "checkpoint": "c"}},
        {"ledger": {"index": -1, "size": 2, "hashes": [], "checkpoint": "c"}},
        {"receipt": {"receipt_version": 1}},
        {"message_id": 7},
    ],
)
def test_a_malformed_status_is_a_mismatch(change: dict[str, Any]) -> None:
    with pytest.raises(ReceiptMismatch):
        Status.from_json(_applied() | change)
    with pytest.raises(ReceiptMismatch):
        Status.from_json("not an object")


def test_a_proof_that_does_not_lead_to_the_checkpoint_is_a_mismatch() -> None:
    doc = _applied()
    assert Status.from_json(doc).verify_inclusion(LOG_VKEY)
    ledger = doc["ledger"]
    wrong_path = doc | {"ledger": ledger | {"hashes": ["00" * 32] * len(ledger["hashes"])}}
    with pytest.raises(ReceiptMismatch, match="does not lead"):
        Status.from_json(wrong_path).verify_inclusion(LOG_VKEY)
    other_size = doc | {"ledger": ledger | {"size": ledger["size"] + 1}}
    with pytest.raises(ReceiptMismatch, match="another tree size"):
        Status.from_json(other_size).verify_inclusion(LOG_VKEY)
    impostor, _ = generate_signer("mock.example/ledger")
    forged = doc | {"ledger": _log_with(doc["receipt"]["leaf_hash"], skey=impostor)}
    with pytest.raises(ReceiptMismatch, match="checkpoint does not verify"):
        Status.from_json(forged).verify_inclusion(LOG_VKEY)
    garbled = doc | {"ledger": ledger | {"checkpoint": "not a checkpoint"}}
    with pytest.raises(ReceiptMismatch, match="checkpoint does not verify"):
        Status.from_json(garbled).verify_inclusion()
