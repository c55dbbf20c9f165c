"""The supervision report as a PDF (``documents.pdf.record_pdf``): the period's figures, the
trend by month and the nonconforming rate by region drawn as PNG, the top findings and their
handling, and the sections other packages add (``OVERVIEW_REPORT_SECTIONS``)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from jcjg.documents.pdf import CJK_FONT_FILES, Grid, RecordDocument, record_pdf
from jcjg.overview.sections import Section

WIDTH, HEIGHT = 1200, 620
LEFT, RIGHT, TOP, BOTTOM = 110, 110, 80, 120
BLUE, RED, GREY = (59, 130, 246), (220, 38, 38), (120, 120, 120)


def _font(size: int) -> Any:
    for path, index, _ in CJK_FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size, index=index)
    return ImageFont.load_default()


def _png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def bar_chart(
    title: str, labels: Sequence[str], bars: Sequence[float], bar_name: str,
    line: Sequence[float] | None = None, line_name: str = "",
) -> bytes:  # fmt: skip
    """Bars of ``bars`` (left axis) and, when given, a line of ``line`` in % (right axis)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    font, small = _font(28), _font(20)
    draw.text((LEFT, 20), title, fill="black", font=font)
    low_y, high_y = HEIGHT - BOTTOM, TOP
    span = high_y - low_y
    top_bar = max([*bars, 1.0])
    top_line = max([*(line or []), 1.0])
    draw.line((LEFT, low_y, WIDTH - RIGHT, low_y), fill=GREY, width=2)
    for k in range(5):
        y = low_y + span * k / 4
        draw.line((LEFT, y, WIDTH - RIGHT, y), fill=(230, 230, 230), width=1)
        draw.text((10, y - 12), f"{top_bar * k / 4:.0f}", fill=BLUE, font=small)
        if line is not None:
            draw.text(
                (WIDTH - RIGHT + 10, y - 12), f"{top_line * k / 4:.1f}%", fill=RED, font=small
            )
    step = (WIDTH - LEFT - RIGHT) / max(len(labels), 1)
    points = []
    for n, name in enumerate(labels):
        x0 = LEFT + n * step + step * 0.2
        x1 = LEFT + (n + 1) * step - step * 0.2
        y = low_y + span * (bars[n] / top_bar)
        draw.rectangle((x0, min(y, low_y - 1), x1, low_y), fill=BLUE)
        draw.text((x0, low_y + 10), name[:6], fill="black", font=small)
        if line is not None:
            points.append(((x0 + x1) / 2, low_y + span * (line[n] / top_line)))
    if len(points) > 1:
        draw.line(points, fill=RED, width=4)
    for x, y in points:
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=RED)
    legend_y = HEIGHT - 45
    draw.rectangle((LEFT, legend_y, LEFT + 24, legend_y + 20), fill=BLUE)
    draw.text((LEFT + 34, legend_y - 4), bar_name, fill="black", font=small)
    if line is not None:
        draw.line((LEFT + 300, legend_y + 10, LEFT + 340, legend_y + 10), fill=RED, width=4)
        draw.text((LEFT + 350, legend_y - 4), line_name, fill="black", font=small)
    return _png(image)


def _n(value: Any) -> str:
    return f"{value}"


def _figure_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    i, s, e, t = f["institutions"], f["staff"], f["equipment"], f["testing"]
    r, nc, _o, a = f["reports"], f["nonconformities"], f["orders"], f["alerts"]
    return [
        ("检测机构", f"{i['total']} 家（其中暂停 {i['suspended']} 家）"),
        ("检测人员", f"{s['total']} 人；持检测人员证书 {s['inspectors']} 人，注册执业 "
                     f"{s['registered']} 人"),
        ("培训与能力确认", f"本期培训 {s['trainings']} 人次（合格 {s['trainings_passed']}）；"
                           f"能力确认 {s['assessments']} 人次（合格 {s['assessments_passed']}）"),
        ("检测设备", f"{e['total']} 台（套）；在用 {e['in_use']}，检定/校准过期 {e['overdue']}，"
                     f"{30} 天内到期 {e['due_soon']}"),
        ("检测记录", f"{t['records']} 条；不合格 {t['nonconforming']} 条，不合格率 {t['rate']}%"),
        ("检测报告", f"本期出具 {r['issued']} 份（有效 {r['valid']}，撤回 {r['withdrawn']}，"
                     f"被替换 {r['replaced']}）"),
        ("不合格项", f"本期登记 {nc['found']} 项：待处理 {nc['open']}，处理中 {nc['handling']}，"
                     f"已闭环 {nc['closed']}；逾期未闭环 {nc['overdue']}"),
        ("预警", f"本期产生 {a['total']} 条：已确认 {a['confirmed']}，未消除 {a['open']}"),
    ]  # fmt: skip


