"""The parent's side of a forward (``POST /exchange/v1/forwards``): each leaf of the child's log
checked and kept once, lab messages verified end to end and applied here."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from jcjg.client.signing import load_key
from jcjg.exchange.choices import MessageStatus
from jcjg.exchange.models import Message
from jcjg.exchange.service import ENTRY_PREFIX, ledger_entry, parse_json
from jcjg.ledger import merkle
from jcjg.networking.models import Child, Forwarded, LabKey
from jcjg.networking.service import register_child
from jcjg.networking.wire import b64
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import Report
from tests.exchange.conftest import apply_waiting, make_lims
from tests.networking.helpers import CITY, ChildLog, CityLab, forward, post_forward

LABS = {"labs": [{"name": "力学室", "address": "九江市长虹大道 1 号", "area_m2": "100.00"}]}


class Setup:
    def __init__(self, db, settings, factory, log: ChildLog | None = None) -> None:
        self.log = log or ChildLog()
        self.private = Ed25519PrivateKey.generate()
        made = register_child(
            db,
            settings,
            name="九江市检测监管平台",
            region_code="360400",
            base_url=CITY,
            log_key=self.log.vkey,
            public_key=b64(self.private.public_key().public_bytes_raw()).encode(),
        )
        self.child = made.child
        self.key_id = made.key.key.key_id
        self.key = load_key("ed25519", self.private)
        self.institution = factory.institution(region_code="360403")
        self.lab = CityLab(self.institution.code)
        db.commit()

    def post(self, http, items: list[dict[str, Any]], **extra: Any):
        return post_forward(http, self.key_id, self.key, forward(self.log, items, **extra))


@pytest.fixture
def city(db, settings, factory) -> Setup:
    return Setup(db, settings, factory)


def _report(code: str, token: str) -> dict[str, Any]:
    return {
        "number": "BG-2026-0009",
        "sequence": 9,
        "items": ["0108"],
        "judgement": "conforming",
        "signatories": [{"name": "王检测"}],
        "issued_on": "2026-11-20",
    }, {"supervision_code": code, "token": token}


@pytest.mark.sqlite
def test_a_forward_is_checked_kept_and_applied_with_the_childs_code(client, db, city):
    fact = city.log.append("video_clip:export", {"clip": "YP-0001"})
    labs = city.lab.signed(city.log, "registry.labs", LABS)
    code = SUPERVISION.make(city.institution.region_code, 2026, 41)
    fields, results = _report(code, "t" * 20)
    report = city.lab.signed(city.log, "report", fields, results=results)
    answer = city.post(client, [fact, labs, report], backlog=2)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "next_index": 3,
        "outcomes": {"duplicate": 0, "recorded": 1, "stored": 2},
        "refused": [],
    }
    assert apply_waiting(client) == 2
    db.expire_all()
    rows = db.scalars(select(Message).where(Message.client_id == city.child.client_id)).all()
    assert {r.status for r in rows} == {MessageStatus.APPLIED}
    for row in rows:
        assert row.origin["platform"] == city.log.origin
        assert row.origin["attestation"] == "lab_signature"
        assert row.key_id == city.lab.key_id
    # the report keeps the code and token the child issued: one code in the province
    kept = db.scalars(select(Report).where(Report.supervision_code == code)).one()
    assert (kept.token, kept.code_serial, kept.code_year) == ("t" * 20, 41, 2026)
    found = client.get(f"/v/{code}.json", params={"t": "t" * 20}).json()
    assert found["outcome"] == "genuine"
    assert found["report_number"] == "BG-2026-0009"
    child = db.get(Child, city.child.id)
    assert (child.next_index, child.forwarded, child.backlog) == (3, 3, 2)
    assert db.scalar(select(func.count()).select_from(LabKey)) == 1
    # the same forward again (the child crashed before moving its cursor): nothing doubles
    again = city.post(client, [fact, labs, report])
    assert again.json()["outcomes"] == {"duplicate": 3}
    assert again.json()["next_index"] == 3
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Forwarded)) == 3
    # and this platform issues the region's next code after the child's
    lims = make_lims(db, client.app.state.settings, None, institution=city.institution)
    own = lims.post(client, "report", lims.message(**{**fields, "number": "BG-2026-0010"}))
    assert own.status_code == 200, own.text
    assert int(own.json()["results"]["supervision_code"][8:-1]) == 42


def test_a_child_of_the_national_profile_and_its_sm2_lab_are_checked_end_to_end(
    client, db, settings, factory
):
    """A city running JCJG_CRYPTO=sm (an SM3 log signed with SM2) forwards an SM2 lab's message
    to a province of the standard profile: the leaf is checked in SM3, the lab's SM2 signature
    here, and a message the city altered is refused."""
    city = Setup(db, settings, factory, ChildLog.national())
    lab = CityLab(city.institution.code, alg="sm2-sm3")
    good = lab.signed(city.log, "registry.labs", LABS)
    forged = lab.signed(city.log, "registry.labs", LABS)
    body = json.loads(base64.b64decode(forged["message"]["body"]))
    body["labs"][0]["area_m2"] = "900.00"
    _swap_body(city.log, forged, json.dumps(body, ensure_ascii=False).encode())
    answer = city.post(client, [good, forged])
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcomes"] == {"duplicate": 0, "refused": 1, "stored": 1}
    assert apply_waiting(client) == 1
    db.expire_all()
    kept = db.scalars(select(Message).where(Message.client_id == city.child.client_id)).one()
    assert kept.origin["attestation"] == "lab_signature"
    pinned = db.scalars(select(LabKey)).one()
    assert (pinned.alg, pinned.public_key) == ("sm2-sm3", lab.sm2.public_bytes)
    # a leaf hashed in SHA-256 by a child whose log is SM3 is not its log's leaf
    wrong = city.log.append("sample:seal", {"sample_code": "YP-0001"})
    wrong["leaf_hash"] = merkle.leaf_hash(base64.b64decode(wrong["entry"])).hex()
    refused = city.post(client, [wrong]).json()
    assert refused["outcomes"]["refused"] == 1
    assert refused["refused"][0]["index"] == wrong["index"]


def test_a_gap_is_refused_with_the_index_expected(client, db, city):
    city.log.append("sample:seal", {"n": 1})
    second = city.log.append("sample:seal", {"n": 2})
    answer = city.post(client, [second])
    assert answer.status_code == 409
    assert answer.json()["type"].endswith("network-forward-gap")
    assert answer.json()["expected"] == 0
    assert db.scalar(select(func.count()).select_from(Forwarded)) == 0


@pytest.mark.sqlite
def test_a_message_the_child_altered_is_refused_and_the_rest_kept(client, db, city):
    """A compromised child rewrites a lab's message and notarises its own version: the lab's
    signature (its Content-Digest) no longer matches, and the parent refuses that leaf."""
    good = city.lab.signed(city.log, "registry.labs", LABS)
    forged = city.lab.signed(city.log, "registry.labs", LABS)
    body = json.loads(base64.b64decode(forged["message"]["body"]))
    body["labs"][0]["area_m2"] = "900.00"
    _swap_body(city.log, forged, json.dumps(body, ensure_ascii=False).encode())
    flipped = city.lab.signed(city.log, "registry.labs", LABS)
    signature = flipped["message"]["signature"]
    flipped["message"]["signature"] = (
        signature[:-6] + ("A" if signature[-6] != "A" else "B") + signature[-5:]
    )
    answer = city.post(client, [good, forged, flipped])
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["outcomes"] == {"duplicate": 0, "stored": 1, "refused": 2}
    assert [r["index"] for r in doc["refused"]] == [1, 2]
    assert {r["type"].rsplit("/", 1)[-1] for r in doc["refused"]} == {
        "network-lab-signature-invalid"
    }
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Message)) == 1
    assert db.get(Child, city.child.id).refused == 2


def _swap_body(log: ChildLog, item: dict[str, Any], body: bytes) -> None:
    """The child's forgery: a new body, and its own leaf for it in place of the true one."""
    envelope = json.loads(log.entries[item["index"]])
    _data, canonical = parse_json(body)
    envelope["data"]["sha256"] = hashlib.sha256(canonical).hexdigest()
    from jcjg.ledger.canonical import canonical_json

    entry = canonical_json(envelope)
    log.entries[item["index"]] = entry
    item["entry"] = b64(entry)
    item["leaf_hash"] = merkle.leaf_hash(entry, hasher=log.hasher).hex()
    item["message"]["body"] = b64(body)


