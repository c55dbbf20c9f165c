"""PDF rendering: sheets of sample tag labels and records (fields, sections, photos, QR).

The functions return unsigned PDF bytes; :func:`jcjg.documents.signing.sign_pdf` signs them.

Chinese text needs a font the PDF embeds: the first TrueType font of :data:`CJK_FONT_FILES`
present on the machine (Debian's fonts-wqy-microhei, installed by ``make sysdeps``). Without one
the documents fall back to reportlab's built-in CID font ``STSong-Light``, which is not embedded:
viewers substitute a local Song font, and text extraction needs poppler-data. A warning is logged
once when that happens.
"""

from __future__ import annotations

import io
import logging
import math
import re
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from PIL import Image as PILImage
from PIL import ImageOps
from reportlab import rl_config  # type: ignore[import-untyped]
from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
from reportlab.lib.units import mm  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
from reportlab.pdfbase.ttfonts import TTFont  # type: ignore[import-untyped]
from reportlab.pdfgen.canvas import Canvas  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Flowable,
    Image,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from jcjg.core import text as core_text
from jcjg.documents.qr import draw_qr

logger = logging.getLogger(__name__)

# Binary streams instead of reportlab's ASCII85 default (process-wide; nothing else here draws
# PDFs): ASCII85 makes files 25 % larger and its pure-Python encoder costs ~0.1 s per photo.
rl_config.useA85 = 0

AUTHOR = "JCJG"
CREATOR = "JCJG documents (reportlab)"

# (path, subfont index of the proportional face, subfont index of a monospaced face or None).
# TrueType outlines only: reportlab cannot embed CFF-flavoured OpenType (fonts-noto-cjk).
CJK_FONT_FILES: tuple[tuple[str, int, int | None], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0, 1),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0, 1),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0, None),
)
FALLBACK_CID_FONT = "STSong-Light"
FALLBACK_MONO_FONT = "Courier-Bold"  # Latin only: used for codes that are ASCII
LANGUAGE = "zh-CN"

# Characters WenQuanYi Micro Hei maps to an empty glyph, written with ones it draws.
GLYPH_SUBSTITUTES = str.maketrans(
    {"℃": "°C", "℉": "°F", "\u212b": "\u00c5", "Ⅴ": "V", "Ⅹ": "X", "∼": "~", "‾": "¯"}
)

MAX_IMAGE_SIDE = 1200  # pixels on the long side once downscaled: ~250 dpi at the largest slot
JPEG_QUALITY = 80
# Only what cameras and browsers produce: Pillow's other readers include EPS, which runs
# Ghostscript on whatever bytes an upload carries.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")

GREY = colors.Color(0.45, 0.45, 0.45)
LIGHT_GREY = colors.Color(0.75, 0.75, 0.75)
RULE_GREY = colors.Color(0.6, 0.6, 0.6)
LABEL_BG = colors.Color(0.95, 0.95, 0.95)


@dataclass(frozen=True)
class Fonts:
    """reportlab font names to draw with; ``embedded`` is False for the CID fallback."""

    text: str
    mono: str
    embedded: bool

    def mono_for(self, text: str) -> str:
        """The monospaced font when it has the glyphs of ``text``, else the text font."""
        if self.mono == FALLBACK_MONO_FONT and not text.isascii():
            return self.text
        return self.mono


_fonts_lock = threading.Lock()
# A registered TrueType font is one object per process, and reportlab reads its file through
# one shared position (TTFontFile.seek/read_*) when it writes a document's subset of glyphs:
# two threads writing PDFs at once (two downloads, the simulator's labs) interleave their
# reads and get a KeyError or, worse, wrong glyphs. Every PDF is written holding this lock.
_writing = threading.RLock()
_fonts_cache: dict[tuple[tuple[str, int, int | None], ...], Fonts] = {}


def document_fonts(candidates: Sequence[tuple[str, int, int | None]] = CJK_FONT_FILES) -> Fonts:
    """Register the first available CJK TrueType font once per process and return its names."""
    key = tuple(candidates)
    with _fonts_lock:
        cached = _fonts_cache.get(key)
        if cached is None:
            cached = _fonts_cache[key] = _register_fonts(key)
        return cached


