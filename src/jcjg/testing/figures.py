"""The evidence of ``results_above_line`` drawn: a lab's groups near the line, 1 % by 1 %."""

from __future__ import annotations

import math
from collections.abc import Sequence

from jcjg.testing.fraud import Pile


def near_line_svg(margins: Sequence[float], pile: Pile, band: float, title: str) -> str:
    """Bars of the groups from ``100 - 2 band`` % to ``100 + 2 band`` % of the line, one per
    1 %, below the line orange and above it blue, the line itself, and what the lab's own
    neighbours predicted for the two bands beside it (720 x 480, readable on a phone)."""
    low, high = math.floor(100 - 2 * band), math.ceil(100 + 2 * band)
    steps = list(range(low, high))
    counts = dict.fromkeys(steps, 0)
    for m in margins:
        if low <= m < high:
            counts[math.floor(m)] += 1
    tallest = max([*counts.values(), 1])
    left, top, width, height = 60.0, 90.0, 640.0, 300.0
    bar = width / len(steps)
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 720 480" role="img" '
        'font-family="sans-serif" font-size="20">',
        f"<title>{title}：合格线附近每 1% 的组数</title>",
        '<rect width="720" height="480" fill="#fff"/>',
        f'<text x="10" y="28">{title}：合格线附近每 1% 的组数</text>',
        f'<text x="10" y="58" font-size="18">线下 {band:g}% 内 {pile.below} 组，'
        f"线上 {band:g}% 内 {pile.above} 组"
        + (
            f"；按本机构结果分布，线上应占约 {pile.own_share * 100:.0f}%"
            if pile.own_share is not None
            else ""
        )
        + "</text>",
        f'<text x="{left - 8}" y="{top + 6}" font-size="16" text-anchor="end">{tallest}</text>',
        f'<text x="{left - 8}" y="{top + height}" font-size="16" text-anchor="end">0</text>',
    ]
    for n, step in enumerate(steps):
        h = counts[step] / tallest * height
        colour = "#1f5fa8" if step >= 100 else "#d9730d"
        x = left + n * bar
        parts.append(
            f'<rect x="{x + 2:.1f}" y="{top + height - h:.1f}" width="{bar - 4:.1f}" '
            f'height="{h:.1f}" fill="{colour}"/>'
        )
        if step % 5 == 0:
            parts.append(
                f'<text x="{x:.1f}" y="{top + height + 24}" font-size="16" '
                f'text-anchor="middle">{step}%</text>'
            )
    line = left + (100 - low) * bar
    parts += [
        f'<line x1="{line:.1f}" y1="{top - 10}" x2="{line:.1f}" y2="{top + height}" '
        'stroke="#c00" stroke-width="3"/>',
        f'<text x="{line - 6:.1f}" y="{top + 8}" font-size="16" fill="#c00" '
        'text-anchor="end">合格线</text>',
        f'<text x="360" y="{top + height + 56}" text-anchor="middle" font-size="16">'
        "复算结果与合格线之比（橙：线下，蓝：线上）</text>",
        "</svg>",
    ]
    return "\n".join(parts)
