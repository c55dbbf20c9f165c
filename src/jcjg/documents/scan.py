"""Reading the QR codes printed in a PDF, as a phone would: the first pages are rendered with
poppler (``pdftoppm``) and the images decoded with zbar (``zbarimg``), both system packages
(``make sysdeps``). Offline, with time limits; nothing is kept on disk. The last answers are
kept in memory by the file's SHA-256: the exchange decodes a report's codes before the apply
transaction that stores them (``report_file``'s ``prepare``), and reads them there again."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

TIMEOUT_S = 30
KEPT = 256  # answers kept (a batch of messages is at most 200)
_kept: OrderedDict[tuple[bytes, int, int], list[str]] = OrderedDict()
_kept_lock = threading.Lock()


class ScanUnavailable(RuntimeError):
    """poppler or zbar is not installed on this server."""


def pdf_qr_codes(pdf: bytes, *, pages: int = 3, dpi: int = 200) -> list[str]:
    """The text of every QR code on the first ``pages`` pages of ``pdf`` (in page order)."""
    key = (hashlib.sha256(pdf).digest(), pages, dpi)
    with _kept_lock:
        if key in _kept:
            _kept.move_to_end(key)
            return list(_kept[key])
    found = _decode(pdf, pages, dpi)
    with _kept_lock:
        _kept[key] = list(found)
        while len(_kept) > KEPT:
            _kept.popitem(last=False)
    return found


def _decode(pdf: bytes, pages: int, dpi: int) -> list[str]:
    pdftoppm, zbarimg = shutil.which("pdftoppm"), shutil.which("zbarimg")
    if pdftoppm is None or zbarimg is None:
        raise ScanUnavailable("服务器缺少 poppler-utils 或 zbar-tools，无法识别报告中的二维码")
    with tempfile.TemporaryDirectory(prefix="jcjg-scan-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(pdf)
        rendered = subprocess.run(  # noqa: S603 (fixed tools, our own temp paths)
            [pdftoppm, "-r", str(dpi), "-l", str(pages), "-gray", "-png", str(source),
             str(Path(tmp) / "page")],
            capture_output=True, timeout=TIMEOUT_S, check=False,
        )  # fmt: skip
        images = sorted(Path(tmp).glob("page*.png"))
        if rendered.returncode != 0 or not images:
            return []
        decoded = subprocess.run(  # noqa: S603 (fixed tools, our own temp paths)
            [zbarimg, "--raw", "-q", "-Sdisable", "-Sqrcode.enable", *map(str, images)],
            capture_output=True, timeout=TIMEOUT_S, check=False,
        )  # fmt: skip
    # zbarimg exits 4 when it found nothing
    return [line for line in decoded.stdout.decode("utf-8", "replace").splitlines() if line]