def _register_fonts(candidates: tuple[tuple[str, int, int | None], ...]) -> Fonts:
    for path, text_index, mono_index in candidates:
        if not Path(path).is_file():
            continue
        stem = Path(path).stem
        text_name = f"JCJG-{stem}-{text_index}"
        if text_name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(text_name, path, subfontIndex=text_index))
        mono_name = text_name
        if mono_index is not None:
            mono_name = f"JCJG-{stem}-{mono_index}"
            if mono_name not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(mono_name, path, subfontIndex=mono_index))
        return Fonts(text=text_name, mono=mono_name, embedded=True)
    logger.warning(
        "no CJK TrueType font found (%s); PDFs use the non-embedded CID font %s "
        "(install fonts-wqy-microhei)",
        ", ".join(path for path, _, _ in candidates) or "none configured",
        FALLBACK_CID_FONT,
    )
    if FALLBACK_CID_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FALLBACK_CID_FONT))
    return Fonts(text=FALLBACK_CID_FONT, mono=FALLBACK_MONO_FONT, embedded=False)


def printable(text: str) -> str:
    """``text`` with the characters the fonts cannot draw replaced (see GLYPH_SUBSTITUTES) and
    those the text boundary refuses dropped (controls, bidi and zero-width characters, lone
    surrogates: :func:`jcjg.core.text.printable`), so that text stored before the boundary
    existed cannot break a document. Line breaks are kept (a paragraph turns them into
    ``<br/>``)."""
    return core_text.printable(text).translate(GLYPH_SUBSTITUTES)


def _truncate(text: str, font: str, size: float, width: float) -> str:
    """``text`` cut with an ellipsis so that it fits in ``width`` points."""
    text = printable(text)
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    ellipsis = "…"
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with the ellipsis
        mid = (low + high + 1) // 2
        if pdfmetrics.stringWidth(text[:mid] + ellipsis, font, size) <= width:
            low = mid
        else:
            high = mid - 1
    return text[:low] + ellipsis


def _wrap_chars(text: str, font: str, size: float, width: float) -> list[str]:
    """``text`` broken into lines of at most ``width`` points, anywhere (codes have no spaces)."""
    lines: list[str] = []
    current = ""
    for char in text:
        if current and pdfmetrics.stringWidth(current + char, font, size) > width:
            lines.append(current)
            current = char
        else:
            current += char
    if current:
        lines.append(current)
    return lines


# ---------------------------------------------------------------------------------------------
# Label sheets


@dataclass(frozen=True)
class Label:
    """One sample tag: the code printed big, its QR payload, and up to two short lines."""

    code: str
    qr_payload: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class LabelLayout:
    """Grid of the label sheet on A4 portrait, in points."""

    columns: int = 3
    rows: int = 8
    label_width: float = 63 * mm
    label_height: float = 33 * mm
    top: float = 18 * mm  # room for the title above the grid
    qr_size: float = 29 * mm  # quiet zone included: the printed code is >= 22 mm wide
    padding: float = 2 * mm

    @property
    def per_page(self) -> int:
        return self.columns * self.rows

    @property
    def left(self) -> float:
        return float((A4[0] - self.columns * self.label_width) / 2)

    def origin(self, slot: int) -> tuple[float, float]:
        """Bottom-left corner of the label in ``slot`` (row by row from the top left)."""
        row, column = divmod(slot, self.columns)
        x = self.left + column * self.label_width
        y = A4[1] - self.top - (row + 1) * self.label_height
        return x, y


LABEL_LAYOUT = LabelLayout()


def page_pdf(title: str, lines: Sequence[str], qr_url: str | None = None) -> bytes:
    """A plain one-page A4 document: a title, a few lines and, when given, the QR of ``qr_url``
    at the top right (where labs print it). What the simulator and the demo upload as a lab's
    report or a written account of a rectification."""
    from jcjg.documents.qr import draw_qr

    fonts = document_fonts()
    out = io.BytesIO()
    page = Canvas(out, pagesize=(595, 842))
    page.setFont(fonts.text, 16)
    page.drawString(60, 780, printable(title))
    page.setFont(fonts.text, 11)
    for n, line in enumerate(lines):
        page.drawString(60, 750 - 18 * n, printable(line))
    if qr_url:
        draw_qr(page, qr_url, 440, 660, 110)
    page.showPage()
    with _writing:
        page.save()
    return out.getvalue()


