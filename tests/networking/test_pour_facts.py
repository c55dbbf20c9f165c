# ruff: noqa: PT018  (several things of one row at once)
"""A city's concrete pours on its province (docs/networking.md, "Pours"): a pour the city's
sampler records is notarised with the digest of its particulars, which go up beside the leaf;
the province keeps it as the city's on its copy of the project (held while that project is not
there yet), refuses what it cannot take leaving nothing, and counts the sets of it that the
city's samples, naming it, make."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.core import labels
from jcjg.ledger.models import LedgerLeaf
from jcjg.networking import jobs
from jcjg.networking.models import Forwarded
from jcjg.projects.models import Project
from jcjg.sampling import facts as sampling_facts
from jcjg.sampling import pours
from jcjg.sampling.models import ConcretePour, Sample
from tests.networking.test_forwarder import Upstream, _pass
from tests.networking.test_forwarder import base as base
from tests.networking.test_forwards import Setup
from tests.networking.test_sampling_facts import _again, _city_rows_go, _envelope, _uploaded
from tests.sampling.conftest import NOW, Chain, principal_of
from tests.sampling.conftest import chain as chain

CITY = "九江市检测监管平台"
CODE = "XM360403-2026-077"
START = NOW - dt.timedelta(hours=6)
FIELDS = {
    "structure_part": "3 层梁板", "grade": "C30", "impermeability": "P6", "volume_m3": 300.0,
    "started_at": START.isoformat(), "ended_at": (START + dt.timedelta(hours=5)).isoformat(),
    "bottom_forms": True,
}  # fmt: skip
BACKWARDS = FIELDS | {
    "started_at": (START + dt.timedelta(hours=1)).isoformat(),
    "ended_at": START.isoformat(),
}


@pytest.fixture
def city(db, settings, factory) -> Setup:
    return Setup(db, settings, factory)


def _entry(content: dict[str, Any], **changes: Any) -> dict[str, Any]:
    digest = pours.particulars_digest(content)
    return {"project_code": CODE, "pour_id": 7, "sha256": digest} | changes


def _item(city: Setup, content: Any = FIELDS, **changes: Any) -> dict[str, Any]:
    data = _entry(content if isinstance(content, dict) else FIELDS, **changes)
    item = city.log.append(pours.POUR_RECORD, data)
    return item if content is None else item | {"content": content}


def _city_pours(db) -> list[ConcretePour]:
    db.expire_all()
    return list(db.scalars(select(ConcretePour).where(ConcretePour.origin.is_not(None))))


@pytest.mark.sqlite
def test_a_pour_recorded_here_is_notarised_and_goes_up_with_its_particulars(
    client, db, chain: Chain, base
):
    started = NOW - dt.timedelta(hours=6)
    pour = pours.record_pour(
        db=db, principal=principal_of(chain.sampler), project_id=chain.project.id,
        form=pours.PourForm(structure_part="2 层柱", grade="c35", volume_m3=120.04,
                            started_at=started, ended_at=started + dt.timedelta(hours=3)),
        now=NOW,
    )  # fmt: skip
    db.commit()
    (leaf,) = db.scalars(
        select(LedgerLeaf).where(
            LedgerLeaf.leaf_index >= base, LedgerLeaf.entry_type == pours.POUR_RECORD
        )
    ).all()
    data = json.loads(leaf.entry)["data"]
    assert (data["project_code"], data["pour_id"]) == (chain.project.code, pour.id)
    assert set(data) == {"project_code", "pour_id", "sha256"}  # the particulars as a digest
    assert labels.label("tag", pours.POUR_RECORD) == "混凝土浇筑登记"  # as the log's pages say
    upstream = Upstream()
    _pass(client, upstream)
    items = [i for f in upstream.forwards for i in f["items"] if i.get("content")]
    (content,) = [i["content"] for i in items if "grade" in i["content"]]
    assert (content["grade"], content["volume_m3"], content["structure_part"]) == (
        "C35", 120.0, "2 层柱",
    )  # fmt: skip
    assert "recorded_by" not in content  # who recorded it stays the city's
    assert pours.particulars_digest(content) == data["sha256"]


@pytest.mark.sqlite
def test_the_province_keeps_the_citys_pour_once_and_judges_its_sets(client, db, city, factory):
    project = factory.project(region_code="360403", code=CODE)
    db.commit()
    item = _item(city)
    answer = city.post(client, [item])
    assert answer.json()["outcomes"] == {"duplicate": 0, "rebuilt": 1}, answer.text
    (got,) = _city_pours(db)
    assert (got.project_id, got.origin, got.origin_index, got.origin_id, got.recorded_by) == (
        project.id, CITY, item["index"], 7, None,
    )  # fmt: skip
    assert (got.grade, got.impermeability, got.volume_m3, got.bottom_forms) == (
        "C30", "P6", 300.0, True,
    )  # fmt: skip
    assert got.started_at.replace(tzinfo=dt.UTC) == START
    # the same leaf again: a duplicate, nothing more kept
    again = city.post(client, [item]).json()
    assert again["outcomes"]["duplicate"] == 1 and "rebuilt" not in again["outcomes"], again
    assert len(_city_pours(db)) == 1
    # no sample of the city's names it: its sets are short here as at the city; the curing
    # room is the city's to judge
    run_rule(db, "specimen_sets_short", now=NOW + dt.timedelta(days=2))
    run_rule(db, "site_curing_missing", now=NOW + dt.timedelta(days=2))
    db.commit()
    alerts = db.scalars(select(Alert).where(
        Alert.rule_id.in_(("specimen_sets_short", "site_curing_missing")))).all()  # fmt: skip
    assert [(a.rule_id, a.subject_id) for a in alerts] == [("specimen_sets_short", str(got.id))]


@pytest.mark.sqlite
def test_a_citys_sample_names_its_pour_and_the_province_counts_its_sets(
    client, db, settings, factory, chain: Chain, base
):
    """The city's sealed standard-cured sample cast from one pour counts toward that pour's
    sets on the province too: that pour is not short there, the city's other pour is."""
    made = {}
    for part in ("1 层柱", "2 层柱"):
        started = NOW - dt.timedelta(hours=2)  # its samples are cast while it lasts
        made[part] = pours.record_pour(
            db=db, principal=principal_of(chain.sampler), project_id=chain.project.id,
            form=pours.PourForm(structure_part=part, grade="C30", volume_m3=50,
                                started_at=started, ended_at=started + dt.timedelta(hours=2)),
            now=NOW,
        )  # fmt: skip
    sample = chain.register(curing="standard", pour_id=made["1 层柱"].id)
    chain.seal(sample)
    db.commit()
    upstream = Upstream()
    _pass(client, upstream)
    kinds = (pours.POUR_RECORD, "sample:register", "sample:seal")
    items = [
        i for f in upstream.forwards for i in f["items"] if _envelope(i)["entry_type"] in kinds
    ]
    assert _envelope(items[2])["data"]["pour_id"] == made["1 层柱"].id  # notarised with it
    # the same database plays the province now: the city's rows go
    _city_rows_go(db, sample.sample_code)
    db.execute(delete(ConcretePour))
    db.execute(delete(Alert))  # the city's own, on its own pours
    db.commit()
    province = Setup(db, settings, factory)
    _uploaded(db, province, items)
    answer = province.post(client, _again(province, items)).json()
    assert answer["outcomes"] == {"duplicate": 0, "rebuilt": 4}, answer
    copies = {p.structure_part: p for p in _city_pours(db)}
    kept = db.scalar(select(Sample).where(Sample.sample_code == sample.sample_code))
    assert (kept.origin, kept.pour_id, kept.status) == (CITY, copies["1 层柱"].id, "sealed")
    run_rule(db, "specimen_sets_short", now=NOW + dt.timedelta(days=2))
    db.commit()
    short = db.scalars(select(Alert.subject_id).where(Alert.rule_id == "specimen_sets_short"))
    assert short.all() == [str(copies["2 层柱"].id)]  # the one no sample names


