"""Related consistency (issue 43, 000 7.1.4(3) 数据检验): a quality rule comparing a field of a
record with one of a related record received in another message (a test's start with its
commission's date, its specimens with the commission's samples), fired and not, on arrival and
in the offline run; bad rules refused in Chinese; on both databases."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.config import get_settings
from jcjg.exchange.models import Message
from jcjg.governance.models import QualityCheck, QualityReference, QualityRule
from jcjg.governance.quality import Compiled, evaluate
from tests.exchange.conftest import apply_waiting, make_lims
from tests.factories import login, page_csrf
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}
pytestmark = pytest.mark.sqlite  # the index's upserts and the batch's look-ups, on SQLite too
STARTED = {"name": "试验开始时间不早于委托日期", "kind": "related", "message_type": "test_record",
           "path": "started_at", "link": "commission_number", "related_type": "commission",
           "key": "number", "other": "commissioned_on", "op": "ge"}  # fmt: skip
COUNTED = {"name": "试件数与委托的样品数一致", "kind": "related", "message_type": "test_record",
           "path": "specimens[].position", "link": "commission_number",
           "related_type": "commission", "key": "number", "other": "samples[]",
           "op": "eq"}  # fmt: skip


def test_a_related_rule_compares_values_and_counts():
    tz = dt.timezone(dt.timedelta(hours=8))
    received = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    started = Compiled(
        1, "开始", "related", (), "started_at", {**STARTED, "other_name": "委托日期"}
    )
    counted = Compiled(2, "试件", "related", ("specimens[]",), "position", COUNTED)
    commissions = {
        "WT-1": {"number": "WT-1", "commissioned_on": "2026-11-19", "samples": ["A", "B", "C"]},
        "WT-2": {"number": "WT-2", "commissioned_on": "2026-11-21", "samples": ["A"]},
    }

    def find(message_type: str, key_field: str, key: str) -> Any:
        assert (message_type, key_field) == ("commission", "number")
        return commissions.get(key)

    record = {"commission_number": "WT-1", "started_at": "2026-11-20T08:00:00+08:00",
              "specimens": [{"position": 1}, {"position": 2}, {"position": 3}]}  # fmt: skip
    assert evaluate([started, counted], record, received, tz, find)[:2] == (2, 0)
    # the day of the commission counts from its start, in the platform's zone
    same_day = {**record, "started_at": "2026-11-19T00:30:00+08:00"}
    assert evaluate([started], same_day, received, tz, find)[1] == 0
    early = {**record, "commission_number": "WT-2"}
    total, failed, failures = evaluate([started, counted], early, received, tz, find)
    assert (total, failed) == (2, 2)
    assert failures[0]["field"] == "started_at"
    assert "WT-2" in failures[0]["why"]
    assert "委托日期" in failures[0]["why"]
    assert failures[1]["field"] == "specimens.position"
    # a commission not received (yet), no reference, or nothing to look up with: not judged
    assert evaluate([started, counted], {**record, "commission_number": "WT-9"}, received, tz,
                    find)[1] == 0  # fmt: skip
    assert evaluate([started], {"started_at": "2026-11-20T08:00:00"}, received, tz, find)[1] == 0
    assert evaluate([started], early, received, tz, None)[1] == 0


def _officer(client, factory) -> str:
    login(client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    return page_csrf(client, "/governance/quality/rules")


def _add(client, csrf: str, **form: str) -> Any:
    return client.post(
        "/governance/quality/rules",
        data={"csrf_token": csrf, "enabled": "on", **form},
        headers=HTML,
        follow_redirects=False,
    )


def _commission(lab, number: str, on: dt.date, samples: list[str], project_code: str):
    return lab.message(number=number, sequence=int(number[-3:]), commissioned_on=on.isoformat(),
                       project_code=project_code, samples=samples)  # fmt: skip


def _record(lab, number: str, commission: str, minutes_ago: float) -> dict[str, Any]:
    record, _ = concrete_record(lab, number=number, minutes_ago=minutes_ago)
    record["commission_number"] = commission
    return record


def _failures(db, message_id: str) -> dict[str, str]:
    row = db.scalar(select(Message).where(Message.message_id == message_id))
    check = db.scalar(select(QualityCheck).where(QualityCheck.message_row_id == row.id))
    assert check is not None, (row.message_type, row.status, row.problem.get("errors"))
    return {f["name"]: f["why"] for f in check.failures}


def test_records_of_other_messages_are_compared_on_arrival(client, db, settings, factory):
    csrf = _officer(client, factory)
    assert _add(client, csrf, **STARTED).status_code == 303
    assert _add(client, csrf, **COUNTED).status_code == 303
    client.cookies.clear()
    lab = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    project = factory.project(region_code=lab.institution.region_code)
    today = dt.datetime.now(get_settings().tz).date()
    sent = [
        ("commission", _commission(lab, "WT-2026-001", today - dt.timedelta(days=1),
                                   ["S1", "S2", "S3"], project.code)),
        ("commission", _commission(lab, "WT-2026-002", today, ["S4", "S5"], project.code)),
        ("test_record", _record(lab, "JL-001", "WT-2026-001", minutes_ago=5)),
        # started two days ago, before its commission was registered; 3 specimens, 2 samples
        ("test_record", _record(lab, "JL-002", "WT-2026-002", minutes_ago=2 * 24 * 60)),
    ]  # fmt: skip
    for kind, message in sent:
        answer = lab.post_raw(client, kind, message)
        assert answer.status_code == 202, answer.text
    apply_waiting(client)
    db.expire_all()
    assert STARTED["name"] not in _failures(db, sent[2][1]["message_id"])
    assert COUNTED["name"] not in _failures(db, sent[2][1]["message_id"])
    late = _failures(db, sent[3][1]["message_id"])
    assert "WT-2026-002" in late[STARTED["name"]]
    assert COUNTED["name"] in late
    # the commissions are indexed by their numbers, in the lab's lane
    keys = set(db.scalars(select(QualityReference.key).where(
        QualityReference.lane == f"i{lab.institution.id}")))  # fmt: skip
    assert keys == {"WT-2026-001", "WT-2026-002"}
    # the commission sent again (a correction) is the one looked up from then on
    fixed = _commission(lab, "WT-2026-002", today - dt.timedelta(days=3), ["S4", "S5", "S6"],
                        project.code)  # fmt: skip
    assert lab.post_raw(client, "commission", fixed).status_code == 202
    again = _record(lab, "JL-004", "WT-2026-002", minutes_ago=2 * 24 * 60)
    assert lab.post_raw(client, "test_record", again).status_code == 202
    apply_waiting(client)
    db.expire_all()
    found = _failures(db, again["message_id"])
    assert STARTED["name"] not in found, found
    assert COUNTED["name"] not in found, found
    # the quality page names the rule in words
    login(client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    page = client.get("/governance/quality/rules?kind=related", headers=HTML).text
    assert "关联一致性" in page
    assert "委托日期" in page
    assert "委托编号" in page


def test_an_offline_run_indexes_the_period_and_judges_again(client, db, settings, factory):
    lab = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    project = factory.project(region_code=lab.institution.region_code)
    today = dt.datetime.now(get_settings().tz).date()
    commission = _commission(lab, "WT-2026-007", today, ["S1", "S2", "S3"], project.code)
    record = _record(lab, "JL-007", "WT-2026-007", minutes_ago=3 * 24 * 60)
    for kind, message in (("commission", commission), ("test_record", record)):
        assert lab.post_raw(client, kind, message).status_code == 202
    apply_waiting(client)
    db.expire_all()
    assert STARTED["name"] not in _failures(db, record["message_id"])  # no such rule yet
    csrf = _officer(client, factory)
    assert _add(client, csrf, **STARTED).status_code == 303
    from jcjg.governance import jobs as governance_jobs

    governance_jobs.quality_scan.func(db, logging.getLogger("test"))
    db.expire_all()
    assert STARTED["name"] in _failures(db, record["message_id"])


BAD: list[dict[str, str]] = [
    {**STARTED, "link": "no_such_field"},
    {**STARTED, "link": "started_at"},  # not a reference
    {**STARTED, "related_type": "no.such"},
    {**STARTED, "key": "nope"},
    {**STARTED, "key": "commissioned_on"},
    {**STARTED, "other": "nope"},
    {**STARTED, "other": "samples[]"},  # a value with a count
    {**COUNTED, "other": "commissioned_on"},  # a count with a value
    {**STARTED, "other": "client_unit"},  # a time with a text
    {**STARTED, "op": "bogus"},
    {**STARTED, "related_type": "x" * 100},
]


def test_bad_related_rules_are_refused(client, db, factory):
    csrf = _officer(client, factory)
    before = db.scalar(select(QualityRule.id).order_by(QualityRule.id.desc()).limit(1))
    for form in BAD:
        answer = _add(client, csrf, **form)
        assert answer.status_code == 422, (form, answer.status_code)
        assert "请改正" in answer.text
    assert db.scalar(select(QualityRule.id).order_by(QualityRule.id.desc()).limit(1)) == before
