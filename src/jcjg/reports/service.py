"""Reports: issuing supervision codes, withdrawing and replacing reports, and what a scan of a
code shows. Keyword-only functions; they flush, never commit."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.codes import normalise
from jcjg.core.errors import Conflict, FieldError, ValidationFailed
from jcjg.core.workdays import beijing_date
from jcjg.ledger import service as ledger
from jcjg.projects.service import project_by_code
from jcjg.regions.models import Region
from jcjg.registry.service import people_elsewhere, registered_person_ids
from jcjg.reports import legacy
from jcjg.reports.choices import ReportStatus, ScanOutcome
from jcjg.reports.codes import SUPERVISION, new_token, verify_url
from jcjg.reports.models import CodeScan, LegacyReport, Report, ReportRecord
from jcjg.reports.schemas import ReportFileIn, ReportIn, WithdrawalIn
from jcjg.sampling.models import Commission
from jcjg.sampling.service import commission_by_number
from jcjg.tenancy.models import Institution
from jcjg.testing.models import TestRecord


def _fail(field: str, message: str, kind: str = "invalid") -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message, kind)])


def issue_report(
    *,
    db: Session,
    institution: Institution,
    data: ReportIn,
    received_at: dt.datetime,
    message_id: str | None = None,
    adopted: tuple[str, str] | None = None,
) -> Report:
    """A report declared by its lab gets its supervision code and token; a replacement marks
    the report it replaces. Notarised (``report:issue``) without personal data. ``adopted``:
    the code and token a child platform issued for this report (a forwarded message,
    docs/networking.md), kept instead of a new one: a code is issued once in the province."""
    if data.issued_on > beijing_date(received_at):
        raise _fail("issued_on", "签发日期不能晚于今天")
    taken = select(Report.id).where(
        Report.institution_id == institution.id, Report.number == data.number
    )
    if db.scalar(taken) is not None:
        raise _fail(
            "number", "该报告编号已申领监管码；更正报告请用新编号并在 replaces 中说明", "unique"
        )
    commission, project_id = _commission_and_project(db, institution, data)
    records = _records(db, institution, data.test_record_numbers)
    for record in records:
        if project_id and record.project_id and record.project_id != project_id:
            raise _fail("test_record_numbers", f"原始记录 {record.number} 属于另一个工程项目")
    replaced = _replaced(db, institution, data)
    if adopted is not None:
        code, token, serial, year = _adopted(db, institution, *adopted)
    else:
        serial, year = _next_serial(db, institution.region_code, received_at)
        code, token = SUPERVISION.make(institution.region_code, year, serial), new_token()
    report = Report(
        institution_id=institution.id,
        region_code=institution.region_code,
        project_id=project_id,
        commission_id=commission.id if commission else None,
        number=data.number,
        year=data.year or data.issued_on.year,
        sequence=data.sequence,
        supervision_code=code,
        code_serial=serial,
        code_year=year,
        token=token,
        title=data.title,
        items=list(data.items),
        conclusion=data.conclusion,
        judgement=data.judgement.value,
        results=dict(data.results),
        signatories=[s.name for s in data.signatories],
        signatory_person_ids=registered_person_ids(
            db, institution.id, [s.id_number for s in data.signatories]
        ),
        signatory_outsider_ids=people_elsewhere(
            db, institution.id, [s.id_number for s in data.signatories], data.issued_on
        ),
        issued_on=data.issued_on,
        received_at=received_at,
        replaces_id=replaced.id if replaced else None,
        message_id=message_id,
    )
    db.add(report)
    db.flush()
    db.add_all(ReportRecord(report_id=report.id, test_record_id=r.id) for r in records)
    if replaced is not None:
        assert data.replaces is not None
        _set_status(replaced, ReportStatus.REPLACED, data.replaces.reason, received_at)
    _notarise_issue(db, institution, report, records, replaced)
    return report


def _commission_and_project(
    db: Session, institution: Institution, data: ReportIn
) -> tuple[Commission | None, int | None]:
    """The commission the report names, and its project: the one named, else the
    commission's; the two must agree."""
    commission = commission_by_number(db, institution, data.commission_number)
    project = project_by_code(db, data.project_code)
    if project is None:
        return commission, commission.project_id if commission else None
    if commission is not None and commission.project_id != project.id:
        raise _fail("project_code", "委托所属的工程项目与 project_code 不一致")
    return commission, project.id