@pytest.mark.parametrize(
    ("name", "content", "changes", "says", "status"),
    [
        ("no content", None, {}, "缺少浇筑的内容", 422),
        ("digest", FIELDS, {"sha256": "0" * 64}, "与存证的摘要不符", 422),
        ("malformed digest", FIELDS, {"sha256": "xyz"}, "sha256", 422),
        ("wrong type", FIELDS, {"pour_id": "7"}, "pour_id", 422),
        ("huge id", FIELDS, {"pour_id": 2**53 - 1}, "pour_id", 422),
        ("control character", FIELDS | {"structure_part": "梁\x00板"}, {}, "structure_part", 422),
        ("bad grade", FIELDS | {"grade": "C31"}, {}, "content.grade", 422),
        ("extra field", FIELDS | {"recorded_by": 3}, {}, "content.recorded_by", 422),
        ("naive time", FIELDS | {"started_at": "2026-11-17T20:00:00"}, {}, "时区", 422),
        ("ends first", BACKWARDS, {}, "7 天以内", 422),
        ("outside the city", FIELDS, {"project_code": "XM-NANCHANG"}, "不在该下级平台辖区", 404),
    ],
)
def test_a_pour_the_province_cannot_take_is_refused_and_leaves_nothing(
    client, db, city, factory, name, content, changes, says, status
):
    factory.project(region_code="360403", code=CODE)
    factory.project(region_code="360102", code="XM-NANCHANG")
    db.commit()
    if content is not None and content is not FIELDS and "sha256" not in changes:
        changes = changes | {"sha256": pours.particulars_digest(content)}
    answer = city.post(client, [_item(city, content, **changes)])
    body = answer.json()
    assert body["outcomes"] == {"duplicate": 0, "refused": 1}, (name, body)
    refused = body["refused"][0]
    assert says in json.dumps(refused, ensure_ascii=False), (name, refused)
    assert refused["status"] == status, (name, refused)
    assert _city_pours(db) == [], name


