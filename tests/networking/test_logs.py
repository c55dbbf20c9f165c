"""The parent checks each child's checkpoints for consistency and cosigns them; a rewritten or
rolled-back log halts the child and raises ``child_log_inconsistent``."""

from __future__ import annotations

import base64
import hashlib
import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.client.signing import load_key
from jcjg.core.db import utcnow
from jcjg.ledger import merkle
from jcjg.ledger import service as ledger
from jcjg.ledger.note import Verifier, add_signatures, open_note
from jcjg.networking import logs
from jcjg.networking.models import Child
from jcjg.networking.service import register_child, resume_child
from jcjg.networking.wire import b64
from tests.networking.helpers import CITY, ChildLog, forward, post_forward


class ChildServer:
    """The child's public ledger endpoints over its hand-made log; keeps the cosignatures."""

    def __init__(self, log: ChildLog) -> None:
        self.log = log
        self.size: int | None = None  # the checkpoint served (default: the whole log)
        self.cosigned: dict[int, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, query = request.url.path, dict(request.url.params)
        hashes = [merkle.leaf_hash(e) for e in self.log.entries]
        size = self.size if self.size is not None else len(hashes)
        if path == "/ledger/checkpoint":
            return httpx.Response(200, text=self.cosigned.get(size) or self.log.checkpoint(size))
        if path == "/ledger/proof/consistency":
            first, second = int(query["first"]), int(query["second"])
            proof = merkle.consistency_proof(hashes, first, second)
            return httpx.Response(200, json={"hashes": [h.hex() for h in proof]})
        if path == "/ledger/proof/inclusion":
            index, at = int(query["index"]), int(query["size"])
            proof = merkle.inclusion_proof(hashes, index, at)
            return httpx.Response(200, json={"hashes": [h.hex() for h in proof]})
        if path.endswith("/cosignatures"):
            at = int(path.split("/")[-2])
            note = self.cosigned.get(at) or self.log.checkpoint(at)
            updated = add_signatures(note.encode(), [request.content.decode()], verifiers=[
                ledger.log_identity().cosigner.verifier()])  # fmt: skip
            self.cosigned[at] = updated.decode()
            return httpx.Response(200, text=self.cosigned[at])
        return httpx.Response(404)


@pytest.fixture
def child(db, settings) -> tuple[Child, ChildLog, ChildServer]:
    log = ChildLog()
    for n in range(5):
        log.append("sample:seal", {"n": n})
    made = register_child(
        db, settings, name="九江市检测监管平台", region_code="360400", base_url=CITY,
        log_key=log.vkey,
    )  # fmt: skip
    db.commit()
    return made.child, log, ChildServer(log)


def _check(db, server: ChildServer) -> list[logs.Checked]:
    return logs.check_all(db, transport=httpx.MockTransport(server))


@pytest.mark.sqlite
def test_a_consistent_log_is_checked_and_cosigned(db, child):
    row, log, server = child
    (checked,) = _check(db, server)
    assert (checked.size, checked.cosigned, checked.error) == (5, True, None)
    note = server.cosigned[5]
    cosigner = ledger.log_identity().verifier.cosignature_verifier()
    assert cosigner is not None
    opened = open_note(note, [Verifier(log.vkey), cosigner])
    assert len(opened.sigs) == 2  # the child's and ours
    # ours is a c2sp.org/tlog-cosignature v1: type 0x04, the time, Ed25519 over the message
    ours = base64.b64decode(opened.sigs[1].base64)
    assert (
        ours[:4]
        == hashlib.sha256(cosigner.name.encode() + b"\n\x04" + cosigner.public_key).digest()[:4]
    )
    moment = int.from_bytes(ours[4:12], "big")
    assert abs(moment - time.time()) < 60
    message = f"cosignature/v1\ntime {moment}\n{opened.text}".encode()
    Ed25519PublicKey.from_public_bytes(cosigner.public_key).verify(ours[12:], message)
    for n in range(5, 9):
        log.append("sample:seal", {"n": n})
    (checked,) = _check(db, server)
    assert (checked.size, checked.cosigned) == (9, True)
    db.expire_all()
    assert db.get(Child, row.id).checked_size == 9
    assert db.get(Child, row.id).status == "active"
    run_rule(db, "child_log_inconsistent")
    assert db.scalars(select(Alert).where(Alert.rule_id == "child_log_inconsistent")).all() == []


@pytest.mark.sqlite
def test_a_rewritten_log_halts_the_child_and_raises_the_alert(client, db, child):
    row, log, server = child
    _check(db, server)
    # truncated to 3 and re-appended: 6 leaves, its first 5 not those checked
    del log.entries[3:]
    for n in range(3):
        log.append("sample:seal", {"rewritten": n})
    (checked,) = _check(db, server)
    assert checked.inconsistent
    db.expire_all()
    halted = db.get(Child, row.id)
    assert halted.status == "halted"
    assert "前缀" in halted.halted_reason
    run_rule(db, "child_log_inconsistent")
    db.commit()
    (alert,) = db.scalars(select(Alert).where(Alert.rule_id == "child_log_inconsistent")).all()
    assert alert.severity == "critical"
    assert alert.subject_repr == "九江市检测监管平台"
    # a halted child is not checked again until an operator resumes it
    assert _check(db, server) == []
    resume_child(db, db.get(Child, row.id), forget_log=True)
    db.commit()
    (checked,) = _check(db, server)
    assert checked.error is None
    run_rule(db, "child_log_inconsistent")
    db.commit()
    assert (
        db.scalars(
            select(Alert).where(Alert.rule_id == "child_log_inconsistent", Alert.status == "open")
        ).all()
        == []
    )


def test_a_rolled_back_or_forked_log_is_inconsistent(db, child):
    row, log, server = child
    _check(db, server)
    server.size = 4  # an older checkpoint served as the latest
    (checked,) = _check(db, server)
    assert checked.inconsistent
    assert "回退" in checked.error
    resume_child(db, db.get(Child, row.id))
    db.commit()
    server.size = None
    log.entries[4] = ledger.envelope("sample:seal", {"forked": True}, utcnow())
    server.cosigned.clear()  # its new checkpoint of the same size
    (checked,) = _check(db, server)  # the same size, another root
    assert checked.inconsistent
    assert "根哈希" in checked.error


def test_a_forwarded_leaf_missing_from_the_childs_log_is_inconsistent(client, db, settings):
    """The child forwarded a leaf, then served a log without it."""
    log = ChildLog()
    private = Ed25519PrivateKey.generate()
    made = register_child(
        db, settings, name="赣州市检测监管平台", region_code="360700", base_url=CITY,
        log_key=log.vkey, public_key=b64(private.public_key().public_bytes_raw()).encode(),
    )  # fmt: skip
    db.commit()
    sent = [log.append("video_clip:export", {"n": n}) for n in range(3)]
    answer = post_forward(client, made.key.key.key_id, load_key("ed25519", private),
                          forward(log, sent))  # fmt: skip
    assert answer.status_code == 200, answer.text
    log.entries[2] = ledger.envelope("video_clip:export", {"other": 1}, utcnow())
    (checked,) = _check(db, ChildServer(log))
    assert checked.inconsistent
    assert "不在其日志中" in checked.error


def test_an_unreachable_child_is_noted_not_halted(db, child):
    row, _log, _server = child

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    (checked,) = logs.check_all(db, transport=httpx.MockTransport(down))
    assert checked.error
    assert not checked.inconsistent
    db.expire_all()
    assert db.get(Child, row.id).status == "active"
    assert "无法核验" in db.get(Child, row.id).last_check_error


def test_the_parents_cosignature_is_shown_with_the_log(client, db, tmp_path):
    """A child keeps its parent's cosignature with its checkpoint (the endpoint that takes it
    accepts the upstream's log key) and shows it on /ledger."""
    from jcjg.config import Settings
    from jcjg.ledger.note import Signer, generate_signer, signature_line

    parent_skey, parent_vkey = generate_signer("province.test/ledger")
    saved = ledger.log_identity()
    ledger.configure(
        Settings(env="test", secret_key="x" * 32, data_dir=tmp_path, upstream_log_key=parent_vkey)
    )
    try:
        ledger.notarise(db, "sample:seal", {"n": 1})
        while ledger.integrate(db):
            pass
        checkpoint = ledger.ensure_checkpoint(db)
        db.commit()
        assert ledger.latest_cosigned(db) is None
        text = checkpoint.note.split("\n\n", 1)[0] + "\n"
        line = signature_line(text, Signer(parent_skey))
        answer = client.post(
            f"/ledger/checkpoint/{checkpoint.size}/cosignatures",
            content=line.encode(),
            headers={"content-type": "text/plain"},
        )
        assert answer.status_code == 200, answer.text
        db.expire_all()
        found = ledger.latest_cosigned(db)
        assert found is not None
        assert found.cosigners == ("province.test/ledger",)
        assert found.checkpoint.size == checkpoint.size
        page = client.get("/ledger", headers={"accept": "text/html"})
        assert 'data-testid="cosigned"' in page.text
        assert "province.test/ledger" in page.text
        # a line signed by a key the child does not know is refused
        stranger = signature_line(text, Signer(generate_signer("other.test/ledger")[0]))
        refused = client.post(
            f"/ledger/checkpoint/{checkpoint.size}/cosignatures",
            content=stranger.encode(),
            headers={"content-type": "text/plain"},
        )
        assert refused.status_code == 400
    finally:
        ledger._identity = saved
