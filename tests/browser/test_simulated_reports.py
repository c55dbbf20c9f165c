"""Issue 8, done: the simulator's labs get supervision codes through the exchange, print the QR
on their reports, sign the PDFs with their registered signatories' keys and upload them. A
phone-sized Chromium opens the URL zbar reads off one of those PDFs and sees "genuine", the
chain behind the report and the log's inclusion proof verified in the browser; the forgeries
the simulator planted (a PDF altered after signing, a copied QR, a never-issued code scanned)
are each caught and alerted, and the station sees them. The same run (4 labs, 3 days, every
rule planted) is the one whose every planted rule tests/test_simulate.py checks fired: it is
made once, here."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from jcjg.alerts.models import Alert
from jcjg.auth.choices import Role
from jcjg.core.blobs import blob_store
from jcjg.documents.scan import pdf_qr_codes
from jcjg.documents.signing import verify_signatures
from jcjg.ledger import jobs
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import Report, ReportRecord
from jcjg.sampling.models import Sample, SampleSeal
from jcjg.sampling.service import verify_seal
from jcjg.testing.models import Specimen
from tests.browser.test_sampling_flow import pc, shots
from tests.browser.waiting import wait_for
from tests.client.live import running_exchange
from tests.factories import Factory
from tests.test_simulate import _sampling_run, planted_rules_fire

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


def _settled(page) -> str:
    wait_for(
        page,
        "['ok', 'bad'].includes(document.querySelector('[data-ledger-proof]').dataset.state)",
        timeout=20_000,
    )
    return page.locator("[data-testid=ledger-proof]").get_attribute("data-state")


def test_the_simulators_reports_verify_on_a_phone(browser, tmp_path: Path) -> None:
    out = shots(tmp_path)
    with running_exchange(tmp_path) as exchange:
        projects, summary = _sampling_run(
            tmp_path, exchange, institutions=4, days=3, violations=1.0
        )
        assert summary.failures == []
        planted = {"report_signature_invalid", "report_qr_mismatch", "unknown_code_scanned"}
        assert planted <= set(summary.planted)
        with exchange.sessions() as db:
            jobs.integrate(db, logging.getLogger("test"))  # the log's next checkpoint
            made = _reports_and_their_alerts(db)
            pdf = blob_store(exchange.settings).get(made["genuine"].pdf_sha256)
            # the report's signatory is who its PDF's signature names (issue 48, one truth)
            with ThreadPoolExecutor(1) as beside:  # pyHanko runs its own event loop
                checks = beside.submit(verify_signatures, pdf, trust=[]).result()
            assert checks
            assert all(c.valid for c in checks)
            assert made["genuine"].signatories
            assert all(
                any(f"CN={name}" in c.signer_subject for c in checks)
                for name in made["genuine"].signatories
            ), (made["genuine"].signatories, [c.signer_subject for c in checks])
            code, number = made["genuine"].supervision_code, made["genuine"].number
            station = Factory(db, exchange.settings).user(
                Role.STATION, region_code=made["genuine"].region_code[:4] + "00",
                username="station_sim",
            )  # fmt: skip
            username, never, forged = station.username, made["never"], made["forged"]
        (url,) = pdf_qr_codes(pdf)  # what a phone reads off the printed report
        assert url.startswith(f"{exchange.url}/v/{code}?t=")
        _a_phone_scans(browser, url, number, f"{exchange.url}/v/{never}", out)

        desk, page = pc(browser, exchange.url, username)
        for case, says in (("copied", "不是本报告的监管码"), ("altered", "签章后文件被篡改")):
            page.goto(f"{exchange.url}/reports/{forged[case]}")
            assert says in page.locator("[data-testid=pdf-problems]").inner_text()
            page.screenshot(path=str(out / f"sim-report-{case}-pc.png"), full_page=True)
        page.goto(f"{exchange.url}/alerts?rule_id=unknown_code_scanned")
        assert SUPERVISION.display(never) in page.content()
        page.screenshot(path=str(out / "sim-alerts-unknown-pc.png"), full_page=True)
        desk.close()
        planted_rules_fire(exchange, projects, summary)


def _reports_and_their_alerts(db) -> dict[str, Any]:
    """What the simulator made: a genuine report (its PDF clean and no alert on it), a PDF
    altered after signing and a copied QR (each alerted), and a never-issued code scanned.
    Returns the genuine report, the forged reports' ids and the never-issued code."""
    reports = db.scalars(select(Report).order_by(Report.id)).all()
    alerts = {
        (a.rule_id, a.subject_id): a
        for a in db.scalars(select(Alert).where(Alert.status == "open"))
    }

    def problems(report: Report, kind: str) -> list[str]:
        return list((report.pdf_checks or {}).get(kind) or [])

    # the samples the report's page shows (its records' and its commission's, as
    # reports.chain does), and those whose seal no longer verifies (an insider's edit,
    # seal_invalid: judged by the check itself, the alert perhaps not yet raised)
    sampled: dict[int, set[str]] = {}
    for report_id, code in db.execute(
        select(ReportRecord.report_id, Specimen.sample_code)
        .join(Specimen, Specimen.test_record_id == ReportRecord.test_record_id)
        .where(Specimen.sample_code.is_not(None))
    ):
        sampled.setdefault(report_id, set()).add(code)
    for report in reports:
        if report.commission_id is not None:
            sampled.setdefault(report.id, set()).update(
                db.scalars(select(Sample.sample_code).where(
                    Sample.commission_id == report.commission_id))
            )  # fmt: skip
    broken = {
        sample.sample_code
        for row, sample in db.execute(
            select(SampleSeal, Sample).join(Sample, Sample.id == SampleSeal.sample_id)
        )
        if verify_seal(db, row)
    }

    def flagged(report: Report) -> bool:
        return bool(sampled.get(report.id, set()) & broken) or any(
            rule.startswith("report_") and subject == str(report.id) for rule, subject in alerts
        )

    clean = [
        r for r in reports
        if r.pdf_sha256 and not problems(r, "signature_problems")
        and not problems(r, "qr_problems") and not flagged(r)
    ]  # fmt: skip
    assert clean, "every simulated report was planted with something"
    altered = [r for r in reports if any("篡改" in p for p in problems(r, "signature_problems"))]
    copied = [
        r for r in reports if any("不是本报告的监管码" in p for p in problems(r, "qr_problems"))
    ]
    assert altered
    assert copied
    for report in altered:
        assert ("report_signature_invalid", str(report.id)) in alerts
    for report in copied:
        assert ("report_qr_mismatch", str(report.id)) in alerts
    unknown = [a for (rule, _), a in alerts.items() if rule == "unknown_code_scanned"]
    assert unknown
    never = unknown[0].subject_id
    assert not any(r.supervision_code == never for r in reports)
    return {
        # a cube report: its records carry force-time curves to replay
        "genuine": next((r for r in clean if r.title.startswith("混凝土")), clean[0]),
        "forged": {"altered": altered[0].id, "copied": copied[0].id},
        "never": never,
    }


