"""Conversion rules versioned with an effective time (issue 43), as the data standard is: each
save is kept as a version, and a message is converted by each rule's version in force when it
was signed (a change to take effect later leaves the messages signed before it as they were
converted). On both databases."""

from __future__ import annotations

import copy
import datetime as dt
import re
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from jcjg.config import get_settings
from jcjg.exchange.types import message_types
from jcjg.governance import conversion
from jcjg.governance.models import ConversionRule, ConversionRuleVersion
from tests.governance.test_conversion import HTML, _add, _officer

TYPE = "registry.equipment"


@pytest.fixture(autouse=True)
def _fresh_memory():
    conversion.MEMORY.forget()
    yield
    conversion.MEMORY.forget()


def _save(client, csrf: str, rule_id: int, **form: str) -> Any:
    values = {"name": "准确度等级统一写法", "kind": "code_map", "message_type": TYPE,
              "path": "equipment[].accuracy", "enabled": "on", **form}  # fmt: skip
    return client.post(
        f"/governance/quality/conversions/{rule_id}",
        data={"csrf_token": csrf, **values},
        headers={"accept": "application/json", **HTML},
        follow_redirects=False,
    )


def _converted(db, at: dt.datetime, value: str = "一级") -> str:
    """``value`` as a message signed at ``at`` is applied now."""
    conversion.MEMORY.forget()
    run = conversion.conversions(db, {TYPE}).get(TYPE)
    if run is None:
        return value
    row = SimpleNamespace(
        id=10**6,
        signature_input=f'sig1=("@method");created={int(at.timestamp())};keyid="lims-1"',
        received_at=dt.datetime.now(dt.UTC),
    )
    data = copy.deepcopy(message_types()[TYPE].example)
    data["equipment"] = data["equipment"][:1]
    data["equipment"][0]["accuracy"] = value
    return run(row, data)["equipment"][0]["accuracy"]


def _local(at: dt.datetime) -> str:
    return at.astimezone(get_settings().tz).strftime("%Y-%m-%dT%H:%M")


def test_a_message_is_converted_by_the_version_in_force_when_signed(client, db, factory):
    csrf = _officer(client, factory)
    made = _add(client, csrf, name="准确度等级统一写法", kind="code_map", message_type=TYPE,
                path="equipment[].accuracy", map="一级=1级")  # fmt: skip
    assert made.status_code == 303, made.text[:300]
    rule = db.scalar(select(ConversionRule))
    now = dt.datetime.now(dt.UTC)
    earlier = now - dt.timedelta(days=400)
    # the first version: every message, whenever signed
    assert _converted(db, earlier) == "1级"
    assert _converted(db, now) == "1级"
    # a change from an hour on: the messages signed before keep the first version
    later = now + dt.timedelta(hours=1, minutes=1)
    changed = _save(client, csrf, rule.id, map="一级=Ⅰ级", effective_at=_local(later))
    assert changed.status_code == 303, changed.text[:300]
    assert _converted(db, now) == "1级"
    assert _converted(db, later + dt.timedelta(minutes=5)) == "Ⅰ级"
    page = client.get(f"/governance/quality/conversions/{rule.id}", headers=HTML)
    assert page.status_code == 200
    assert "第 2 版" in page.text
    assert "尚未生效" in page.text
    assert "对所有消息生效" in page.text
    # switched off with no time: from now on; a message signed before is still converted
    off = _save(client, csrf, rule.id, map="一级=Ⅰ级", enabled="")
    assert off.status_code == 303
    db.expire_all()
    kept = db.scalars(select(ConversionRuleVersion).order_by(ConversionRuleVersion.version)).all()
    assert [(v.version, v.enabled, v.effective_at is None) for v in kept] == [
        (1, True, True),
        (2, True, False),
        (3, False, False),
    ]
    assert kept[1].params == {"map": {"一级": "Ⅰ级"}}
    assert _converted(db, now - dt.timedelta(minutes=2)) == "1级"
    assert _converted(db, now + dt.timedelta(seconds=5)) == "一级"
    assert _converted(db, later + dt.timedelta(minutes=5)) == "一级"  # the latest saved wins


def test_a_rule_saved_before_versions_converts_as_it_stands(client, db, factory):
    """A rule added before versions were kept (or by the demo) has none: in force for every
    message; its first change keeps it as version 1."""
    csrf = _officer(client, factory)
    rule = ConversionRule(name="准确度等级统一写法", kind="code_map", message_type=TYPE,
                          path="equipment[].accuracy", params={"map": {"一级": "1级"}})  # fmt: skip
    db.add(rule)
    db.commit()
    now = dt.datetime.now(dt.UTC)
    assert _converted(db, now - dt.timedelta(days=30)) == "1级"
    changed = _save(client, csrf, rule.id, map="一级=Ⅰ级")
    assert changed.status_code == 303, changed.text[:300]
    db.expire_all()
    versions = db.scalars(
        select(ConversionRuleVersion).order_by(ConversionRuleVersion.version)
    ).all()
    assert [(v.version, v.params["map"]["一级"]) for v in versions] == [(1, "1级"), (2, "Ⅰ级")]
    assert versions[0].effective_at is None
    assert _converted(db, now - dt.timedelta(days=30)) == "1级"
    assert _converted(db, now + dt.timedelta(seconds=5)) == "Ⅰ级"


def test_a_bad_effective_time_is_refused_in_chinese(client, db, factory):
    csrf = _officer(client, factory)
    made = _add(client, csrf, name="准确度等级统一写法", kind="code_map", message_type=TYPE,
                path="equipment[].accuracy", map="一级=1级")  # fmt: skip
    assert made.status_code == 303
    rule = db.scalar(select(ConversionRule))
    for raw in ("2020-01-01T08:00", "明天", "2026-13-01T08:00", "99999-01-01T00:00"):
        answer = _save(client, csrf, rule.id, map="一级=Ⅰ级", effective_at=raw)
        assert answer.status_code == 422, raw
        assert re.search(r"生效时间(不得早于现在|的格式应为|超出范围)", answer.text), raw
    db.expire_all()
    assert len(db.scalars(select(ConversionRuleVersion)).all()) == 1
    assert db.get(ConversionRule, rule.id).params == {"map": {"一级": "1级"}}
    # a new rule with a time: not for the messages signed before it
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    made = _add(client, csrf, name="型号半角", kind="halfwidth", message_type=TYPE,
                path="equipment[].model", effective_at=_local(later))  # fmt: skip
    assert made.status_code == 303, made.text[:300]
    db.expire_all()
    newest = db.scalars(select(ConversionRuleVersion).order_by(ConversionRuleVersion.id)).all()[-1]
    assert newest.effective_at is not None
    assert newest.effective_at > dt.datetime.now(dt.UTC)
