"""The analysis's chart as a picture for its PDF (bars or a line of the first measure)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from jcjg.analytics.engine import Result
from jcjg.documents.pdf import CJK_FONT_FILES

WIDTH, HEIGHT, MARGIN = 1200, 640, 90
BLUE = (59, 130, 246)


def _font(size: int) -> Any:
    for path, index, _ in CJK_FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size, index=index)
    return ImageFont.load_default()


def chart_png(result: Result, kind: str, title: str) -> bytes:
    """The first measure per group (at most 30 groups), as bars, or a line for ``line``."""
    labels = [" ".join(lab) or "合计" for lab in result.labels][:30]
    values = [float(v[0] or 0) for v in result.values][:30]
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(26), _font(16)
    heading = result.header[len(result.dimensions)] if result.measures else ""
    draw.text((MARGIN, 20), f"{title}：{heading}", fill="black", font=font)
    top = max(values, default=1.0) or 1.0
    low_y, high_y = HEIGHT - MARGIN, MARGIN

    def y(v: float) -> float:
        return low_y - v / top * (low_y - high_y)

    draw.line((MARGIN, low_y, WIDTH - 30, low_y), fill="black", width=1)
    draw.text((10, high_y - 10), f"{top:g}", fill="black", font=small)
    step = (WIDTH - MARGIN - 40) / max(len(values), 1)
    points = []
    for n, (label, v) in enumerate(zip(labels, values, strict=True)):
        left = MARGIN + n * step
        if kind == "line":
            points.append((left + step / 2, y(v)))
        else:
            draw.rectangle((left + step * 0.15, y(v), left + step * 0.85, low_y), fill=BLUE)
        draw.text((left + 2, low_y + 8 + (n % 2) * 18), label[:8], fill="black", font=small)
    if len(points) > 1:
        draw.line(points, fill=BLUE, width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
