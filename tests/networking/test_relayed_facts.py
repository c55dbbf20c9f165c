# ruff: noqa: PT018  (several things of one row at once)
"""A child's facts go on up (docs/networking.md, "Relayed facts"): the province notarises what
it rebuilt from a city in its own log, naming the city's leaf, and forwards it with the content
it came with; the nation rebuilds it as the city's, once whatever path it came by, after
checking the city's leaf against its entry."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from jcjg.client.signing import load_key
from jcjg.core.db import utcnow
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from jcjg.ledger.note import (
    Signer,
    generate_signer,
    open_checkpoint,
    open_note,
    signature_line,
)
from jcjg.networking import forward as forwarder
from jcjg.networking import jobs
from jcjg.networking.models import Forwarded
from jcjg.networking.service import register_child
from jcjg.networking.wire import RELAYED, b64
from jcjg.penalties import service
from jcjg.penalties.models import Penalty
from tests.networking.helpers import ChildLog, forward, post_forward
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base
from tests.networking.test_forwards import LABS, Setup
from tests.networking.test_penalty_facts import NUMBER, decision

CITY_NAME = "九江市检测监管平台"


@pytest.fixture
def city(db, settings, factory) -> Setup:
    return Setup(db, settings, factory)


def _relays(db, entry_type: str) -> list[dict[str, Any]]:
    """This platform's leaves of ``entry_type`` that relay a child's fact (their entries)."""
    ledger.sequence(db)
    db.commit()
    leaves = db.scalars(
        select(LedgerLeaf)
        .where(LedgerLeaf.entry_type == entry_type)
        .order_by(LedgerLeaf.leaf_index)
    ).all()
    return [
        json.loads(leaf.entry) | {"index": leaf.leaf_index}
        for leaf in leaves
        if RELAYED in json.loads(leaf.entry)["data"]
    ]


@pytest.mark.sqlite
def test_the_province_notarises_what_it_rebuilt_and_forwards_it_with_its_content(
    client, db, city, base, monkeypatch
):
    entry, content = decision(db, city.institution)
    decided = city.log.append(service.DECIDE_TYPE, entry) | {"content": content}
    message = city.lab.signed(city.log, "registry.labs", LABS)
    later = city.log.append("video_clip:export", {"clip": "YP-1"})  # recorded, not rebuilt
    answer = city.post(client, [decided, message, later])
    assert answer.json()["outcomes"] == {
        "duplicate": 0, "rebuilt": 1, "stored": 1, "recorded": 1
    }, answer.text  # fmt: skip
    (relay,) = _relays(db, service.DECIDE_TYPE)
    # the province's leaf: the city's data, and where it was first notarised
    first = relay["data"].pop(RELAYED)
    assert relay["data"] == entry
    assert first == {
        "platform": city.log.origin, "name": CITY_NAME, "region_code": "360400",
        "log_key": city.log.vkey, "index": 0, "leaf_hash": decided["leaf_hash"],
        "entry": decided["entry"],
    }  # fmt: skip
    row = db.scalar(select(Forwarded).where(Forwarded.origin_index == 0))
    assert (row.source_origin, row.source_index, row.content) == (city.log.origin, 0, content)
    # in the order the city notarised them: the relay, then the lab's message
    leaves = db.scalars(
        select(LedgerLeaf.entry_type).where(LedgerLeaf.leaf_index >= relay["index"])
        .order_by(LedgerLeaf.leaf_index)
    ).all()  # fmt: skip
    assert leaves[:2] == [service.DECIDE_TYPE, "message:registry.labs"]
    # the forwarder sends the relay up with the content the city sent beside it, and the
    # proof of the city's leaf in the city's log: its checkpoint, cosigned here
    upstream = Upstream()
    assert _pass(client, upstream).idle  # the city's log unreachable: the relay waits
    assert jobs.purge(db, days=0, upstream=True, now=utcnow()) == 0  # not up yet: kept
    monkeypatch.setattr(forwarder, "child_transport", city.log.transport())
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"] if i["index"] == relay["index"]]
    assert items and items[0]["content"] == content
    assert json.loads(base64.b64decode(items[0]["entry"]))["data"][RELAYED]["index"] == 0
    proof = items[0]["proof"]
    checkpoint, _ = open_checkpoint(proof["checkpoint"], [city.log.signer.verifier()])
    assert checkpoint.size == 3 and proof["hashes"] == city.log.inclusion(0)
    me = ledger.log_identity().cosigner.verifier()
    assert open_note(proof["checkpoint"], [me]).sigs  # cosigned by the province
    # the nation acknowledged it: its content goes once kept the days it is to be kept
    later = utcnow() + dt.timedelta(days=30)
    assert jobs.purge(db, days=31, upstream=True, now=later) == 0
    assert jobs.purge(db, days=30, upstream=True, now=later) == 1
    db.expire_all()
    assert db.scalar(select(Forwarded.content).where(Forwarded.origin_index == 0)) is None
    assert db.scalar(select(Penalty.facts).where(Penalty.number == NUMBER)) == content["facts"]
    assert jobs.purge(db, days=0, upstream=False, now=later) == 0  # nothing left to purge


class Province:
    """A province registered here as this platform's child (this platform the nation), with a
    city below it whose leaves the province relays."""

    def __init__(self, db, settings, factory) -> None:
        self.log = ChildLog(
            "province.test/ledger", Signer(generate_signer("province.test/ledger")[0])
        )
        self.city = ChildLog()
        private = Ed25519PrivateKey.generate()
        made = register_child(
            db, settings, name="江西省检测监管平台", region_code="360000",
            base_url="http://province.test", log_key=self.log.vkey,
            public_key=b64(private.public_key().public_bytes_raw()).encode(),
        )  # fmt: skip
        self.key_id, self.key = made.key.key.key_id, load_key("ed25519", private)
        self.institution = factory.institution(region_code="360403")
        db.commit()

    def city_leaf(self, entry_type: str, data: Any) -> dict[str, Any]:
        return self.city.append(entry_type, data)

    def proof(self, leaf: dict[str, Any], city: ChildLog | None = None) -> dict[str, Any]:
        """The city's checkpoint (of ``city``'s log: the city's unless a forged one), cosigned
        by the province, and ``leaf``'s inclusion proof in it."""
        city = city or self.city
        note = city.checkpoint()
        cosigner = self.log.signer.cosigner()
        assert cosigner is not None
        note += signature_line(open_note(note, [city.signer.verifier()]).text, cosigner)
        return {"checkpoint": note, "hashes": city.inclusion(leaf["index"])}

    def relay(
        self, leaf: dict[str, Any], content: Any = None, proof: Any = ..., **changes: Any
    ) -> dict[str, Any]:
        """The province's leaf relaying the city's ``leaf`` (``changes`` to what it names),
        with the proof of it in the city's log (``proof`` another, or None)."""
        first = json.loads(base64.b64decode(leaf["entry"]))
        change = changes.pop("relayed", {})
        relayed = {
            "platform": self.city.origin, "name": CITY_NAME, "region_code": "360400",
            "log_key": self.city.vkey, "index": leaf["index"], "leaf_hash": leaf["leaf_hash"],
            "entry": leaf["entry"],
        } | change if isinstance(change, dict) else change  # fmt: skip
        data = first["data"] | changes | {RELAYED: relayed}
        item = self.log.append(first["entry_type"], data)
        if content is not None:
            item["content"] = content
        proof = self.proof(leaf) if proof is ... else proof
        if proof is not None:
            item["proof"] = proof
        return item

    def post(self, http, items: list[dict[str, Any]]):
        return post_forward(http, self.key_id, self.key, forward(self.log, items))


