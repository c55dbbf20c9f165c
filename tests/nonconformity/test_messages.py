"""The ``nonconformity`` message (003 III(6)): a lab reports a nonconforming result itself.

With its record already on the register the report is attached to that entry and nobody is
told twice; with its record on the platform but not on the register, or without a record on
the platform at all, a new entry is made and its parties are told. Every refusal answers
problem+json and writes nothing: no entry, no message, no ledger leaf, no notification, no
audit row.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.audit.models import AuditLog
from jcjg.auth.choices import Role
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.exchange import clients
from jcjg.exchange.choices import ClientKind, ClientStatus
from jcjg.exchange.models import Message
from jcjg.exchange.types import message_types
from jcjg.ledger.models import LedgerLeaf
from jcjg.nonconformity.models import Nonconformity
from jcjg.notify.models import Notification
from jcjg.sampling.models import Sample
from jcjg.testing.models import TestRecord
from tests.exchange.conftest import Lims, make_lims
from tests.factories import Factory, login
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}
LOW = (400.0, 402.0, 398.0)  # C30 cubes far below 30 MPa
GOOD = (800.0, 810.0, 795.0)


@pytest.fixture
def lab(db: Session, settings: Settings, factory: Factory) -> Lims:
    return make_lims(db, settings, factory)


def contracted(db: Session, lab: Lims, project: Any) -> Any:
    """The lab's contract for ``project``: it tests for the project, so it may report on it."""
    from jcjg.contracts.models import Contract

    inst = lab.institution
    db.add(Contract(institution_id=inst.id, region_code=inst.region_code, project_id=project.id,
                    number=f"HT-{project.id}", year=2026, sequence=project.id,
                    client_unit="建设单位", signed_on=utcnow().date(),
                    pdf_sha256="0" * 64))  # fmt: skip
    db.flush()
    return project


@pytest.fixture
def site(db: Session, factory: Factory, lab: Lims) -> dict[str, Any]:
    project = contracted(db, lab, factory.project(region_code=lab.institution.region_code,
                                                  name="滨江花园二期"))  # fmt: skip
    owner = factory.user(Role.PARTY_UNIT, project_ids=(project.id,), email="owner@build.example")
    station = factory.user(Role.STATION, region_code=lab.institution.region_code[:4] + "00",
                           email="station@jj.example")  # fmt: skip
    db.commit()
    return {"project": project, "owner": owner, "station": station}


def counts(db: Session) -> tuple[int, ...]:
    """What a message's writes change: a rejected one is kept (as received) but writes none."""
    db.expire_all()
    applied = select(func.count()).select_from(Message).where(Message.status == "applied")
    return (
        db.scalar(select(func.count()).select_from(Nonconformity)) or 0,
        db.scalar(applied) or 0,
        *(
            db.scalar(select(func.count()).select_from(model)) or 0
            for model in (LedgerLeaf, Notification, AuditLog)
        ),
    )


