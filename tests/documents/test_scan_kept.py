"""The QR codes of a PDF are decoded once for the same bytes (the exchange decodes a report's
ahead of the transaction that stores its checks, issue 47)."""

from __future__ import annotations

import pytest

from jcjg.documents import scan


def test_the_same_bytes_are_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded: list[bytes] = []

    def decode(pdf: bytes, pages: int, dpi: int) -> list[str]:
        decoded.append(pdf)
        return [f"https://example.test/v/{len(decoded)}"]

    monkeypatch.setattr(scan, "_decode", decode)
    monkeypatch.setattr(scan, "_kept", type(scan._kept)())
    first = scan.pdf_qr_codes(b"%PDF-1.7 one")
    first.append("changed by a caller")  # the kept answer is a copy
    assert scan.pdf_qr_codes(b"%PDF-1.7 one") == ["https://example.test/v/1"]
    assert scan.pdf_qr_codes(b"%PDF-1.7 two") == ["https://example.test/v/2"]
    assert scan.pdf_qr_codes(b"%PDF-1.7 one", dpi=300) == ["https://example.test/v/3"]
    assert len(decoded) == 3
    monkeypatch.setattr(scan, "KEPT", 1)
    scan.pdf_qr_codes(b"%PDF-1.7 three")
    assert len(scan._kept) == 1