def test_an_entry_that_is_not_its_leaf_a_stale_signature_and_a_swapped_key(client, db, city):
    wrong_hash = city.lab.signed(city.log, "registry.labs", LABS)
    wrong_hash["leaf_hash"] = "0" * 64
    stale = city.lab.signed(city.log, "registry.labs", LABS, created=1_700_000_000)
    first = city.lab.signed(city.log, "registry.labs", LABS)
    swapped = city.lab.signed(city.log, "registry.labs", LABS)
    other = Ed25519PrivateKey.generate().public_key().public_bytes_raw()
    swapped["message"]["key"]["public_key"] = b64(other)
    answer = city.post(client, [wrong_hash, stale, first, swapped])
    reasons = {r["index"]: r["type"].rsplit("/", 1)[-1] for r in answer.json()["refused"]}
    assert reasons == {
        0: "network-entry-mismatch",
        1: "network-lab-signature-invalid",
        3: "network-lab-key-changed",
    }


def test_hmac_labs_carry_only_the_childs_word_unless_the_province_requires_signatures(
    client, db, settings, city
):
    hmac_lab = CityLab(city.institution.code, alg="hmac-sha256")
    item = hmac_lab.signed(city.log, "registry.labs", LABS)
    assert city.post(client, [item]).json()["outcomes"]["stored"] == 1
    db.expire_all()
    row = db.scalars(select(Message)).one()
    assert row.origin["attestation"] == "platform"
    settings.network_require_lab_signature = True
    refused = city.post(client, [hmac_lab.signed(city.log, "registry.labs", LABS)])
    assert refused.json()["refused"][0]["type"].endswith("network-lab-signature-required")