def _handling_rows(f: dict[str, Any]) -> list[tuple[str, str]]:
    nc, o, a = f["nonconformities"], f["orders"], f["alerts"]
    return [
        ("预警处理", f"本期办结预警处理 {a['cases_closed']} 件"),
        ("整改要求", f"本期下发 {o['issued']} 份：待整改 {o['pending']}，已答复待复核 "
                     f"{o['answered']}，已办结 {o['closed']}；逾期未办结 {o['overdue']}"),
        ("不合格项处理", f"已闭环 {nc['closed']} 项，逾期未闭环 {nc['overdue']} 项"),
    ]  # fmt: skip


def report_pdf(
    *, figures: dict[str, Any], region_name: str, period_label: str, kind_label: str,
    trend: Sequence[Sequence[Any]], top: Sequence[dict[str, Any]], extra: Sequence[Section],
    platform_name: str, generated: str,
) -> bytes:  # fmt: skip
    """The report of ``figures`` (:func:`jcjg.overview.figures.collect`)."""
    areas = [a for a in figures["areas"] if a["records"] or a["institutions"]]
    images = [
        ("按月趋势", bar_chart("近 12 个月检测记录与不合格率", [m[0][2:] for m in trend],
                               [m[1] for m in trend], "检测记录（条）",
                               [m[3] for m in trend], "不合格率（%）")),
    ]  # fmt: skip
    if areas:
        images.append((
            "各地不合格率",
            bar_chart("本期各地检测记录与不合格率", [a["name"] for a in areas],
                      [a["records"] for a in areas], "检测记录（条）",
                      [a["rate"] for a in areas], "不合格率（%）"),
        ))  # fmt: skip
    grids = [
        Grid("各地情况", ["地区", "检测机构", "检测人员", "设备", "检测记录", "不合格", "不合格率",
                         "预警"],
             [[a["name"], _n(a["institutions"]), _n(a["people"]), _n(a["equipment"]),
               _n(a["records"]), _n(a["nonconforming"]), f"{a['rate']}%", _n(a["alerts"])]
              for a in figures["areas"]], (3, 2, 2, 2, 2, 2, 2, 2)),
        Grid("主要问题：预警类型（按本期条数）", ["预警类型", "条数"],
             [[t, _n(n)] for t, n in figures["alerts"]["by_rule"][:10]], (5, 1)),
        Grid("主要问题：确认预警和不合格项最多的检测机构", ["检测机构", "确认的预警", "不合格项"],
             [[t["name"], _n(t["alerts"]), _n(t["nonconformities"])] for t in top], (4, 1, 1)),
    ]  # fmt: skip
    for section in extra:
        if section.table is not None:
            grids.append(Grid(section.title, section.table.header, section.table.rows))
    sections: list[tuple[str, Sequence[tuple[str, str]]]] = [
        ("本期主要数据", _figure_rows(figures)),
        *((s.title, list(s.figures)) for s in extra if s.figures),
        ("问题处理情况", _handling_rows(figures)),
    ]
    fields = [
        ("地区", region_name),
        ("报告期", f"{period_label}（{kind_label}）"),
        ("统计截至", figures["as_of"]),
        ("生成时间", generated),
    ]
    return record_pdf(
        RecordDocument(
            title="建设工程检测监管情况报告",
            subtitle=f"{region_name} {period_label}",
            fields=fields,
            images=images,
            images_title="图示",
            sections=sections,
            grids=grids,
            footer=f"{platform_name} 自动生成（报告文件的 SHA-256 记入存证日志）",
        )
    )
