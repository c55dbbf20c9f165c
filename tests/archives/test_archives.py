"""Archives (001 9.1.2-9.1.3): retention by item (6 or 20 years, data), no deletion in
retention, and a project's archive export whose manifest hashes and log proofs check out."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import zipfile

import pytest
from sqlalchemy import select

from jcjg.archives import retention
from jcjg.auth.choices import Role
from jcjg.ledger import jobs, merkle
from jcjg.ledger import service as ledger_service
from jcjg.ledger.note import Verifier, open_checkpoint
from jcjg.testing.models import TestRecord
from tests.contracts.test_contracts import PDF, _put, contract
from tests.factories import login
from tests.reports.pdfs import pem, report_pdf, sign, signer_identity
from tests.reports.test_pdf import _upload
from tests.reports.test_reports import report_message
from tests.testing.conftest import concrete_record

HTML = {"accept": "text/html"}


@pytest.mark.parametrize(
    ("items", "years"),
    [(["0108"], 20), (["0113"], 6), (["0201"], 20), (["0701"], 6), (["0113", "0102"], 20),
     ([], 6)],
)  # fmt: skip
def test_retention_years(items, years):
    assert retention.years_for(items) == years


def test_retention_is_data():
    assert retention.years_for(["0113"], {**retention.DEFAULT_YEARS, "0113": 10}) == 10
    assert retention.until(dt.date(2024, 2, 29), 6) == dt.date(2030, 2, 28)


def test_nothing_in_retention_is_deleted(client, db, lab):
    payload, _ = concrete_record(lab, number="JL-KEEP")
    assert lab.post(client, "test_record", payload).status_code == 200
    record = db.scalars(select(TestRecord).where(TestRecord.number == "JL-KEEP")).one()
    db.delete(record)
    with pytest.raises(retention.RetentionError, match="档案保存期内"):
        db.flush()
    db.rollback()
    old = TestRecord(
        institution_id=lab.institution.id, region_code=lab.institution.region_code,
        number="JL-OLD", kind="other", item_code="0113", acquisition="manual",
        started_at=dt.datetime(2015, 3, 1, tzinfo=dt.UTC),
        ended_at=dt.datetime(2015, 3, 1, 1, tzinfo=dt.UTC),
    )  # fmt: skip
    db.add(old)
    db.commit()
    db.delete(old)
    db.commit()  # past its six years: may go
    assert db.scalars(select(TestRecord).where(TestRecord.number == "JL-OLD")).first() is None


def test_a_project_archive(client, browser_client, db, factory, lab, settings):
    project, today, signed = _project_with_contract_record_and_report(client, db, factory, lab)
    station = factory.user(Role.STATION, region_code="360400")
    login(browser_client, station.username)
    response = browser_client.get(f"/projects/{project.id}/archive.zip")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    names = set(archive.namelist())
    assert {"project.json", "contracts/HT-2026-0001.pdf", "reports/BG-2026-0001.pdf",
            "records/JL-ARC.json", "ledger/proofs.json"} <= names  # fmt: skip
    assert any(n.startswith("curves/JL-ARC-") and n.endswith(".csv") for n in names)
    for entry in manifest["files"]:  # every file is what the manifest says
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    assert archive.read("contracts/HT-2026-0001.pdf") == PDF
    assert archive.read("reports/BG-2026-0001.pdf") == signed
    report_json = json.loads(archive.read("reports/BG-2026-0001.json"))
    assert "token" not in report_json  # the QR's secret stays on the platform
    assert report_json["test_records"] == ["JL-ARC"]
    kept = {(r["kind"], r["key"]): r["retained_until"] for r in manifest["retention"]}
    assert kept[("test_record", "JL-ARC")].startswith(str(today.year + 20 - 1)[:3])
    _proofs_check_offline(json.loads(archive.read("ledger/proofs.json")))

    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.STATION, region_code="360100").username)  # 南昌
    assert browser_client.get(f"/projects/{project.id}/archive.zip").status_code == 404
    browser_client.cookies.clear()
    login(
        browser_client, factory.user(Role.INSTITUTION_ADMIN, institution=lab.institution).username
    )
    assert browser_client.get(f"/projects/{project.id}/archive.zip").status_code == 403
    browser_client.cookies.clear()
    login(browser_client, factory.user(Role.WITNESS).username)
    assert browser_client.get(f"/projects/{project.id}/archive.zip").status_code == 403


def _project_with_contract_record_and_report(client, db, factory, lab):
    """A project with the lab's contract, a test record and a signed report on it, all
    integrated into the log; returns the project, today (Beijing) and the signed PDF."""
    from tests.factories import catalogue, registry_row

    catalogue(db, "01")
    person = registry_row(factory, "people", lab.institution)
    project = factory.project()
    db.commit()
    key, certificate = signer_identity("张批准")
    signatories = lab.message(signatories=[{
        "id_number": person.id_number, "specialties": ["01"], "certificates": [pem(certificate)],
    }])  # fmt: skip
    assert lab.post(client, "registry.signatories", signatories).status_code == 200
    today = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()
    digest = _put(client, lab)
    sent = lab.post(client, "contract", contract(lab, project, "HT-2026-0001", today, digest))
    assert sent.status_code == 200
    record, _ = concrete_record(lab, number="JL-ARC")
    record["project_code"] = project.code
    assert lab.post(client, "test_record", record).status_code == 200
    issued = lab.post(client, "report", report_message(
        lab, "BG-2026-0001", test_record_numbers=["JL-ARC"], items=["0101"],
        project_code=project.code,
    )).json()["results"]  # fmt: skip
    signed = sign(report_pdf("BG-2026-0001", issued["verify_url"]), key, certificate)
    assert _upload(client, lab, signed, "BG-2026-0001").status_code == 200
    jobs.integrate(db, logging.getLogger("test"))
    return project, today, signed


def _proofs_check_offline(proofs) -> None:
    """Each notarised item of the archive checks against its signed checkpoint, offline."""
    log = ledger_service.log_identity()
    checkpoint, _ = open_checkpoint(proofs["checkpoint"], [Verifier(log.vkey)])
    whats = {e["what"].split()[0] for e in proofs["entries"]}
    assert {"contract", "report", "test_record"} <= whats
    for entry in proofs["entries"]:
        leaf = merkle.leaf_hash(entry["entry"]["canonical"].encode())
        proof = [bytes.fromhex(h) for h in entry["proof"]["hashes"]]
        assert merkle.verify_inclusion(
            leaf, entry["proof"]["index"], checkpoint.size, proof, checkpoint.root
        ), entry["what"]
