"""The report page says what it really checked of the PDF (a QR the server could not read is
"未核验", never "通过"), and offers the file by name and size to whoever may read the page
(issue 20, item 11)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from jcjg.auth.choices import Role
from jcjg.documents import scan
from jcjg.reports.models import Report
from tests.factories import login
from tests.reports.pdfs import report_pdf, sign
from tests.reports.test_pdf import _upload, setup  # noqa: F401 (the fixture)
from tests.reports.test_reports import HTML


def _between(page: str, testid: str) -> str:
    return page.split(f'data-testid="{testid}">', 1)[1].split("</li>", 1)[0].split("</dd>", 1)[0]


@pytest.fixture
def no_scanner(monkeypatch):
    """A server without poppler-utils or zbar-tools."""
    monkeypatch.setattr(scan.shutil, "which", lambda name: None)


def test_without_poppler_or_zbar_the_qr_is_not_checked_and_says_so(
    client,
    browser_client,
    db,
    factory,
    lab,
    setup,  # noqa: F811 (the fixture imported above)
    no_scanner,
):
    keys, codes = setup
    good = sign(report_pdf("BG-2026-0001", codes[1]["verify_url"]), *keys["批准人"])
    assert _upload(client, lab, good, "BG-2026-0001").status_code == 200
    report = db.scalars(select(Report).where(Report.number == "BG-2026-0001")).one()
    staff = factory.user(Role.INSTITUTION_STAFF, institution=lab.institution)
    login(browser_client, staff.username)
    page = browser_client.get(f"/reports/{report.id}", headers=HTML).text
    qr = _between(page, "check-qr")
    assert "二维码未核验" in qr
    assert "poppler-utils 或 zbar-tools" in qr
    assert "二维码核验通过" not in page
    assert "电子签名核验通过" in _between(page, "check-signature")

    file = _between(page, "report-file")
    assert f'href="/reports/{report.id}/report.pdf"' in file
    assert "检测报告 BG-2026-0001.pdf" in file
    assert "KB" in file or " B" in file
    assert report.pdf_sha256 not in page
    pdf = browser_client.get(f"/reports/{report.id}/report.pdf")
    assert pdf.status_code == 200
    assert pdf.content == good
    assert pdf.headers["content-type"] == "application/pdf"
    assert "attachment" in pdf.headers["content-disposition"]

    code, token = codes[1]["supervision_code"], codes[1]["token"]
    public = client.get(f"/v/{code}?t={token}", headers=HTML).text
    assert "未核验" in public
    assert "文件中的二维码即本报告的监管码" not in public

    other = factory.institution()
    stranger = factory.user(Role.INSTITUTION_STAFF, institution=other)
    browser_client.cookies.clear()
    login(browser_client, stranger.username)
    assert browser_client.get(f"/reports/{report.id}/report.pdf").status_code == 404
