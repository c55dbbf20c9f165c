"""The evaluation report of a proficiency scheme as a PDF (``documents.pdf.record_pdf``): the
scheme, the statistics of each sample, every participant's result with its scores and signal,
and the figures (z scores, histogram of results, Youden plot of a pair) drawn as PNG."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from jcjg.documents.pdf import CJK_FONT_FILES, Grid, RecordDocument, record_pdf
from jcjg.proficiency import statistics as stats
from jcjg.proficiency.choices import AssignedMode, SchemeStatus
from jcjg.proficiency.models import ProficiencyParticipant, ProficiencyResult, ProficiencyScheme

WIDTH, HEIGHT = 1200, 640
MARGIN = 90
BLUE, RED, AMBER, GREY = (59, 130, 246), (220, 38, 38), (217, 119, 6), (120, 120, 120)


def _font(size: int) -> Any:
    for path, index, _ in CJK_FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size, index=index)
    return ImageFont.load_default()


def fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def figure_digits(values: Sequence[float]) -> int:
    """Decimals to show the scheme's values with: three significant figures of their spread."""
    spread = max((abs(v) for v in values), default=1.0) or 1.0
    digits = 4 - len(str(int(spread)))
    return max(1, min(digits, 6))


@dataclass
class _Canvas:
    image: Any
    draw: Any
    low: float
    high: float

    def y(self, value: float) -> float:
        span = self.high - self.low or 1.0
        return HEIGHT - MARGIN - (value - self.low) / span * (HEIGHT - 2 * MARGIN)


