"""The signed PDF of a report, checked as it arrives (000 4.1.2; 001 9.1.1.3; 002 11): every
signature intact and covering the whole file, signed before upload with a certificate the
institution registered for one of its people, at least one of them an authorised signatory
whose scope covers the report's specialties; and the QR printed in it is this report's."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.catalogue.service import item_specialties
from jcjg.config import Settings
from jcjg.core.codes import normalise
from jcjg.core.masking import mask_name
from jcjg.documents.scan import ScanUnavailable, pdf_qr_codes
from jcjg.documents.signing import InvalidPdfError, SignatureCheck, verify_signatures
from jcjg.registry.models import Person, Signatory, SigningCertificate
from jcjg.reports.models import Report


def check(
    *, db: Session, settings: Settings, report: Report, pdf: bytes, received_at: dt.datetime
) -> dict[str, Any]:
    """What the platform found in the report's PDF (stored as ``report.pdf_checks``)."""
    signatures, signature_problems = _signatures(db, report, pdf, received_at)
    qr, qr_problems = _qr(report, pdf)
    return {
        "checked_at": received_at.isoformat(),
        "signatures": signatures,
        "signature_problems": signature_problems,
        "qr": qr,
        "qr_problems": qr_problems,
    }


def _specialties(db: Session, report: Report) -> set[str]:
    """The specialty codes of the report's test items."""
    return {s.code for s in item_specialties(db=db, item_codes=report.items).values()}


def _signatures(
    db: Session, report: Report, pdf: bytes, received_at: dt.datetime
) -> tuple[list[dict[str, Any]], list[str]]:
    registered = {
        c.sha256: c
        for c in db.scalars(
            select(SigningCertificate).where(
                SigningCertificate.institution_id == report.institution_id
            )
        )
    }
    trust = [x509.load_der_x509_certificate(c.der) for c in registered.values()]
    try:
        checks = verify_signatures(pdf, trust=trust)
    except InvalidPdfError:
        return [], ["文件不是有效的 PDF"]
    if not checks:
        return [], ["报告文件没有电子签名"]
    needed = _specialties(db, report)
    signatories = {
        s.person_id: {sp.code for sp in s.specialties}
        for s in db.scalars(
            select(Signatory).where(Signatory.institution_id == report.institution_id)
        )
    }
    names = dict(
        db.execute(
            select(Person.id, Person.name).where(
                Person.id.in_({c.person_id for c in registered.values()})
            )
        ).all()
    )
    out: list[dict[str, Any]] = []
    problems: list[str] = []
    approved = False
    for found in checks:
        certificate = registered.get(found.signer_fingerprint_sha256)
        own = _problems(found, certificate, received_at)
        person_id = certificate.person_id if certificate else None
        scope = signatories.get(person_id) if person_id else None
        is_signatory = scope is not None and needed <= scope
        approved = approved or (is_signatory and not own)
        out.append(
            {
                "field": found.field_name,
                "signer": mask_name(names.get(person_id, "")) if person_id else "",
                "subject": found.signer_subject,
                "fingerprint_sha256": found.signer_fingerprint_sha256,
                "signed_at": found.signed_at.isoformat() if found.signed_at else None,
                "intact": found.intact,
                "whole_file": found.covers_whole_document,
                "registered": certificate is not None,
                "authorised_signatory": is_signatory,
                "problems": own,
            }
        )
        problems.extend(f"签章 {found.field_name}：{p}" for p in own)
    if not approved:
        problems.append("没有签字范围覆盖本报告检测专项的授权签字人的有效电子签名")
    return out, problems


def _problems(
    found: SignatureCheck, certificate: SigningCertificate | None, received_at: dt.datetime
) -> list[str]:
    problems = []
    if not found.intact:
        problems.append("签章后文件被篡改，签章覆盖的内容与签名不符")
    elif not found.valid:
        problems.append("签名值无效")
    elif not found.covers_whole_document:
        problems.append("签章后文件又被追加修改")
    if certificate is None:
        problems.append("签章证书未在本机构登记（不是本机构人员报送的电子签名证书）")
    elif found.signed_at is not None and not (
        certificate.not_before <= found.signed_at <= certificate.not_after
    ):
        problems.append("签章时证书不在有效期内")
    if found.signed_at is None:
        problems.append("签章未记录签章时间")
    elif found.signed_at > received_at + dt.timedelta(minutes=5):
        problems.append("签章时间晚于报告文件上传时间")
    return problems


def _qr(report: Report, pdf: bytes) -> tuple[dict[str, Any], list[str]]:
    try:
        texts = pdf_qr_codes(pdf)
    except ScanUnavailable as exc:  # not the lab's fault: noted, no finding
        return {"error": str(exc), "found": []}, []
    found: list[dict[str, Any]] = []
    for text in texts[:10]:
        parts = urlsplit(text)
        code = normalise(parts.path) if "/v/" in parts.path else ""
        token = (parse_qs(parts.query).get("t") or [""])[0]
        found.append({"code": code, "token_matches": token == report.token, "text": text[:200]})
    if not found:
        return {"found": []}, ["报告文件中没有可识别的监管码二维码"]
    mine = [f for f in found if f["code"] == report.supervision_code]
    if not mine:
        others = "、".join(sorted({f["code"] or f["text"][:40] for f in found}))
        return {"found": found}, [f"报告中的二维码不是本报告的监管码（{others}）"]
    if not any(f["token_matches"] for f in mine):
        return {"found": found}, ["报告中二维码的访问令牌与本报告不符"]
    return {"found": found}, []