def label_sheet_pdf(
    labels: Sequence[Label], *, title: str, footer: str = "", layout: LabelLayout = LABEL_LAYOUT
) -> bytes:
    """A4 pages of sample tag labels in a grid (3 x 8 by default) with light cut lines.

    Each label has its QR code on the left and, on the right, the code in large monospaced
    text (shrunk, then broken over lines, when long) and up to two lines of context truncated
    to fit. Every page carries ``title`` at the top, ``footer`` and "第 n / N 页" at the bottom.
    """
    fonts = document_fonts()
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer, pagesize=A4, pageCompression=1, initialFontName=fonts.text, lang=LANGUAGE
    )
    _set_metadata(canvas, title=title, subject="样品标签")
    pages = max(1, math.ceil(len(labels) / layout.per_page))
    for page in range(pages):
        chunk = labels[page * layout.per_page : (page + 1) * layout.per_page]
        _draw_sheet_frame(canvas, fonts, layout, title, footer, page + 1, pages)
        for slot, label in enumerate(chunk):
            x, y = layout.origin(slot)
            _draw_label(canvas, fonts, layout, label, x, y)
        canvas.showPage()
    with _writing:
        canvas.save()
    return buffer.getvalue()


def _draw_sheet_frame(
    canvas: Any,
    fonts: Fonts,
    layout: LabelLayout,
    title: str,
    footer: str,
    page: int,
    pages: int,
) -> None:
    width, height = A4
    canvas.setFillColor(colors.black)
    canvas.setFont(fonts.text, 12)
    canvas.drawCentredString(
        width / 2, height - 11 * mm, _truncate(title, fonts.text, 12, width - 20 * mm)
    )
    canvas.setFont(fonts.text, 8)
    canvas.setFillColor(GREY)
    canvas.drawRightString(width - layout.left, 7 * mm, f"第 {page} / {pages} 页")
    if footer:
        canvas.drawString(layout.left, 7 * mm, _truncate(footer, fonts.text, 8, width * 0.6))
    # Cut lines along the whole grid, dashed and light so they do not distract the scanner.
    canvas.saveState()
    canvas.setStrokeColor(LIGHT_GREY)
    canvas.setLineWidth(0.3)
    canvas.setDash(2, 2)
    left, right = layout.left, layout.left + layout.columns * layout.label_width
    top = height - layout.top
    bottom = top - layout.rows * layout.label_height
    for row in range(layout.rows + 1):
        y = top - row * layout.label_height
        canvas.line(left - 4 * mm, y, right + 4 * mm, y)
    for column in range(layout.columns + 1):
        x = left + column * layout.label_width
        canvas.line(x, bottom - 4 * mm, x, top + 4 * mm)
    canvas.restoreState()


def _draw_label(
    canvas: Any, fonts: Fonts, layout: LabelLayout, label: Label, x: float, y: float
) -> None:
    qr_y = y + (layout.label_height - layout.qr_size) / 2
    draw_qr(canvas, label.qr_payload, x + layout.padding / 2, qr_y, layout.qr_size)
    text_left = x + layout.padding / 2 + layout.qr_size + layout.padding / 2
    text_width = x + layout.label_width - layout.padding - text_left
    top = y + layout.label_height - layout.padding - 1 * mm

    code = printable(label.code)
    mono = fonts.mono_for(code)
    size = 13.0
    while size > 8 and pdfmetrics.stringWidth(code, mono, size) > text_width:
        size -= 0.5
    code_lines = _wrap_chars(code, mono, size, text_width)[:3]
    canvas.setFillColor(colors.black)
    canvas.setFont(mono, size)
    baseline = top - size * 0.8
    for line in code_lines:
        canvas.drawString(text_left, baseline, line)
        baseline -= size * 1.15

    canvas.setFillColor(GREY)
    canvas.setFont(fonts.text, 7)
    baseline -= 1.5 * mm
    for line in label.lines[:2]:
        if baseline < y + layout.padding:
            break
        canvas.drawString(text_left, baseline, _truncate(line, fonts.text, 7, text_width))
        baseline -= 9