def problem(response: Any, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == f"/problems/{slug}", body
    assert body["title"]
    assert body["detail"]
    return body


def fields_of(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body["errors"]}


def ago(minutes: float) -> str:
    return (utcnow() - dt.timedelta(minutes=minutes)).isoformat()


def upload(client: TestClient, lab: Lims, site: dict[str, Any], number: str, *,
           peaks: tuple[float, ...] = LOW, judgement: str = "nonconforming") -> None:  # fmt: skip
    record, _ = concrete_record(lab, number=number, peaks=peaks, judgement=judgement)
    record["project_code"] = site["project"].code
    response = lab.post(client, "test_record", record)
    assert response.status_code == 200, response.text


def on_record(lab: Lims, number: str, **fields: Any) -> dict[str, Any]:
    """A report naming a record the platform holds."""
    defaults = {
        "structure_part": "3 层 ⑤～⑨ 轴梁板",
        "requirement": "强度代表值 ≥ 30.0 MPa（GB/T 50107-2010）",
        "conclusion": "所检混凝土试块抗压强度不符合 C30 设计要求",
        "judged_at": ago(10),
        "informed_client_at": ago(5),
        "notes": "电话告知建设单位项目负责人张工，并发送书面通知单 TZ-2026-031",
    }
    return lab.message(record_number=number, **(defaults | fields))


def without_record(lab: Lims, project_code: str, number: str = "XCJL-2026-0102",
                   **fields: Any) -> dict[str, Any]:  # fmt: skip
    """A report of a result the platform holds no record of (an on-site test)."""
    return on_record(
        lab,
        number,
        **{
            "project_code": project_code,
            "item_code": "0203",
            "material": "混凝土结构构件",
            "grade": "C30",
            "values": {"推定强度_MPa": 26.4, "测区数": 10},
            **fields,
        },
    )


def told(db: Session) -> int:
    return db.scalar(
        select(func.count()).select_from(Notification).where(Notification.kind == "nonconformity")
    ) or 0  # fmt: skip


def accepted(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    receipt = response.json()
    assert receipt["status"] == "accepted"
    assert receipt["entry"]["message_type"] == "nonconformity"
    return receipt


# --- accepted ---------------------------------------------------------------------------------


def test_a_record_already_registered_gets_the_report_and_nobody_is_told_twice(
    client: TestClient, db: Session, lab: Lims, site: dict[str, Any]
) -> None:
    upload(client, lab, site, "JL-NC-1")
    item = db.scalars(select(Nonconformity)).one()
    register_leaf = item.ledger_index
    assert told(db) == 2
    payload = on_record(lab, "JL-NC-1", project_code=site["project"].code, item_code="0108",
                        grade="C30")  # fmt: skip
    receipt = accepted(lab.post(client, "nonconformity", payload))
    results = receipt["results"]
    assert results["nonconformity_id"] == item.id
    assert results["outcome"] == "attached"
    assert results["found_by"] == "both"
    assert results["notified"] == 0
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Nonconformity)) == 1
    assert told(db) == 2  # nobody told twice
    assert item.reported_number == "JL-NC-1"
    assert item.source == "record"
    assert item.conclusion == payload["conclusion"]
    assert item.reported_note.startswith("电话告知")
    assert item.informed_client_at == dt.datetime.fromisoformat(payload["informed_client_at"])
    assert item.structure_part == "3 层 ⑤～⑨ 轴梁板"
    assert item.requirement.startswith("强度代表值")
    assert item.ledger_index == register_leaf
    leaf = db.get(LedgerLeaf, results["ledger_index"])
    assert leaf.entry_type == "nonconformity:report"
    assert bytes.fromhex(receipt["leaf_hash"]) != leaf.leaf_hash  # the message's own leaf besides
    audit = db.scalars(select(AuditLog).where(AuditLog.object_type == "nonconformity")).one()
    assert (audit.action, audit.object_id) == ("update", str(item.id))
    assert audit.institution_id == lab.institution.id


def test_a_result_the_platform_found_is_confirmed_by_the_lab(
    client: TestClient, db: Session, lab: Lims, site: dict[str, Any]
) -> None:
    upload(client, lab, site, "JL-NC-P", judgement="conforming")  # recomputed nonconforming
    item = db.scalars(select(Nonconformity)).one()
    assert item.found_by == "platform"
    receipt = accepted(lab.post(client, "nonconformity", on_record(lab, "JL-NC-P")))
    assert receipt["results"]["found_by"] == "both"
    db.expire_all()
    assert item.found_by == "both"
    record = db.scalars(select(TestRecord).where(TestRecord.number == "JL-NC-P")).one()
    assert record.nonconforming_by == "both"
    assert told(db) == 2


