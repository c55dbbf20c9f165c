"""A report's QR, scanned: the lab prints the QR on its report and signs the PDF; a phone-sized
Chromium opens the URL zbar decodes from the PDF's rendered page and
sees "genuine", the test record's curve replays, and the log's inclusion proof and checkpoint
signature are verified in the browser; an unknown code is said to be unknown and alerted; a
report whose recorded leaf hash was altered fails the browser's check."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from jcjg.alerts.engine import run_rule
from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.catalogue.models import Specialty
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.demo import synthetic
from jcjg.documents.scan import pdf_qr_codes
from jcjg.ledger import jobs
from jcjg.projects.models import Project
from jcjg.registry.models import Signatory, SigningCertificate
from jcjg.reports import service as reports
from jcjg.reports.codes import SUPERVISION, verify_url
from jcjg.reports.models import Report
from jcjg.reports.schemas import ReportFileIn, ReportIn
from jcjg.tenancy.models import Institution
from jcjg.testing import service
from jcjg.testing.schemas import RecordIn
from tests.browser.test_sampling_flow import pc, shots
from tests.browser.waiting import wait_for
from tests.factories import Factory, catalogue, registry_row
from tests.reports.pdfs import report_pdf, sign, signer_identity
from tests.testing.conftest import points

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@dataclass
class _Lab:
    """The lab of this test, its project, the catalogue item it reports and its signer."""

    f: Factory
    lab: Institution
    project: Project
    item_code: str
    key: Any
    certificate: Any
    pool: ThreadPoolExecutor  # pyHanko runs its own event loop: off Playwright's, in a thread

    def sign(self, number: str, printed: str) -> bytes:
        return self.pool.submit(
            sign, report_pdf(number, printed), self.key, self.certificate
        ).result()

    def attach(self, number: str, pdf: bytes, message_id: str) -> None:
        f, lab = self.f, self.lab
        self.pool.submit(
            reports.attach_pdf, db=f.db, settings=f.settings, institution=lab,
            received_at=utcnow(),
            data=ReportFileIn.model_validate({
                "institution_code": lab.code, "message_id": message_id,
                "number": number, "pdf_sha256": blob_store(f.settings).put(pdf),
            }),
        ).result()  # fmt: skip


def test_a_scanned_report_verifies_on_a_phone(live_server, browser, tmp_path):
    out = shots(tmp_path)
    f, base = live_server.factory, live_server.url
    lab = _lab_with_a_record_and_a_signatory(f)
    report, signed = _the_signed_report(lab)
    code, report_id = report.supervision_code, report.id
    (url,) = pdf_qr_codes(signed)  # what a phone reads off the printed report
    f.db.rollback()
    assert url.startswith(f"{base}/v/{code}?t=")

    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    _a_phone_sees_it_genuine(page, base, url, signed, out)
    never = SUPERVISION.make("360403", 2026, 88_888_888)
    page.goto(f"{base}/v/{never}")
    assert page.locator("[data-testid=verdict]").get_attribute("data-outcome") == "unknown"
    page.screenshot(path=str(out / "verify-unknown-phone.png"), full_page=True)
    f.db.rollback()
    alert = f.db.scalars(
        select(Alert).where(Alert.rule_id == "unknown_code_scanned", Alert.subject_id == never)
    ).one()
    assert alert.region_code == "360403"

    # an insider changes the leaf hash the report points at: the phone's check fails (through
    # the ORM, so the page's kept answer is dropped at commit; straight SQL from elsewhere
    # shows the old, correct page until the answer is made anew, within 30 s)
    f.db.get(Report, report_id).leaf_hash = "00" * 32
    f.db.commit()
    page.goto(url)
    wait_for(
        page,
        "['ok', 'bad'].includes(document.querySelector('[data-ledger-proof]').dataset.state)",
        timeout=20_000,
    )
    assert page.locator("[data-testid=ledger-proof]").get_attribute("data-state") == "bad"
    page.screenshot(path=str(out / "verify-tampered-phone.png"), full_page=True)
    context.close()

    forged, username = _forgeries_caught(lab, url)
    desk, page = pc(browser, base, username)
    for case, says in (("copied", "不是本报告的监管码"), ("altered", "签章后文件被篡改")):
        page.goto(f"{base}/reports/{forged[case]}")
        assert says in page.locator("[data-testid=pdf-problems]").inner_text()
        page.screenshot(path=str(out / f"report-{case}-pc.png"), full_page=True)
    desk.close()


def _lab_with_a_record_and_a_signatory(f) -> _Lab:
    """A Jiujiang lab's concrete record on a project, and its registered signatory with a
    signing certificate."""
    lab = f.institution(region_code="360403", name="九江查验测试检测站")
    project = f.project(region_code="360403", name="濂溪区滨江花园二期")
    now = utcnow()
    rng = random.Random(5)
    specimens = [
        {"position": n, "values": {"peak_kn": round(float(c.force.max()), 2)},
         "curve": {"points": points(c)}}
        for n, c in enumerate(synthetic.cubes(rng, [810, 800, 822], 0.6), start=1)
    ]  # fmt: skip
    service.store_record(
        db=f.db, settings=f.settings, institution=lab,
        data=RecordIn.model_validate({
            "institution_code": lab.code, "message_id": "6f1e0c2a-4b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "number": "JL-CY-001", "kind": "concrete_compression", "item_code": "0108",
            "project_code": project.code,
            "started_at": (now - dt.timedelta(minutes=9)).isoformat(),
            "ended_at": (now - dt.timedelta(minutes=4)).isoformat(), "acquisition": "auto",
            "grade": "C30", "age_days": 28, "specimen_size_mm": 150, "specimens": specimens,
            "judgement": "conforming",
        }),
        received_at=now,
    )  # fmt: skip
    _, item, _ = catalogue(f.db, "01")
    person = registry_row(f, "people", lab)
    key, certificate = signer_identity("张批准")
    der = certificate.public_bytes(serialization.Encoding.DER)
    specialty = f.db.scalars(select(Specialty).where(Specialty.code == "01")).one()
    f.db.add(
        Signatory(
            institution_id=lab.id,
            region_code=lab.region_code,
            person_id=person.id,
            specialties=[specialty],
        )
    )
    f.db.add(SigningCertificate(
        institution_id=lab.id, region_code=lab.region_code, person_id=person.id,
        sha256=hashlib.sha256(der).hexdigest(), subject="CN=张批准", serial_number="1",
        not_before=now - dt.timedelta(days=1), not_after=now + dt.timedelta(days=300), der=der,
    ))  # fmt: skip
    return _Lab(f, lab, project, item.code, key, certificate, ThreadPoolExecutor(1))


def _the_signed_report(lab: _Lab) -> tuple[Report, bytes]:
    """The report gets its code; the lab prints the QR on it, signs it and uploads it; the
    log integrates it."""
    f, now = lab.f, utcnow()
    report = reports.issue_report(
        db=f.db, institution=lab.lab,
        data=ReportIn.model_validate({
            "institution_code": lab.lab.code, "message_id": "7a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "number": "BG-CY-2026-0007", "sequence": 7, "project_code": lab.project.code,
            "title": "混凝土试块抗压强度检测报告", "test_record_numbers": ["JL-CY-001"],
            "items": [lab.item_code], "conclusion": "符合 C30 设计要求",
            "judgement": "conforming",
            "signatories": [{"name": "王检测"}, {"name": "刘审核"}, {"name": "张批准"}],
            "issued_on": now.date().isoformat(),
        }),
        received_at=now,
    )  # fmt: skip
    signed = lab.sign(report.number, verify_url(f.settings.base_url, report.supervision_code,
                                                 report.token))  # fmt: skip
    lab.attach(report.number, signed, "8b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e")
    assert report.pdf_checks["signature_problems"] == []
    f.db.commit()
    jobs.integrate(f.db, logging.getLogger("test"))  # the log's next checkpoint
    return report, signed


def _a_phone_sees_it_genuine(page, base: str, url: str, signed: bytes, out) -> None:
    """Genuine, the proof verified in the browser, the curve replayed, the signed PDF."""
    page.goto(url)
    verdict = page.locator("[data-testid=verdict]")
    assert verdict.get_attribute("data-outcome") == "genuine"
    assert "真实有效" in verdict.inner_text()
    proof = page.locator("[data-testid=ledger-proof]")
    wait_for(
        page,
        "['ok', 'bad'].includes(document.querySelector('[data-ledger-proof]').dataset.state)",
        timeout=20_000,
    )
    assert proof.get_attribute("data-state") == "ok", proof.inner_text()
    assert "已在本机验证" in proof.inner_text()
    # the figures checked behind 技术详情, the verdict in words before it
    figures = page.locator("[data-testid=ledger-figures]").text_content()
    assert figures.startswith("本机核验：第 ")
    assert "根哈希与平台签名的检查点一致" in figures
    assert "日志树" not in proof.locator("p.proof-outcome").inner_text()
    box = page.locator("[data-playback]").first
    wait_for(
        page, "document.querySelector('[data-playback]').dataset.ready === '1'", timeout=15_000
    )
    box.locator("[data-speed]").select_option("100")
    box.locator("[data-play]").click()
    wait_for(
        page, "document.querySelector('[data-playback]').dataset.played === '1'", timeout=20_000
    )
    assert "王**" in page.content()
    assert "报告文件的电子签名有效" in page.locator("[data-testid=pdf-check]").inner_text()
    href = page.locator("[data-testid=pdf-link]").get_attribute("href")
    pdf = page.request.get(base + href.replace("&amp;", "&"))
    assert pdf.ok
    assert pdf.body() == signed
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    page.screenshot(path=str(out / "verify-genuine-phone.png"), full_page=True)


def _forgeries_caught(lab: _Lab, genuine_url: str) -> tuple[dict[str, int], str]:
    """A copied QR and a PDF altered after signing: caught on upload and alerted. Returns the
    forged reports' ids and the user name of a station that sees them."""
    f, now = lab.f, utcnow()
    forged = {}
    for n, case in ((8, "copied"), (9, "altered")):
        later = reports.issue_report(
            db=f.db, institution=lab.lab, received_at=utcnow(),
            data=ReportIn.model_validate({
                "institution_code": lab.lab.code,
                "message_id": f"9c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e{n:02d}",
                "number": f"BG-CY-2026-000{n}", "sequence": n,
                "project_code": lab.project.code, "items": [lab.item_code],
                "signatories": [{"name": "张批准"}], "issued_on": now.date().isoformat(),
            }),
        )  # fmt: skip
        own = verify_url(f.settings.base_url, later.supervision_code, later.token)
        pdf = lab.sign(later.number, genuine_url if case == "copied" else own)
        if case == "altered":
            at = pdf.index(b"ReportLab")
            pdf = pdf[:at] + b"ReportLAB" + pdf[at + 9 :]
        lab.attach(later.number, pdf, f"0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f{n:02d}")
        forged[case] = later.id
    for rule_id in ("report_qr_mismatch", "report_signature_invalid"):
        run_rule(f.db, rule_id)
    station = f.user(Role.STATION, region_code="360403", username="station_cy", commit=False)
    f.db.commit()
    fired = {
        (a.rule_id, a.subject_id)
        for a in f.db.scalars(select(Alert).where(Alert.rule_id.like("report_%")))
    }
    assert ("report_qr_mismatch", str(forged["copied"])) in fired
    assert ("report_signature_invalid", str(forged["altered"])) in fired
    username = station.username
    f.db.rollback()
    return forged, username
