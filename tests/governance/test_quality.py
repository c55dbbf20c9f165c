"""Data quality (issue 43 item 3): rules as data run on arrival and offline, scores per
institution, message type and month that match an independent computation, the rule
``data_quality_low`` firing and not, and the pages; on both databases."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import delete, select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert, RuleThreshold
from jcjg.auth.choices import Role
from jcjg.config import get_settings
from jcjg.governance.models import QualityCheck, QualityRule, QualityRun
from tests.exchange.conftest import apply_waiting, make_lims
from tests.factories import login, page_csrf

HTML = {"accept": "text/html"}
LABS = {"labs": [{"name": "力学室", "address": "九江市长虹大道 1 号", "area_m2": "100.00"}]}


def _equipment(asset: str, *, valid_until: str | None, status: str = "in_use") -> dict[str, Any]:
    item: dict[str, Any] = {
        "asset_number": asset,
        "name": "万能试验机",
        "status": status,
        "lab_name": "力学室",
    }
    if valid_until is not None:
        item["calibration_valid_until"] = valid_until
    return item


def _officer(client, factory):
    officer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    login(client, officer.username)
    return page_csrf(client, "/governance/quality/rules")


def _add_rule(client, csrf, **form: str) -> Any:
    return client.post(
        "/governance/quality/rules",
        data={"csrf_token": csrf, "enabled": "on", **form},
        headers=HTML,
        follow_redirects=False,
    )


def _expected(messages: list[list[dict[str, Any]]]) -> tuple[int, int]:
    """Written apart from the platform's code: three rules a message (calibration date
    present on every item; status one of in_use; asset number SB-<digits>), each failing when
    any item breaks it."""
    total = failed = 0
    for items in messages:
        checks = [
            all(i.get("calibration_valid_until") for i in items),
            all(i.get("status") == "in_use" for i in items),
            all(re.fullmatch(r"SB-[0-9]+", i["asset_number"]) for i in items),
        ]
        total += len(checks)
        failed += checks.count(False)
    return total, failed


def _closes_by_itself_and_keeps_its_floor(db, institution_id: int) -> None:
    """``data_quality_low`` once the score is back above the region's floor: the alert closes
    at the next run; below it again, a new one opens; a lab with fewer checks than
    ``min_checks`` (24 here, 25 asked) is not judged, and its alert closes."""

    def judged(**limits: float) -> list[str]:
        db.execute(delete(RuleThreshold).where(RuleThreshold.rule_id == "data_quality_low"))
        for key, value in limits.items():
            db.add(RuleThreshold(rule_id="data_quality_low", region_code="360403", key=key,
                                 value=value))  # fmt: skip
        db.flush()
        run_rule(db, "data_quality_low")
        db.flush()
        found = select(Alert.status).where(
            Alert.rule_id == "data_quality_low", Alert.institution_id == institution_id
        )
        return sorted(db.scalars(found.order_by(Alert.id)))

    assert judged(min_score=0) == ["closed"]  # 0 % is no longer below the floor
    assert judged() == ["closed", "open"]  # the floor back (90 %): warned again
    assert judged(min_checks=25) == ["closed", "closed"]  # 24 checks: too few to judge
    assert judged(min_checks=24) == ["closed", "closed", "open"]  # enough: judged


def test_scores_match_an_independent_computation_and_the_rule_fires(  # noqa: PLR0915
    client, db, settings, factory
):
    csrf = _officer(client, factory)
    made = _add_rule(
        client,
        csrf,
        name="设备须有检定有效期",
        kind="completeness",
        message_type="registry.equipment",
        path="equipment[].calibration_valid_until",
    )
    assert made.status_code == 303
    assert (
        _add_rule(
            client,
            csrf,
            name="设备状态须为在用",
            kind="value_domain",
            message_type="registry.equipment",
            path="equipment[].status",
            codes="in_use",
        ).status_code
        == 303
    )
    assert (
        _add_rule(
            client,
            csrf,
            name="设备编号格式",
            kind="format",
            message_type="registry.equipment",
            path="equipment[].asset_number",
            pattern="SB-[0-9]+",
        ).status_code
        == 303
    )
    client.cookies.clear()
    poor = make_lims(
        db,
        settings,
        factory,
        institution=factory.institution(region_code="360403", name="九江质量差检测公司"),
    )
    good = make_lims(
        db,
        settings,
        factory,
        institution=factory.institution(region_code="360403", name="九江质量好检测公司"),
    )
    sent: dict[str, list[list[dict[str, Any]]]] = {"poor": [], "good": []}
    for lims, key in ((poor, "poor"), (good, "good")):
        assert lims.post(client, "registry.labs", lims.message(**LABS)).status_code == 200
        for n in range(8):
            if key == "poor":
                items = [
                    _equipment(f"LX-{n}", valid_until=None),
                    _equipment(f"SB-{n}", valid_until="2027-01-01", status="retired"),
                ]
            else:
                items = [_equipment(f"SB-{n}", valid_until="2027-01-01")]
            sent[key].append(items)
            answer = lims.post_raw(client, "registry.equipment", lims.message(equipment=items))
            assert answer.status_code == 202, answer.text
    apply_waiting(client)
    month = dt.datetime.now(get_settings().tz).strftime("%Y-%m")
    # the three rules added: three checks a message (none of the defaults is on equipment)
    officer = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    headers = {"Authorization": f"Bearer {factory.token(officer)}"}
    found = client.get(
        "/api/v1/governance/quality", params={"month": month}, headers=headers
    ).json()
    by_name = {i["institution_name"]: i for i in found["items"]}
    for key, name in (("poor", "九江质量差检测公司"), ("good", "九江质量好检测公司")):
        total, failed = _expected(sent[key])
        item = by_name[name]
        assert (item["messages"], item["checks"], item["failed"]) == (8, total, failed)
        assert item["score"] == round(100 * (total - failed) / total, 1)
    assert by_name["九江质量差检测公司"]["score"] == 0.0
    assert by_name["九江质量好检测公司"]["score"] == 100.0
    # the rule: the poor lab is warned, the good one not (24 checks each, at least 20)
    alerts = db.scalars(
        select(Alert).where(Alert.rule_id == "data_quality_low", Alert.status == "open")
    ).all()
    assert {a.institution_id for a in alerts} == {poor.institution.id}
    assert alerts[0].facts["质量得分（%）"] == 0.0
    _closes_by_itself_and_keeps_its_floor(db, poor.institution.id)
    # a lab sees its own figures only
    lab = factory.user(Role.INSTITUTION_ADMIN, institution=good.institution)
    mine = client.get(
        "/api/v1/governance/quality",
        params={"month": month},
        headers={"Authorization": f"Bearer {factory.token(lab)}"},
    ).json()
    assert [i["institution_name"] for i in mine["items"]] == ["九江质量好检测公司"]
    assert (
        client.get(
            "/api/v1/governance/quality", params={"month": "2026-13"}, headers=headers
        ).status_code
        == 400
    )

    # the pages: scores, the institution's failing data one click away, a check with its values
    login(client, officer.username)
    home = client.get("/governance/quality", params={"month": month}, headers=HTML)
    assert home.status_code == 200
    assert "九江质量差检测公司" in home.text
    page = client.get(
        f"/governance/quality/institutions/{poor.institution.id}",
        params={"month": month},
        headers=HTML,
    )
    assert page.status_code == 200
    assert "设备编号格式" in page.text
    check = db.scalars(
        select(QualityCheck).where(QualityCheck.institution_id == poor.institution.id)
    ).first()
    shown = client.get(
        f"/governance/quality/institutions/{poor.institution.id}/checks/{check.id}", headers=HTML
    )
    assert shown.status_code == 200, (
        check.id,
        check.institution_id,
        poor.institution.id,
        [(c.id, c.institution_id) for c in db.scalars(select(QualityCheck))][:5],
    )
    assert "（未填写）" in shown.text, re.sub(r"(?s).*<h2>未通过的规则</h2>", "", shown.text)[:1500]
    failures = re.sub(r"(?s).*<h2>未通过的规则</h2>", "", shown.text)
    assert "已停用" in failures
    assert "retired" not in failures
    assert "（第 2 项）" in failures  # equipment.1.status as 状态（第 2 项）
    assert not re.search(r"equipment\.\d|\bequipment\[\]|calibration_valid_until", failures)
    listed = re.sub(r"(?s).*data-testid=\"quality-failures\"", "", page.text)
    assert "（第 1 项）" in listed
    assert not re.search(r"equipment\.\d|<code>", listed.split("</table>")[0])
    failing = client.get(
        f"/governance/quality/institutions/{poor.institution.id}",
        params={"month": month, "format": "xlsx"},
    )
    cells = [
        str(c.value)
        for row in load_workbook(io.BytesIO(failing.content)).active.iter_rows()
        for c in row
    ]
    assert any("（第 1 项）" in c for c in cells)
    assert not any(re.search(r"equipment\.\d", c) for c in cells)
    other = client.get(
        f"/governance/quality/institutions/{good.institution.id}/checks/{check.id}", headers=HTML
    )
    assert other.status_code == 404
    for path in (
        "/governance/quality",
        f"/governance/quality/institutions/{poor.institution.id}",
        "/governance/quality/rules",
        "/governance/quality/runs",
    ):
        exported = client.get(
            path,
            params={"month": month, "format": "xlsx"}
            if "rules" not in path and "runs" not in path
            else {"format": "xlsx"},
        )
        assert exported.status_code == 200, path
        rows = load_workbook(io.BytesIO(exported.content)).active.max_row
        assert rows >= (1 if path.endswith("runs") else 2), path  # no run yet: the header


def test_an_offline_run_checks_again_with_todays_rules(client, db, settings, factory):
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    assert lims.post(client, "registry.labs", lims.message(**LABS)).status_code == 200
    for n in range(3):
        lims.post_raw(
            client,
            "registry.equipment",
            lims.message(equipment=[_equipment(f"LX-{n}", valid_until="2027-01-01")]),
        )
    apply_waiting(client)
    before = db.scalars(
        select(QualityCheck).where(QualityCheck.institution_id == lims.institution.id)
    ).all()
    assert before == []  # no rule on equipment among those switched on by default
    csrf = _officer(client, factory)
    assert (
        _add_rule(
            client,
            csrf,
            name="设备编号格式",
            kind="format",
            message_type="registry.equipment",
            path="equipment[].asset_number",
            pattern="SB-[0-9]+",
        ).status_code
        == 303
    )
    ran = client.post(
        "/governance/quality/runs", data={"csrf_token": csrf}, headers=HTML, follow_redirects=False
    )
    assert ran.status_code == 303
    # the page asks the worker for the job at its next turn; the worker runs it
    from jcjg.core.jobs import JobSchedule
    from jcjg.governance import jobs as governance_jobs

    db.expire_all()
    scheduled = db.get(JobSchedule, "governance.quality_scan")
    assert scheduled.next_run_at <= dt.datetime.now(dt.UTC)
    governance_jobs.quality_scan.func(db, logging.getLogger("test"))
    run = db.scalars(select(QualityRun).order_by(QualityRun.id.desc())).first()
    assert run.trigger == "schedule"
    db.expire_all()
    after = db.scalars(
        select(QualityCheck).where(QualityCheck.institution_id == lims.institution.id)
    ).all()
    assert [(c.total, c.failed) for c in after] == [(1, 1)] * 3
    run = db.scalars(select(QualityRun).order_by(QualityRun.id.desc())).first()
    assert run.status == "done"
    assert run.messages >= 3
    assert "完成" in client.get("/governance/quality/runs", headers=HTML).text


def test_bad_rules_are_refused(client, db, factory):
    csrf = _officer(client, factory)
    before = db.scalar(select(QualityRule.id).order_by(QualityRule.id.desc()).limit(1))
    bad = [
        {"name": "", "kind": "completeness", "message_type": "test_record", "path": "standard"},
        {"name": "x", "kind": "bogus", "message_type": "test_record", "path": "standard"},
        {"name": "x", "kind": "completeness", "message_type": "no.such", "path": "standard"},
        {
            "name": "x",
            "kind": "completeness",
            "message_type": "test_record",
            "path": "no_such_field",
        },
        {
            "name": "x",
            "kind": "format",
            "message_type": "test_record",
            "path": "standard",
            "pattern": "([",
        },
        {
            "name": "x",
            "kind": "format",
            "message_type": "test_record",
            "path": "age_days",
            "pattern": "[0-9]+",
        },
        {"name": "x", "kind": "value_domain", "message_type": "test_record", "path": "age_days"},
        {
            "name": "x",
            "kind": "value_domain",
            "message_type": "test_record",
            "path": "age_days",
            "minimum": "30",
            "maximum": "3",
        },
        {
            "name": "x",
            "kind": "value_domain",
            "message_type": "test_record",
            "path": "age_days",
            "maximum": "很多",
        },
        {
            "name": "x",
            "kind": "value_domain",
            "message_type": "test_record",
            "path": "standard",
            "maximum": "3",
        },
        {
            "name": "x",
            "kind": "timeliness",
            "message_type": "test_record",
            "path": "standard",
            "hours": "24",
        },
        {
            "name": "x",
            "kind": "timeliness",
            "message_type": "test_record",
            "path": "ended_at",
            "hours": "-1",
        },
        {
            "name": "x",
            "kind": "consistency",
            "message_type": "test_record",
            "path": "started_at",
            "other": "age_days",
        },
        {
            "name": "x",
            "kind": "consistency",
            "message_type": "test_record",
            "path": "started_at",
            "other": "nope",
        },
        {
            "name": "x",
            "kind": "consistency",
            "message_type": "test_record",
            "path": "started_at",
            "other": "ended_at",
            "op": "bogus",
        },
        {
            "name": "x" * 101,
            "kind": "completeness",
            "message_type": "test_record",
            "path": "standard",
        },
    ]
    for form in bad:
        answer = _add_rule(client, csrf, **form)
        assert answer.status_code == 422, (form, answer.status_code)
    assert (
        _add_rule(
            client,
            csrf,
            name="规\x00则",
            kind="completeness",
            message_type="test_record",
            path="standard",
        ).status_code
        == 422
    )
    assert db.scalar(select(QualityRule.id).order_by(QualityRule.id.desc()).limit(1)) == before
    assert client.get("/governance/quality/rules/2147483648", headers=HTML).status_code == 404
    assert client.get("/governance/quality?month=2026-13", headers=HTML).status_code == 400
    good = _add_rule(
        client,
        csrf,
        name="试验结束不早于开始",
        kind="consistency",
        message_type="test_record",
        path="ended_at",
        other="started_at",
        op="ne",
    )
    assert good.status_code == 303


@pytest.mark.parametrize("role", [Role.INSTITUTION_ADMIN, Role.CITY_AUTHORITY])
def test_only_the_province_keeps_the_rules(client, factory, role):
    kwargs: dict[str, Any] = (
        {"institution": factory.institution()}
        if role == Role.INSTITUTION_ADMIN
        else {"region_code": "360400"}
    )
    login(client, factory.user(role, **kwargs).username)
    assert client.get("/governance/quality/rules", headers=HTML).status_code == 200
    csrf = page_csrf(client, "/governance/quality/rules")
    answer = _add_rule(
        client, csrf, name="x", kind="completeness", message_type="test_record", path="standard"
    )
    assert answer.status_code == 403
    assert (
        client.post("/governance/quality/runs", data={"csrf_token": csrf}, headers=HTML).status_code
        == 403
    )


def test_a_late_upload_and_an_inconsistent_record_fail_their_rules():
    from jcjg.governance.quality import Compiled, evaluate

    tz = dt.timezone(dt.timedelta(hours=8))
    received = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    late = Compiled(1, "及时", "timeliness", (), "ended_at", {"hours": 24})
    order = Compiled(2, "先后", "consistency", (), "started_at", {"other": "ended_at", "op": "le"})
    fine = {"started_at": "2026-11-20T08:00:00+08:00", "ended_at": "2026-11-20T09:00:00+08:00"}
    assert evaluate([late, order], fine, received, tz)[:2] == (2, 0)
    stale = {"started_at": "2026-11-18T10:00:00+08:00", "ended_at": "2026-11-18T09:00:00+08:00"}
    total, failed, failures = evaluate([late, order], stale, received, tz)
    assert (total, failed) == (2, 2)
    assert {f["field"] for f in failures} == {"ended_at", "started_at"}
    # a date (no time) counts to the end of its day in the platform's zone
    dated = Compiled(3, "报告", "timeliness", (), "issued_on", {"hours": 72})
    assert evaluate([dated], {"issued_on": "2026-11-18"}, received, tz)[1] == 0
    assert evaluate([dated], {"issued_on": "2026-11-16"}, received, tz)[1] == 1
    # a missing optional record counts as empty for completeness, an empty list too
    whole = Compiled(4, "环境", "completeness", ("environment",), "temperature_c", {})
    assert evaluate([whole], {}, received, tz)[1] == 1
    assert evaluate([whole], {"environment": {"temperature_c": 20}}, received, tz)[1] == 0
    listed = Compiled(5, "设备", "completeness", (), "equipment[]", {})
    assert evaluate([listed], {"equipment": []}, received, tz)[1] == 1


def test_a_value_no_rule_can_compare_fails_its_rule_and_stops_nothing():
    from jcjg.governance.quality import Compiled, evaluate

    tz = dt.timezone(dt.timedelta(hours=8))
    received = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    order = Compiled(1, "先后", "consistency", (), "a", {"other": "b", "op": "le"})
    for bad in ("NaN", "sNaN", "Infinity", "-Infinity"):
        total, failed, failures = evaluate([order], {"a": bad, "b": "1"}, received, tz)
        assert (total, failed) == (1, 1), bad  # compared as text with a number: fails
        assert failures[0]["field"] == "a"
    ranged = Compiled(2, "范围", "value_domain", (), "a", {"minimum": 0, "maximum": 10})
    assert evaluate([ranged], {"a": "NaN"}, received, tz)[1] == 1


def test_pages_mask_personal_fields_only():
    """The check and conversion pages mask a person's identity number, phone or e-mail, not an
    instrument's or a room's name."""
    from jcjg.governance.forms import shown

    assert shown("equipment.0.name", "万能试验机") == "万能试验机"
    assert shown("labs.0.lab_name", "力学室") == "力学室"
    assert shown("people.1.mobile", "13912345678") == "139****5678"
    for field in ("people.0.id_number", "revised_by_id_number"):
        masked = shown(field, "360102199001011234")
        assert masked != "360102199001011234"
        assert masked.startswith("3601"), masked
        assert masked.endswith("34"), masked