def test_a_record_not_on_the_register_is_entered_and_told(
    client: TestClient, db: Session, lab: Lims, site: dict[str, Any]
) -> None:
    upload(client, lab, site, "JL-OK-1", peaks=GOOD, judgement="none")
    assert db.scalar(select(func.count()).select_from(Nonconformity)) == 0
    receipt = accepted(lab.post(client, "nonconformity", on_record(lab, "JL-OK-1")))
    results = receipt["results"]
    assert (results["outcome"], results["found_by"], results["notified"]) == (
        "registered",
        "lab",
        2,
    )
    db.expire_all()
    item = db.get(Nonconformity, results["nonconformity_id"])
    record = db.scalars(select(TestRecord).where(TestRecord.number == "JL-OK-1")).one()
    assert (item.test_record_id, item.source, item.found_by) == (record.id, "record", "lab")
    assert item.project_id == site["project"].id
    assert record.nonconforming_by == "lab"
    changed = db.scalars(select(AuditLog).where(AuditLog.object_type == "test_record")).one()
    assert (changed.object_id, changed.before, changed.after) == (
        str(record.id), {"nonconforming_by": ""}, {"nonconforming_by": "lab"})  # fmt: skip
    assert db.get(LedgerLeaf, item.ledger_index).entry_type == "nonconformity:register"
    assert results["ledger_index"] == item.ledger_index
    assert told(db) == 2
    addressed = set(db.scalars(select(Notification.user_id)))
    assert addressed == {site["owner"].id, site["station"].id}


def test_a_result_without_a_record_is_entered_shown_watched_and_linked_later(
    client: TestClient,
    browser_client: TestClient,
    db: Session,
    factory: Factory,
    lab: Lims,
    site: dict[str, Any],
) -> None:
    payload = without_record(lab, site["project"].code, "JL-NC-LATER", sample_codes=["NO-SUCH-1"])
    receipt = accepted(lab.post(client, "nonconformity", payload))
    results = receipt["results"]
    assert (results["outcome"], results["record_id"], results["notified"]) == (
        "registered", None, 2)  # fmt: skip
    assert [w["code"] for w in receipt["warnings"]] == ["unknown_sample"]
    db.expire_all()
    item = db.get(Nonconformity, results["nonconformity_id"])
    assert (item.source, item.found_by, item.test_record_id) == ("reported", "lab", None)
    assert (item.material, item.item_code, item.grade) == ("混凝土结构构件", "0203", "C30")
    assert item.values["lab"] == {"推定强度_MPa": 26.4, "测区数": 10}
    assert item.values["sample_codes"] == ["NO-SUCH-1"]
    assert item.project_id == site["project"].id
    assert item.region_code == lab.institution.region_code
    assert db.get(LedgerLeaf, item.ledger_index).entry_type == "nonconformity:register"
    assert told(db) == 2
    audit = db.scalars(select(AuditLog).where(AuditLog.object_type == "nonconformity")).one()
    assert (audit.action, audit.object_id) == ("create", str(item.id))
    # the pages say it was the lab's report, with its number, note and when the client was told
    login(browser_client, site["station"].username)
    page = browser_client.get(f"/nonconformities/{item.id}", headers=HTML)
    assert page.status_code == 200
    found_by = page.text.split('data-testid="nc-found-by">', 1)[1].split("<", 1)[0]
    assert found_by == "机构报告"
    assert "JL-NC-LATER" in page.text.split('data-testid="nc-record"', 1)[1].split("</dd>", 1)[0]
    informed = page.text.split('data-testid="nc-informed"', 1)[1].split("</dd>", 1)[0]
    assert "电话告知建设单位项目负责人张工" in informed
    assert "推定强度_MPa 26.4" in page.text
    listed = browser_client.get("/nonconformities", headers=HTML)
    assert listed.status_code == 200
    row = listed.text.split(f'href="/nonconformities/{item.id}"', 1)[1].split("</tr>", 1)[0]
    assert "JL-NC-LATER" in row
    assert "平台暂无" in row
    assert "机构报告" in row
    # nonconformity_unhandled watches it like any other
    later = dt.datetime.combine(item.deadline + dt.timedelta(days=1), dt.time(4), tzinfo=dt.UTC)
    run_rule(db, "nonconformity_unhandled", now=later)
    alert = db.scalars(select(Alert).where(Alert.rule_id == "nonconformity_unhandled")).one()
    assert alert.subject_id == str(item.id)
    # the record uploaded later under that number is linked: no second entry, nobody told again
    upload(client, lab, site, "JL-NC-LATER")
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Nonconformity)) == 1
    record = db.scalars(select(TestRecord).where(TestRecord.number == "JL-NC-LATER")).one()
    assert (item.test_record_id, item.found_by, item.source) == (record.id, "both", "reported")
    assert told(db) == 2
    types = set(db.scalars(select(LedgerLeaf.entry_type).where(
        LedgerLeaf.entry_type.like("nonconformity:%"))))  # fmt: skip
    assert types == {"nonconformity:register", "nonconformity:link"}
    mine = (AuditLog.object_type == "nonconformity") & (AuditLog.object_id == str(item.id))
    audited = db.scalars(select(AuditLog.detail).where(mine))
    assert any("JL-NC-LATER 已上传并关联" in d for d in audited)


