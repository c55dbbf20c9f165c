"""unfiled_out_of_province (004 一): an institution registered in another province works on a
project here (a commission, an on-site record, a record without a commission) with no filing in
force covering the project's region on the day of the work. One alert per institution and
project; a filing covering the work closes it, one elsewhere or expired does not."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.core.db import utcnow
from jcjg.core.workdays import beijing_date
from jcjg.registry.models import InstitutionFiling
from jcjg.sampling.models import Commission
from jcjg.testing.models import OnSiteRecord, TestRecord

RULE = "unfiled_out_of_province"


def _commission(db, inst, project, number: str, day: dt.date) -> Commission:
    row = Commission(
        institution_id=inst.id, region_code=project.region_code, project_id=project.id,
        number=number, year=day.year, seq=int(number[-3:]), commissioned_on=day,
        client_unit=project.owner_unit or "建设单位", items=["0101"],
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


def _filing(db, inst, region: str, start: dt.date, end: dt.date, status: str = "filed"):
    db.add(
        InstitutionFiling(
            institution_id=inst.id, region_code=inst.region_code, filing_number=f"B{region}{start}",
            filed_region_code=region, valid_from=start, valid_until=end, status=status,
        )
    )  # fmt: skip
    db.flush()


def _open(db) -> list[Alert]:
    return list(db.scalars(select(Alert).where(Alert.rule_id == RULE, Alert.status == "open")))


def test_a_commission_from_another_province_without_a_filing_fires(db, factory):
    hubei = factory.institution(region_code="420102", name="武汉某检测有限公司")
    local = factory.institution(region_code="360403", name="九江本地检测有限公司")
    project = factory.project(region_code="360402")
    today = beijing_date(utcnow())
    _commission(db, hubei, project, "WH-WT-001", today - dt.timedelta(days=3))
    _commission(db, hubei, project, "WH-WT-002", today)
    _commission(db, local, project, "JJ-WT-001", today)  # local work: never a finding
    run_rule(db, RULE)
    [alert] = _open(db)
    assert alert.institution_id == hubei.id
    assert alert.region_code == "360402"  # the authority where the work is sees it
    assert alert.project_id == project.id
    assert alert.subject_type == "commission"
    assert alert.facts["件数"] == 2
    assert alert.facts["项目所在地"] == "江西省九江市濂溪区"
    assert alert.facts["机构注册地"] == "湖北省武汉市江岸区"
    assert alert.facts["该机构的有效备案"] == ["无"]
    assert alert.facts["最早"] == (today - dt.timedelta(days=3)).isoformat()


def test_a_filing_covering_the_work_closes_it_and_one_elsewhere_does_not(db, factory):
    hubei = factory.institution(region_code="420102", name="武汉某检测有限公司")
    project = factory.project(region_code="360402")
    today = beijing_date(utcnow())
    _commission(db, hubei, project, "WH-WT-001", today)
    _filing(db, hubei, "360100", today - dt.timedelta(days=30), today + dt.timedelta(days=30))
    _filing(db, hubei, "360400", today - dt.timedelta(days=90), today - dt.timedelta(days=1))
    _filing(
        db, hubei, "360402", today - dt.timedelta(days=9), today + dt.timedelta(days=9), "withdrawn"
    )
    run_rule(db, RULE)
    [alert] = _open(db)  # Nanchang's filing, an expired one and a withdrawn one cover nothing
    [valid] = alert.facts["该机构的有效备案"]  # in force today: Nanchang's, not the expired one
    assert valid.startswith("江西省南昌市 B360100")
    [expired] = alert.facts["该机构已过期或未生效的备案"]
    assert expired.startswith("江西省九江市 B360400")
    _filing(db, hubei, "360000", today - dt.timedelta(days=1), today + dt.timedelta(days=300))
    run_rule(db, RULE, institution_ids=[hubei.id])  # the province's filing covers its counties
    assert _open(db) == []


def test_work_before_the_filing_began_stays_a_finding(db, factory):
    hubei = factory.institution(region_code="420102", name="武汉某检测有限公司")
    project = factory.project(region_code="360402")
    today = beijing_date(utcnow())
    _commission(db, hubei, project, "WH-WT-001", today - dt.timedelta(days=20))
    _commission(db, hubei, project, "WH-WT-002", today)
    _filing(db, hubei, "360400", today - dt.timedelta(days=5), today + dt.timedelta(days=300))
    run_rule(db, RULE)
    [alert] = _open(db)
    assert alert.facts["件数"] == 1
    assert alert.subject_number == "WH-WT-001"


def test_onsite_and_uncommissioned_records_count_as_work(db, factory):
    hubei = factory.institution(region_code="420102", name="武汉某检测有限公司")
    project = factory.project(region_code="360402")
    now = utcnow()
    db.add(
        OnSiteRecord(
            institution_id=hubei.id, region_code=hubei.region_code, project_id=project.id,
            number="WH-XC-001", item_code="0203", started_at=now - dt.timedelta(hours=3),
            ended_at=now - dt.timedelta(hours=1),
        )
    )  # fmt: skip
    db.add(
        TestRecord(
            institution_id=hubei.id, region_code=hubei.region_code, project_id=project.id,
            number="WH-JL-001", kind="manual", item_code="0101", started_at=now,
            ended_at=now, acquisition="manual",
        )
    )  # fmt: skip
    db.flush()
    run_rule(db, RULE)
    [alert] = _open(db)
    assert alert.facts["件数"] == 2
    assert {s.split("（")[0] for s in alert.facts["未备案期间的合同、委托和记录"]} == {
        "现场检测记录 WH-XC-001",
        "原始记录 WH-JL-001",
    }


def test_a_neighbouring_province_project_of_a_local_lab_fires_there(db, factory):
    """The same rule seen from the other side: a Jiujiang lab testing a project across the river
    in Hubei without filing there; Hubei's county sees the alert."""
    lab = factory.institution(region_code="360403", name="九江某检测有限公司")
    project = factory.project(region_code="421127")
    _commission(db, lab, project, "JJ-WT-009", beijing_date(utcnow()))
    run_rule(db, RULE, institution_ids=[lab.id])
    [alert] = _open(db)
    assert alert.region_code == "421127"
    assert alert.facts["项目所在地"] == "湖北省黄冈市黄梅县"


