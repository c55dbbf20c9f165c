"""Report PDFs for tests: a one-page report with its QR (:mod:`jcjg.demo.simulator.reports`), signed
with a person's key (:mod:`jcjg.documents.signing`)."""

from __future__ import annotations

from jcjg.demo.simulator.reports import pem, report_pdf
from jcjg.documents.signing import personal_identity as signer_identity
from jcjg.documents.signing import sign_pdf_as as sign

__all__ = ["pem", "report_pdf", "sign", "signer_identity"]