def _a_phone_scans(browser, url: str, number: str, unknown_url: str, out) -> None:
    """The genuine report's QR: "genuine", the chain behind it and the verified proof; the
    never-issued code: unknown."""
    context = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True)
    page = context.new_page()
    page.goto(url)
    verdict = page.locator("[data-testid=verdict]")
    assert verdict.get_attribute("data-outcome") == "genuine"
    assert "真实有效" in verdict.inner_text()
    assert number in page.locator("[data-testid=report-facts]").inner_text()
    assert _settled(page) == "ok", page.locator("[data-testid=ledger-proof]").inner_text()
    # the chain: the contract, the witnessed and sealed samples, the curves to replay
    assert page.locator("[data-testid^=contract-]").count() == 1
    samples = page.locator("[data-testid^=sample-]")
    assert samples.count() >= 1
    assert "电子封志验证通过" in samples.first.inner_text()
    assert samples.first.locator("a", has_text="见证记录").count() == 1
    photo = samples.first.locator("img").first  # the sample's photo from the phone
    photo.scroll_into_view_if_needed()
    wait_for(
        page,
        "img => img.complete && img.naturalWidth > 0",
        arg=photo.element_handle(),
        timeout=10_000,
    )
    assert page.locator("[data-playback]").count() >= 1
    assert "报告文件的电子签名有效" in page.locator("[data-testid=pdf-check]").inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1
    page.screenshot(path=str(out / "sim-verify-genuine-phone.png"), full_page=True)

    page.goto(unknown_url)  # the code a party read off a forged report
    assert page.locator("[data-testid=verdict]").get_attribute("data-outcome") == "unknown"
    assert "平台没有签发过这个监管码" in page.content()
    page.screenshot(path=str(out / "sim-verify-unknown-phone.png"), full_page=True)
    context.close()
