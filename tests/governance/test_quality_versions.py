"""Quality rules versioned with an effective time (issue 43), as the conversion rules are: each
save is kept as a version, and a record is judged by each rule's version in force when it was
signed (a change to take effect later leaves the records signed before it judged as they
were); the versions are read on the rule's page. On both databases."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import select

from jcjg.exchange import clients as exchange_clients
from jcjg.exchange.choices import ClientStatus
from jcjg.exchange.models import Message
from jcjg.governance import quality
from jcjg.governance.models import QualityCheck, QualityRule, QualityRuleVersion
from tests.governance.test_conversion_versions import _local
from tests.governance.test_quality import HTML, _add_rule, _officer

TYPE = "registry.equipment"
FORM = {"name": "设备编号格式", "kind": "format", "message_type": TYPE,
        "path": "equipment[].asset_number"}  # fmt: skip


def _save(client, csrf: str, rule_id: int, **form: str) -> Any:
    return client.post(
        f"/governance/quality/rules/{rule_id}",
        data={"csrf_token": csrf, "enabled": "on", **FORM, **form},
        headers=HTML,
        follow_redirects=False,
    )


def _messages(db, factory, signed: list[dt.datetime]) -> list[Message]:
    """Applied equipment messages signed at ``signed`` (received now), each with asset SB-1."""
    institution = factory.institution(region_code="360403")
    lims = exchange_clients.create_client(
        db, name="九江 LIMS", institution=institution, status=ClientStatus.ACTIVE
    )
    rows = [
        Message(client_id=lims.id, key_id="c1-000000000000", institution_id=institution.id,
                region_code="360403", lane=f"i{institution.id}", message_type=TYPE,
                message_id=f"00000000-0000-4000-8000-{n:012d}",
                body=b'{"equipment": [{"asset_number": "SB-1"}]}', content_sha256="0" * 64,
                signature_input=f'sig1=("@method");created={int(at.timestamp())};keyid="k"',
                signature="sig1=::", received_at=dt.datetime.now(dt.UTC),
                receipt={"status": "applied"}, status="applied", leaf_hash=bytes(32))
        for n, at in enumerate(signed)
    ]  # fmt: skip
    db.add_all(rows)
    db.flush()
    return rows


def _judged(db, rows: list[Message]) -> list[tuple[int, int] | None]:
    """``(rules applied, failed)`` of each row, checked now (None: no rule was in force)."""
    quality.check_rows(db, rows)
    found = {
        c.message_row_id: (c.total, c.failed)
        for c in db.scalars(
            select(QualityCheck).where(QualityCheck.message_row_id.in_([r.id for r in rows]))
        )
    }
    return [found.get(r.id) for r in rows]


def test_a_record_is_judged_by_the_version_in_force_when_signed(client, db, factory):
    csrf = _officer(client, factory)
    assert _add_rule(client, csrf, **FORM, pattern="SB-[0-9]+").status_code == 303
    rule = db.scalar(select(QualityRule).where(QualityRule.name == FORM["name"]))
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(hours=1, minutes=1)
    # the first version judges every record, whenever signed: SB-1 passes
    long_ago, before, after = _messages(
        db, factory, [now - dt.timedelta(days=400), now, later + dt.timedelta(minutes=5)]
    )
    assert _judged(db, [long_ago, before, after]) == [(1, 0)] * 3
    # a change from an hour on: a record signed before keeps the first version
    changed = _save(client, csrf, rule.id, pattern="LX-[0-9]+", effective_at=_local(later))
    assert changed.status_code == 303, changed.text[:300]
    assert _judged(db, [long_ago, before, after]) == [(1, 0), (1, 0), (1, 1)]
    page = client.get(f"/governance/quality/rules/{rule.id}", headers=HTML)
    assert page.status_code == 200
    versions = page.text.split('data-testid="quality-rule-versions"')[1].split("</table>")[0]
    assert "第 1 版" in versions
    assert "第 2 版" in versions
    assert "对所有消息生效" in versions
    assert "尚未生效" in versions
    assert "格式 SB-[0-9]+" in versions  # the older version still readable
    assert "格式 LX-[0-9]+" in versions
    # switched off with no time: from now on; a record signed before is still judged
    off = _save(client, csrf, rule.id, pattern="LX-[0-9]+", enabled="")
    assert off.status_code == 303
    db.expire_all()
    kept = db.scalars(
        select(QualityRuleVersion)
        .where(QualityRuleVersion.rule_id == rule.id)
        .order_by(QualityRuleVersion.version)
    ).all()
    assert [(v.version, v.enabled, v.effective_at is None) for v in kept] == [
        (1, True, True),
        (2, True, False),
        (3, False, False),
    ]
    assert kept[0].params == {"pattern": "SB-[0-9]+"}
    (soon,) = _messages(db, factory, [now + dt.timedelta(minutes=2)])
    assert _judged(db, [long_ago, soon, after]) == [(1, 0), None, None]


def test_a_rule_saved_before_versions_judges_as_it_stands(client, db, factory):
    """A rule loaded with the reference data (or by the demo, or before versions were kept)
    has none: it judges every record; its first change keeps it as version 1."""
    csrf = _officer(client, factory)
    rule = QualityRule(**FORM, params={"pattern": "SB-[0-9]+"}, enabled=True)
    db.add(rule)
    db.commit()
    now = dt.datetime.now(dt.UTC)
    old, new = _messages(db, factory, [now - dt.timedelta(days=30), now + dt.timedelta(minutes=1)])
    assert _judged(db, [old, new]) == [(1, 0), (1, 0)]
    changed = _save(client, csrf, rule.id, pattern="LX-[0-9]+")
    assert changed.status_code == 303, changed.text[:300]
    db.expire_all()
    versions = db.scalars(
        select(QualityRuleVersion)
        .where(QualityRuleVersion.rule_id == rule.id)
        .order_by(QualityRuleVersion.version)
    ).all()
    assert [(v.version, v.params["pattern"], v.effective_at is None) for v in versions] == [
        (1, "SB-[0-9]+", True),
        (2, "LX-[0-9]+", False),
    ]
    assert _judged(db, [old, new]) == [(1, 0), (1, 1)]


def test_a_bad_effective_time_is_refused_in_chinese(client, db, factory):
    csrf = _officer(client, factory)
    assert _add_rule(client, csrf, **FORM, pattern="SB-[0-9]+").status_code == 303
    rule = db.scalar(select(QualityRule).where(QualityRule.name == FORM["name"]))
    for raw in ("2020-01-01T08:00", "明天", "99999-01-01T00:00"):
        answer = _save(client, csrf, rule.id, pattern="LX-[0-9]+", effective_at=raw)
        assert answer.status_code == 422, raw
        assert re.search(r"生效时间(不得早于现在|的格式应为|超出范围)", answer.text), raw
        assert "第 1 版" in answer.text  # the refused form keeps the rule's versions shown
    db.expire_all()
    assert db.get(QualityRule, rule.id).params == {"pattern": "SB-[0-9]+"}
    assert len(db.scalars(select(QualityRuleVersion)).all()) == 1
    # the list's filters: a kind not of the quality rules is refused, one of them filters
    assert client.get("/governance/quality/rules?kind=code_map", headers=HTML).status_code == 400
    listed = client.get("/governance/quality/rules?kind=format&enabled=yes", headers=HTML)
    assert listed.status_code == 200
    assert FORM["name"] in listed.text