def _png(image: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def z_chart(codes: Sequence[str], values: Sequence[float], title: str) -> bytes:
    """Bars of each participant's score, lines at ±2 (warning) and ±3 (action)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    top = max(4.0, *(abs(v) + 0.5 for v in values)) if values else 4.0
    canvas = _Canvas(image, draw, -top, top)
    font, small = _font(26), _font(18)
    draw.text((MARGIN, 20), title, fill="black", font=font)
    for level, colour in ((2, AMBER), (3, RED)):
        for sign in (1, -1):
            y = canvas.y(sign * level)
            draw.line((MARGIN, y, WIDTH - 30, y), fill=colour, width=2)
            draw.text((20, y - 10), f"{sign * level:+d}", fill=colour, font=small)
    zero = canvas.y(0)
    draw.line((MARGIN, zero, WIDTH - 30, zero), fill=GREY, width=1)
    step = (WIDTH - MARGIN - 40) / max(len(values), 1)
    for n, (code, value) in enumerate(zip(codes, values, strict=True)):
        left = MARGIN + n * step + step * 0.15
        signal = stats.signal(stats.Score.Z, value)
        colour = (
            RED
            if signal is stats.Signal.ACTION
            else AMBER
            if signal is stats.Signal.WARNING
            else BLUE
        )
        y = canvas.y(value)
        draw.rectangle((left, min(y, zero), left + step * 0.7, max(y, zero)), fill=colour)
        draw.text((left, HEIGHT - MARGIN + 8), code, fill="black", font=small)
    return _png(image)


def histogram_chart(values: Sequence[float], x_pt: float, title: str, unit: str) -> bytes:
    """Counts of results in equal bins, the assigned value marked."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    bins = stats.histogram(values)
    most = max((c for _, _, c in bins), default=1)
    canvas = _Canvas(image, draw, 0, most * 1.15)
    font, small = _font(26), _font(18)
    draw.text((MARGIN, 20), title, fill="black", font=font)
    low, high = bins[0][0], bins[-1][1]
    span = high - low or 1.0
    width = WIDTH - MARGIN - 40
    digits = figure_digits(values)

    def x(value: float) -> float:
        return MARGIN + (value - low) / span * width

    for start, end, count in bins:
        draw.rectangle((x(start) + 2, canvas.y(count), x(end) - 2, canvas.y(0)), fill=BLUE)
        draw.text((x(start) + 4, canvas.y(count) - 24), str(count), fill="black", font=small)
    for start, _, _ in bins:
        draw.text((x(start), HEIGHT - MARGIN + 8), f"{start:.{digits}f}", fill="black", font=small)
    if low <= x_pt <= high:
        draw.line((x(x_pt), MARGIN, x(x_pt), canvas.y(0)), fill=RED, width=3)
        draw.text((x(x_pt) + 6, MARGIN), f"指定值 {x_pt:.{digits}f} {unit}", fill=RED, font=small)
    return _png(image)


def youden_chart(codes: Sequence[str], pairs: Sequence[tuple[float, float]], title: str) -> bytes:
    """z of sample A against z of sample B, with the ±2 and ±3 squares."""
    image = Image.new("RGB", (HEIGHT + 200, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    top = max(4.0, *(max(abs(a), abs(b)) + 0.5 for a, b in pairs)) if pairs else 4.0
    canvas = _Canvas(image, draw, -top, top)
    side = HEIGHT - 2 * MARGIN
    font, small = _font(26), _font(18)
    draw.text((MARGIN, 20), title, fill="black", font=font)

    def x(value: float) -> float:
        return MARGIN + (value + top) / (2 * top) * side

    for level, colour in ((2, AMBER), (3, RED)):
        draw.rectangle(
            (x(-level), canvas.y(level), x(level), canvas.y(-level)), outline=colour, width=2
        )
    draw.line((x(-top), canvas.y(0), x(top), canvas.y(0)), fill=GREY)
    draw.line((x(0), canvas.y(-top), x(0), canvas.y(top)), fill=GREY)
    for tick in range(-int(top), int(top) + 1):  # the axes' ticks, labelled
        if tick:
            draw.line((x(tick), canvas.y(0) - 5, x(tick), canvas.y(0) + 5), fill=GREY)
            draw.line((x(0) - 5, canvas.y(tick), x(0) + 5, canvas.y(tick)), fill=GREY)
            draw.text((x(tick) - 8, canvas.y(0) + 8), f"{tick:d}", fill=GREY, font=small)
            draw.text((x(0) - 30, canvas.y(tick) - 10), f"{tick:d}", fill=GREY, font=small)
    for code, (a, b) in zip(codes, pairs, strict=True):
        cx, cy = x(a), canvas.y(b)
        draw.ellipse((cx - 7, cy - 7, cx + 7, cy + 7), fill=BLUE)
        draw.text((cx + 9, cy - 9), code, fill="black", font=small)
    draw.text((x(top) + 10, canvas.y(0) - 10), "样品 A 的 z", fill="black", font=small)
    draw.text((x(0) + 6, MARGIN - 30), "样品 B 的 z", fill="black", font=small)
    return _png(image)


def _statistics_rows(
    scheme: ProficiencyScheme, facts: dict[str, Any], digits: int
) -> list[tuple[str, str]]:
    unit = f" {scheme.unit}" if scheme.unit else ""
    rows = [("有效结果数 p", str(facts.get("p", 0)))]
    if "x_star" in facts:
        rows += [
            ("稳健平均值 x*（算法 A）", f"{facts['x_star']:.{digits + 1}f}{unit}"),
            ("稳健标准差 s*", f"{facts['s_star']:.{digits + 1}f}{unit}"),
            ("迭代次数", str(facts["iterations"])),
        ]
    rows += [
        ("指定值 x_pt", f"{facts['x_pt']:.{digits + 1}f}{unit}"),
        ("指定值的标准不确定度 u(x_pt)", f"{facts['u_x_pt']:.{digits + 1}f}{unit}"),
        ("能力评定标准差 σ_pt", f"{facts['sigma_pt']:.{digits + 1}f}{unit}"),
        (
            "u(x_pt) ≤ 0.3σ_pt",
            "是" if facts.get("u_small") else "否（宜采用 z′ 比分数，ISO 13528:2022 9.2.1）",
        ),
    ]
    return rows


def _result_grid(
    scheme: ProficiencyScheme,
    results: Sequence[ProficiencyResult],
    codes: dict[int, str],
    digits: int,
) -> Grid:
    rows = []
    for r in sorted(results, key=lambda r: (r.sample, codes.get(r.participant_id, ""))):
        rows.append(
            [
                codes.get(r.participant_id, ""),
                r.sample,
                f"{r.value:.{digits}f}",
                f"{r.expanded_uncertainty:g}（{r.coverage_factor:g}）"
                if r.expanded_uncertainty
                else "—",
                fmt(r.z),
                fmt(r.z_prime),
                fmt(r.zeta),
                fmt(r.en),
                stats.Signal(r.signal).label if r.signal else "—",
            ]
        )
    unit = f"（{scheme.unit}）" if scheme.unit else ""
    return Grid(
        "各参加者的结果与评价",
        ["参加者", "样品", f"结果{unit}", "U（k）", "z", "z′", "ζ", "En", "评价"],
        rows,
        (1.1, 0.8, 1.4, 1.3, 1, 1, 1, 1, 2.2),
    )


def evaluation_pdf(
    *,
    scheme: ProficiencyScheme,
    participants: Sequence[ProficiencyParticipant],
    results: Sequence[ProficiencyResult],
    parameter_name: str,
    platform_name: str,
    names: dict[int, str] | None = None,
) -> bytes:
    """The evaluation report; ``names`` (institution names by id) adds the key of participant
    codes, for the organiser's copy only."""
    codes = {p.id: p.code for p in participants}
    digits = figure_digits([r.value for r in results]) if results else 2
    score = stats.Score(scheme.score)
    fields = [
        ("试验编号", scheme.code),
        ("能力验证", scheme.title),
        ("检测参数", f"{parameter_name}（{scheme.parameter_code}）"),
        ("单位", scheme.unit or "—"),
        ("样品", "、".join(f"样品 {s}" for s in ("A", "B")[: scheme.sample_count])),
        ("样品发放日期", str(scheme.samples_sent_on or "—")),
        ("结果提交截止", str(scheme.deadline)),
        ("指定值的确定", AssignedMode(scheme.assigned_mode).label),
        (
            "评定比分数",
            f"{score.label}（|z|、|z′|、|ζ| ≤ 2 满意，2～3 警戒信号，≥ 3 行动信号；"
            "|En| ≥ 1 行动信号）",
        ),
        (
            "参加机构 / 提交结果",
            f"{len(participants)} / {len({r.participant_id for r in results})}",
        ),
        ("状态", SchemeStatus(scheme.status).label),
    ]
    if scheme.evaluation_index is not None:
        fields.append(
            ("存证", f"评价结果已记入存证日志第 {scheme.evaluation_index} 条（可按条目号查验）")
        )
    sections: list[tuple[str, Sequence[tuple[str, str]]]] = []
    images: list[tuple[str, bytes]] = []
    by_sample: dict[str, list[ProficiencyResult]] = {}
    for r in results:
        by_sample.setdefault(r.sample, []).append(r)
    for sample, rows in sorted(by_sample.items()):
        facts = scheme.statistics.get(sample)
        if facts:
            sections.append(
                (
                    f"样品 {sample} 的统计量（ISO 13528:2022）",
                    _statistics_rows(scheme, facts, digits),
                )
            )
            ordered = sorted(rows, key=lambda r: codes.get(r.participant_id, ""))
            values = [getattr(r, score.value) for r in ordered]
            shown = [
                (codes.get(r.participant_id, ""), v)
                for r, v in zip(ordered, values, strict=True)
                if v is not None
            ]
            if shown:
                images.append(
                    (
                        f"样品 {sample} 的 {score.label}",
                        z_chart(
                            [c for c, _ in shown],
                            [v for _, v in shown],
                            f"样品 {sample}：{score.label}",
                        ),
                    )
                )
            images.append(
                (
                    f"样品 {sample} 的结果分布",
                    histogram_chart(
                        [r.value for r in rows],
                        facts["x_pt"],
                        f"样品 {sample}：结果分布（{scheme.unit or '结果'}）",
                        scheme.unit,
                    ),
                )
            )
    if scheme.sample_count == 2 and scheme.statistics:
        pairs = youden_pairs(results, codes)
        if pairs:
            images.append(
                (
                    "尧登图（样品 A、B 的 z 比分数）",
                    youden_chart([c for c, _ in pairs], [p for _, p in pairs], "尧登图"),
                )
            )
    grids = [_result_grid(scheme, results, codes, digits)]
    if names:
        grids.append(
            Grid(
                "参加者代码对照（仅组织方留存）",
                ["参加者代码", "检测机构"],
                [[p.code, names.get(p.institution_id, "")] for p in participants],
                (1, 4),
            )
        )
    return record_pdf(
        RecordDocument(
            title="能力验证结果评价报告",
            subtitle=f"{scheme.title}（试验编号 {scheme.code}）",
            fields=fields,
            images=images,
            images_title="图示",
            sections=sections,
            grids=grids,
            footer=f"{platform_name} 依据 ISO 13528:2022 自动生成",
        )
    )


def youden_pairs(
    results: Sequence[ProficiencyResult], codes: dict[int, str]
) -> list[tuple[str, tuple[float, float]]]:
    by: dict[int, dict[str, float]] = {}
    for r in results:
        if r.z is not None:
            by.setdefault(r.participant_id, {})[r.sample] = r.z
    return sorted(
        (codes.get(pid, ""), (z["A"], z["B"])) for pid, z in by.items() if "A" in z and "B" in z
    )
