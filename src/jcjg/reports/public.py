"""Public verification of a report (000 4.1.2; 002 15): ``/v/{code}`` opens from the report's
QR code on any phone, without login. With the report's token (in the QR) it shows the report,
the chain behind it and the log's proof, checked in the browser; with the code alone only that
it exists and who issued it. Every look-up is logged; unknown and revoked codes raise
``unknown_code_scanned``."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.core.codes import normalise
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.forms import Id
from jcjg.core.later import write_later
from jcjg.core.masking import mask_name
from jcjg.core.ratelimit import rate_limit
from jcjg.core.templating import render, render_shared
from jcjg.ledger import service as ledger
from jcjg.reports import chain, service
from jcjg.reports.choices import ReportStatus, ScanOutcome
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import Report
from jcjg.sampling import codes as sample_codes
from jcjg.sampling.models import Sample
from jcjg.tenancy.models import Institution
from jcjg.testing import service as testing
from jcjg.testing.choices import Judgement
from jcjg.testing.models import Curve

router = APIRouter(
    route_class=TransactionalRoute,
    include_in_schema=False,
    dependencies=[Depends(rate_limit("verify"))],
)
Public = Annotated[Principal, Depends(requires(None))]
# what a person may type or a scanner read: kept short; anything else is simply not a code
Code = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z \-]+$")]
Token = Annotated[str | None, Query(alias="t", max_length=64)]
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _scan(
    request: Request, db: Session, settings: Settings, code: str, token: str | None
) -> service.Scan:
    found = service.scan(
        db=db,
        raw_code=code,
        token=token,
        client=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        salt=settings.secret_key,
        now=utcnow(),
    )
    batched = settings.verify_scan_flush_seconds > 0
    if batched and found.outcome not in (ScanOutcome.UNKNOWN, ScanOutcome.REVOKED):
        request.app.state.scan_log.add(found.row)
    else:  # in a transaction of its own once the page has read (its only write)
        write_later(db, partial(service.log_scans, rows=[found.row]))
    return found


def _summary(found: service.Scan, institution: Institution | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": found.code,
        "outcome": found.outcome.value,
        "message": found.outcome.label,
    }
    report = found.report
    if found.problem:
        out["problem"] = found.problem
    if found.legacy is not None:
        old = found.legacy
        out |= {
            "report_number": old.report_number,
            "institution": old.institution_name,
            "issued_on": old.issued_on.isoformat(),
            "pdf_sha256": old.pdf_sha256,
            "imported": {"source": old.source, "at": old.imported_at.isoformat()},
            "ledger": {"index": old.ledger_index},
        }
    if report is None:
        return out
    out |= {
        "institution": institution.name if institution else None,
        "issued_on": report.issued_on.isoformat(),
        "status": report.status,
    }
    if found.outcome is ScanOutcome.REVOKED:
        out["status_reason"] = report.status_reason
    if found.outcome is ScanOutcome.GENUINE:
        out |= {
            "report_number": report.number,
            "title": report.title,
            "items": report.items,
            "conclusion": report.conclusion,
            "judgement": report.judgement,
            "signatories": [mask_name(n) for n in report.signatories],
            "ledger": {"index": report.ledger_index, "leaf_hash": report.leaf_hash},
        }
    return out


@router.get("/v/{code}.json")
def verify_json(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    code: Code,
    token: Token = None,
) -> Response:
    """The verification as JSON (for the labs' and parties' own systems)."""
    found = _scan(request, db, settings, code, token)
    institution = db.get(Institution, found.report.institution_id) if found.report else None
    status = 404 if found.outcome in (ScanOutcome.UNKNOWN, ScanOutcome.MALFORMED) else 200
    response = JSONResponse(_summary(found, institution), status_code=status, headers=NO_STORE)
    _keep(request, principal, found, code, response)
    return response


def _keep(
    request: Request, principal: Principal, found: service.Scan, code: str, response: Response
) -> None:
    """An anonymous visitor's answer for a genuine report is everyone's: the fast path
    (jcjg.reports.fastpath) gives it again for a moment."""
    answers = request.app.state.verify_answers
    if found.outcome is ScanOutcome.REVOKED:  # withdrawn meanwhile: never given again
        answers.forget({found.code})
    elif found.outcome is ScanOutcome.GENUINE and principal.is_anonymous and found.report:
        answers.put(
            (code, response.media_type == "application/json"),
            code=found.code,
            report=found.report,
            body=bytes(response.body),
            media_type=response.headers["content-type"],
        )


@router.get("/verify", response_class=HTMLResponse)
def verify_entry(
    request: Request,
    principal: Public,
    code: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """报告查验 by typing the 监管码 (the public portal's box, or this page alone): a code of
    the right form opens its verification page; anything else is answered here, in Chinese."""
    problem = ""
    if code.strip():
        typed = normalise(code)
        problem = SUPERVISION.problem(typed) or ""
        if not problem:
            return RedirectResponse(f"/v/{typed}", 303)
        problem = f"{problem}：请核对报告上的防伪监管码（17 位，含末位校验码）后重新输入。"
    return render(
        request,
        "reports/verify_entry.html",
        {"code": code, "problem": problem},
        status_code=422 if problem else 200,
    )


@router.get("/m/scan", response_class=HTMLResponse)
def scan_page(
    request: Request,
    principal: Public,
    q: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """扫码查验 on the phone: the camera reads a report's QR (its verification page opens) or a
    sample tag (the tag's page); typing the code is the fallback (``q``)."""
    problem = ""
    if q.strip():
        code = normalise(q)
        if not SUPERVISION.problem(code):
            return RedirectResponse(f"/v/{code}", 303)
        if not sample_codes.code_problem(code):
            return RedirectResponse(f"/s/{code}", 303)
        problem = "无法识别的编码：报告监管码为 17 位，样品编码为 16 位，请核对后重新输入。"
    return render(
        request,
        "m/scan.html",
        {"q": q, "problem": problem},
        status_code=422 if problem else 200,
    )


@router.get("/v/{code}", response_class=HTMLResponse)
def verify_page(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    code: Code,
    token: Token = None,
) -> Response:
    found = _scan(request, db, settings, code, token)
    report = found.report
    context: dict[str, Any] = {
        "found": found,
        "outcomes": ScanOutcome,
        "display": SUPERVISION.display,
        "token": token if found.outcome is ScanOutcome.GENUINE else None,
        "judgement": lambda v: Judgement(v),
        "status": lambda v: ReportStatus(v),
        "mask": mask_name,
    }
    if report is not None:
        context["institution"] = db.get(Institution, report.institution_id)
        if found.outcome is ScanOutcome.GENUINE:
            context["chain"] = request.app.state.chain_cache.get(db, report)
            # a page many read at once: the cosigned checkpoint counted at most every
            # JCJG_PAGE_FIGURES_SECONDS per process (cosignatures come every minute or so)
            context["cosigned"] = request.app.state.figures.get(
                ("ledger-cosigned",), lambda: ledger.latest_cosigned(db)
            )[0]
        elif found.outcome is ScanOutcome.REVOKED:
            context["replaced_by"] = db.scalars(
                select(Report).where(Report.replaces_id == report.id)
            ).first()
    status = 404 if found.outcome in (ScanOutcome.UNKNOWN, ScanOutcome.MALFORMED) else 200
    if principal.is_anonymous:  # the same page for every visitor: no form, no cookie
        response = render_shared(request, "reports/verify.html", context, status_code=status)
    else:
        response = render(request, "reports/verify.html", context, status_code=status)
    response.headers.update(NO_STORE)
    _keep(request, principal, found, code, response)
    return response


def _genuine(db: SessionDep, code: str, token: str | None) -> Report:
    """The report of ``code`` when ``token`` opens it (files behind a report are the token's
    only; nothing is logged for them, the page was)."""
    report = db.scalars(select(Report).where(Report.supervision_code == normalise(code))).first()
    if report is None or report.status != ReportStatus.ISSUED.value:
        raise NotFound()
    if not service.token_matches(report, token):
        raise NotFound()
    return report


@router.get("/v/{code}/curves/{curve_id}.json")
def verify_curve(
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    code: Code,
    curve_id: Id,
    token: Token = None,
) -> Response:
    """A curve of a test record the report covers, for playback on the public page."""
    report = _genuine(db, code, token)
    row = db.get(Curve, curve_id)
    if row is None or row.test_record_id not in chain.record_ids(db, report):
        raise NotFound()
    return JSONResponse(testing.curve_json(settings, row), headers=NO_STORE)


@router.get("/v/{code}/samples/{sample_code}/{role}")
def verify_photo(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Public,
    code: Code,
    sample_code: Annotated[str, Path(min_length=16, max_length=16, pattern=r"^[0-9A-Z]+$")],
    role: Annotated[str, Path(pattern=r"^(sample|tag)$")],
    token: Token = None,
) -> Response:
    """A key image of a sample behind the report: the sample or its tag (never a face)."""
    report = _genuine(db, code, token)
    codes = {s.code for s in request.app.state.chain_cache.get(db, report).samples}
    if sample_code not in codes:
        raise NotFound()
    sample = db.scalars(select(Sample).where(Sample.sample_code == sample_code)).one()
    digest = sample.photo_sample_sha256 if role == "sample" else sample.photo_tag_sha256
    data = blob_store(settings).get(digest)
    media = "image/png" if data[:4] == b"\x89PNG" else "image/jpeg"
    return Response(data, media_type=media, headers=NO_STORE)


@router.get("/v/{code}/report.pdf")
def verify_pdf_file(
    db: SessionDep, settings: SettingsDep, principal: Public, code: Code, token: Token = None
) -> Response:
    """The report's signed PDF, with the token (as the QR carries it)."""
    report = _genuine(db, code, token)
    if report.pdf_sha256 is None:
        raise NotFound("检测机构尚未上传报告文件")
    return Response(
        blob_store(settings).get(report.pdf_sha256),
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="report-{report.supervision_code}.pdf"',
            **NO_STORE,
        },
    )