def _set_metadata(canvas: Any, *, title: str, subject: str) -> None:
    canvas.setTitle(printable(title))
    canvas.setAuthor(AUTHOR)
    canvas.setCreator(CREATOR)
    canvas.setSubject(printable(subject))


# ---------------------------------------------------------------------------------------------
# Records


@dataclass(frozen=True)
class Grid:
    """A titled table with a header row (repeated on each page) and rows of text cells;
    ``widths`` are the columns' shares of the page width (equal when empty)."""

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    widths: Sequence[float] = ()


@dataclass(frozen=True)
class RecordDocument:
    """A record: header, a field table, titled sections, photos, and an optional QR link.

    ``fields`` and each section's rows are (label, value) pairs; values wrap (long hashes and
    signatures too); ``grids`` (tables with a header row) follow the sections. ``images`` are
    (caption, JPEG/PNG bytes); one that cannot be decoded shows a placeholder. The QR of
    ``qr_url`` with ``qr_caption`` goes to the top right.
    """

    title: str
    subtitle: str
    fields: Sequence[tuple[str, str]]
    images: Sequence[tuple[str, bytes]]
    sections: Sequence[tuple[str, Sequence[tuple[str, str]]]] = ()
    qr_url: str | None = None
    qr_caption: str = "扫码查验"
    footer: str = ""
    images_title: str = "现场照片"
    grids: Sequence[Grid] = ()


PAGE_MARGIN = 18 * mm
LABEL_COLUMN = 32 * mm
HEADER_QR = 26 * mm
IMAGE_COLUMNS = 2
IMAGE_MAX_HEIGHT = 62 * mm
_TOKEN = re.compile(r"[0-9A-Za-z+/=:_-]{24,}")  # hashes, keys, signatures: set in monospace


@dataclass(frozen=True)
class _Styles:
    title: Any
    subtitle: Any
    heading: Any
    label: Any
    value: Any
    token: Any
    caption: Any
    placeholder: Any


def _styles(fonts: Fonts) -> _Styles:
    def style(name: str, **kwargs: Any) -> Any:
        kwargs.setdefault("fontName", fonts.text)
        return ParagraphStyle(name, wordWrap="CJK", **kwargs)

    return _Styles(
        title=style("title", fontSize=18, leading=24),
        subtitle=style("subtitle", fontSize=10.5, leading=15, textColor=GREY),
        heading=style("heading", fontSize=12, leading=17, spaceBefore=8, spaceAfter=4),
        label=style("label", fontSize=9.5, leading=13, textColor=colors.Color(0.25, 0.25, 0.25)),
        value=style("value", fontSize=9.5, leading=13),
        token=style("token", fontName=fonts.mono, fontSize=8.5, leading=11.5),
        caption=style("caption", fontSize=8.5, leading=12, alignment=1, textColor=GREY),
        placeholder=style("placeholder", fontSize=9, leading=13, alignment=1, textColor=GREY),
    )


def _text(value: str) -> str:
    return escape(printable(value)).replace("\n", "<br/>")


def _value_paragraph(value: str, styles: _Styles, fonts: Fonts) -> Any:
    token = value.strip()
    if _TOKEN.fullmatch(token) and fonts.mono_for(token) == fonts.mono:
        return Paragraph(_text(token), styles.token)
    return Paragraph(_text(value), styles.value)


def _rows_table(
    rows: Sequence[tuple[str, str]], styles: _Styles, fonts: Fonts, width: float
) -> Any:
    data = [
        [Paragraph(_text(label), styles.label), _value_paragraph(value, styles, fonts)]
        for label, value in rows
    ]
    table = Table(data, colWidths=[LABEL_COLUMN, width - LABEL_COLUMN])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, RULE_GREY),
                ("BACKGROUND", (0, 0), (0, -1), LABEL_BG),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                ("LEFTPADDING", (0, 0), (-1, -1), 5),
                ("RIGHTPADDING", (0, 0), (-1, -1), 5),
            ]
        )
    )
    return table