def test_a_pour_of_a_project_still_to_come_is_held_then_kept(client, db, city, factory):
    answer = city.post(client, [_item(city)]).json()
    assert answer["outcomes"] == {"duplicate": 0, "held": 1}, answer
    assert "在本平台尚不存在" in db.scalar(select(Forwarded.problem))["detail"]
    assert _city_pours(db) == []
    project = factory.project(region_code="360403", code=CODE)  # the city's project arrives
    db.commit()
    jobs.held(db, logging.getLogger("test"))
    (got,) = _city_pours(db)
    assert got.project_id == project.id
    db.expire_all()
    assert db.scalar(select(Forwarded.outcome)) == "rebuilt"
    assert db.scalar(select(func.count()).select_from(Project)) == 1


def test_the_city_sends_a_pours_content_only_while_it_matches_the_entry(db, chain: Chain):
    started = NOW - dt.timedelta(hours=2)
    pour = pours.record_pour(
        db=db, principal=principal_of(chain.sampler), project_id=chain.project.id,
        form=pours.PourForm(structure_part="1 层墙", grade="C30", volume_m3=80,
                            started_at=started, ended_at=started + dt.timedelta(hours=1)),
        now=NOW,
    )  # fmt: skip
    db.flush()
    entry = pours.pour_entry(db, pour)
    assert sampling_facts.pour_content(db, 0, entry).content["volume_m3"] == 80.0
    assert sampling_facts.pour_content(db, 0, entry | {"sha256": "0" * 64}) is None
    assert sampling_facts.pour_content(db, 0, entry | {"pour_id": "1"}) is None
    assert sampling_facts.pour_content(db, 0, entry | {"pour_id": 2**40}) is None
    pour.origin = CITY  # a grandchild's pour kept here: not ours to send
    assert sampling_facts.pour_content(db, 0, entry) is None
