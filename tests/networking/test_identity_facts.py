# ruff: noqa: PT018  (several things of one row at once)
"""A city's identity checks on its province (docs/networking.md, "Identity checks"): each
check of the city's sampler or witness is notarised behind the sample's registration or seal
with its outcome, time and digests only; who was checked travels beside the leaf as a name (no
ID number, no photo). The province keeps it on the city's sample as the city's, refuses what it
cannot take leaving nothing, holds it behind a held registration, and leaves judging it to the
city."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

import pytest
from sqlalchemy import func, select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core import labels
from jcjg.ledger.canonical import canonical_json
from jcjg.networking import jobs
from jcjg.networking.models import Forwarded
from jcjg.projects.models import Project
from jcjg.sampling import facts as sampling_facts
from jcjg.sampling.models import IdentityCheck
from jcjg.sampling.service import IDENTITY_CHECK
from tests.factories import login
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base
from tests.networking.test_forwards import Setup
from tests.networking.test_sampling_facts import _city_rows_go, _envelope, _uploaded
from tests.sampling.conftest import Chain
from tests.sampling.conftest import chain as chain

CITY = "九江市检测监管平台"
CHAIN = ("sample:register", "sample:seal", "witness_record:create", IDENTITY_CHECK)
ID_CARD = "36040319800101"  # the start of any ID number: never in what goes up


@pytest.fixture
def sent(client, db, chain: Chain, base) -> dict[str, Any]:
    """The city's sample registered and sealed, as its forwarder sent the chain and the two
    identity checks; the city's rows gone, so that the same database plays the province."""
    sample = chain.register()
    chain.seal(sample)
    db.commit()
    upstream = Upstream()
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"]]
    items = [i for i in items if _envelope(i)["entry_type"] in CHAIN]
    _city_rows_go(db, sample.sample_code)
    return {"chain": chain, "items": items, "code": sample.sample_code, "blobs": upstream.blobs}


def _type(item: dict[str, Any]) -> str:
    return str(_envelope(item)["entry_type"])


def _leaf(city: Setup, item: dict[str, Any], data: Any = None, content: Any = ...) -> dict:
    """``item`` as a leaf of the hand-made city log (its data or content changed)."""
    envelope = _envelope(item)
    leaf = city.log.append(envelope["entry_type"], envelope["data"] if data is None else data)
    return leaf | {"content": item.get("content") if content is ... else content}


def _checks(db) -> list[IdentityCheck]:
    db.expire_all()
    return list(
        db.scalars(
            select(IdentityCheck)
            .where(IdentityCheck.origin.is_not(None))
            .order_by(IdentityCheck.id)
        )
    )


def _digest(content: dict[str, Any]) -> str:
    return sampling_facts._sha(canonical_json(content))


@pytest.mark.sqlite
def test_the_citys_checks_go_up_behind_their_facts_with_digests_and_a_name_only(sent):
    chain, items = sent["chain"], sent["items"]
    kinds = [(_type(i), _envelope(i)["data"].get("action")) for i in items]
    assert kinds == [
        ("sample:register", None), (IDENTITY_CHECK, "sample:register"),
        ("sample:seal", None), (IDENTITY_CHECK, "sample:seal"), ("witness_record:create", None),
    ]  # fmt: skip
    checks = [i for i in items if _type(i) == IDENTITY_CHECK]
    assert labels.label("tag", IDENTITY_CHECK) == "身份核验登记"  # as the log's pages name it
    for item, person in zip(checks, (chain.sampler, chain.witness), strict=True):
        data = _envelope(item)["data"]
        assert set(data) == {
            "sample_code", "project_code", "action", "result", "method", "distance",
            "threshold", "checked_at", "live_photo_sha256", "reference_photo_sha256",
            "person_sha256",
        }  # fmt: skip
        # the name and the check's own salt; no evidence, no photo
        assert item["content"] == {"person": person.display_name, "salt": item["content"]["salt"]}
        assert re.fullmatch(r"[0-9a-f]{32}", item["content"]["salt"])
        assert data["person_sha256"] == _digest(item["content"])
        # a guessed name cannot be tested against the public log without the salt
        assert data["person_sha256"] != _digest({"person": person.display_name})
        assert person.display_name not in json.dumps(data, ensure_ascii=False)
        assert ID_CARD not in json.dumps(item, ensure_ascii=False)
        assert data["live_photo_sha256"] not in sent["blobs"]  # the face stays with the city
    assert checks[0]["content"]["salt"] != checks[1]["content"]["salt"]  # one per check


