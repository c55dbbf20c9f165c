"""A whole exchange round trip under ``JCJG_CRYPTO=sm``: a lab signs with SM2 (``sm2-sm3``),
the receipt's promise is signed with the log's SM2 key, the message is applied, the log (an SM3
tree) integrates it, the status's inclusion proof verifies, and the offline verifier says yes
with the log's SM2 key. An HMAC lab's secret is sealed with SM4 and still signs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from jcjg.client import ReceiptMismatch
from jcjg.exchange import keystore
from jcjg.exchange.models import ClientKey
from jcjg.ledger import service as ledger_service
from jcjg.ledger import standalone
from jcjg.ledger.canonical import canonical_json
from jcjg.ledger.note import Verifier
from jcjg.ledger.sm import sm3
from tests.client.live import LiveExchange, running_exchange


@pytest.fixture(scope="module")
def sm_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveExchange]:
    # The log's identity is one per process: the SM platform's while it serves, then back.
    before = ledger_service.log_identity()
    try:
        with running_exchange(tmp_path_factory.mktemp("sm"), crypto="sm") as live:
            yield live
    finally:
        ledger_service._identity = before


def test_a_message_round_trip_under_the_national_profile(
    sm_exchange: LiveExchange, tmp_path: Path
) -> None:
    log_key = httpx.get(sm_exchange.url + "/ledger/key").text.strip()
    page = httpx.get(sm_exchange.url + "/ledger", headers={"accept": "text/html"}).text
    assert "哈希为 SM3" in page  # the explorer says which algorithms this log uses
    log = Verifier(log_key)
    assert log.is_sm2
    assert log.name.endswith("/ledger/sm")  # another log than the standard profile's
    lab = sm_exchange.lab("sm2-sm3")
    payload = lab.labs_message()
    with lab.client(sm_exchange.url, log_key=log_key) as client:
        assert client.alg == "sm2-sm3"
        receipt = client.send("registry.labs", payload, wait=30)
        assert receipt.outcome is not None
        assert receipt.outcome.status == "applied"
        sent = {**payload, "message_id": receipt.message_id}
        # The leaf is SM3(0x00 || envelope), and the promise verifies with the SM2 log key.
        envelope = {"entry_type": "message:registry.labs", "notarised_at": receipt.notarised_at}
        assert (
            receipt.leaf_hash
            == sm3(b"\x00" + canonical_json({**envelope, "data": receipt.entry})).hex()
        )
        receipt.verify(sent, key_id=lab.key_id, message_type="registry.labs", log_key=log_key)
        with pytest.raises(ReceiptMismatch):
            receipt.verify({**sent, "labs": []}, log_key=log_key)
        with sm_exchange.sessions() as db:
            assert ledger_service.integrate(db) >= 1
            db.commit()
        status = client.status("registry.labs", receipt.message_id)
        assert status.verify_inclusion(log_key)
        index = status.ledger.index if status.ledger else -1
    # The offline verifier, with only the SM2 key: yes; a changed entry: no.
    with sm_exchange.sessions() as db:
        bundle = ledger_service.proof_bundle(db, index)
    assert standalone.verify_bundle(bundle, log_key)["index"] == index
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    run = [sys.executable, "-I", standalone.__file__, "--key", log_key, str(path)]
    done = subprocess.run(run, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("是 / YES")
    bundle["entry_canonical"] = bundle["entry_canonical"].replace("registry.labs", "registry.lab")
    path.write_text(json.dumps(bundle), encoding="utf-8")
    done = subprocess.run(run, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "NOT in the tree" in done.stdout


def test_an_hmac_secret_is_sealed_with_sm4(sm_exchange: LiveExchange) -> None:
    lab = sm_exchange.lab("hmac-sha256")
    with sm_exchange.sessions() as db:
        key = db.query(ClientKey).filter_by(key_id=lab.key_id).one()
        assert key.key_material.startswith(keystore.SM4_MARKER)
    with lab.client(sm_exchange.url) as client:
        receipt = client.send("registry.labs", lab.labs_message(), wait=30)
    assert receipt.outcome is not None
    assert receipt.outcome.status == "applied"


def test_a_lab_signature_by_another_sm2_key_is_refused(sm_exchange: LiveExchange) -> None:
    lab = sm_exchange.lab("sm2-sm3")
    other = sm_exchange.lab("sm2-sm3")
    forged = type(lab)(lab.institution_code, lab.client_id, lab.key_id, lab.alg, other.material)
    body = canonical_json(
        {**lab.labs_message(), "message_id": "0b9f6a5e-3c1d-4c7e-9a51-2f0d5c1e7a10"}
    )
    with forged.client(sm_exchange.url) as client:
        response = client.request(
            "POST",
            "/exchange/v1/messages/registry.labs",
            body=body,
            content_type="application/json",
        )
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
