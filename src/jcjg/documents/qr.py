"""QR codes drawn as vector shapes on a reportlab canvas: sharp at any print resolution."""

from __future__ import annotations

import io
from typing import Any

import segno

QUIET_ZONE_MODULES = 4  # ISO/IEC 18004 minimum; scanners need the white margin


def qr_modules(data: str) -> list[tuple[bool, ...]]:
    """The QR code's dark/light modules, quiet zone included, row by row from the top.

    Always a full QR code (phones' scanners do not all read Micro QR), error level M at least
    (segno raises it when that fits in the same version).
    """
    code = segno.make(data, error="m", micro=False)
    return [
        tuple(bool(cell) for cell in row)
        for row in code.matrix_iter(scale=1, border=QUIET_ZONE_MODULES)
    ]


def draw_qr(canvas: Any, data: str, x: float, y: float, size: float) -> None:
    """Draw the QR code of ``data`` into the square at ``(x, y)`` (bottom left), ``size`` wide.

    ``size`` includes the quiet zone, which is painted white. The dark modules are one filled
    path of horizontal runs, so renderers leave no hairline seams between modules.
    """
    rows = qr_modules(data)
    module = size / len(rows)
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(0, 0, 0)
    path = canvas.beginPath()
    for r, row in enumerate(rows):
        top = y + size - r * module
        c = 0
        while c < len(row):
            if not row[c]:
                c += 1
                continue
            start = c
            while c < len(row) and row[c]:
                c += 1
            path.rect(x + start * module, top - module, (c - start) * module, module)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def qr_svg(data: str, scale: int = 8) -> str:
    """The QR code of ``data`` as a standalone SVG (full QR, quiet zone included)."""
    out = io.BytesIO()
    segno.make(data, error="m", micro=False).save(
        out, kind="svg", scale=scale, border=QUIET_ZONE_MODULES, xmldecl=False
    )
    return out.getvalue().decode()


def qr_png(data: str, scale: int = 8) -> bytes:
    """The QR code of ``data`` as a PNG, ``scale`` pixels per module (quiet zone included)."""
    out = io.BytesIO()
    segno.make(data, error="m", micro=False).save(
        out, kind="png", scale=scale, border=QUIET_ZONE_MODULES
    )
    return out.getvalue()
