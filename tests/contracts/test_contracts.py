"""Contracts (000 4.3.3): uploaded with their PDF, linked to the project, notarised, written
once; contract_late after 5 working days on the statutory calendar; numbering continuity;
the project page lists contracts, reports and nonconforming results; scope."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import func, select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.contracts.models import Contract
from jcjg.core.workdays import BEIJING, working_days_between
from jcjg.ledger.models import LedgerLeaf
from tests.factories import login
from tests.reports.test_reports import report_message
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}
PDF = b"%PDF-1.7\n% a contract\n%%EOF\n"


def _put(client, lab, content: bytes = PDF) -> str:
    digest = hashlib.sha256(content).hexdigest()
    path = f"/exchange/v1/blobs/{digest}"
    headers = lab.headers("PUT", path, content, content_type="application/pdf")
    assert client.put(path, content=content, headers=headers).status_code in (200, 201)
    return digest


def contract(lab, project, number: str, signed_on: dt.date, digest: str, **extra):
    fields = {
        "number": number, "sequence": int(number[-4:]), "project_code": project.code,
        "client_unit": "九江市濂溪区城市建设投资有限公司", "signed_on": signed_on.isoformat(),
        "items": ["0108"], "amount_yuan": "186000.00", "pdf_sha256": digest,
    }  # fmt: skip
    return lab.message(**(fields | extra))


def _signed(today: dt.date, working_days: int) -> dt.date:
    """The earliest day from which ``today`` is ``working_days`` working days on."""
    day = today
    while working_days_between(day - dt.timedelta(days=1), today) <= working_days:
        day -= dt.timedelta(days=1)
    assert working_days_between(day, today) == working_days
    return day


def _late(db) -> set[str]:
    db.expire_all()
    rows = db.scalars(select(Alert).where(Alert.rule_id == "contract_late", Alert.status == "open"))
    return {a.subject_repr for a in rows}


def test_contracts_on_time_and_late(client, db, factory, lab):
    project = factory.project()
    db.commit()
    digest = _put(client, lab)
    today = dt.datetime.now(BEIJING).date()
    on_time, late = _signed(today, 5), _signed(today, 6)
    ok = lab.post(client, "contract", contract(lab, project, "HT-2026-0001", on_time, digest))
    assert ok.status_code == 200, ok.text
    assert ok.json()["results"]["working_days_after_signing"] == 5
    bad = lab.post(client, "contract", contract(lab, project, "HT-2026-0002", late, digest))
    assert bad.status_code == 200
    assert _late(db) == {"检测合同 HT-2026-0002"}
    row = db.scalars(select(Contract).where(Contract.number == "HT-2026-0001")).one()
    leaf = db.scalars(select(LedgerLeaf).where(LedgerLeaf.leaf_index == row.ledger_index)).one()
    assert leaf.entry_type == "contract:upload"
    assert row.project_id == project.id


def test_a_contract_signed_decades_ago_is_counted_and_late(client, db, factory, lab):
    """Signed in 2005 and uploaded now: more than ten years of working days were refused
    (ValueError: the message failed, and contract_late failed for every institution at the
    sweep); now counted from the weeks and each year's holidays."""
    project = factory.project()
    db.commit()
    digest = _put(client, lab)
    signed = dt.date(2005, 3, 1)
    answer = lab.post(client, "contract", contract(lab, project, "HT-2005-0001", signed, digest))
    assert answer.status_code == 200, answer.text
    today = dt.datetime.now(BEIJING).date()
    taken = answer.json()["results"]["working_days_after_signing"]
    assert taken == working_days_between(signed, today) > 4000
    assert _late(db) == {"检测合同 HT-2005-0001"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"number": "HT-2026-0001"}, "number"),
        ({"project_code": "XM-NONE"}, "project_code"),
        ({"signed_on": "2099-01-01"}, "signed_on"),
        ({"client_unit": ""}, "client_unit"),
        ({"amount_yuan": "-1"}, "amount_yuan"),
        ({"pdf_sha256": "not-a-digest"}, "pdf_sha256"),
    ],
)
def test_bad_contracts_are_refused(client, db, factory, lab, change, field):
    project = factory.project()
    db.commit()
    digest = _put(client, lab)
    today = dt.datetime.now(BEIJING).date()
    first = lab.post(client, "contract", contract(lab, project, "HT-2026-0001", today, digest))
    assert first.status_code == 200
    before = db.scalar(select(func.count()).select_from(Contract))
    payload = contract(lab, project, "HT-2026-0009", today, digest) | change
    response = lab.post(client, "contract", payload)
    assert response.status_code == 422, response.text
    assert any(field in e["field"] for e in response.json()["errors"])
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Contract)) == before