def test_samples_on_the_platform_give_the_part_and_must_be_the_projects(
    client: TestClient, db: Session, factory: Factory, lab: Lims, site: dict[str, Any]
) -> None:
    other = factory.project(region_code=lab.institution.region_code)
    sampler = factory.user(Role.SAMPLER)
    for code, project, part in (("360403260000001A", site["project"], "2 层柱"),
                                ("360403260000002B", other, "基础")):  # fmt: skip
        db.add(Sample(sample_code=code, project_id=project.id, region_code=project.region_code,
                      material="混凝土", structure_part=part, prepared_at=utcnow(),
                      sampler_user_id=sampler.id, photo_sample_sha256="0" * 64,
                      photo_tag_sha256="0" * 64, photo_person_sha256="0" * 64,
                      sample_phash="0" * 16))  # fmt: skip
    db.commit()
    before = counts(db)
    theirs = without_record(lab, site["project"].code, sample_codes=["360403260000002B"])
    body = problem(lab.post(client, "nonconformity", theirs), 422, "validation")
    assert fields_of(body) == {"sample_codes"}
    assert counts(db) == before
    mine = without_record(lab, site["project"].code, sample_codes=["360403260000001A"],
                          structure_part="")  # fmt: skip
    results = accepted(lab.post(client, "nonconformity", mine))["results"]
    assert db.get(Nonconformity, results["nonconformity_id"]).structure_part == "2 层柱"


def test_a_lab_may_report_a_project_of_another_region(
    client: TestClient, db: Session, factory: Factory, lab: Lims
) -> None:
    """A lab works wherever it is commissioned; the project's own station hears of it. A
    project it has no contract, commission or record for is not its to report on."""
    away = factory.project(region_code="360102")
    db.commit()
    before = counts(db)
    body = problem(lab.post(client, "nonconformity", without_record(lab, away.code)), 422,
                   "validation")  # fmt: skip
    assert fields_of(body) == {"project_code"}
    assert "没有检测合同、委托或检测记录" in json.dumps(body, ensure_ascii=False)
    assert counts(db) == before
    contracted(db, lab, away)
    station = factory.user(Role.STATION, region_code="360100")
    db.commit()
    payload = without_record(lab, away.code, informed_client_at=None)
    receipt = accepted(lab.post(client, "nonconformity", payload))
    assert receipt["results"]["notified"] == 1
    assert db.scalars(select(Notification.user_id)).one() == station.id
    # not yet told the client: accepted, and the receipt says what 003 III(6) asks
    assert [w["code"] for w in receipt["warnings"]] == ["client_not_informed"]


