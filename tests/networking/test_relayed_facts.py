# ruff: noqa: PT018  (several things of one row at once)
"""A child's facts go on up (docs/networking.md, "Relayed facts"): the province notarises what
it rebuilt from a city in its own log, naming the city's leaf, and forwards it with the content
it came with; the nation rebuilds it as the city's, once whatever path it came by, after
checking the city's leaf against its entry."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import SecretStr
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
from jcjg.networking.models import Forwarded, LogKey
from jcjg.networking.service import register_child
from jcjg.networking.wire import RELAYED, b64
from jcjg.penalties import service
from jcjg.penalties.models import Penalty
from jcjg.tenancy.models import Institution
from tests.exchange.conftest import apply_waiting
from tests.networking.helpers import ChildLog, forward, post_forward
from tests.networking.test_facts import registered
from tests.networking.test_forwarder import UPSTREAM, Upstream, _pass
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


def _with_upstream(settings) -> None:
    """This platform has a parent (the forwarder's thread not started: the test runs passes)."""
    settings.upstream_forwarder = False
    settings.upstream_url = UPSTREAM
    settings.upstream_key_id = "c7-3f09a1b2c4d5"
    settings.upstream_key = SecretStr("c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=")


@pytest.mark.sqlite
def test_the_province_relays_a_citys_fact_once_its_checkpoint_covers_it_and_nothing_waits(
    client, db, settings, city, base, monkeypatch
):
    """The province notarises what it rebuilt from a city in its own log once the city's
    checkpoint covers the city's leaf, with the proof read then; meanwhile only that city's
    entries wait (its messages after the fact at the city): the rest of the province's log
    goes up."""
    _with_upstream(settings)
    monkeypatch.setattr(forwarder, "release_waits", {})
    entry, content = decision(db, city.institution)
    decided = city.log.append(service.DECIDE_TYPE, entry) | {"content": content}
    message = city.lab.signed(city.log, "registry.labs", LABS)
    later = city.log.append("video_clip:export", {"clip": "YP-1"})  # recorded, not rebuilt
    answer = city.post(client, [decided, message, later])
    body = answer.json()
    assert (body["outcomes"], body["next_index"]) == ({"duplicate": 0, "rebuilt": 1}, 1), body
    row = db.scalar(select(Forwarded).where(Forwarded.origin_index == 0))
    assert (row.source_origin, row.source_index, row.content) == (city.log.origin, 0, content)
    assert _relays(db, service.DECIDE_TYPE) == []  # not relayed before the city's log covers it
    assert forwarder.relays_waiting(db) == {city.child.id: 1}
    # the city's lab message after it waits at the city: it must not reach the nation first
    waiting = city.post(client, [message, later])
    assert waiting.status_code == 503 and waiting.headers["retry-after"] == "1", waiting.text
    assert (waiting.json()["type"], waiting.json()["expected"]) == (
        "/problems/network-child-waiting", 1,
    )  # fmt: skip
    assert db.scalar(select(func.count()).select_from(Forwarded)) == 1
    # the city's log unreachable (no worker publishing its checkpoints): its relay waits, and
    # what the province notarised goes up meanwhile (a fact of its own)
    ledger.notarise(db, "sample:seal", {"n": 1})
    db.commit()
    upstream = Upstream()
    done = _pass(client, upstream)
    assert (done.released, done.error) == (0, None) and done.forwarded >= 1
    sent = [json.loads(base64.b64decode(i["entry"])) for f in upstream.forwards for i in f["items"]]
    assert sent[-1]["entry_type"] == "sample:seal"
    # it may be built on the city's fact whose relay comes after it: the nation is told
    assert upstream.forwards[-1]["items"][-1]["after_relays"] is True
    assert not [e for e in sent if RELAYED in (e["data"] or {})]
    assert forwarder.status(db)["relays_waiting"] == {city.child.id: 1}
    assert jobs.purge(db, days=0, upstream=True, now=utcnow()) == 0  # not up yet: kept
    # the city's log answers: the relay is notarised and goes up with the content the city
    # sent beside it and the proof of the city's leaf: its checkpoint, cosigned here
    monkeypatch.setattr(forwarder, "child_transport", city.log.transport())
    assert _pass(client, upstream).released == 0  # the city is asked again after a wait
    (when, failures) = forwarder.release_waits[city.child.id]
    assert failures == 1 and 4 < when - time.monotonic() <= forwarder.RELEASE_RETRY
    forwarder.release_waits[city.child.id] = (0.0, failures)  # the wait is over
    done = _pass(client, upstream)
    assert (done.released, done.error) == (1, None)
    assert city.child.id not in forwarder.release_waits
    (relay,) = _relays(db, service.DECIDE_TYPE)
    first = relay["data"].pop(RELAYED)
    assert relay["data"] == entry  # the city's data, and where it was first notarised
    assert first == {
        "platform": city.log.origin, "name": CITY_NAME, "region_code": "360400",
        "log_key": city.log.vkey, "index": 0, "leaf_hash": decided["leaf_hash"],
        "entry": decided["entry"],
    }  # fmt: skip
    assert forwarder.relays_waiting(db) == {}
    items = [i for f in upstream.forwards for i in f["items"] if i["index"] == relay["index"]]
    assert items and items[0]["content"] == content
    proof = items[0]["proof"]
    _cosigned_proof(proof, city.log, size=3, index=0)
    db.expire_all()
    assert db.get(Forwarded, row.id).relay_proof == proof  # kept: the city is not asked again
    _the_rest_goes_after_it(client, city, upstream, [message, later])
    _purged_once_kept(db, content)


def _the_rest_goes_after_it(client, city, upstream, rest: list[dict[str, Any]]) -> None:
    """The city's message that waited is taken now, and goes up after the relay."""
    taken = city.post(client, rest).json()
    assert taken["outcomes"] == {"duplicate": 0, "stored": 1, "recorded": 1}, taken
    assert apply_waiting(client) == 1
    _pass(client, upstream)
    sent = [json.loads(base64.b64decode(i["entry"])) for f in upstream.forwards for i in f["items"]]
    assert [e["entry_type"] for e in sent][-2:] == [service.DECIDE_TYPE, "message:registry.labs"]


def _cosigned_proof(proof: dict[str, Any], log: ChildLog, *, size: int, index: int) -> None:
    """``proof`` is the city's checkpoint of ``size``, cosigned by this platform, and the
    inclusion proof of its leaf ``index``."""
    checkpoint, _ = open_checkpoint(proof["checkpoint"], [log.signer.verifier()])
    assert checkpoint.size == size and proof["hashes"] == log.inclusion(index, size)
    me = ledger.log_identity().cosigner.verifier()
    assert open_note(proof["checkpoint"], [me]).sigs  # cosigned by the province


def _purged_once_kept(db, content: dict[str, Any]) -> None:
    """The nation acknowledged the relay: its content goes once kept the days it is to be
    kept; the rebuilt penalty keeps its facts."""
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
        self.child_id = made.child.id
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
    assert db.scalar(select(func.count()).select_from(LogKey)) == 0  # nothing pinned by those
    # the genuine leaf with its proof: rebuilt, and the city's log key (as the province
    # registered it) pinned here on first sight
    answer = province.post(client, [province.relay(genuine, content)]).json()
    assert answer["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer
    pinned = db.execute(select(LogKey.origin, LogKey.log_key, LogKey.child_id)).all()
    assert pinned == [(province.city.origin, province.city.vkey, province.child_id)]
    # the province names another key for the city's log after (the city's log re-signed under
    # a key of the province's choosing): refused, whatever proof comes with it
    again = province.city_leaf(service.DECIDE_TYPE, entry | {"facts_sha256": "d" * 64})
    foreign.entries = list(province.city.entries)
    swapped = province.relay(
        again, content, proof=province.proof(again, foreign), relayed={"log_key": other.vkey}
    )
    body = province.post(client, [swapped]).json()
    assert body["outcomes"] == {"duplicate": 0, "refused": 1}, body
    (refused,) = body["refused"]
    assert refused["type"].endswith("/network-log-key-changed"), refused
    assert refused["title"] == "来源日志公钥与先前不同"
    assert f"本平台记下的“{CITY_NAME}”日志公钥与此次转报所附的不同" in refused["detail"]
    assert db.scalar(select(func.count()).select_from(Penalty)) == 1


def test_a_city_without_checkpoints_holds_up_only_its_own_relays(db, settings, monkeypatch):
    """Relays are notarised child by child, each in the order its child notarised its facts:
    a city whose log is unreachable, or whose checkpoint does not cover a fact yet, keeps that
    fact and its later ones waiting, while another city's go on; a halted city's wait."""
    jiujiang, ruijin = (
        ChildLog(origin, Signer(generate_signer(origin)[0]))
        for origin in ("jiujiang.test/ledger", "ruijin.test/ledger")
    )
    children = {}
    for log, name, region, host in (
        (jiujiang, CITY_NAME, "360400", "jiujiang.test"),
        (ruijin, "瑞金市检测监管平台", "360781", "ruijin.test"),
    ):
        children[host] = register_child(
            db, settings, name=name, region_code=region, base_url=f"http://{host}",
            log_key=log.vkey,
        ).child  # fmt: skip
    now = utcnow()
    leaves = []
    for host, log, n in (("jiujiang.test", jiujiang, 1), ("jiujiang.test", jiujiang, 2),
                         ("ruijin.test", ruijin, 1)):  # fmt: skip
        leaf = log.append(service.DECIDE_TYPE, {"n": n})
        child = children[host]
        db.add(
            Forwarded(
                child_id=child.id, region_code=child.region_code, origin_index=leaf["index"],
                leaf_hash=bytes.fromhex(leaf["leaf_hash"]), entry_type=service.DECIDE_TYPE,
                entry=base64.b64decode(leaf["entry"]), notarised_at=now, outcome="rebuilt",
                source_origin=log.origin, source_index=leaf["index"],
            )
        )  # fmt: skip
        leaves.append(leaf)
    db.commit()
    served: dict[str, Any] = {"ruijin.test": ruijin.transport()}

    def answer(request: httpx.Request) -> httpx.Response:
        transport = served.get(request.url.host)
        return transport.handle_request(request) if transport else httpx.Response(503)

    monkeypatch.setattr(forwarder, "child_transport", httpx.MockTransport(answer))
    # Jiujiang unreachable: Ruijin's fact goes on
    assert forwarder.release_relays(db) == 1
    assert forwarder.relays_waiting(db) == {children["jiujiang.test"].id: 2}
    # Jiujiang's checkpoint covers its first fact only (its second notarised after it)
    second = jiujiang.entries.pop()
    served["jiujiang.test"] = jiujiang.transport()
    assert forwarder.release_relays(db) == 1
    assert forwarder.relays_waiting(db) == {children["jiujiang.test"].id: 1}
    jiujiang.entries.append(second)
    children["jiujiang.test"].status = "halted"  # a halted city's relays wait for its resume
    db.commit()
    assert forwarder.release_relays(db) == 0
    children["jiujiang.test"].status = "active"
    db.commit()
    assert forwarder.release_relays(db) == 1
    assert forwarder.relays_waiting(db) == {}
    # in the province's log: Ruijin's, then Jiujiang's in its order, each with its proof
    relays = _relays(db, service.DECIDE_TYPE)
    named = [(r["data"][RELAYED]["platform"], r["data"][RELAYED]["index"]) for r in relays]
    assert named == [(ruijin.origin, 0), (jiujiang.origin, 0), (jiujiang.origin, 1)]
    proofs = db.scalars(select(Forwarded.relay_proof).order_by(Forwarded.id)).all()
    sizes = [open_checkpoint(p["checkpoint"], [log.signer.verifier()])[0].size
             for p, log in zip(proofs, (jiujiang, jiujiang, ruijin), strict=True)]  # fmt: skip
    assert sizes == [1, 2, 1]


def test_a_provinces_fact_built_on_a_citys_fact_still_to_come_is_held_until_it_comes(
    client, db, province
):
    """The province suspends a city's institution whose register fact still waits for the
    city's checkpoint: its own fact goes up first, marked ``after_relays``, and the nation holds
    it (a fact not so marked naming what the nation does not hold is refused), then takes it
    right after the city's fact in the forward that relays it."""
    code = "JC360403-0042"
    register = province.city_leaf("institution:register", registered(code))
    unmarked = province.log.append("institution:status", {"code": code, "status": "revoked"})
    body = province.post(client, [unmarked]).json()
    assert body["outcomes"] == {"duplicate": 0, "refused": 1}, body
    assert f"机构“{code}”在本平台不存在" in json.dumps(body["refused"], ensure_ascii=False)
    suspend = province.log.append("institution:status", {"code": code, "status": "suspended"})
    body = province.post(client, [suspend | {"after_relays": True}]).json()
    assert body["outcomes"] == {"duplicate": 0, "held": 1}, body
    assert db.scalar(select(Institution).where(Institution.code == code)) is None
    taken = province.post(client, [province.relay(register)]).json()
    assert taken["outcomes"] == {"duplicate": 0, "rebuilt": 1}, taken
    db.expire_all()
    rows = db.execute(select(Forwarded.origin_index, Forwarded.outcome).order_by(Forwarded.id))
    assert [tuple(r) for r in rows] == [(0, "refused"), (1, "rebuilt"), (2, "rebuilt")]
    inst = db.scalar(select(Institution).where(Institution.code == code))
    assert inst is not None and inst.status == "suspended"  # registered, then suspended