def _grid_table(grid: Grid, styles: _Styles, fonts: Fonts, width: float) -> Any:
    """The grid with its title as the first row and its header as the second, both repeated
    on each page: a title is never left alone at the foot of a page."""
    shares = list(grid.widths) or [1.0] * len(grid.header)
    total = sum(shares)
    columns = len(grid.header)
    data = [
        [Paragraph(_text(grid.title), styles.heading), *([""] * (columns - 1))],
        [Paragraph(_text(h), styles.label) for h in grid.header],
        *([_value_paragraph(cell, styles, fonts) for cell in row] for row in grid.rows),
    ]
    table = Table(data, colWidths=[width * w / total for w in shares], repeatRows=2)
    table.setStyle(
        TableStyle(
            [
                ("SPAN", (0, 0), (-1, 0)),
                ("GRID", (0, 1), (-1, -1), 0.4, RULE_GREY),
                ("BACKGROUND", (0, 1), (-1, 1), LABEL_BG),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 1), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 1), (-1, -1), 4),
                ("LEFTPADDING", (0, 0), (-1, -1), 4),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


class QrFlowable(Flowable):  # type: ignore[misc]  # reportlab is untyped
    """A QR code as a platypus flowable, ``size`` points square (quiet zone included)."""

    def __init__(self, data: str, size: float) -> None:
        super().__init__()
        self.data = data
        self.size = size
        self.width = self.height = size

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        return self.size, self.size

    def draw(self) -> None:
        draw_qr(self.canv, self.data, 0, 0, self.size)


