"""A value domain and a version's content in words: for pages and the generated docs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jcjg.governance.choices import DataType


def _n(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _range(domain: Mapping[str, Any]) -> list[str]:
    parts = []
    if "exclusive_minimum" in domain:
        parts.append(f"大于 {_n(domain['exclusive_minimum'])}")
    if "exclusive_maximum" in domain:
        parts.append(f"小于 {_n(domain['exclusive_maximum'])}")
    low, high = domain.get("minimum"), domain.get("maximum")
    if low is not None and high is not None:
        parts.append(f"{_n(low)}–{_n(high)}")
    elif low is not None:
        parts.append(f"不小于 {_n(low)}")
    elif high is not None:
        parts.append(f"不大于 {_n(high)}")
    if "decimal_places" in domain:
        parts.append(f"至多 {domain['decimal_places']} 位小数")
    return parts


def domain_words(
    kind: str,
    domain: Mapping[str, Any],
    codes: Mapping[str, str] | None = None,
    *,
    with_codes: bool = False,
) -> str:
    """``domain`` in Chinese: ``初级、中级``, ``0–100``, ``1–32 个字符``; the docs write the
    codes too (``with_codes``: ``junior（初级）``)."""
    parts = []
    if "enum" in domain:
        labelled = codes or {}

        def word(code: Any) -> str:
            name = labelled.get(str(code))
            if with_codes:
                return f"`{code}`（{name}）" if name else f"`{code}`"
            return name or str(code)

        parts.append("可取：" + "、".join(word(c) for c in domain["enum"]))
    parts.extend(_range(domain))
    shortest, longest = domain.get("min_length"), domain.get("max_length")
    if longest is not None:
        parts.append(f"{shortest or 0}–{longest} 个字符")
    elif shortest:
        parts.append(f"至少 {shortest} 个字符")
    if "pattern" in domain:
        pattern = domain["pattern"]
        parts.append(f"格式 `{pattern}`" if with_codes else f"格式 {pattern}")
    if domain.get("text") == "multiline":
        parts.append("可换行")
    if kind == DataType.DATE:
        parts.append("YYYY-MM-DD")
    elif kind == DataType.DATETIME:
        parts.append("ISO 8601 日期时间")
    return "；".join(parts) or "—"


def type_words(kind: str) -> str:
    try:
        return DataType(kind).label
    except ValueError:
        return kind