def _notarise_issue(
    db: Session,
    institution: Institution,
    report: Report,
    records: list[TestRecord],
    replaced: Report | None,
) -> None:
    """The ledger's entry for the code (``report:issue``), without personal data."""
    receipt = ledger.notarise(
        db,
        "report:issue",
        {
            "supervision_code": report.supervision_code,
            "institution_code": institution.code,
            "report_number": report.number,
            "issued_on": report.issued_on.isoformat(),
            "items": report.items,
            "judgement": report.judgement,
            "test_record_numbers": sorted(r.number for r in records),
            "replaces": replaced.supervision_code if replaced else None,
        },
    )
    report.ledger_index = receipt.index
    report.leaf_hash = receipt.leaf_hash.hex()
    db.flush()


def _records(db: Session, institution: Institution, numbers: list[str]) -> list[TestRecord]:
    wanted = sorted(set(numbers))
    if not wanted:
        return []
    found = list(
        db.scalars(
            select(TestRecord).where(
                TestRecord.institution_id == institution.id, TestRecord.number.in_(wanted)
            )
        )
    )
    missing = sorted(set(wanted) - {r.number for r in found})
    if missing:
        raise _fail(
            "test_record_numbers", f"本机构没有这些原始记录（须先上传）：{'、'.join(missing[:10])}"
        )
    return found


def _replaced(db: Session, institution: Institution, data: ReportIn) -> Report | None:
    if data.replaces is None:
        return None
    earlier = db.scalars(
        select(Report).where(
            Report.institution_id == institution.id, Report.number == data.replaces.number
        )
    ).first()
    if earlier is None:
        raise _fail("replaces.number", "本机构没有这个报告编号")
    if earlier.status != ReportStatus.ISSUED.value:
        raise _fail("replaces.number", f"该报告{ReportStatus(earlier.status).label}，不能再替换")
    return earlier


def _next_serial(db: Session, region_code: str, now: dt.datetime) -> tuple[int, int]:
    """The next code serial of ``region_code`` this (Beijing) year, under a lock on the
    region's row so two requests never share one."""
    year = beijing_date(now).year
    db.execute(select(Region.code).where(Region.code == region_code).with_for_update())
    last = db.scalar(
        select(func.max(Report.code_serial)).where(
            Report.region_code == region_code, Report.code_year == year
        )
    )
    serial = (last or 0) + 1
    if serial > SUPERVISION.max_serial:
        raise Conflict("本地区本年度的监管码已用完")
    return serial, year


def _adopted(
    db: Session, institution: Institution, code: str, token: str
) -> tuple[str, str, int, int]:
    """A child platform's code for this report, checked: well formed, of the institution's
    region, and not another report's here. Its serial and year count as issued here too, so a
    code this platform issues later for the region never repeats it."""
    problem = SUPERVISION.problem(code)
    if problem is not None or not code.startswith(institution.region_code):
        why = problem or "地区代码与检测机构不符"
        raise _fail("supervision_code", f"下级平台发放的监管码“{code[:32]}”不合规：{why}")
    if db.scalar(select(Report.id).where(Report.supervision_code == code)) is not None:
        raise Conflict(f"监管码 {code} 已是本平台另一份报告的监管码")
    if not 16 <= len(token) <= 32:
        raise _fail("token", "下级平台发放的访问令牌不合规")
    return code, token, int(code[8:-1]), 2000 + int(code[6:8])


def _set_status(report: Report, status: ReportStatus, reason: str, now: dt.datetime) -> None:
    report.status = status.value
    report.status_reason = reason
    report.status_changed_at = now


def withdraw_report(
    *, db: Session, institution: Institution, data: WithdrawalIn, received_at: dt.datetime
) -> Report:
    """A report withdrawn by its lab: it stays, marked, with the reason; scans say so."""
    report = db.scalars(
        select(Report).where(Report.institution_id == institution.id, Report.number == data.number)
    ).first()
    if report is None:
        raise _fail("number", "本机构没有这个报告编号")
    if report.status != ReportStatus.ISSUED.value:
        raise _fail("number", f"该报告{ReportStatus(report.status).label}")
    _set_status(report, ReportStatus.WITHDRAWN, data.reason, received_at)
    ledger.notarise(
        db,
        "report:withdraw",
        {"supervision_code": report.supervision_code, "reason_sha256": _sha(data.reason)},
    )
    db.flush()
    return report


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def receipt_results(settings: Settings, report: Report) -> dict[str, Any]:
    """What the lab's system gets back: the code, the token and what to print."""
    from jcjg.documents.qr import qr_png, qr_svg

    url = verify_url(settings.base_url, report.supervision_code, report.token)
    return {
        "supervision_code": report.supervision_code,
        "display": SUPERVISION.display(report.supervision_code),
        "token": report.token,
        "verify_url": url,
        "qr_svg": qr_svg(url),
        "qr_png_base64": base64.b64encode(qr_png(url)).decode(),
        "ledger_index": report.ledger_index,
    }


