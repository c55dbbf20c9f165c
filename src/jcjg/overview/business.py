"""The overview's sections on supervision work, administrative penalties and credit (000 4.2.2:
"行政处罚"、"信用"; 002 第四条: the report on supervision): registered by the overview domain
itself under its two hooks, since those packages sit below the overview and answer plain
figures (``penalties.service.counts_by_region``, ``credit.service.grade_distribution``,
``supervision.service.summary``).

Penalties: decided in the period, by the institution's region (a child region per row, the
regions the drill-down shows). Credit: the published current grades of the latest quarter of the
period that has any (a month's quarter; a year's last published quarter). Supervision: spot
checks signed in the period, their conclusions, the findings by check item, the log's entries by
kind."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal
from jcjg.core.regioncodes import scope_prefix
from jcjg.credit import scoring
from jcjg.credit import service as credit
from jcjg.overview.periods import Period
from jcjg.overview.sections import Section, Table
from jcjg.overview.service import today
from jcjg.penalties import service as penalties
from jcjg.regions import service as regions
from jcjg.supervision import service as supervision
from jcjg.supervision.choices import LogKind


def _prefix(region_code: str) -> str:
    return scope_prefix(region_code) if region_code else ""


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f} 元"


def penalties_section(db: Session, region_code: str, period: Period) -> Section:
    """Penalties decided in the period: how many, fines in total, by child region."""
    tallies = penalties.counts_by_region(db, _prefix(region_code), period.start, period.end)
    count = sum(t.count for t in tallies.values())
    amount = sum((t.amount for t in tallies.values()), Decimal("0.00"))
    by_child: dict[str, list[Decimal]] = {}
    children = {r.code: r for r in regions.children(db=db, code=region_code or None)}
    for code, tally in tallies.items():
        child = next((c for c in children if code.startswith(scope_prefix(c))), code)
        slot = by_child.setdefault(child, [Decimal(0), Decimal("0.00")])
        slot[0] += tally.count
        slot[1] += tally.amount
    names = {code: r.name for code, r in children.items()}
    rows = [
        (names.get(code, code), str(int(n)), _money(total))
        for code, (n, total) in sorted(by_child.items())
    ]
    return Section(
        title="行政处罚",
        key="penalties",
        figures=(("作出的处罚决定", str(count)), ("罚款合计", _money(amount))),
        table=Table(("地区", "处罚决定", "罚款合计"), rows) if len(rows) > 1 else None,
        note="" if count else "本期没有作出行政处罚决定。",
    )


def credit_quarter(db: Session, region_code: str, period: Period, today: dt.date) -> str | None:
    """The latest quarter within the period (not after today) with published grades."""
    day = min(period.end, today)
    while day >= period.start:
        quarter = scoring.period_of(day)
        if credit.grade_distribution(db, _prefix(region_code), quarter):
            return quarter
        first, _ = scoring.period_bounds(quarter)
        day = first - dt.timedelta(days=1)
    return None


def credit_section(db: Session, region_code: str, period: Period, today: dt.date) -> Section:
    quarter = credit_quarter(db, region_code, period, today)
    grades = credit.grade_distribution(db, _prefix(region_code), quarter) if quarter else {}
    order = [band[0] for band in scoring.DEFAULT_CONFIG["bands"]]
    shown = sorted(grades, key=lambda g: order.index(g) if g in order else len(order))
    total = ("公布等级的机构", str(sum(grades.values())))
    figures = (total, *((f"{g} 级", str(grades[g])) for g in shown))
    if not quarter:
        return Section(
            title="信用评价", key="credit", figures=figures,
            note="本期尚未公布检测机构信用评价结果。",
        )  # fmt: skip
    year, q = quarter.split("Q")
    return Section(
        title="信用评价",
        key="credit",
        figures=figures,
        note=f"{year}年第{q}季度公布的检测机构信用等级。",
    )


def supervision_section(db: Session, region_code: str, period: Period) -> Section:
    figures = supervision.summary(db, _prefix(region_code), period.start, period.end)
    rows = [
        (item, str(n.get("conforming", 0)), str(n.get("nonconforming", 0)))
        for item, n in figures["findings_by_item"].items()
    ]
    logged = "、".join(
        f"{LogKind(kind).label} {n} 次"
        for kind, n in sorted(figures["log_by_kind"].items())
        if kind in LogKind.__members__.values()
    )
    return Section(
        title="监督执法",
        key="supervision",
        figures=(
            ("完成的双随机抽查", str(figures["checks_done"])),
            ("抽查的检测机构", str(figures["institutions_checked"])),
            ("发现问题的抽查", str(figures["nonconforming_checks"])),
            ("公开的抽查计划", str(figures["plans_published"])),
        ),
        table=Table(("检查项目", "符合", "不符合"), rows) if rows else None,
        note=f"监管工作记录：{logged}。" if logged else "本期没有监管工作记录。",
    )


def page_sections(
    db: Session, principal: Principal, region_code: str, period: Period
) -> list[Section]:
    """The ``overview.sections`` hook: what the reader may see of the three."""
    out = []
    if principal.can("supervision:read"):
        out.append(supervision_section(db, region_code, period))
    if principal.can("penalty:read"):
        out.append(penalties_section(db, region_code, period))
    out.append(credit_section(db, region_code, period, today()))
    return out


def report_sections(db: Session, region_code: str, period: Period) -> list[Section]:
    """The ``overview.report_sections`` hook: all three, for the region's authority."""
    return [
        supervision_section(db, region_code, period),
        penalties_section(db, region_code, period),
        credit_section(db, region_code, period, period.end),
    ]