# --- duplicates -------------------------------------------------------------------------------


def test_the_same_message_again_is_a_duplicate_and_changes_nothing(
    client: TestClient, db: Session, lab: Lims, site: dict[str, Any]
) -> None:
    payload = without_record(lab, site["project"].code)
    first = accepted(lab.post(client, "nonconformity", payload))
    before = counts(db)
    again = lab.post(client, "nonconformity", payload)
    assert again.status_code == 200, again.text
    assert again.json() == {**first, "status": "duplicate"}
    assert counts(db) == before
    changed = {**payload, "notes": "另行告知"}
    problem(lab.post(client, "nonconformity", changed), 409, "exchange-message-conflict")
    assert counts(db) == before
    # the same result under a new message id: reported once
    resent = {**payload, "message_id": lab.message()["message_id"]}
    body = problem(lab.post(client, "nonconformity", resent), 422, "validation")
    assert fields_of(body) == {"record_number"}
    assert "已报告" in body["errors"][0]["message"]
    assert counts(db) == before


# --- refused ----------------------------------------------------------------------------------


def test_malformed_json_is_400(client: TestClient, db: Session, lab: Lims) -> None:
    before = counts(db)
    path = "/exchange/v1/messages/nonconformity"
    body = b'{"record_number": "JL-1",'
    response = client.post(path, content=body, headers=lab.headers("POST", path, body))
    problem(response, 400, "exchange-invalid-json")
    assert counts(db) == before


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"values": [26.4]}, {"values"}),
        ({"judged_at": "昨天下午"}, {"judged_at"}),
        ({"informed_client_at": [2026, 11, 26]}, {"informed_client_at"}),
        ({"judged_at": "2026-11-26T16:30:00"}, {"judged_at"}),  # no offset
        ({"sample_codes": "360403260000001A"}, {"sample_codes"}),
        ({"item_code": "02-03"}, {"item_code"}),
        ({"record_number": ""}, {"record_number"}),
        ({"conclusion": None}, {"conclusion"}),
        ({"judgement": "nonconforming"}, {"judgement"}),  # no such field
        ({"record_number": "J" * 65}, {"record_number"}),
        ({"conclusion": "不" * 501}, {"conclusion"}),
        ({"notes": "x" * 2001}, {"notes"}),
        ({"structure_part": "x" * 101}, {"structure_part"}),
        ({"requirement": "x" * 201}, {"requirement"}),
        ({"material": "x" * 41}, {"material"}),
        ({"sample_codes": ["x" * 21]}, {"sample_codes.0"}),
        ({"values": {f"v{n}": n for n in range(41)}}, {"values"}),
    ],
)
def test_wrong_types_and_too_long_fields_are_422(
    client: TestClient,
    db: Session,
    lab: Lims,
    site: dict[str, Any],
    change: dict[str, Any],
    fields: set[str],
) -> None:
    before = counts(db)
    payload = {**without_record(lab, site["project"].code), **change}
    body = problem(lab.post(client, "nonconformity", payload), 422, "validation")
    assert {f.removeprefix("body.") for f in fields_of(body)} == fields
    assert counts(db) == before


def test_an_unknown_record_without_the_result_is_422(
    client: TestClient, db: Session, lab: Lims
) -> None:
    before = counts(db)
    body = problem(lab.post(client, "nonconformity", on_record(lab, "JL-NONE")), 422, "validation")
    assert fields_of(body) == {"record_number", "project_code", "item_code", "values"}
    assert "本机构没有这个原始记录编号" in body["errors"][0]["message"]
    assert counts(db) == before