def prepare_image(data: bytes) -> tuple[bytes, int, int] | None:
    """JPEG bytes at most :data:`MAX_IMAGE_SIDE` pixels on the long side, upright, and its size.

    ``None`` when ``data`` is not a JPEG, PNG or WebP image Pillow can decode, or is a
    decompression bomb.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(data), formats=IMAGE_FORMATS) as opened:
                # JPEG decodes straight at a reduced scale: the main cost of a camera photo.
                opened.draft("RGB", (MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
                image = ImageOps.exif_transpose(opened)
                if image.mode in {"RGBA", "LA", "PA"} or (
                    image.mode == "P" and "transparency" in image.info
                ):
                    rgba = image.convert("RGBA")
                    image = PILImage.new("RGB", rgba.size, (255, 255, 255))
                    image.paste(rgba, mask=rgba.getchannel("A"))
                elif image.mode != "RGB":
                    image = image.convert("RGB")
                image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE))
                out = io.BytesIO()
                image.save(out, format="JPEG", quality=JPEG_QUALITY)
                return out.getvalue(), image.width, image.height
    except Exception as exc:  # any undecodable upload shows a placeholder
        logger.info("image not rendered in PDF: %s: %s", type(exc).__name__, exc)
        return None


def _image_cell(caption: str, data: bytes, styles: _Styles, width: float) -> list[Any]:
    prepared = prepare_image(data)
    caption_paragraph = Paragraph(_text(caption), styles.caption)
    if prepared is None:
        box = Table(
            [[Paragraph("（图片无法显示）", styles.placeholder)]],
            colWidths=[width],
            rowHeights=[IMAGE_MAX_HEIGHT / 2],
        )
        box.setStyle(
            TableStyle(
                [
                    ("BOX", (0, 0), (-1, -1), 0.5, LIGHT_GREY),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ]
            )
        )
        return [box, caption_paragraph]
    jpeg, pixel_width, pixel_height = prepared
    scale = min(width / pixel_width, IMAGE_MAX_HEIGHT / pixel_height)
    image = Image(io.BytesIO(jpeg), width=pixel_width * scale, height=pixel_height * scale)
    return [image, Spacer(1, 2), caption_paragraph]


def _images_table(images: Sequence[tuple[str, bytes]], styles: _Styles, width: float) -> Any:
    gap = 6 * mm
    cell_width = (width - gap * (IMAGE_COLUMNS - 1)) / IMAGE_COLUMNS
    cells = [_image_cell(caption, data, styles, cell_width) for caption, data in images]
    rows: list[list[Any]] = []
    for start in range(0, len(cells), IMAGE_COLUMNS):
        row = cells[start : start + IMAGE_COLUMNS]
        rows.append(row + [""] * (IMAGE_COLUMNS - len(row)))
    column_widths: list[float] = []
    for column in range(IMAGE_COLUMNS):
        column_widths.append(cell_width + (gap if column < IMAGE_COLUMNS - 1 else 0))
    table = Table(rows, colWidths=column_widths)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (IMAGE_COLUMNS - 2, -1), gap),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 8),
            ]
        )
    )
    return table


def _header(doc: RecordDocument, styles: _Styles, width: float) -> Any:
    text = [Paragraph(_text(doc.title), styles.title)]
    if doc.subtitle:
        text += [Spacer(1, 2), Paragraph(_text(doc.subtitle), styles.subtitle)]
    if doc.qr_url is None:
        return text
    qr = [QrFlowable(doc.qr_url, HEADER_QR), Paragraph(_text(doc.qr_caption), styles.caption)]
    table = Table([[text, qr]], colWidths=[width - HEADER_QR - 4 * mm, HEADER_QR + 4 * mm])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (0, 0), "MIDDLE"),
                ("VALIGN", (1, 0), (1, 0), "TOP"),
                ("ALIGN", (1, 0), (1, 0), "RIGHT"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
            ]
        )
    )
    return [table]


def _numbered_canvas(fonts: Fonts, footer: str) -> type[Any]:
    """A canvas class that holds pages back until the end to print "第 n / N 页" on each."""

    class NumberedCanvas(Canvas):  # type: ignore[misc]  # reportlab is untyped
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._saved_pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # reportlab's name
            self._saved_pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._saved_pages)
            for number, state in enumerate(self._saved_pages, start=1):
                self.__dict__.update(state)
                self._draw_footer(number, total)
                super().showPage()
            super().save()

        def _draw_footer(self, number: int, total: int) -> None:
            width = A4[0]
            self.saveState()
            self.setStrokeColor(LIGHT_GREY)
            self.setLineWidth(0.4)
            self.line(PAGE_MARGIN, 13 * mm, width - PAGE_MARGIN, 13 * mm)
            self.setFont(fonts.text, 8)
            self.setFillColor(GREY)
            self.drawRightString(width - PAGE_MARGIN, 9 * mm, f"第 {number} / {total} 页")
            if footer:
                self.drawString(PAGE_MARGIN, 9 * mm, _truncate(footer, fonts.text, 8, width * 0.6))
            self.restoreState()

    return NumberedCanvas


def record_pdf(doc: RecordDocument) -> bytes:
    """An A4 record: header (title, subtitle, QR), fields, photos, then the titled sections.

    The sections come last because they are what vouches for the rest (seal, ledger receipt).
    """
    fonts = document_fonts()
    styles = _styles(fonts)
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=PAGE_MARGIN,
        rightMargin=PAGE_MARGIN,
        topMargin=PAGE_MARGIN,
        bottomMargin=20 * mm,
        title=printable(doc.title),
        author=AUTHOR,
        creator=CREATOR,
        subject=printable(doc.subtitle),
        lang=LANGUAGE,
        displayDocTitle=True,
        initialFontName=fonts.text,
        pageCompression=1,
    )
    width = template.width
    story: list[Any] = [*_header(doc, styles, width), Spacer(1, 6 * mm)]
    if doc.fields:
        story.append(_rows_table(doc.fields, styles, fonts, width))
    if doc.images:
        story += [
            Paragraph(_text(doc.images_title), styles.heading),
            _images_table(doc.images, styles, width),
        ]
    for heading, rows in doc.sections:
        story.append(Paragraph(_text(heading), styles.heading))
        if rows:
            story.append(_rows_table(rows, styles, fonts, width))
    for grid in doc.grids:
        if grid.rows:
            story.append(_grid_table(grid, styles, fonts, width))
        else:
            story.append(Paragraph(_text(grid.title), styles.heading))
    with _writing:  # the flowables are laid out and the canvas saved in build()
        template.build(story, canvasmaker=_numbered_canvas(fonts, doc.footer))
    return buffer.getvalue()