@pytest.mark.sqlite
def test_the_province_keeps_the_citys_checks_once_and_leaves_judging_them_to_the_city(
    client, db, settings, factory, sent
):
    city = Setup(db, settings, factory)
    chain, items = sent["chain"], sent["items"]
    _uploaded(db, city, items)
    leaves = [_leaf(city, i) for i in items]
    answer = city.post(client, leaves)
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 5}, answer.text
    got = _checks(db)
    assert [(c.action, c.person_name, c.user_id, c.origin) for c in got] == [
        ("sample:register", chain.sampler.display_name, None, CITY),
        ("sample:seal", chain.witness.display_name, None, CITY),
    ]
    data = _envelope(items[1])["data"]
    assert (got[0].result, got[0].live_photo_sha256, got[0].origin_index) == (
        data["result"], data["live_photo_sha256"], leaves[1]["index"],
    )  # fmt: skip
    # the province's sample page names who was checked, as the city's, with no photo link
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    db.commit()
    client.cookies.clear()
    login(client, province.username)
    page = client.get(f"/samples/{sent['code']}", headers={"accept": "text/html"}).text
    checks = page.split('data-testid="identity-checks"')[1].split("</ul>")[0]
    assert chain.sampler.display_name in checks and chain.witness.display_name in checks
    assert checks.count(f"由下级平台“{CITY}”报送") == 2 and "photos/reference" not in checks
    # the same leaf again: a duplicate, nothing more kept
    again = city.post(client, [leaves[1]]).json()
    assert again["outcomes"]["duplicate"] == 1 and "rebuilt" not in again["outcomes"], again
    assert len(_checks(db)) == 2
    # a failed check of the city's: its rule judges it, the province's does not
    failed = data | {"result": "failed", "distance": 0.9, "threshold": 0.6}
    answer = city.post(client, [_leaf(city, items[1], failed)])
    assert answer.json()["outcomes"]["rebuilt"] == 1, answer.text
    assert len(_checks(db)) == 3
    run_rule(db, "identity_mismatch", now=dt.datetime.now(dt.UTC))
    db.commit()
    count = select(func.count()).select_from(Alert).where(Alert.rule_id == "identity_mismatch")
    assert db.scalar(count) == 0


def _cases(item: dict[str, Any], seal_item: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    data = _envelope(item)["data"]
    name = item["content"]["person"]
    other = {"person": "张冒名"}
    return [
        ("no content", data, None, "缺少身份核验的内容"),
        ("name not the digest", data, other, "与存证的被核验人摘要不符"),
        (
            "control character",
            data | {"person_sha256": _digest({"person": name + "\x00"})},
            {"person": name + "\x00"},
            "content.person",
        ),
        ("ID number beside it", data, {"person": name, "id_number": ID_CARD}, "id_number"),
        (
            "salt malformed",
            data | {"person_sha256": _digest({"person": name, "salt": "XYZ"})},
            {"person": name, "salt": "XYZ"},
            "content.salt",
        ),
        (
            "passed beyond the threshold",
            data | {"result": "passed", "distance": 0.7, "threshold": 0.6},
            ...,
            "核验结论与人脸距离、阈值不符",
        ),
        (
            "passed without comparing",
            data | {"result": "passed", "distance": None},
            ...,
            "核验结论与人脸距离、阈值不符",
        ),
        ("unknown result", data | {"result": "maybe"}, ..., "result"),
        ("wrong type", data | {"distance": "0.3"}, ..., "distance"),
        ("huge distance", data | {"distance": 12345.5}, ..., "distance"),
        ("another action", data | {"action": "sample:receipt"}, ..., "action"),
        ("naive time", data | {"checked_at": "2026-11-18T02:00:00"}, ..., "时区"),
        ("another photo", data | {"live_photo_sha256": "a" * 64}, ..., "现场照片"),
        ("a seal not sent", _envelope(seal_item)["data"], seal_item["content"], "封志未由"),
        (
            "a sample not sent",
            data | {"sample_code": data["sample_code"][:-1] + "X"},
            ...,
            "sample_code",
        ),
    ]


def test_a_check_the_province_cannot_take_is_refused_and_leaves_nothing(
    client, db, settings, factory, sent
):
    city = Setup(db, settings, factory)
    items = sent["items"]
    _uploaded(db, city, items)
    registered = city.post(client, [_leaf(city, items[0])]).json()
    assert registered["outcomes"]["rebuilt"] == 1, registered
    for name, data, content, says in _cases(items[1], items[3]):
        answer = city.post(client, [_leaf(city, items[1], data, content)])
        body = answer.json()
        assert body["outcomes"] == {"duplicate": 0, "refused": 1}, (name, body)
        refused = json.dumps(body["refused"][0], ensure_ascii=False)
        assert says in refused, (name, refused)
        assert _checks(db) == [], name


def test_a_check_behind_a_held_registration_is_held_then_kept(client, db, settings, factory, sent):
    city = Setup(db, settings, factory)
    chain, items = sent["chain"], sent["items"]
    _uploaded(db, city, items)
    project = db.get(Project, chain.project.id)
    code, project.code = project.code, "XM-LATER"  # the province does not hold it yet
    db.commit()
    answer = city.post(client, [_leaf(city, items[0]), _leaf(city, items[1])]).json()
    assert answer["outcomes"] == {"duplicate": 0, "held": 2}, answer
    assert _checks(db) == []
    project.code = code  # the city's project arrives
    db.commit()
    jobs.held(db, logging.getLogger("test"))
    assert [c.action for c in _checks(db)] == ["sample:register"]
    db.expire_all()
    assert db.scalars(select(Forwarded.outcome)).all() == ["rebuilt", "rebuilt"]
