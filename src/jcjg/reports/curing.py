"""``curing_age_short``: concrete cubes tested, or their report issued, before the curing age
the record declares could have passed since the cubes were cast (issue 25 item 4).

The cast is the sample's ``prepared_at`` (制样时间, registered on site within 30 minutes of it,
001 7.1.2, and witnessed); the age is the record's ``age_days`` (28 for the acceptance test).
GB/T 50081-2019 allows the test a tolerance around the age (``TOLERANCE_HOURS``); a test begun
earlier, or a report signed on a day before the age ends, is a result that cannot be what it
says (a test at 7 days reported as 28, or a report written before the cubes were broken).

``standard_curing_offsite``: standard-cured specimens are cured in the site's own curing room
until they are sent for their test (003 I(3)); specimens the lab received with more than a few
days of their curing still to run (to their age, or to their test when it came earlier) were
cured off the site, at the lab or elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, Rows, RuleContext, rule
from jcjg.core.workdays import beijing_date, beijing_minute
from jcjg.reports.models import Report, ReportRecord
from jcjg.sampling.choices import Curing
from jcjg.sampling.models import Sample, SampleReceipt
from jcjg.testing.choices import TestKind
from jcjg.testing.models import Specimen, TestRecord
from jcjg.testing.rules import record_finding

# GB/T 50081-2019: the test age's tolerance (hours) by age (days); longer ages 48 hours
TOLERANCE_HOURS = {1: 0.5, 3: 2.0, 7: 6.0, 28: 20.0, 56: 24.0, 60: 24.0}
# cubes cast on site when sampled: concrete, and masonry mortar (the same tolerances applied)
CAST_KINDS = (TestKind.CONCRETE_COMPRESSION.value, TestKind.MASONRY_MORTAR.value)


RECEIPT_DAYS = 120  # how far back standard_curing_offsite looks at receipts


def tolerance_hours(age_days: int) -> float:
    """The tolerance GB/T 50081-2019 allows a test at ``age_days``."""
    if age_days in TOLERANCE_HOURS:
        return TOLERANCE_HOURS[age_days]
    if age_days >= 84:
        return 48.0
    below = [a for a in TOLERANCE_HOURS if a <= age_days]
    return TOLERANCE_HOURS[max(below)] if below else 0.5


def _days(delta: dt.timedelta) -> str:
    hours = round(delta.total_seconds() / 3600)
    return f"{hours // 24} 天 {hours % 24} 小时"


@rule(
    "curing_age_short",
    title="试验或报告早于龄期",
    clause="GB/T 50081-2019 龄期允许偏差；002 第十七条（一）（二）；001 7.1.2",
    severity=Severity.CRITICAL,
    subject_type="test_record",
    defaults={"extra_hours": 0},
    labels={"extra_hours": "在标准允许偏差之外再放宽的小时数"},
    # a record is judged on itself, its samples and the reports on it: its write judges it
    # alone (its specimens, and their sample codes, are written with it and never after); a
    # sample's or a report's write its institution's records
    triggers=(TestRecord, Sample, Report),
    rows=Rows(TestRecord, "record"),
    description="混凝土、砂浆立方体试件的检测记录申报了龄期（如 28 天），"
    "而试验开始时距样品登记的制样时间还不到这个龄期"
    "（减去 GB/T 50081 规定的允许偏差，28 天为 20 小时）；或依据这条记录的检测报告"
    "签发日期早于龄期届满的日期：试验不可能是申报的龄期，或报告写在试件压完之前。预警列出制样时间、"
    "申报龄期、实际龄期和报告。",
)
def curing_age_short(ctx: RuleContext) -> Iterator[Finding]:
    stmt = (
        select(TestRecord, Sample.prepared_at, Sample.sample_code)
        .join(Specimen, Specimen.test_record_id == TestRecord.id)
        .join(Sample, Sample.sample_code == Specimen.sample_code)
        .where(TestRecord.kind.in_(CAST_KINDS), TestRecord.age_days.is_not(None))
    )
    cast_at: dict[int, tuple[TestRecord, dt.datetime, str]] = {}
    stmt = ctx.narrow_rows(ctx.narrow(stmt, TestRecord.institution_id), TestRecord.id)
    for record, prepared, code in ctx.db.execute(stmt):
        earliest = cast_at.get(record.id)
        # the latest cast of the record's samples bounds the age
        if earliest is None or prepared > earliest[1]:
            cast_at[record.id] = (record, prepared, code)
    if not cast_at:
        return
    reports: dict[int, list[Report]] = {}
    linked = (
        select(ReportRecord.test_record_id, Report)
        .join(Report, Report.id == ReportRecord.report_id)
        .where(ReportRecord.test_record_id.in_(sorted(cast_at)))
    )
    for record_id, report in ctx.db.execute(linked):
        reports.setdefault(record_id, []).append(report)
    for record, prepared, code in cast_at.values():
        facts = _short(ctx, record, prepared, code, reports.get(record.id, []))
        if facts is not None:
            yield record_finding(f"record:{record.id}", record, facts)


def _short(
    ctx: RuleContext,
    record: TestRecord,
    prepared: dt.datetime,
    code: str,
    reports: list[Report],
) -> dict[str, Any] | None:
    age = int(record.age_days or 0)
    allowed = tolerance_hours(age) + float(ctx.thresholds(record.region_code)["extra_hours"])
    due = prepared + dt.timedelta(days=age) - dt.timedelta(hours=allowed)
    problems = []
    if record.started_at < due:
        problems.append(
            f"试验开始时实际龄期 {_days(record.started_at - prepared)}，"
            f"不足申报的 {age} 天（允许提前 {allowed:g} 小时）"
        )
    # a report is signed on a day: it cannot be signed before the day the age ends
    early = [r for r in reports if r.issued_on < beijing_date(due)]
    problems.extend(
        f"检测报告 {r.number} 签发于 {r.issued_on.isoformat()}，"
        f"早于龄期届满的 {beijing_date(due).isoformat()}"
        for r in early
    )
    if not problems:
        return None
    return {
        "样品": code,
        "制样时间": beijing_minute(prepared),
        "申报龄期": f"{age} 天",
        "试验开始": beijing_minute(record.started_at),
        "龄期最早届满": beijing_minute(due),
        "问题": problems,
    }


@rule(
    "standard_curing_offsite",
    title="标准养护试件未在施工现场养护",
    clause="jz57 第十九条；003 一（三）",
    severity=Severity.WARNING,
    subject_type="sample",
    defaults={"days": 3},
    labels={"days": "收样时距养护结束多于（天）"},
    triggers=(TestRecord, Specimen, SampleReceipt, Sample),
    description="现场登记为标准养护（含抗渗）的试件，检测机构收样时距养护结束（检测记录申报的龄期"
    "届满，未申报按 28 天；试验更早的，到试验开始；尚未检测的，到现在）还有超过阈值的天数："
    "试件在养护期内离开了施工现场的标准养护室，在现场外养护。"
    "预警列出制样、收样、试验时间和龄期。",
)
def standard_curing_offsite(ctx: RuleContext) -> Iterator[Finding]:
    cured = (Curing.STANDARD.value, Curing.IMPERMEABILITY.value)
    stmt = (
        select(Sample, SampleReceipt)
        .join(SampleReceipt, SampleReceipt.sample_id == Sample.id)
        .where(
            Sample.curing.in_(cured),
            SampleReceipt.accepted.is_(True),
            # curing lasts at most the longest age (90 days): older receipts are settled
            SampleReceipt.checked_at >= ctx.now - dt.timedelta(days=RECEIPT_DAYS),
        )
        .order_by(SampleReceipt.checked_at)
    )
    received: dict[int, tuple[Sample, SampleReceipt]] = {}
    for sample, receipt in ctx.db.execute(ctx.narrow(stmt, SampleReceipt.institution_id)):
        received.setdefault(sample.id, (sample, receipt))  # the first accepted receipt
    if not received:
        return
    codes = {sample.sample_code: sample.id for sample, _ in received.values()}
    tested: dict[int, TestRecord] = {}
    for record, code in ctx.db.execute(
        select(TestRecord, Specimen.sample_code)
        .join(Specimen, Specimen.test_record_id == TestRecord.id)
        .where(Specimen.sample_code.in_(sorted(codes)))
        .order_by(TestRecord.started_at)
    ):
        if code in codes:
            tested.setdefault(codes[code], record)  # the first test of the sample
    for sample_id, (sample, receipt) in received.items():
        facts = _offsite(ctx, sample, receipt, tested.get(sample_id))
        if facts is None:
            continue
        yield Finding(
            key=f"sample:{sample.id}",
            subject_type="sample",
            subject_id=sample.sample_code,
            subject_repr=f"样品 {sample.sample_code}"
            f"（{sample.material}，{Curing(sample.curing).label}）",
            subject_number=sample.sample_code,
            institution_id=receipt.institution_id,
            region_code=sample.region_code,
            project_id=sample.project_id,
            facts=facts,
        )


def _offsite(
    ctx: RuleContext, sample: Sample, receipt: SampleReceipt, record: TestRecord | None
) -> dict[str, Any] | None:
    """What shows ``sample`` cured off the site, or None. Its curing ends at its age (the
    record's, else 28 days) or at its test when that came first; not yet tested, at its age or
    now."""
    age = int(record.age_days or 28) if record is not None else 28
    end = record.started_at if record is not None else ctx.now
    due = min(sample.prepared_at + dt.timedelta(days=age), end)
    days = float(ctx.thresholds(sample.region_code)["days"])
    if due - receipt.checked_at <= dt.timedelta(days=days):
        return None
    return {
        "制样时间": beijing_minute(sample.prepared_at),
        "检测机构收样": beijing_minute(receipt.checked_at),
        "龄期": f"{age} 天",
        "养护应至": beijing_minute(due),
        "收样时距养护结束": _days(due - receipt.checked_at),
        "检测记录": record.number if record is not None else "尚未检测",
        "试验开始": beijing_minute(record.started_at) if record is not None else "—",
    }
