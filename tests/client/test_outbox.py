"""The durable outbox and its sender: order, backoff, uploads on demand, restarts, failures."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from jcjg.client import Client, Outbox, Sender, backoff_delay, expected_entry
from jcjg.client.receipt import envelope_leaf_hash
from jcjg.ledger.canonical import CanonicalJSONError
from tests.client.live import Lab, LiveExchange, signed_promise


class Clock:
    """A clock the test moves: ``sleep`` advances it instead of waiting."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class UpperBound(random.Random):
    """A "random" source that always draws the top of the range: the backoff's bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


def _mock_client(handler: Any) -> Client:
    return Client(
        "http://platform.test",
        "k1",
        Ed25519PrivateKey.generate(),
        transport=httpx.MockTransport(handler),
    )


_SENT: dict[str, dict[str, Any]] = {}  # receipts the mock platform gave, by message id


def _receipt(request: httpx.Request, **change: Any) -> httpx.Response:
    """An honest mock platform: receipt v2 for a message; for a status request, each known
    message applied (no ledger proof yet)."""
    if request.url.path == "/exchange/v1/status":
        ids = json.loads(request.content)["message_ids"]
        found = [
            {
                "message_id": i,
                "message_type": _SENT[i]["message_type"],
                "status": "applied",
                "received_at": _SENT[i]["received_at"],
                "applied_at": _SENT[i]["received_at"],
                "receipt": _SENT[i],
                "results": {},
                "warnings": [],
                "ledger": None,
            }
            for i in ids
            if i in _SENT
        ]
        return httpx.Response(200, json={"messages": found, "unknown": []})
    body = json.loads(request.content)
    kind = request.url.path.rsplit("/", 1)[1]
    entry = expected_entry(kind, body, "k1")
    moment = "2026-01-02T03:04:05.000006Z"
    leaf = envelope_leaf_hash("message:" + kind, moment, entry)
    receipt = {
        "receipt_version": 2,
        "message_id": entry["message_id"],
        "message_type": kind,
        "status": "accepted",
        "received_at": moment,
        "entry_type": "message:" + kind,
        "entry": entry,
        "notarised_at": moment,
        "leaf_hash": leaf,
        "max_delay_seconds": 60,
        "promise": signed_promise(leaf, moment),
        "status_url": f"/exchange/v1/messages/{kind}/{entry['message_id']}",
    } | change
    _SENT[receipt["message_id"]] = receipt
    return httpx.Response(202, json=receipt)


def _message(n: int = 1) -> dict[str, Any]:
    return {"institution_code": "X1", "labs": [{"name": f"场所{n}"}]}


# --- backoff ---------------------------------------------------------------------------------


def test_backoff_grows_to_the_cap() -> None:
    bounds = [backoff_delay(n, base=0.5, cap=30, rng=UpperBound()) for n in range(1, 10)]
    assert bounds == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert backoff_delay(10_000, base=1, cap=300, rng=UpperBound()) == 300


def test_backoff_has_full_jitter() -> None:
    rng = random.Random(20260101)
    draws = [backoff_delay(6, base=1, cap=300, rng=rng) for _ in range(200)]
    assert all(0 <= d <= 32 for d in draws)
    assert len(set(draws)) == 200
    assert min(draws) < 4
    assert max(draws) > 28
    # Same seed, same delays: the jitter is the rng's, so a test can pin it.
    again = random.Random(20260101)
    assert draws == [backoff_delay(6, base=1, cap=300, rng=again) for _ in range(200)]


def test_transient_failures_back_off_with_jitter(tmp_path: Path) -> None:
    clock = Clock()

    def unavailable(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"type": "about:blank", "title": "维护中"})

    with Outbox(tmp_path / "o.sqlite3", clock=clock) as outbox, _mock_client(unavailable) as c:
        message_id = outbox.enqueue("registry.labs", _message())
        sender = Sender(
            c, outbox, backoff_base=1, backoff_cap=60, rng=random.Random(7), clock=clock
        )
        waits = []
        for _attempt in range(8):
            assert sender.run_once().deferred == [message_id]
            (message,) = outbox.pending()
            waits.append(message.next_attempt_at - clock.now)
            assert sender.run_once().deferred == []  # not due yet: nothing is sent
            clock.now = message.next_attempt_at
        assert message.attempts == 8
        assert "503" in (message.last_error or "")
        assert message.problem == {"type": "about:blank", "title": "维护中"}
    bounds = [min(60, 2**n) for n in range(8)]  # 1, 2, 4 ... 60: the bound doubles
    assert all(0 <= w <= b for w, b in zip(waits, bounds, strict=True))
    rng = random.Random(7)  # each wait is a uniform draw under its bound (full jitter)
    assert waits == pytest.approx([rng.uniform(0, b) for b in bounds])


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    clock = Clock()
    handler = lambda r: httpx.Response(429, headers={"Retry-After": "90"})  # noqa: E731
    with Outbox(tmp_path / "o.sqlite3", clock=clock) as outbox, _mock_client(handler) as c:
        outbox.enqueue("registry.labs", _message())
        Sender(c, outbox, backoff_base=1, backoff_cap=5, clock=clock).run_once()
        (message,) = outbox.pending()
    assert message.next_attempt_at == clock.now + 90


def test_order_is_kept_behind_a_waiting_message(tmp_path: Path) -> None:
    clock = Clock()
    calls: list[str] = []

    def flaky(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if "labs" not in body:  # following what was sent
            return _receipt(request)
        calls.append(body["labs"][0]["name"])
        if len(calls) == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return _receipt(request)

    with Outbox(tmp_path / "o.sqlite3", clock=clock) as outbox, _mock_client(flaky) as c:
        first = outbox.enqueue("registry.labs", _message(1))
        second = outbox.enqueue("registry.labs", _message(2))
        sender = Sender(c, outbox, rng=UpperBound(), clock=clock, sleep=clock.sleep)
        assert sender.run_once().deferred == [first]
        assert calls == ["场所1"]  # the second waits behind the first
        report = sender.drain(until_empty=True)
        assert report.sent == [first, second]
        assert calls == ["场所1", "场所1", "场所2"]
        assert clock.slept == [1.0]
        assert [m.message_id for m in outbox.sent()] == [first, second]
        assert [m.outcome for m in outbox.sent()] == ["applied", "applied"]
        assert report.applied == [first, second]
        assert outbox.messages() == []
        assert outbox.lag() == 0


def test_max_attempts_turns_transient_into_failed(tmp_path: Path) -> None:
    clock = Clock()
    handler = lambda r: httpx.Response(502)  # noqa: E731
    with Outbox(tmp_path / "o.sqlite3", clock=clock) as outbox, _mock_client(handler) as c:
        outbox.enqueue("registry.labs", _message())
        sender = Sender(c, outbox, max_attempts=3, clock=clock, sleep=clock.sleep)
        report = sender.drain(until_empty=True)
        assert len(report.deferred) == 2
        assert len(report.failed) == 1
        (message,) = outbox.failed()
        assert message.attempts == 3


def test_a_forged_receipt_is_a_failure_kept_for_a_person(tmp_path: Path) -> None:
    forged = lambda r: _receipt(r, leaf_hash="11" * 32)  # noqa: E731
    with Outbox(tmp_path / "o.sqlite3") as outbox, _mock_client(forged) as c:
        message_id = outbox.enqueue("registry.labs", _message())
        report = Sender(c, outbox).run_once()
        assert report.failed == [message_id]
        (message,) = outbox.failed()
        assert message.problem is not None
        assert message.problem["type"] == "urn:jcjg:client:receipt-mismatch"
        assert message.problem["receipt"]["leaf_hash"] == "11" * 32
        assert outbox.receipt(message_id) is None


def test_enqueue_checks_at_once(tmp_path: Path) -> None:
    attachment = tmp_path / "a.pdf"
    attachment.write_bytes(b"%PDF")
    sha256 = hashlib.sha256(b"%PDF").hexdigest()
    with Outbox(tmp_path / "o.sqlite3") as outbox:
        with pytest.raises(ValueError, match="does not refer"):
            outbox.enqueue("registry.equipment", _message(), files=[attachment])
        with pytest.raises(FileNotFoundError):
            outbox.enqueue("registry.equipment", _message(), files=[tmp_path / "gone.pdf"])
        with pytest.raises(CanonicalJSONError):
            outbox.enqueue("registry.labs", {**_message(), "n": 2**60})
        with pytest.raises(ValueError, match="UUID"):
            outbox.enqueue("registry.labs", {**_message(), "message_id": "7"})
        message = {**_message(), "message_id": str(uuid.uuid4()), "file": sha256.upper()}
        message_id = outbox.enqueue("registry.equipment", message, files=[attachment])
        assert outbox.enqueue("registry.equipment", message, files=[attachment]) == message_id
        with pytest.raises(ValueError, match="different"):
            outbox.enqueue("registry.equipment", {**message, "labs": []})
        (stored,) = outbox.pending()
        assert stored.files == {sha256: str(attachment.resolve())}
        assert stored.payload == message
    with sqlite3.connect(tmp_path / "o.sqlite3") as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


# --- against the platform --------------------------------------------------------------------


def test_files_missing_are_uploaded_and_the_message_resent(
    exchange: LiveExchange, lab: Lab, tmp_path: Path
) -> None:
    small = tmp_path / "certificate.pdf"
    small.write_bytes(b"%PDF-1.7 " + uuid.uuid4().bytes)
    large = tmp_path / "certificate-scan.tif"
    large.write_bytes(uuid.uuid4().bytes * 200)  # 3 200 bytes: by tus in 1 KiB chunks
    shas = [hashlib.sha256(p.read_bytes()).hexdigest() for p in (small, large)]
    message = lab.equipment_message(shas[0])
    message["equipment"].append(
        {"asset_number": "LX-002", "name": "压力试验机", "calibration_certificate_sha256": shas[1]}
    )
    client = lab.client(exchange.url, put_threshold=1024, chunk_size=1024)
    with Outbox(tmp_path / "o.sqlite3") as outbox, client:
        message_id = outbox.enqueue("registry.equipment", message, files=[small, large])
        report = Sender(client, outbox).drain(until_empty=True, timeout=30)
        assert report.sent == [message_id]
        assert report.applied == [message_id]
        assert report.uploaded == shas
        assert outbox.messages() == []
        (sent,) = outbox.sent()
        assert sent.receipt.status == "accepted"
        assert sent.outcome == "applied"
        assert sent.status is not None
        assert sent.status.results == {"created": 2, "updated": 0, "unchanged": 0}
        sent.receipt.verify(sent.payload, key_id=lab.key_id, message_type="registry.equipment")
        assert outbox.upload_urls.get(shas[1]) is None
    for sha in shas:
        assert exchange.stored_file(lab, sha) is not None


def test_outbox_survives_a_restart(
    exchange: LiveExchange, lab: Lab, tmp_path: Path, refused_port: int
) -> None:
    path = tmp_path / "outbox.sqlite3"
    down = lab.client(f"http://127.0.0.1:{refused_port}")  # nobody listens there
    outbox = Outbox(path)
    ids = [outbox.enqueue("registry.labs", lab.labs_message(f"场所{n}")) for n in range(3)]
    report = Sender(down, outbox, backoff_base=0.05, backoff_cap=0.1).run_once()
    assert report.deferred == ids[:1]
    (head, *_rest) = outbox.pending()
    assert head.attempts == 1
    assert "ConnectError" in (head.last_error or "")
    down.close()
    outbox.close()

    reopened = Outbox(path)  # a new process: only the file is shared
    assert [m.message_id for m in reopened.pending()] == ids
    with lab.client(exchange.url) as up:
        report = Sender(up, reopened, backoff_base=0.05, backoff_cap=0.1).drain(timeout=10)
    assert report.sent == ids
    assert reopened.messages() == []
    assert [s.message_id for s in reopened.sent()] == ids
    assert reopened.sent(ids[0])[0].attempts == 2
    reopened.close()


def test_permanent_failure_is_kept_and_retry_requeues(
    exchange: LiveExchange, lab: Lab, tmp_path: Path
) -> None:
    equipment = {
        "institution_code": lab.institution_code,
        "equipment": [{"asset_number": "LX-9", "name": "万能试验机", "lab_name": "力学室"}],
    }
    with Outbox(tmp_path / "o.sqlite3") as outbox, lab.client(exchange.url) as client:
        sender = Sender(client, outbox)
        # Sent in the wrong order: the equipment names a lab the platform does not know yet.
        # Both are accepted; applied in order, the equipment is rejected, the lab applied.
        early = outbox.enqueue("registry.equipment", equipment)
        labs = outbox.enqueue("registry.labs", lab.labs_message("力学室"))
        report = sender.drain(until_empty=True, timeout=30)
        assert report.sent == [early, labs]
        assert (report.rejected, report.applied) == ([early], [labs])
        (rejected,) = outbox.rejected()
        assert rejected.message_id == early
        assert rejected.status is not None
        assert rejected.status.problem is not None
        assert rejected.status.problem["status"] == 422
        assert "力学室" in json.dumps(rejected.status.problem, ensure_ascii=False)
        assert sender.run_once().sent == []  # rejected messages are not resent by themselves
        # Resent as a new message (same content, new id): applied now that the lab is known.
        (again,) = outbox.resend([early]).values()
        assert again != early
        report = sender.drain(until_empty=True, timeout=30)
        assert (report.sent, report.applied) == ([again], [again])
        assert outbox.rejected() == []
        assert outbox.messages() == []
        # a message refused in its request stays failed until a person retries it
        bad = outbox.enqueue("registry.labs", {"institution_code": lab.institution_code})
        assert sender.run_once().failed == [bad]
        assert outbox.retry([str(uuid.uuid4())]) == 0
        assert outbox.retry([bad]) == 1


def test_a_version_1_outbox_keeps_its_pending_messages_and_its_old_receipts(
    tmp_path: Path,
) -> None:
    """An outbox written before receipt v2: what waits is sent on, the old receipts stay as
    they were (not read, but kept as proof), and their ids are still taken."""
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT,
                message_id TEXT NOT NULL UNIQUE, message_type TEXT NOT NULL, body BLOB NOT NULL,
                files TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL, attempts INTEGER NOT NULL
                DEFAULT 0, created_at REAL NOT NULL, next_attempt_at REAL NOT NULL,
                last_attempt_at REAL, last_error TEXT, problem TEXT);
            CREATE TABLE receipts (message_id TEXT PRIMARY KEY, seq INTEGER NOT NULL,
                message_type TEXT NOT NULL, body BLOB NOT NULL, receipt TEXT NOT NULL,
                status TEXT NOT NULL, ledger_index INTEGER NOT NULL, leaf_hash TEXT NOT NULL,
                attempts INTEGER NOT NULL, created_at REAL NOT NULL, sent_at REAL NOT NULL);
            CREATE TABLE uploads (sha256 TEXT PRIMARY KEY, url TEXT NOT NULL,
                updated_at REAL NOT NULL);
            PRAGMA user_version = 1;
            """
        )
        old = str(uuid.uuid4())
        db.execute(
            "INSERT INTO receipts VALUES (?, 1, 'registry.labs', ?, '{\"index\": 3}', "
            "'accepted', 3, 'ab', 1, 1.0, 2.0)",
            (old, json.dumps({**_message(), "message_id": old}).encode()),
        )
        waiting = str(uuid.uuid4())
        db.execute(
            "INSERT INTO messages (message_id, message_type, body, status, created_at, "
            "next_attempt_at) VALUES (?, 'registry.labs', ?, 'pending', 1.0, 1.0)",
            (waiting, json.dumps({**_message(), "message_id": waiting}).encode()),
        )
    with Outbox(path) as outbox, _mock_client(_receipt) as client:
        assert outbox.sent() == []
        with pytest.raises(ValueError, match="already in the outbox"):
            outbox.enqueue("registry.labs", {**_message(2), "message_id": old})
        assert Sender(client, outbox).run_once().sent == [waiting]
        assert [m.message_id for m in outbox.sent()] == [waiting]
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert db.execute("SELECT message_id FROM receipts_v1").fetchall() == [(old,)]
