"""Conversion rules (issue 43, 000 7.1.4(3) 数据格式、值域转换): rules as data kept by the
province, run on arrival in the apply step on what is applied (the raw message stays as
signed), each change recorded and listed; bad rules refused in Chinese; on both databases."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from jcjg.auth.choices import Role
from jcjg.exchange.models import Message
from jcjg.governance import conversion
from jcjg.governance.models import ConversionRecord, ConversionRule, QualityCheck
from jcjg.registry.models import Equipment
from tests.exchange.conftest import apply_waiting, make_lims
from tests.factories import login, page_csrf

HTML = {"accept": "text/html"}
LABS = {"labs": [{"name": "力学室", "address": "九江市长虹大道 1 号", "area_m2": "100.00"}]}
pytestmark = pytest.mark.sqlite  # the apply step's conversions and their records, on SQLite too


@pytest.fixture(autouse=True)
def _fresh_memory():
    """Each test reads the rules of its own transaction (none leaks into the next)."""
    conversion.MEMORY.forget()
    yield
    conversion.MEMORY.forget()


def _officer(client, factory) -> str:
    login(client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    return page_csrf(client, "/governance/quality/conversions")


def _add(client, csrf: str, **form: str) -> Any:
    return client.post(
        "/governance/quality/conversions",
        data={"csrf_token": csrf, "enabled": "on", **form},
        headers=HTML,
        follow_redirects=False,
    )


def _item(asset: str, **extra: str) -> dict[str, Any]:
    return {"asset_number": asset, "name": "万能试验机", "status": "in_use",
            "lab_name": "力学室", **extra}  # fmt: skip


def test_the_rewrites_fire_and_leave_what_is_already_standard():
    assert conversion.halfwidth("ＨＴ－２２５Ａ　型") == "HT-225A 型"
    assert conversion.halfwidth("HT-225A") == "HT-225A"
    assert conversion.trim("  回弹仪   HT225 ") == "回弹仪 HT225"
    assert conversion.trim("回弹仪 HT225") == "回弹仪 HT225"
    assert conversion.trim(" 第一行  \n\n\n\n 第二行 ") == "第一行\n\n第二行"
    assert conversion.iso_dates("2026/11/27") == "2026-11-27"
    assert conversion.iso_dates("成型 2026年1月5日 养护") == "成型 2026-01-05 养护"
    assert conversion.iso_dates("2026.11.27") == "2026-11-27"
    assert conversion.iso_dates("2026-11-27") == "2026-11-27"
    assert conversion.iso_dates("2026/02/30") == "2026/02/30"  # no such day: as written
    assert conversion.iso_dates("编号 12026/11/27") == "编号 12026/11/27"  # not a date
    rule = ConversionRule(id=1, name="单位", kind="unit", message_type="x", path="a", params={})
    unit = conversion.rewriter(rule)
    assert unit("0～2000KN，≥30Mpa，N/mm2") == "0～2000kN，≥30MPa，MPa"
    assert unit("0-2000kN") == "0-2000kN"
    assert unit("KNOT") == "KNOT"  # not inside a word
    own = ConversionRule(id=2, name="单位", kind="unit", message_type="x", path="a",
                         params={"units": {"公斤": "kg"}})  # fmt: skip
    assert conversion.rewriter(own)("50公斤，20Mpa") == "50kg，20Mpa"
    mapped = ConversionRule(id=3, name="结论", kind="code_map", message_type="x", path="a",
                            params={"map": {"合格": "conforming", "1": "conforming"}})  # fmt: skip
    codes = conversion.rewriter(mapped)
    assert (codes("合格"), codes(" 合格 "), codes("１"), codes("不合格")) == (
        "conforming", "conforming", "conforming", "不合格",
    )  # fmt: skip
    # the path's records, lists and keys of a structured field
    data = {"equipment": [{"model": "ＨＴ２２５"}, {"model": "HT225"}, {}],
            "items": ["  a ", "b"], "results": {"成型日期": "2026/11/2"}}  # fmt: skip
    rules = [
        conversion.Converter(
            1, "半角", "halfwidth", ("equipment[]",), "model", conversion.halfwidth
        ),
        conversion.Converter(2, "空白", "trim", (), "items[]", conversion.trim),
        conversion.Converter(3, "日期", "date", ("results",), "成型日期", conversion.iso_dates),
    ]
    changes = conversion.convert(rules, data)
    assert [(c["field"], c["before"], c["after"]) for c in changes] == [
        ("equipment.0.model", "ＨＴ２２５", "HT225"),
        ("items.0", "  a ", "a"),
        ("results.成型日期", "2026/11/2", "2026-11-02"),
    ]
    assert data["equipment"][0]["model"] == "HT225"
    assert data["results"]["成型日期"] == "2026-11-02"
    assert conversion.convert(rules, data) == []  # converted once: nothing more to do


def test_no_rule_costs_the_batch_nothing(db):
    assert db.scalar(select(func.count()).select_from(ConversionRule)) == 0
    assert conversion.conversions(db, {"registry.equipment", "test_record"}) == {}


def test_conversions_act_on_what_is_applied_and_are_listed(client, db, settings, factory):  # noqa: PLR0915
    csrf = _officer(client, factory)
    made = [
        _add(client, csrf, name="设备型号全角转半角", kind="halfwidth",
             message_type="registry.equipment", path="equipment[].model", clause="000 7.1.4"),
        _add(client, csrf, name="准确度等级统一写法", kind="code_map",
             message_type="registry.equipment", path="equipment[].accuracy",
             map="一级=1级\nⅠ级=1级\n0.5=0.5级"),
        _add(client, csrf, name="测量范围单位规范", kind="unit",
             message_type="registry.equipment", path="equipment[].measuring_range"),
        _add(client, csrf, name="检定机构去除空白", kind="trim",
             message_type="registry.equipment", path="equipment[].calibration_body"),
    ]  # fmt: skip
    assert [m.status_code for m in made] == [303] * 4, [m.text[:300] for m in made]
    # a quality rule on the standard codes: judged on the converted values
    assert client.post(
        "/governance/quality/rules",
        data={"csrf_token": csrf, "enabled": "on", "name": "准确度等级代码", "kind": "value_domain",
              "message_type": "registry.equipment", "path": "equipment[].accuracy",
              "codes": "1级,0.5级"},
        headers=HTML, follow_redirects=False,
    ).status_code == 303  # fmt: skip
    client.cookies.clear()
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    other = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    assert lims.post(client, "registry.labs", lims.message(**LABS)).status_code == 200
    assert other.post(client, "registry.labs", other.message(**LABS)).status_code == 200
    sent = lims.message(equipment=[
        _item("SB-001", model="ＨＴ－２２５Ａ", accuracy="一级", measuring_range="0～2000KN",
              calibration_body="  江西省计量院  "),
        _item("SB-002", model="WAW-1000", accuracy="1级", measuring_range="0-1000kN"),
    ])  # fmt: skip
    assert lims.post_raw(client, "registry.equipment", sent).status_code == 202
    clean = other.message(equipment=[_item("SB-009", model="HT225", accuracy="1级")])
    assert other.post_raw(client, "registry.equipment", clean).status_code == 202
    apply_waiting(client)
    db.expire_all()
    machine = db.scalar(
        select(Equipment).where(
            Equipment.institution_id == lims.institution.id, Equipment.asset_number == "SB-001"
        )
    )
    assert (machine.model, machine.accuracy, machine.measuring_range) == (
        "HT-225A", "1级", "0～2000kN",
    )  # fmt: skip
    assert machine.calibration_body == "江西省计量院"
    # the raw message is kept as it was signed
    raw = db.scalar(select(Message).where(Message.message_id == sent["message_id"]))
    assert json.loads(raw.body)["equipment"][0]["model"] == "ＨＴ－２２５Ａ"
    records = db.scalars(
        select(ConversionRecord).where(ConversionRecord.message_row_id == raw.id)
        .order_by(ConversionRecord.id)
    ).all()  # fmt: skip
    assert [(r.rule_name, r.field, r.before, r.after) for r in records] == [
        ("设备型号全角转半角", "equipment.0.model", "ＨＴ－２２５Ａ", "HT-225A"),
        ("准确度等级统一写法", "equipment.0.accuracy", "一级", "1级"),
        ("测量范围单位规范", "equipment.0.measuring_range", "0～2000KN", "0～2000kN"),
        ("检定机构去除空白", "equipment.0.calibration_body", "  江西省计量院  ", "江西省计量院"),
    ]
    assert records[0].institution_id == lims.institution.id
    # nothing to convert in the other lab's: nothing recorded
    assert db.scalar(select(func.count()).select_from(ConversionRecord).where(
        ConversionRecord.institution_id == other.institution.id)) == 0  # fmt: skip
    # quality judged what was applied: "一级" became a standard code, so the rule passes
    check = db.scalar(select(QualityCheck).where(QualityCheck.message_row_id == raw.id))
    assert (check.total, check.failed) == (1, 0)
    # ... and an offline run, reading the raw message again, makes the same conversions first
    from jcjg.governance import quality

    quality.check_rows(db, [raw])
    check = db.scalar(select(QualityCheck).where(QualityCheck.message_row_id == raw.id))
    assert (check.total, check.failed) == (1, 0)

    # the list: filters, count, xlsx; the province sees every lab's, a lab its own
    login(client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    page = client.get("/governance/quality/converted", headers=HTML)
    assert page.status_code == 200
    assert "ＨＴ－２２５Ａ" in page.text
    assert "HT-225A" in page.text
    assert "型号（第 1 项）" in page.text
    assert "equipment.0.model" not in page.text.replace('title="equipment.0.model"', "")
    rule_id = db.scalar(
        select(ConversionRule.id).where(ConversionRule.name == "准确度等级统一写法")
    )
    only = client.get(f"/governance/quality/converted?rule_id={rule_id}", headers=HTML).text
    assert "一级" in only
    assert "ＨＴ－２２５Ａ" not in only
    assert "ＨＴ" not in client.get(
        "/governance/quality/converted?message_type=registry.staff", headers=HTML).text  # fmt: skip
    assert "ＨＴ" not in client.get(
        "/governance/quality/converted?since=2099-01-01", headers=HTML).text  # fmt: skip
    assert "ＨＴ" in client.get(
        f"/governance/quality/converted?q={lims.institution.code}", headers=HTML).text  # fmt: skip
    sheet = client.get("/governance/quality/converted?format=xlsx")
    assert sheet.status_code == 200
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][:4] == ("接收时间", "检测机构", "消息类型", "转换规则")
    assert ("ＨＴ－２２５Ａ", "HT-225A") in {(r[5], r[6]) for r in rows[1:]}
    rules_page = client.get("/governance/quality/conversions", headers=HTML).text
    assert "设备型号全角转半角" in rules_page
    assert "1 处" in rules_page
    assert "一级→1级" in client.get(f"/governance/quality/conversions/{rule_id}", headers=HTML).text
    client.cookies.clear()
    login(client, factory.user(Role.INSTITUTION_ADMIN, institution=other.institution).username)
    assert "ＨＴ" not in client.get("/governance/quality/converted", headers=HTML).text
    client.cookies.clear()
    login(client, factory.user(Role.INSTITUTION_ADMIN, institution=lims.institution).username)
    assert "ＨＴ" in client.get("/governance/quality/converted", headers=HTML).text


def test_a_switched_off_rule_converts_nothing(client, db, settings, factory):
    csrf = _officer(client, factory)
    assert _add(client, csrf, name="型号半角", kind="halfwidth", message_type="registry.equipment",
                path="equipment[].model").status_code == 303  # fmt: skip
    rule = db.scalar(select(ConversionRule).where(ConversionRule.name == "型号半角"))
    off = client.post(
        f"/governance/quality/conversions/{rule.id}",
        data={"csrf_token": csrf, "name": "型号半角", "kind": "halfwidth",
              "message_type": "registry.equipment", "path": "equipment[].model"},
        headers=HTML, follow_redirects=False,
    )  # fmt: skip
    assert off.status_code == 303
    client.cookies.clear()
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    assert lims.post(client, "registry.labs", lims.message(**LABS)).status_code == 200
    answer = lims.post(client, "registry.equipment", lims.message(equipment=[
        _item("SB-001", model="ＨＴ２２５")]))  # fmt: skip
    assert answer.status_code == 200
    db.expire_all()
    assert db.scalar(select(Equipment.model).where(
        Equipment.institution_id == lims.institution.id)) == "ＨＴ２２５"  # fmt: skip
    assert db.scalar(select(func.count()).select_from(ConversionRecord)) == 0


def test_a_conversion_the_message_type_would_refuse_is_not_made(client, db, settings, factory):
    csrf = _officer(client, factory)
    long_unit = "千" * 70  # the model is at most 64 characters
    assert _add(client, csrf, name="过长的单位", kind="unit", message_type="registry.equipment",
                path="equipment[].model", units=f"KN={long_unit}").status_code == 303  # fmt: skip
    client.cookies.clear()
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    assert lims.post(client, "registry.labs", lims.message(**LABS)).status_code == 200
    answer = lims.post(client, "registry.equipment", lims.message(equipment=[
        _item("SB-001", model="2000 KN")]))  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["results"]["created"] == 1
    db.expire_all()
    assert db.scalar(select(Equipment.model).where(
        Equipment.institution_id == lims.institution.id)) == "2000 KN"  # fmt: skip
    assert db.scalar(select(func.count()).select_from(ConversionRecord)) == 0


BAD: list[dict[str, str]] = [
    {"name": "", "kind": "trim", "message_type": "registry.equipment", "path": "equipment[].model"},
    {"name": "x" * 101, "kind": "trim", "message_type": "registry.equipment",
     "path": "equipment[].model"},
    {"name": "x", "kind": "bogus", "message_type": "registry.equipment",
     "path": "equipment[].model"},
    {"name": "x", "kind": "trim", "message_type": "no.such", "path": "equipment[].model"},
    {"name": "x", "kind": "trim", "message_type": "registry.equipment", "path": "nope"},
    # a code list (the request refuses other codes), a pattern, a date, a number
    {"name": "x", "kind": "code_map", "message_type": "registry.equipment",
     "path": "equipment[].status", "map": "在用=in_use"},
    {"name": "x", "kind": "halfwidth", "message_type": "registry.equipment",
     "path": "equipment[].calibration_certificate_sha256"},
    {"name": "x", "kind": "date", "message_type": "registry.equipment",
     "path": "equipment[].calibration_valid_until"},
    {"name": "x", "kind": "trim", "message_type": "test_record", "path": "age_days"},
    # a structured field without its key, a key with a dot
    {"name": "x", "kind": "date", "message_type": "test_record", "path": "results"},
    {"name": "x", "kind": "date", "message_type": "test_record", "path": "results.a[]"},
    {"name": "x", "kind": "date", "message_type": "test_record", "path": "results",
     "key": "a b"},
    {"name": "x", "kind": "trim", "message_type": "test_record", "path": "standard",
     "key": "x"},  # a key of a text field
    {"name": "x", "kind": "trim", "message_type": "registry.equipment",
     "path": "institution_code"},
    # the mapping: missing, a line without "=", an empty side, one value twice, too long
    {"name": "x", "kind": "code_map", "message_type": "registry.equipment",
     "path": "equipment[].accuracy"},
    {"name": "x", "kind": "code_map", "message_type": "registry.equipment",
     "path": "equipment[].accuracy", "map": "一级"},
    {"name": "x", "kind": "code_map", "message_type": "registry.equipment",
     "path": "equipment[].accuracy", "map": "一级="},
    {"name": "x", "kind": "code_map", "message_type": "registry.equipment",
     "path": "equipment[].accuracy", "map": "一级=1级\n一级=2级"},
    {"name": "x", "kind": "code_map", "message_type": "registry.equipment",
     "path": "equipment[].accuracy", "map": "一级=" + "级" * 65},
    {"name": "x", "kind": "unit", "message_type": "registry.equipment",
     "path": "equipment[].measuring_range", "units": "Mpa"},
    {"name": "规\x00则", "kind": "trim", "message_type": "registry.equipment",
     "path": "equipment[].model"},
    {"name": "x", "kind": "trim", "message_type": "registry.equipment",
     "path": "equipment[].model", "clause": "x" * 201},
]  # fmt: skip


def test_bad_rules_are_refused_in_chinese_and_leave_nothing(client, db, factory):
    csrf = _officer(client, factory)
    for form in BAD:
        answer = _add(client, csrf, **form)
        assert answer.status_code == 422, (form, answer.status_code)
        assert "请改正" in answer.text or "不" in answer.text, form
    assert db.scalar(select(func.count()).select_from(ConversionRule)) == 0
    refused = _add(client, csrf, name="x", kind="code_map", message_type="registry.equipment",
                   path="equipment[].status", map="在用=in_use")  # fmt: skip
    assert "无需转换" in refused.text
    assert client.get("/governance/quality/conversions/2147483648", headers=HTML).status_code == 404
    assert client.get("/governance/quality/conversions/99999999999999999999",
                      headers=HTML).status_code in (400, 404, 422)  # fmt: skip
    assert client.get("/governance/quality/converted?since=2026-13-01",
                      headers=HTML).status_code in (400, 422)  # fmt: skip
    assert client.get("/governance/quality/conversions?kind=bogus", headers=HTML).status_code in (
        400, 422,
    )  # fmt: skip
    # a key of a structured field: typed apart on the form
    good = _add(client, csrf, name="成型日期", kind="date", message_type="test_record",
                path="results", key="成型日期")  # fmt: skip
    assert good.status_code == 303
    made = db.scalar(select(ConversionRule).where(ConversionRule.name == "成型日期"))
    assert made.path == "results.成型日期"
    shown = client.get(f"/governance/quality/conversions/{made.id}", headers=HTML).text
    assert 'value="成型日期"' in shown


@pytest.mark.parametrize("role", [Role.INSTITUTION_ADMIN, Role.CITY_AUTHORITY])
def test_only_the_province_keeps_the_conversion_rules(client, factory, role):
    kwargs: dict[str, Any] = (
        {"institution": factory.institution()}
        if role == Role.INSTITUTION_ADMIN
        else {"region_code": "360400"}
    )
    login(client, factory.user(role, **kwargs).username)
    page = client.get("/governance/quality/conversions", headers=HTML)
    assert page.status_code == 200
    assert "新增转换规则" not in page.text
    csrf = page_csrf(client, "/governance/quality/conversions")
    answer = _add(client, csrf, name="x", kind="trim", message_type="registry.equipment",
                  path="equipment[].model")  # fmt: skip
    assert answer.status_code == 403


def test_a_failing_checks_page_shows_the_value_as_applied(client, db, settings, factory):
    csrf = _officer(client, factory)
    assert _add(client, csrf, name="型号半角", kind="halfwidth", message_type="registry.equipment",
                path="equipment[].model").status_code == 303  # fmt: skip
    assert client.post(
        "/governance/quality/rules",
        data={"csrf_token": csrf, "enabled": "on", "name": "型号格式", "kind": "format",
              "message_type": "registry.equipment", "path": "equipment[].model",
              "pattern": "HT-[0-9]+"},
        headers=HTML, follow_redirects=False,
    ).status_code == 303  # fmt: skip
    client.cookies.clear()
    lims = make_lims(db, settings, factory, institution=factory.institution(region_code="360403"))
    assert lims.post(client, "registry.labs", lims.message(**LABS)).status_code == 200
    sent = lims.message(equipment=[_item("SB-001", model="ＨＴ－９Ｘ")])
    assert lims.post(client, "registry.equipment", sent).status_code == 200
    db.expire_all()
    row = db.scalar(select(Message.id).where(Message.message_id == sent["message_id"]))
    check = db.scalar(select(QualityCheck).where(QualityCheck.message_row_id == row))
    assert (check.total, check.failed) == (1, 1)
    login(client, factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000").username)
    page = client.get(
        f"/governance/quality/institutions/{lims.institution.id}/checks/{check.id}", headers=HTML
    ).text
    assert "HT-9X" in page
    assert "ＨＴ－９Ｘ" not in page
