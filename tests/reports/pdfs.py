"""Report PDFs for tests: a one-page report with its QR (:func:`jcjg.documents.pdf.page_pdf`),
signed with a person's key (:mod:`jcjg.documents.signing`)."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from jcjg.documents.pdf import page_pdf
from jcjg.documents.signing import personal_identity as signer_identity
from jcjg.documents.signing import sign_pdf_as as sign

__all__ = ["pem", "report_pdf", "sign", "signer_identity"]


def report_pdf(number: str, qr_url: str | None, lines: tuple[str, ...] = ()) -> bytes:
    """Report ``number`` on one A4 page, the QR of ``qr_url`` at the top right."""
    return page_pdf(f"检测报告 {number}", lines or ("混凝土试块抗压强度：符合设计要求。",), qr_url)


def pem(certificate: x509.Certificate) -> str:
    """The certificate as PEM text, as a signatory's is registered."""
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