def test_a_contract_that_is_not_a_pdf(client, db, factory, lab):
    project = factory.project()
    db.commit()
    digest = _put(client, lab, b"PK\x03\x04 a zip")
    today = dt.datetime.now(BEIJING).date()
    response = lab.post(client, "contract", contract(lab, project, "HT-2026-0001", today, digest))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "pdf_sha256"


def test_contract_numbers_join_the_continuity_rules(client, db, factory, lab):
    project = factory.project()
    db.commit()
    digest = _put(client, lab)
    today = dt.datetime.now(BEIJING).date()
    for n in (1, 2):
        response = lab.post(
            client, "contract",
            contract(lab, project, f"HT-2026-000{n}", today, digest, sequence=1),
        )  # fmt: skip
        assert response.status_code == 200
    db.expire_all()
    reused = db.scalars(select(Alert).where(Alert.rule_id == "number_reused")).one()
    assert "检测合同" in reused.subject_repr
    assert reused.facts["重复"] == ["第 1 号：HT-2026-0001、HT-2026-0002"]


def test_pages_and_the_project_page(client, browser_client, db, factory, lab):
    project = factory.project()
    db.commit()
    digest = _put(client, lab)
    today = dt.datetime.now(BEIJING).date()
    assert (
        lab.post(
            client, "contract", contract(lab, project, "HT-2026-0001", today, digest)
        ).status_code
        == 200
    )
    record, _ = concrete_record(lab, number="JL-BAD", peaks=(400.0, 402.0, 398.0))
    record["project_code"] = project.code
    assert lab.post(client, "test_record", record).status_code == 200
    message = report_message(lab, "BG-2026-0001", test_record_numbers=["JL-BAD"],
                             project_code=project.code, judgement="nonconforming")  # fmt: skip
    issued = lab.post(client, "report", message)
    assert issued.status_code == 200
    row = db.scalars(select(Contract)).one()
    # the report's public page names the contract behind it; another project's report none
    code, token = issued.json()["results"]["supervision_code"], issued.json()["results"]["token"]
    public = client.get(f"/v/{code}?t={token}", headers=HTML).text
    behind = public.split('data-testid="contract-HT-2026-0001"', 1)[1].split("</dl>", 1)[0]
    assert "九江市濂溪区城市建设投资有限公司" in behind
    assert today.isoformat() in behind
    assert "已存证" in behind
    record, _ = concrete_record(lab, number="JL-OTHER", seed=4)
    assert lab.post(client, "test_record", record).status_code == 200
    message = report_message(lab, "BG-2026-0002", test_record_numbers=["JL-OTHER"])
    other = lab.post(client, "report", message)
    results = other.json()["results"]
    public = client.get(f"/v/{results['supervision_code']}?t={results['token']}", headers=HTML)
    assert "HT-2026-0001" not in public.text
    assert "未向平台上传本工程的检测合同" in public.text
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)
    listing = browser_client.get("/contracts", headers=HTML)
    assert "HT-2026-0001" in listing.text
    page = browser_client.get(f"/contracts/{row.id}", headers=HTML)
    assert "186,000.00 元" in page.text
    assert browser_client.get(f"/contracts/{row.id}/contract.pdf").content == PDF
    browser_client.cookies.clear()
    station = factory.user(Role.STATION, region_code=project.region_code[:4] + "00")
    login(browser_client, station.username)
    project_page = browser_client.get(f"/projects/{project.id}", headers=HTML).text
    assert "HT-2026-0001" in project_page
    assert "BG-2026-0001" in project_page
    assert "JL-BAD" in project_page.split('data-testid="project-nonconforming"', 1)[1]
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.INSTITUTION_STAFF).username)  # another lab
    assert browser_client.get(f"/contracts/{row.id}", headers=HTML).status_code == 404
    assert browser_client.get(f"/contracts/{row.id}/contract.pdf").status_code == 404
    assert "HT-2026-0001" not in browser_client.get("/contracts", headers=HTML).text