@pytest.fixture
def province(db, settings, factory) -> Province:
    return Province(db, settings, factory)


@pytest.mark.sqlite
def test_the_nation_rebuilds_a_relayed_fact_as_the_citys_once_and_relays_it_on(
    client, db, province
):
    entry, content = decision(db, province.institution)
    leaf = province.city_leaf(service.DECIDE_TYPE, entry)
    answer = province.post(client, [province.relay(leaf, content)])
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer.text
    got = db.scalar(select(Penalty).where(Penalty.number == NUMBER))
    # the city's decision: its name, its leaf's index, its facts
    assert (got.origin, got.origin_index, got.facts) == (CITY_NAME, 0, content["facts"])
    # the same city leaf by another path (relayed again): a duplicate, nothing rebuilt
    again = province.post(client, [province.relay(leaf, content)])
    assert again.json()["outcomes"] == {"duplicate": 1}, again.text
    assert db.scalar(select(func.count()).select_from(Penalty)) == 1
    # the nation's own log relays it on, naming the city's leaf, not the province's
    (relay,) = _relays(db, service.DECIDE_TYPE)
    assert relay["data"][RELAYED]["platform"] == province.city.origin
    assert relay["data"][RELAYED]["leaf_hash"] == leaf["leaf_hash"]
    rows = db.scalars(select(Forwarded).order_by(Forwarded.origin_index)).all()
    assert [(r.outcome, r.source_index) for r in rows] == [("rebuilt", 0), ("duplicate", None)]
    # the nation has no parent: the content goes once kept the days it is to be kept
    assert jobs.purge(db, days=0, upstream=False, now=utcnow()) == 1
    db.expire_all()
    assert db.scalar(select(Forwarded.content).where(Forwarded.outcome == "rebuilt")) is None


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"facts_sha256": "0" * 64}, "与其来源叶的存证内容不符"),
        ({"relayed": {"leaf_hash": "1" * 64}}, "叶哈希"),
        ({"relayed": {"entry": b64(b'{"entry_type":"x"}')}}, "叶哈希"),
        ({"relayed": {"region_code": "110100"}}, "不在该下级平台辖区内"),
        (
            {"relayed": {"log_key": Signer(generate_signer("other.test/ledger")[0]).vkey}},
            "不是其所称的日志",
        ),
        ({"relayed": {"log_key": "x\x00y"}}, "不可读"),
        ({"relayed": {"index": "0"}}, "relayed_from.index"),
        ({"relayed": {"index": -1}}, "relayed_from.index"),
        ({"relayed": {"name": ""}}, "relayed_from.name"),
        ({"relayed": {"name": "九江\x00"}}, "relayed_from.name"),
        ({"relayed": {"name": "九江\n平台"}}, "relayed_from.name"),
        ({"relayed": "city"}, "relayed_from"),
        ({"relayed": {"platform": "province.test/ledger"}}, "冲突"),
        ({"relayed": {"name": "江西省检测监管平台"}}, "冲突"),
    ],
)
def test_a_relay_the_nation_cannot_check_is_refused_and_leaves_nothing(
    client, db, province, change, says
):
    entry, content = decision(db, province.institution)
    leaf = province.city_leaf(service.DECIDE_TYPE, entry)
    named = change.get("relayed")
    if isinstance(named, dict) and named.get("platform") == "province.test/ledger":
        change["relayed"]["log_key"] = province.log.vkey  # its own log: not a relay
    answer = province.post(client, [province.relay(leaf, content, **change)])
    body = answer.json()
    assert body["outcomes"] == {"duplicate": 0, "refused": 1}, body
    assert says in json.dumps(body["refused"], ensure_ascii=False), body["refused"]
    assert db.scalar(select(func.count()).select_from(Penalty)) == 0
    assert _relays(db, service.DECIDE_TYPE) == []