# --- scans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    code: str
    outcome: ScanOutcome
    report: Report | None
    problem: str | None = None  # why a code is malformed
    row: dict[str, Any] = field(default_factory=dict)  # what the scan log keeps of it
    legacy: LegacyReport | None = None  # a report of the former platform, imported


def scan(*, db: Session, raw_code: str, token: str | None, client: str = "",
         user_agent: str = "", salt: str = "", now: dt.datetime) -> Scan:  # fmt: skip
    """Look a code up as the public page does. The look-up's log row is ``Scan.row``: write
    it with :func:`log_scans` (at once for unknown and revoked codes: they raise
    ``unknown_code_scanned``; the others may be batched)."""
    code = normalise(raw_code)[:40]
    problem = SUPERVISION.problem(code)
    report = None
    if problem:
        outcome = ScanOutcome.MALFORMED
    else:
        report = db.scalars(select(Report).where(Report.supervision_code == code)).first()
        if report is None:
            outcome = ScanOutcome.UNKNOWN
        elif report.status != ReportStatus.ISSUED.value:
            outcome = ScanOutcome.REVOKED
        elif token_matches(report, token):
            outcome = ScanOutcome.GENUINE
        else:
            outcome = ScanOutcome.EXISTS
    imported = None
    if report is None:  # a code of the platform this one replaced answers as what it is
        imported = legacy.find(db, code)
        if imported is not None:
            outcome, problem = ScanOutcome.LEGACY, None
    row = scan_row(code=code, report_id=report.id if report else None, outcome=outcome,
                   token_given=bool(token), client=client, user_agent=user_agent, salt=salt,
                   now=now)  # fmt: skip
    return Scan(code, outcome, report, problem, row, imported)


def scan_row(
    *,
    code: str,
    report_id: int | None,
    outcome: ScanOutcome,
    token_given: bool,
    client: str,
    user_agent: str,
    salt: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """The ``code_scan`` row of one look-up (the client's address only as a salted hash)."""
    return {
        "code": code,
        "report_id": report_id,
        "outcome": outcome.value,
        "token_given": token_given,
        "client_hash": _sha(salt + client)[:16] if client else "",
        "user_agent": user_agent[:200],
        "scanned_at": now,
    }


def log_scans(db: Session, rows: list[dict[str, Any]]) -> None:
    """Write look-ups of codes; when one is of an unknown or revoked code, run
    ``unknown_code_scanned`` (it alerts)."""
    db.add_all(CodeScan(**row) for row in rows)
    db.flush()
    alarming = {ScanOutcome.UNKNOWN.value, ScanOutcome.REVOKED.value}
    if any(row["outcome"] in alarming for row in rows):
        from jcjg.alerts.engine import run_rule

        run_rule(db, "unknown_code_scanned")


def token_matches(report: Report, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest((token or "").encode(), report.token.encode())


MAX_PDF_BYTES = 50 * 1024 * 1024


def attach_pdf(
    *,
    db: Session,
    settings: Settings,
    institution: Institution,
    data: ReportFileIn,
    received_at: dt.datetime,
) -> Report:
    """The report's signed PDF, once: its signatures and QR are checked now
    (``report_signature_invalid``, ``report_qr_mismatch``); a corrected file is a new report
    that replaces this one. Notarised (``report:file``: the file's hash)."""
    from jcjg.reports import pdf  # pyHanko loads on first use

    report = db.scalars(
        select(Report).where(Report.institution_id == institution.id, Report.number == data.number)
    ).first()
    if report is None:
        raise _fail("number", "本机构没有这个报告编号（先用 report 申领监管码）")
    if report.pdf_sha256 is not None:
        raise _fail(
            "number", "该报告已上传报告文件；更正请用新的报告编号申领并在 replaces 中说明", "unique"
        )
    content = blob_store(settings).get(data.pdf_sha256)
    if len(content) > MAX_PDF_BYTES:
        raise _fail("pdf_sha256", "报告文件超过 50 MB")
    if not content.startswith(b"%PDF-"):
        raise _fail("pdf_sha256", "报告文件不是 PDF")
    report.pdf_sha256 = data.pdf_sha256
    report.pdf_received_at = received_at
    report.pdf_checks = pdf.check(
        db=db, settings=settings, report=report, pdf=content, received_at=received_at
    )
    ledger.notarise(
        db,
        "report:file",
        {"supervision_code": report.supervision_code, "pdf_sha256": data.pdf_sha256},
    )
    db.flush()
    return report