def test_a_contract_signed_for_a_project_in_another_province_counts(db, factory):
    from jcjg.contracts.models import Contract

    hubei = factory.institution(region_code="420102", name="武汉某检测有限公司")
    project = factory.project(region_code="360402")
    today = beijing_date(utcnow())
    db.add(
        Contract(
            institution_id=hubei.id, region_code=project.region_code, project_id=project.id,
            number="WH-HT-001", year=today.year, sequence=1, client_unit="九江某建设单位",
            signed_on=today, pdf_sha256="0" * 64,
        )
    )  # fmt: skip
    db.flush()
    run_rule(db, RULE, institution_ids=[hubei.id])
    [alert] = _open(db)
    assert alert.subject_type == "contract"
    assert alert.subject_number == "WH-HT-001"


def test_the_labs_home_region_finds_its_alert_on_a_project_elsewhere(client, db, factory):
    """A Jiujiang lab unfiled on a project in Hubei: the alert's region is the project's, and
    Jiujiang's authority finds it in its list filtered by its own region (page and API), as
    well as Huangmei's region's filter does."""
    from jcjg.auth.choices import Role

    lab = factory.institution(region_code="360403", name="九江某检测有限公司")
    project = factory.project(region_code="421127")
    _commission(db, lab, project, "JJ-WT-001", beijing_date(utcnow()))
    run_rule(db, RULE)
    [alert] = _open(db)
    assert alert.region_code == "421127"
    province = factory.user(Role.PROVINCIAL_AUTHORITY, region_code="360000")
    headers = {"Authorization": f"Bearer {factory.token(province)}"}
    for region, found in (("360400", [alert.id]), ("421127", [alert.id]), ("360100", [])):
        answer = client.get(f"/api/v1/alerts?region_code={region}&rule_id={RULE}", headers=headers)
        assert answer.status_code == 200, answer.text
        assert [a["id"] for a in answer.json()["items"]] == found
    from tests.factories import login

    city = factory.user(Role.CITY_AUTHORITY, region_code="360400")
    login(client, city.username)
    page = client.get("/alerts?region_code=360400", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "JJ-WT-001" in page.text
    assert "不在当前账号的数据范围内" not in page.text