def test_another_institutions_record_is_not_found(
    client: TestClient,
    db: Session,
    settings: Settings,
    factory: Factory,
    lab: Lims,
    site: dict[str, Any],
) -> None:
    upload(client, lab, site, "JL-THEIRS")
    other = make_lims(db, settings, factory)
    before = counts(db)
    body = problem(
        other.post(client, "nonconformity", on_record(other, "JL-THEIRS")), 422, "validation"
    )
    assert "record_number" in fields_of(body)
    assert counts(db) == before
    # nor may a lab report in another institution's name
    payload = {**on_record(lab, "JL-THEIRS"), "institution_code": other.institution.code}
    problem(lab.post(client, "nonconformity", payload), 403, "exchange-wrong-institution")
    assert counts(db) == before


def test_a_record_is_not_described_again(
    client: TestClient, db: Session, lab: Lims, site: dict[str, Any]
) -> None:
    upload(client, lab, site, "JL-NC-2")
    before = counts(db)
    payload = on_record(lab, "JL-NC-2", values={"strength_mpa": 17.8}, material="混凝土",
                        item_code="0203", grade="C35",
                        project_code=site["project"].code)  # fmt: skip
    body = problem(lab.post(client, "nonconformity", payload), 422, "validation")
    assert fields_of(body) == {"values", "material", "item_code", "grade"}
    assert counts(db) == before


def test_unknown_project_and_bad_times_are_422(
    client: TestClient, db: Session, lab: Lims, site: dict[str, Any]
) -> None:
    before = counts(db)
    unknown = without_record(lab, "XM-NO-SUCH")
    body = problem(lab.post(client, "nonconformity", unknown), 422, "validation")
    assert fields_of(body) == {"project_code"}
    assert body["errors"][0]["message"] == "平台没有这个工程项目编号"
    early = without_record(lab, site["project"].code, judged_at=ago(10), informed_client_at=ago(20))
    body = problem(lab.post(client, "nonconformity", early), 422, "validation")
    assert fields_of(body) == {"informed_client_at"}
    future = (utcnow() + dt.timedelta(hours=1)).isoformat()
    ahead = without_record(lab, site["project"].code, judged_at=future, informed_client_at=None)
    body = problem(lab.post(client, "nonconformity", ahead), 422, "validation")
    assert fields_of(body) == {"judged_at"}
    assert counts(db) == before


def test_a_platform_may_report_only_projects_in_its_region(
    client: TestClient, db: Session, settings: Settings, factory: Factory
) -> None:
    inside = factory.institution(region_code="360403")
    near = factory.project(region_code="360402")
    away = factory.project(region_code="360102")
    peer = clients.create_client(db, name="九江市平台", institution=None, region_code="360400",
                                 kind=ClientKind.PLATFORM, status=ClientStatus.ACTIVE)  # fmt: skip
    issued = clients.issue_key(db, peer, settings, alg="hmac-sha256")
    db.commit()
    from jcjg.client.signing import load_key

    assert issued.secret is not None
    platform = Lims(inside, peer, issued.key.key_id, load_key("hmac-sha256", issued.secret))
    before = counts(db)
    body = problem(
        platform.post(client, "nonconformity", without_record(platform, away.code)),
        403,
        "exchange-wrong-sender",
    )
    assert away.code in body["detail"]
    assert counts(db) == before
    contracted(db, platform, near)
    db.commit()
    accepted(platform.post(client, "nonconformity", without_record(platform, near.code)))
    assert counts(db)[0] == before[0] + 1


# --- published ----------------------------------------------------------------------------------


def test_the_schema_is_listed_and_served(client: TestClient) -> None:
    assert "nonconformity" in message_types()
    listing = client.get("/exchange/v1/schemas").json()
    assert listing["nonconformity"] == "http://testserver/exchange/v1/schemas/nonconformity"
    schema = client.get("/exchange/v1/schemas/nonconformity").json()
    assert schema["title"] == "不合格结果报告"
    assert schema["required"] == ["message_id", "institution_code", "record_number",
                                  "conclusion", "judged_at"]  # fmt: skip
    assert json.loads(json.dumps(schema["examples"][0]))["record_number"] == "XCJL-2026-0102"
