"""Signed report PDFs for tests: a signer's key and certificate, a one-page report with its QR
(reportlab, the platform's CJK font), and a PAdES signature (pyHanko)."""

from __future__ import annotations

import datetime as dt
import io

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.pdfgen import canvas

from jcjg.documents.pdf import document_fonts
from jcjg.documents.qr import draw_qr

# what document signing certificates carry: digital signature and non-repudiation
USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=True, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=False,
    crl_sign=False, encipher_only=False, decipher_only=False,
)  # fmt: skip


def signer_identity(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A person's signing key and a self-signed certificate for documents (1 year)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(USAGE, critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def report_pdf(number: str, qr_url: str | None) -> bytes:
    """A one-page report with its number and, when given, the QR of ``qr_url``."""
    fonts = document_fonts()
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=(595, 842))
    page.setFont(fonts.text, 16)
    page.drawString(60, 780, f"检测报告 {number}")
    page.setFont(fonts.text, 11)
    page.drawString(60, 750, "混凝土试块抗压强度：符合 C30 设计要求。")
    if qr_url:
        draw_qr(page, qr_url, 440, 660, 110)
    page.showPage()
    page.save()
    return out.getvalue()


def sign(pdf: bytes, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> bytes:
    signer = signers.SimpleSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(certificate),
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=SimpleCertificateStore.from_certs(
            [translate_pyca_cryptography_cert_to_asn1(certificate)]
        ),
    )
    metadata = signers.PdfSignatureMetadata(
        field_name="Signature1", subfilter=fields.SigSeedSubFilter.PADES, reason="批准"
    )
    output = signers.PdfSigner(metadata, signer=signer).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(pdf))
    )
    return bytes(output.getbuffer())