def test_a_message_that_came_by_another_path_is_a_duplicate(client, db, settings, city):
    direct = make_lims(db, settings, None, institution=city.institution)
    payload = direct.message(**LABS)
    assert direct.post(client, "registry.labs", payload).status_code == 200
    item = city.lab.signed(city.log, "registry.labs", LABS)
    body = json.loads(base64.b64decode(item["message"]["body"]))
    assert body["message_id"] != payload["message_id"]
    # the lab sent the same message to both platforms
    fields = {k: v for k, v in payload.items() if k not in ("message_id", "institution_code")}
    twice = city.lab.signed(city.log, "registry.labs", fields, message_id=payload["message_id"])
    answer = city.post(client, [item, twice])
    assert answer.json()["outcomes"] == {"duplicate": 1, "stored": 1}
    db.expire_all()
    kept = db.scalars(select(Forwarded).where(Forwarded.origin_index == 1)).one()
    assert kept.outcome == "duplicate"
    assert db.get(Message, kept.message_id).client_id == direct.client.id


def test_what_is_not_a_childs_forward(client, db, settings, factory, city):
    fact = city.log.append("sample:seal", {"n": 1})
    body = forward(city.log, [fact])
    # a lab's system is no child platform
    lims = make_lims(db, settings, factory)
    refused = post_forward(client, lims.key_id, lims.key, body)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("network-not-a-child")
    # unsigned
    assert client.post("/exchange/v1/forwards", content=body,
                       headers={"content-type": "application/json"}).status_code == 401  # fmt: skip
    # another log's origin, a malformed forward, a huge index, control characters
    other = forward(ChildLog(origin="elsewhere.test/ledger"), [fact])
    assert post_forward(client, city.key_id, city.key, other).status_code == 422
    for bad in (
        b'{"forward_version": 1}',
        b"[]",
        forward(city.log, [{**fact, "index": 2**64}]),
        forward(city.log, [{**fact, "entry": "not base64\u0000"}]),
        forward(city.log, [fact], forward_version=2),
    ):
        answer = post_forward(client, city.key_id, city.key, bad)
        assert answer.status_code in (400, 422), (bad, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert db.scalar(select(func.count()).select_from(Forwarded)) == 0
    # a child found inconsistent is refused until resumed
    db.get(Child, city.child.id).status = "halted"
    db.commit()
    halted = city.post(client, [fact])
    assert halted.status_code == 409
    assert halted.json()["type"].endswith("network-child-halted")


def test_a_lab_outside_the_childs_region_is_refused(client, db, factory, city):
    elsewhere = factory.institution(region_code="360102")
    lab = CityLab(elsewhere.code)
    answer = city.post(client, [lab.signed(city.log, "registry.labs", LABS)])
    assert answer.json()["refused"][0]["type"].endswith("network-out-of-region")


def test_entry_of_a_message_names_its_content(city):
    """The helper's leaves are the ledger's: type, id, key, institution and content hash."""
    item = city.lab.signed(city.log, "registry.labs", LABS)
    envelope = json.loads(city.log.entries[0])
    body = base64.b64decode(item["message"]["body"])
    _data, canonical = parse_json(body)
    assert envelope["entry_type"] == ENTRY_PREFIX + "registry.labs"
    assert envelope["data"] == ledger_entry(
        "registry.labs",
        json.loads(body)["message_id"],
        city.lab.key_id,
        city.institution.code,
        hashlib.sha256(canonical).hexdigest(),
    )