def test_a_relay_not_proven_in_the_citys_log_is_refused(client, db, province):
    """The nation checks the city's leaf against the city's checkpoint the province cosigned:
    a leaf the city never notarised (the province forging it under the city's key's name), a
    relay without its proof, a checkpoint the province did not cosign or the city did not sign
    are refused, and nothing is rebuilt."""
    entry, content = decision(db, province.institution)
    genuine = province.city_leaf(service.DECIDE_TYPE, entry)
    forged_log = ChildLog(province.city.origin, province.city.signer)  # the same name, key
    forged_log.entries = list(province.city.entries[:0])
    forged = forged_log.append(service.DECIDE_TYPE, entry | {"facts_sha256": "e" * 64})
    uncosigned = province.proof(genuine) | {"checkpoint": province.city.checkpoint()}
    other = Signer(generate_signer(province.city.origin)[0])  # not the city's log key
    foreign = ChildLog(province.city.origin, other)
    foreign.entries = list(province.city.entries)
    cases = [
        ("forged leaf", province.relay(forged, content, proof=province.proof(forged)),
         "不在来源日志经联署的检查点中"),
        ("no proof", province.relay(genuine, content, proof=None), "未附来源日志的检查点"),
        ("not cosigned", province.relay(genuine, content, proof=uncosigned),
         "未经转报的下级平台联署"),
        ("another key", province.relay(genuine, content, proof=province.proof(genuine, foreign)),
         "不是来源日志签发的"),
        ("another leaf's path", province.relay(genuine, content, proof=province.proof(genuine)
                                               | {"hashes": ["0" * 64]}), "不在来源日志"),
    ]  # fmt: skip
    for name, item, says in cases:
        body = province.post(client, [item]).json()
        assert body["outcomes"] == {"duplicate": 0, "refused": 1}, (name, body)
        assert says in json.dumps(body["refused"], ensure_ascii=False), (name, body["refused"])
    assert db.scalar(select(func.count()).select_from(Penalty)) == 0
    # the genuine leaf with its proof: rebuilt
    answer = province.post(client, [province.relay(genuine, content)]).json()
    assert answer["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer
