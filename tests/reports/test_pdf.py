"""A report's signed PDF (report_file): a good one passes; an altered file, an unregistered
signer, a signer outside the report's specialty, a copied QR and an unsigned file are each
caught, in the receipt and as alerts (report_signature_invalid, report_qr_mismatch)."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil

import pytest
from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.reports.models import Report
from tests.factories import catalogue, login, registry_row
from tests.reports.pdfs import pem, report_pdf, sign, signer_identity
from tests.reports.test_reports import HTML, report_message
from tests.testing.conftest import concrete_record, runs_of

pytestmark = pytest.mark.skipif(
    shutil.which("pdftoppm") is None or shutil.which("zbarimg") is None,
    reason="poppler and zbar are needed (make sysdeps)",
)


@pytest.fixture
def setup(client, db, factory, lab):
    """Two reports of the lab (items of specialty 01), a signatory of 01 with a registered
    certificate, a signatory of another specialty with one, and a certificate never sent."""
    catalogue(db, "01")
    catalogue(db, "99")
    people = [registry_row(factory, "people", lab.institution) for _ in range(2)]
    db.commit()
    keys = {name: signer_identity(name) for name in ("批准人", "别专项", "外人")}
    message = lab.message(
        signatories=[
            {"id_number": people[0].id_number, "specialties": ["01"],
             "certificates": [pem(keys["批准人"][1])]},
            {"id_number": people[1].id_number, "specialties": ["99"],
             "certificates": [pem(keys["别专项"][1])]},
        ]
    )  # fmt: skip
    response = lab.post(client, "registry.signatories", message)
    assert response.status_code == 200, response.text
    assert response.json()["results"]["certificates"] == 2
    codes = {}
    for n in (1, 2):
        record, _ = concrete_record(lab, number=f"JL-P-{n}", seed=n)
        assert lab.post(client, "test_record", record).status_code == 200
        issued = lab.post(
            client, "report",
            report_message(lab, f"BG-2026-000{n}", test_record_numbers=[f"JL-P-{n}"],
                           items=["0101"]),
        )  # fmt: skip
        assert issued.status_code == 200, issued.text
        codes[n] = issued.json()["results"]
    return keys, codes


def _upload(client, lab, content: bytes, number: str):
    digest = hashlib.sha256(content).hexdigest()
    path = f"/exchange/v1/blobs/{digest}"
    headers = lab.headers("PUT", path, content, content_type="application/pdf")
    assert client.put(path, content=content, headers=headers).status_code in (201, 200)
    return lab.post(client, "report_file", lab.message(number=number, pdf_sha256=digest))


def _alerts(db) -> dict[str, set[str]]:
    db.expire_all()
    out: dict[str, set[str]] = {}
    for a in db.scalars(select(Alert).where(Alert.status == "open")):
        if a.rule_id in ("report_signature_invalid", "report_qr_mismatch"):
            out.setdefault(a.rule_id, set()).add(a.subject_repr)
    return out


def test_a_good_pdf_passes_and_is_served_behind_the_token(
    client, browser_client, db, factory, lab, setup
):
    keys, codes = setup
    good = sign(report_pdf("BG-2026-0001", codes[1]["verify_url"]), *keys["批准人"])
    response = _upload(client, lab, good, "BG-2026-0001")
    assert response.status_code == 200, response.text
    assert response.json()["results"]["problems"] == []
    assert response.json()["results"]["signatures"] == 1
    assert _alerts(db) == {}
    report = db.scalars(select(Report).where(Report.number == "BG-2026-0001")).one()
    (signature,) = report.pdf_checks["signatures"]
    assert signature["authorised_signatory"] is True
    assert signature["registered"] is True
    # the staff page gives the signing time in Beijing time, as every time on the platform
    from jcjg.core.templating import _localtime

    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)
    detail = browser_client.get(f"/reports/{report.id}", headers=HTML).text
    signed_at = dt.datetime.fromisoformat(signature["signed_at"])
    assert _localtime(signed_at) in detail
    assert signature["signed_at"] not in detail
    code, token = codes[1]["supervision_code"], codes[1]["token"]
    page = client.get(f"/v/{code}?t={token}", headers=HTML).text
    assert "报告文件的电子签名有效" in page
    pdf = client.get(f"/v/{code}/report.pdf", params={"t": token})
    assert pdf.status_code == 200
    assert pdf.content == good
    assert client.get(f"/v/{code}/report.pdf").status_code == 404
    again = _upload(client, lab, good + b"\n", "BG-2026-0001")
    assert again.status_code == 422  # once; a corrected file is a replacing report


@pytest.mark.parametrize(
    ("case", "rule", "says"),
    [
        ("altered", "report_signature_invalid", "签章后文件被篡改"),
        ("stranger", "report_signature_invalid", "未在本机构登记"),
        ("other_scope", "report_signature_invalid", "没有签字范围覆盖"),
        ("unsigned", "report_signature_invalid", "没有电子签名"),
        ("copied_qr", "report_qr_mismatch", "不是本报告的监管码"),
        ("no_qr", "report_qr_mismatch", "没有可识别的监管码二维码"),
    ],
)
def test_bad_files_are_caught(client, db, lab, setup, case, rule, says, monkeypatch):
    """Each bad file raises its rule's alert on its report, judged alone (by rows)."""
    keys, codes = setup
    url = codes[1]["verify_url"]
    if case == "altered":
        signed = sign(report_pdf("BG-2026-0001", url), *keys["批准人"])
        at = signed.index(b"ReportLab")  # in the document info, inside the signed bytes
        content = signed[:at] + b"ReportLAB" + signed[at + 9 :]
    elif case == "stranger":
        content = sign(report_pdf("BG-2026-0001", url), *keys["外人"])
    elif case == "other_scope":
        content = sign(report_pdf("BG-2026-0001", url), *keys["别专项"])
    elif case == "unsigned":
        content = report_pdf("BG-2026-0001", url)
    elif case == "copied_qr":  # the other report's genuine QR printed on this one
        content = sign(report_pdf("BG-2026-0001", codes[2]["verify_url"]), *keys["批准人"])
    else:
        content = sign(report_pdf("BG-2026-0001", None), *keys["批准人"])
    runs = runs_of(monkeypatch, rule)
    response = _upload(client, lab, content, "BG-2026-0001")
    assert response.status_code == 200, response.text
    report = db.scalars(select(Report.id).where(Report.number == "BG-2026-0001")).one()
    assert runs == [{"row_ids": {report}}]
    problems = response.json()["results"]["problems"]
    assert any(says in p for p in problems), problems
    assert {w["code"] for w in response.json()["warnings"]} >= {"report_file_problem"}
    assert _alerts(db) == {rule: {"检测报告 BG-2026-0001"}}
    code, token = codes[1]["supervision_code"], codes[1]["token"]
    assert "报告文件核验未通过" in client.get(f"/v/{code}?t={token}", headers=HTML).text


def test_not_a_pdf_is_refused(client, db, lab, setup):
    response = _upload(client, lab, b"GIF89a not a report", "BG-2026-0001")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "pdf_sha256"
    db.expire_all()
    assert (
        db.scalars(select(Report).where(Report.number == "BG-2026-0001")).one().pdf_sha256 is None
    )
