"""The conformance kit (issue 40 item 8): the sandbox's probe loses answers the way networks
do, and the report judges a client by what it did. The project's own client (the outbox and
the tus uploads of ``jcjg.client``) passes; a client that does not retry, reuses a message id
for other content or resends a rejected message fails, each on its own check."""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from jcjg.client.api import Client
from jcjg.client.errors import PermanentError, TransientError
from jcjg.client.outbox import Outbox, Sender
from jcjg.exchange import apply, clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.conformance import read_log, report
from jcjg.main import create_app
from tests.servers import listening_socket, serving


@pytest.fixture
def sandbox(tmp_path, settings, engine, session_factory, db, factory):
    """A served app with the probe, an institution with a lab system's key, and a client."""
    log = tmp_path / "traffic.jsonl"
    sandboxed = settings.model_copy(update={"exchange_conformance_log": log})
    app = create_app(sandboxed, engine=engine, session_factory=session_factory)
    institution = factory.institution(region_code="360403")
    client_row = clients.create_client(
        db, name="合规测试", institution=institution, status=ClientStatus.ACTIVE
    )
    private = Ed25519PrivateKey.generate()
    issued = clients.issue_key(
        db, client_row, settings, alg="ed25519",
        public_key=base64.b64encode(private.public_key().public_bytes_raw()),
    )  # fmt: skip
    db.commit()
    with serving(app, listening_socket()) as url:
        yield {
            "url": url,
            "log": log,
            "key_id": issued.key.key_id,
            "private": private,
            "institution": institution,
            "settings": sandboxed,
            "sessions": session_factory,
            "tmp": tmp_path,
        }


def _labs(code: str, name: str = "力学室") -> dict:
    return {
        "institution_code": code,
        "labs": [{"name": name, "address": "九江市濂溪区十里大道 100 号", "area_m2": "320.00",
                  "specialties": ["01"]}],
    }  # fmt: skip


def _camera(code: str) -> dict:
    return {
        "institution_code": code,
        "cameras": [{"code": "CAM-CONF-1", "name": "力学室压力机", "place_kind": "mechanical",
                     "form": "dome", "lab_name": "力学室",
                     "stream_url": "rtsp://203.0.113.10:554/Streaming/Channels/101"}],
    }  # fmt: skip


def _apply(box) -> None:
    apply.drain(box["sessions"], box["settings"])


def _judge(box, db: Session, types: list[str]):
    db.expire_all()
    found = {c.code: c for c in report(db, box["log"], box["key_id"], types).checks}
    db.rollback()  # the test's session writes: it would hold SQLite's lock
    return found


def test_the_projects_own_client_passes(sandbox, db):
    box, code = sandbox, sandbox["institution"].code
    client = Client(
        box["url"], box["key_id"], box["private"], put_threshold=1024, chunk_size=64 * 1024
    )
    with Outbox(box["tmp"] / "outbox.sqlite3") as outbox:
        sender = Sender(client, outbox)
        outbox.enqueue("registry.labs", _labs(code))
        outbox.enqueue("video.camera", _camera(code))
        bad = outbox.enqueue("registry.labs", _labs(code, name=""))  # refused at once: 422
        deadline = time.monotonic() + 30
        while outbox.pending() and time.monotonic() < deadline:
            sender.run_once()
            _apply(box)
            sender.follow_once()
            time.sleep(0.3)
        _apply(box)
        sender.follow_once()
        assert not outbox.pending()
        assert outbox.get(bad).status == "failed"
    # a file by tus, its first chunk's answer lost: the client asks the offset and goes on
    big = box["tmp"] / "report.pdf"
    big.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 800)
    for _ in range(5):
        try:
            sha = client.put_file(big, content_type="application/pdf")
            break
        except TransientError:
            time.sleep(1.1)
    assert client.has_file(sha)
    client.close()
    entries = read_log(box["log"])
    lost = [e for e in entries if e.injected]
    assert {(e.kind, e.message_type) for e in lost} == {
        ("message", "registry.labs"), ("message", "video.camera"), ("upload", ""),
    }  # fmt: skip
    checks = _judge(box, db, ["registry.labs", "video.camera"])
    failed = {k: c.detail for k, c in checks.items() if c.passed is False}
    assert failed == {}
    assert checks["types"].passed is True
    assert checks["retry"].passed is True
    assert checks["status"].passed is True
    assert checks["resume"].passed is True
    assert checks["files"].passed is True
    db.expire_all()
    found = report(db, box["log"], box["key_id"], ["registry.labs", "video.camera"])
    db.rollback()
    assert found.passed
    assert found.text().splitlines()[-1] == "结论：通过"
    assert found.as_dict()["passed"] is True


def test_a_careless_client_fails_on_each_of_its_faults(sandbox, db):
    box, code = sandbox, sandbox["institution"].code
    client = Client(box["url"], box["key_id"], box["private"])
    lost_id = str(uuid.uuid4())
    with pytest.raises(TransientError):  # the answer is lost ... and it never sends it again
        client.send("registry.labs", {"message_id": lost_id, **_labs(code)})
    _apply(box)
    # a message rejected on apply, sent again under its id: a duplicate, never corrected
    rejected = {"message_id": str(uuid.uuid4()), **_camera(code)} | {
        "cameras": [_camera(code)["cameras"][0] | {"lab_name": "无此室"}]
    }
    with pytest.raises(TransientError):
        client.send("video.camera", rejected)  # its first answer is lost
    time.sleep(1.1)
    client.send("video.camera", rejected)
    _apply(box)
    time.sleep(0.05)
    client.send("video.camera", rejected)
    # the same id for other content
    clash = {"message_id": str(uuid.uuid4()), **_labs(code, name="化学室")}
    client.send("registry.labs", clash)
    with pytest.raises(PermanentError, match="409"):
        client.send("registry.labs", clash | {"labs": _labs(code, name="物理室")["labs"]})
    client.close()
    checks = _judge(box, db, ["registry.labs", "video.camera"])
    assert checks["retry"].passed is False
    assert "未重发" in checks["retry"].detail
    assert checks["idempotent"].passed is False
    assert checks["rejected"].passed is False
    assert checks["status"].passed is False  # it never asked
    assert checks["types"].passed is False  # no camera applied
    assert "video.camera" in checks["types"].detail


def test_the_sandbox_is_refused_in_production(settings):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="合规测试"):
        type(settings)(env="prod", secret_key="x" * 40, exchange_conformance_log=Path("log.jsonl"))


def test_the_log_survives_a_restart_without_losing_answers_twice(tmp_path):
    from jcjg.exchange.conformance import Entry, Probe

    log = tmp_path / "traffic.jsonl"
    seen = Entry("2026-11-25T10:00:00+00:00", "POST", "/exchange/v1/messages/commission",
                 "message", "k1", "commission", "m1", injected="lost_answer")  # fmt: skip
    from dataclasses import asdict

    log.write_text(json.dumps(asdict(seen)) + "\n")
    probe = Probe(app=None, log=log)  # type: ignore[arg-type]
    again = Entry("2026-11-25T10:01:00+00:00", "POST", "/exchange/v1/messages/commission",
                  "message", "k1", "commission", "m2")  # fmt: skip
    assert probe._wanted(again) is False
    other = Entry("2026-11-25T10:01:00+00:00", "POST", "/exchange/v1/messages/contract",
                  "message", "k1", "contract", "m3")  # fmt: skip
    assert probe._wanted(other) is True
