"""The credit model's formula, pure (docs/credit.md spells it out for a reader to recompute):

E_s   = mean of source s's evaluations in the period (0-100), to 0.01
base  = sum(w_s * E_s) / sum(w_s) over the sources with an evaluation and w_s > 0, to 0.01;
        the model's ``baseline`` when there is none
D_k   = min(cap_k, n_k * points_k) for each fact kind k (n_k facts counted)
score = base - sum(D_k), kept within [0, 100], to 0.01 (half up)
grade = the first band (highest first) whose minimum the score reaches
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jcjg.credit.choices import FactKind, Source

CENT = Decimal("0.01")
PERIOD = re.compile(r"^(20[0-9]{2})(?:Q([1-4]))?$")

# the model a province starts from (its version 1 when the authority has written none)
DEFAULT_CONFIG: dict[str, Any] = {
    "baseline": 90,
    "weights": {"self": 0.1, "party": 0.3, "association": 0.2, "authority": 0.4},
    "deductions": {
        "alert_confirmed": {"points": 2, "cap": 20},
        "nonconformity_unreported": {"points": 3, "cap": 15},
        "rectification_order": {"points": 3, "cap": 15},
        "rectification_overdue": {"points": 5, "cap": 20},
        "penalty": {"points": 10, "cap": 40},
        "proficiency_action": {"points": 5, "cap": 15},
        "proficiency_warning": {"points": 2, "cap": 6},
        "exchange_rejected": {"points": 0.5, "cap": 5},
    },
    "bands": [["AAA", 90], ["AA", 80], ["A", 70], ["B", 60], ["C", 0]],
    "person": {"baseline": 100, "deductions": {"penalty": {"points": 20, "cap": 60}}},
    "appeal_days": 15,
}


def q(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def period_bounds(period: str) -> tuple[dt.date, dt.date]:
    """The first day of ``period`` (``2026`` or ``2026Q3``) and the first day after it."""
    found = PERIOD.match(period)
    if not found:
        raise ValueError("期间须为年份（如 2026）或季度（如 2026Q3）")
    year = int(found.group(1))
    if found.group(2) is None:
        return dt.date(year, 1, 1), dt.date(year + 1, 1, 1)
    quarter = int(found.group(2))
    start = dt.date(year, 3 * quarter - 2, 1)
    end = dt.date(year + 1, 1, 1) if quarter == 4 else dt.date(year, 3 * quarter + 1, 1)
    return start, end


def period_of(day: dt.date) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def check_config(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What is wrong with a model's config, as (field, Chinese message); empty when sound."""
    out: list[tuple[str, str]] = []
    weights = config.get("weights") or {}
    if set(weights) - {s.value for s in Source}:
        out.append(("weights", "权重只能给四类评价来源"))
    if any(dec(w) < 0 for w in weights.values()) or sum(dec(w) for w in weights.values()) <= 0:
        out.append(("weights", "权重不能为负，且合计须大于 0"))
    for kind, rule in (config.get("deductions") or {}).items():
        if kind not in {k.value for k in FactKind}:
            out.append(("deductions", f"未知的扣分事项 {kind}"))
        elif dec(rule.get("points", 0)) < 0 or dec(rule.get("cap", 0)) < 0:
            out.append(("deductions", "扣分和上限不能为负"))
    bands = config.get("bands") or []
    minimums = [dec(b[1]) for b in bands]
    if not bands or minimums != sorted(minimums, reverse=True) or minimums[-1] != 0:
        out.append(("bands", "等级须从高到低排列，最低一级的下限为 0"))
    if not 0 <= dec(config.get("baseline", -1)) <= 100:
        out.append(("baseline", "基准分须在 0 到 100 之间"))
    return out


@dataclass(frozen=True)
class Result:
    base: Decimal
    means: dict[str, Decimal | None]
    deductions: dict[str, dict[str, Any]]  # kind -> count, points, capped
    deducted: Decimal
    score: Decimal
    grade: str


def base_of(
    weights: Mapping[str, Any], scores: Mapping[str, Sequence[Decimal]], baseline: Any
) -> tuple[Decimal, dict[str, Decimal | None]]:
    means: dict[str, Decimal | None] = {}
    total = Decimal(0)
    weight = Decimal(0)
    for source in Source:
        given = scores.get(source.value) or []
        mean = q(sum(given, Decimal(0)) / len(given)) if given else None
        means[source.value] = mean
        w = dec(weights.get(source.value, 0))
        if mean is not None and w > 0:
            total += w * mean
            weight += w
    return (q(total / weight) if weight else q(dec(baseline))), means


def deductions_of(
    rules: Mapping[str, Any], counts: Mapping[str, int]
) -> tuple[dict[str, dict[str, Any]], Decimal]:
    out: dict[str, dict[str, Any]] = {}
    total = Decimal(0)
    for kind, n in counts.items():
        rule = rules.get(kind)
        if not rule or not n:
            continue
        raw = dec(rule["points"]) * n
        points = min(dec(rule["cap"]), raw)
        out[kind] = {"count": n, "points": str(q(points)), "capped": points < raw}
        total += points
    return out, q(total)


def grade_of(bands: Sequence[Sequence[Any]], score: Decimal) -> str:
    for grade, minimum in bands:
        if score >= dec(minimum):
            return str(grade)
    return str(bands[-1][0])


def compute(
    config: Mapping[str, Any],
    scores: Mapping[str, Sequence[Decimal]],
    counts: Mapping[str, int],
    *,
    person: bool = False,
) -> Result:
    """The score of an institution (``scores`` by source, ``counts`` by fact kind), or of a
    key person (``person``: the model's person baseline, its person deductions)."""
    means: dict[str, Decimal | None] = {}
    if person:
        part = config.get("person") or {}
        base = q(dec(part.get("baseline", 100)))
        rules = part.get("deductions") or {}
    else:
        base, means = base_of(config.get("weights") or {}, scores, config.get("baseline", 90))
        rules = config.get("deductions") or {}
    kinds, deducted = deductions_of(rules, counts)
    score = q(min(Decimal(100), max(Decimal(0), base - deducted)))
    return Result(base, means, kinds, deducted, score, grade_of(config["bands"], score))
