"""Rules on reports and their supervision codes (000 4.1.2; 002 15; 004 II)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import Integer, String, and_, cast, func, or_, select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, Groups, Rows, RuleContext, rule, written_values
from jcjg.contracts.models import Contract
from jcjg.core.db import beijing_month
from jcjg.core.masking import mask_value
from jcjg.core.workdays import BEIJING, beijing_midnight
from jcjg.regions.models import Region
from jcjg.registry.models import Person
from jcjg.reports.choices import ReportStatus, ScanOutcome
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import CodeScan, Report, ReportRecord
from jcjg.sampling.models import Commission
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import Judgement
from jcjg.testing.models import TestRecord

MAX_WINDOW_DAYS = 366


@rule(
    "unknown_code_scanned",
    title="扫描了不存在或已失效的报告监管码（疑似伪造或作废报告在使用）",
    clause="000 4.1.2；002 第十五条；004 二",
    severity=Severity.CRITICAL,
    subject_type="supervision_code",
    defaults={"window_days": 30},
    labels={"window_days": "统计最近多少天的扫码（天）"},
    description="有人扫描或输入了一个格式正确、但平台从未签发的监管码（可能是伪造的报告），或一份已撤回、"
    "已被替换的报告的监管码（作废的报告仍在使用）。每个监管码一条预警，注明扫描次数和时间；"
    "格式不对的输入（多为输错）只记录不预警。",
)
def unknown_code_scanned(ctx: RuleContext) -> Iterator[Finding]:
    since = ctx.now - dt.timedelta(days=MAX_WINDOW_DAYS)
    bad = (ScanOutcome.UNKNOWN.value, ScanOutcome.REVOKED.value)
    scans = ctx.db.scalars(
        select(CodeScan)
        .where(CodeScan.outcome.in_(bad), CodeScan.scanned_at >= since)
        .order_by(CodeScan.scanned_at)
    )
    by_code: dict[str, list[CodeScan]] = {}
    for scan in scans:
        by_code.setdefault(scan.code, []).append(scan)
    if not by_code:
        return
    reports = {
        r.id: r
        for r in ctx.db.scalars(
            select(Report).where(
                Report.id.in_({s.report_id for v in by_code.values() for s in v if s.report_id})
            )
        )
    }
    regions = set(
        ctx.db.scalars(select(Region.code).where(Region.code.in_({c[:6] for c in by_code})))
    )
    for code, rows in by_code.items():
        report = reports.get(rows[-1].report_id) if rows[-1].report_id else None
        region = report.region_code if report else (code[:6] if code[:6] in regions else None)
        window = dt.timedelta(days=float(ctx.thresholds(region)["window_days"]))
        recent = [s for s in rows if s.scanned_at >= ctx.now - window]
        if not recent or (report is not None and not ctx.covers(report.institution_id)):
            continue
        facts: dict[str, Any] = {
            "扫描次数": len(recent),
            "首次扫描": recent[0].scanned_at.isoformat(),
            "最近扫描": recent[-1].scanned_at.isoformat(),
        }
        if report is None:
            facts["结果"] = "平台从未签发这个监管码"
        else:
            facts["结果"] = f"报告{ReportStatus(report.status).label}"
            facts["报告编号"] = report.number
            facts["原因"] = report.status_reason
        yield Finding(
            key=f"code:{code}",
            subject_type="supervision_code",
            subject_id=code,
            subject_repr=f"监管码 {SUPERVISION.display(code)}",
            subject_number=SUPERVISION.display(code),
            institution_id=report.institution_id if report else None,
            region_code=region,
            project_id=report.project_id if report else None,
            facts=facts,
        )


def _report_finding(report: Report, facts: dict[str, Any]) -> Finding:
    return Finding(
        key=f"report:{report.id}",
        subject_type="report",
        subject_id=str(report.id),
        subject_repr=f"检测报告 {report.number}",
        subject_number=report.number,
        institution_id=report.institution_id,
        region_code=report.region_code,
        project_id=report.project_id,
        facts=facts,
    )


def _file_findings(ctx: RuleContext, key: str) -> Iterator[Finding]:
    stmt = select(Report).where(Report.pdf_sha256.is_not(None))
    stmt = ctx.narrow_rows(ctx.narrow(stmt, Report.institution_id), Report.id)
    for report in ctx.db.scalars(stmt):
        problems = (report.pdf_checks or {}).get(key) or []
        if problems:
            yield _report_finding(report, {"问题": problems, "监管码": report.supervision_code})


@rule(
    "report_signature_invalid",
    title="报告文件的电子签名无效或不是授权签字人签署",
    clause="000 4.1.2；001 9.1.1.3；002 第十一条",
    severity=Severity.CRITICAL,
    subject_type="report",
    triggers=(Report,),
    rows=Rows(Report, "report"),  # each report on its file's checks, made at its upload
    description="上传的报告 PDF 没有电子签名，或签名在签署后被篡改、文件被追加修改，"
    "或签名证书不是本机构登记的人员证书、签署时不在有效期，或签署晚于上传，"
    "或没有签字范围覆盖本报告检测专项的授权签字人签名。",
)
def report_signature_invalid(ctx: RuleContext) -> Iterator[Finding]:
    yield from _file_findings(ctx, "signature_problems")


@rule(
    "report_qr_mismatch",
    title="报告文件中的二维码不是本报告的监管码",
    clause="000 4.1.2；004 二；003 三（五）",
    severity=Severity.CRITICAL,
    subject_type="report",
    triggers=(Report,),
    rows=Rows(Report, "report"),  # each report on its file's checks, made at its upload
    description="上传的报告 PDF 中识别不到监管码二维码，或二维码是另一份报告的（复制的二维码），"
    "或二维码中的访问令牌与本报告不符。",
)
def report_qr_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    yield from _file_findings(ctx, "qr_problems")


# --- consistency and lateness (002 17(5); 004 II) ------------------------------------------------


def _close(a: float, b: float, tolerance: float) -> bool:
    return abs(a - b) <= tolerance * max(abs(a), abs(b), 1e-9)


@rule(
    "report_data_mismatch",
    title="检测报告与上传的检测数据不符",
    clause="jz57 第二十二条；002 第十七条（五）",
    severity=Severity.CRITICAL,
    subject_type="report",
    defaults={"tolerance_percent": 1.0},
    labels={"tolerance_percent": "数值允许的相对偏差（%）"},
    # a report is judged on itself and the records it covers, which must be uploaded before it
    # (and never change after: a correction is a revision, kept apart): its write judges it
    # alone, and a record's write no report (judged the institution's every report)
    triggers=(Report,),
    rows=Rows(Report, "report"),
    description="报告中的主要结果与其涵盖的原始记录中同名结果（检测机构计算的或平台复算的）"
    "相差超过允许偏差；或报告结论为合格而所涵盖的原始记录经平台复算不合格。",
)
def report_data_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    stmt = ctx.narrow_rows(ctx.narrow(select(Report), Report.institution_id), Report.id)
    reports = list(ctx.db.scalars(stmt))
    links = ctx.db.execute(
        select(ReportRecord.report_id, ReportRecord.test_record_id).where(
            ReportRecord.report_id.in_([r.id for r in reports])
        )
    ).all()
    by_report: dict[int, list[int]] = {}
    for report_id, record_id in links:
        by_report.setdefault(report_id, []).append(record_id)
    records = {
        r.id: r
        for r in ctx.db.scalars(
            select(TestRecord).where(TestRecord.id.in_({rid for _, rid in links}))
        )
    }
    for report in reports:
        covered = [records[i] for i in by_report.get(report.id, []) if i in records]
        if not covered:
            continue
        tolerance = float(ctx.thresholds(report.region_code)["tolerance_percent"]) / 100
        problems = []
        for key, stated in report.results.items():
            if not isinstance(stated, int | float) or isinstance(stated, bool):
                continue
            values = [
                float(v)
                for r in covered
                for v in (r.results.get(key), (r.recomputed or {}).get("values", {}).get(key))
                if isinstance(v, int | float) and not isinstance(v, bool)
            ]
            if values and not any(_close(float(stated), v, tolerance) for v in values):
                shown = "、".join(f"{v:g}" for v in sorted(set(values))[:5])
                problems.append(f"{key}：报告 {stated:g}，原始记录 {shown}")
        bad = [r.number for r in covered if r.platform_judgement == Judgement.NONCONFORMING.value]
        if report.judgement == Judgement.CONFORMING.value and bad:
            problems.append(f"报告判定合格，原始记录 {'、'.join(bad)} 经平台复算不合格")
        if problems:
            yield _report_finding(report, {"不符": problems})


@rule(
    "report_late",
    title="检测报告未按时申领监管码或上传报告文件",
    clause="000 4.1.2；002 第七条（四）、第十一条；004 二",
    severity=Severity.WARNING,
    subject_type="report",
    defaults={"code_days": 7, "file_hours": 24},
    labels={
        "code_days": "最后一项试验结束后申领监管码的期限（天）",
        "file_hours": "申领监管码后上传报告文件的期限（小时）",
    },
    triggers=(Report,),
    # a report's lateness is its own and its records' (written before it): a write judges the
    # reports written, the sweep every issued report (a file not yet uploaded grows late there)
    rows=Rows(Report, "report"),
    description="报告申领监管码时距其涵盖的最后一条原始记录的试验结束已超过规定天数；"
    "或申领监管码后超过规定小时数仍未上传签章后的报告文件（报告应实时上传）。",
)
def report_late(ctx: RuleContext) -> Iterator[Finding]:
    # each report with the end of its last record's test, in one statement (not one a report)
    last_ended = (
        select(func.max(TestRecord.ended_at))
        .join(ReportRecord, ReportRecord.test_record_id == TestRecord.id)
        .where(ReportRecord.report_id == Report.id)
        .scalar_subquery()
    )
    stmt = select(Report, last_ended).where(Report.status == ReportStatus.ISSUED.value)
    stmt = ctx.narrow_rows(ctx.narrow(stmt, Report.institution_id), Report.id)
    for report, last in ctx.db.execute(stmt):
        limits = ctx.thresholds(report.region_code)
        problems = []
        if last is not None:
            days = (report.received_at - last).total_seconds() / 86400
            if days > float(limits["code_days"]):
                problems.append(
                    f"试验结束 {days:.1f} 天后才申领监管码（应 {limits['code_days']:g} 天内）"
                )
        due = report.received_at + dt.timedelta(hours=float(limits["file_hours"]))
        arrived = report.pdf_received_at
        if (arrived is None and ctx.now > due) or (arrived is not None and arrived > due):
            late = "尚未上传" if arrived is None else f"{arrived.isoformat()} 才上传"
            problems.append(f"报告文件{late}（应在申领监管码后 {limits['file_hours']:g} 小时内）")
        if problems:
            yield _report_finding(report, {"问题": problems})


# --- numbering continuity (001 9.1.2) ------------------------------------------------------------


# What is numbered in an annual sequence: kind -> (model, year, sequence, number, arrived,
# which rows). A raw record's sequence is optional; its year is the Beijing one of its test.
_NUMBERED: dict[str, tuple[Any, ...]] = {
    "report": (Report, Report.year, Report.sequence, Report.number, Report.received_at, None),
    "commission": (
        Commission, Commission.year, Commission.seq, Commission.number, Commission.created_at,
        None,
    ),
    "contract": (
        Contract, Contract.year, Contract.sequence, Contract.number, Contract.received_at, None,
    ),
    "test_record": (
        TestRecord, cast(func.substr(beijing_month(TestRecord.started_at), 1, 4), Integer),
        TestRecord.sequence, TestRecord.number, TestRecord.received_at,
        TestRecord.sequence.is_not(None),
    ),
}  # fmt: skip


def _beijing_year(moment: dt.datetime) -> int:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    try:
        return aware.astimezone(BEIJING).year
    except OverflowError:  # the last eight hours of year 9999, UTC
        return dt.MAXYEAR


def _numbering_keys(obj: object) -> set[str] | None:
    """The numberings a written contract, commission, raw record or report belongs to,
    before and after the write, as the number rules key their findings
    (``"<kind>:<institution>:<year>"``): their :class:`Groups`. A write then judges those
    years of that kind alone, not the lab's every year of all four (80,000 raw records cost
    the two rules ~0.2 s of the database's time a batch)."""
    kind = next((k for k, (model, *_) in _NUMBERED.items() if isinstance(obj, model)), None)
    if kind is None:
        return None
    institutions = written_values(obj, "institution_id")
    if kind == "test_record":
        started = written_values(obj, "started_at")
        years = None if started is None else {_beijing_year(moment) for moment in started}
    else:
        years = written_values(obj, "year")
    if not institutions or not years:
        return None
    return {f"{kind}:{i}:{y}" for i in institutions for y in years}


def _written(ctx: RuleContext) -> dict[str, set[tuple[int, int]]] | None:
    """A run by groups' numberings: kind -> its (institution, year) pairs (None for any other
    run: every numbering in its scope)."""
    if ctx.keys is None:
        return None
    out: dict[str, set[tuple[int, int]]] = {}
    for key in ctx.keys:
        kind, institution_id, year = key.split(":")
        out.setdefault(kind, set()).add((int(institution_id), int(year)))
    return out


def _numbered(ctx: RuleContext, kind: str, *windows: Callable[..., Any]) -> Any | None:
    """The numbered rows of ``kind`` in the run's scope as a subquery: institution_id, year,
    seq, number, and one column per ``windows`` (each given the row's group, its sequence,
    number and arrival): the rules' work on an institution's whole numbering, done by the
    database, which gives back only what they report (a busy lab's 5,000 raw records a year
    cost each rule ~30 ms of Python a batch when read row by row). A run by groups reads the
    written numberings' rows only (their kind's, their years'); None when it wrote none of
    ``kind``."""
    model, year, seq, number, arrived, which = _NUMBERED[kind]
    group = (model.institution_id, year)
    stmt = select(
        model.institution_id.label("institution_id"),
        year.label("year"),
        seq.label("seq"),
        number.label("number"),
        *(window(group, seq, number, arrived) for window in windows),
    )
    if which is not None:
        stmt = stmt.where(which)
    written = _written(ctx)
    if written is None:
        return ctx.narrow(stmt, model.institution_id).subquery()
    if kind not in written:
        return None
    # whole years only (a window over part of one would see gaps that are not): every year
    # written of those institutions, a raw record's by when its test began (an index's range)
    institutions = sorted({i for i, _ in written[kind]})
    years = sorted({y for _, y in written[kind]})
    stmt = stmt.where(model.institution_id.in_(institutions))
    if kind == "test_record":
        started = TestRecord.started_at
        stmt = stmt.where(or_(*(_in_year(started, y) for y in years)))
    else:
        stmt = stmt.where(year.in_(years))
    return stmt.subquery()


def _new_year(year: int) -> dt.datetime:
    """The moment Beijing year ``year`` begins."""
    return beijing_midnight(dt.date(year, 1, 1))


def _in_year(started: Any, year: int) -> Any:
    """``started`` within Beijing year ``year`` (the first and the last year open-ended: their
    bounds are no UTC time a database stores)."""
    bounds = []
    if year > dt.MINYEAR:
        bounds.append(started >= _new_year(year))
    if year < dt.MAXYEAR:
        bounds.append(started < _new_year(year + 1))
    return and_(*bounds)


def _below(group: Any, seq: Any, _number: Any, _arrived: Any) -> Any:
    """The next lower sequence of the group (null for its lowest)."""
    return func.lag(seq).over(partition_by=group, order_by=seq).label("below")


def _later(group: Any, seq: Any, _number: Any, arrived: Any) -> Any:
    """The earliest arrival of a sequence at or above the row's (its equals included: the
    window's default frame takes a row's peers)."""
    return func.min(arrived).over(partition_by=group, order_by=seq.desc()).label("later")


def _top(group: Any, seq: Any, _number: Any, _arrived: Any) -> Any:
    return func.max(seq).over(partition_by=group).label("top")


def _lowest(group: Any, seq: Any, number: Any, _arrived: Any) -> Any:
    return func.min(number).over(partition_by=(*group, seq)).label("lowest")


def _highest(group: Any, seq: Any, number: Any, _arrived: Any) -> Any:
    return func.max(number).over(partition_by=(*group, seq)).label("highest")


Gap = tuple[int, int, dt.datetime, int]  # below, sequence, later arrival, the group's highest


def _gaps(ctx: RuleContext) -> dict[tuple[str, int, int], list[Gap]]:
    """(kind, institution, year) -> the gaps of its numbering: each sequence with a missing
    number below it (the next lower present, or 0), the earliest arrival of it or a higher
    one, and the highest sequence of its year."""
    out: dict[tuple[str, int, int], list[Gap]] = {}
    for kind in _NUMBERED:
        rows = _numbered(ctx, kind, _below, _later, _top)
        if rows is None:
            continue
        gaps = select(rows.c.institution_id, rows.c.year, rows.c.below, rows.c.seq,
                      rows.c.later, rows.c.top).where(
            rows.c.seq > func.coalesce(rows.c.below, 0) + 1
        )  # fmt: skip
        for institution_id, year, below, seq, later, top in ctx.db.execute(gaps):
            out.setdefault((kind, institution_id, year), []).append((below or 0, seq, later, top))
    return out


def _reused(ctx: RuleContext) -> dict[tuple[str, int, int], dict[int, set[str]]]:
    """(kind, institution, year) -> each sequence given to more than one number: the
    numbers."""
    out: dict[tuple[str, int, int], dict[int, set[str]]] = {}
    for kind in _NUMBERED:
        rows = _numbered(ctx, kind, _lowest, _highest)
        if rows is None:
            continue
        twice = select(rows.c.institution_id, rows.c.year, rows.c.seq, rows.c.number).where(
            rows.c.lowest != rows.c.highest
        )
        for institution_id, year, seq, number in ctx.db.execute(twice):
            out.setdefault((kind, institution_id, year), {}).setdefault(seq, set()).add(number)
    return out


_KINDS = {
    "report": "检测报告",
    "commission": "委托",
    "contract": "检测合同",
    "test_record": "原始记录",
}


def _institution_regions(ctx: RuleContext, ids: set[int]) -> dict[int, str]:
    return dict(
        ctx.db.execute(
            select(Institution.id, Institution.region_code).where(Institution.id.in_(ids))
        ).all()
    )


SHOWN_MISSING = 50  # the missing numbers an alert lists (it counts them all)


def _numbering(group: tuple[str, int, int], region: str | None, facts: dict[str, Any]) -> Finding:
    """The finding of the number rules on one (kind, institution, year) numbering."""
    kind, institution_id, year = group
    return Finding(
        key=f"{kind}:{institution_id}:{year}",
        subject_type="institution",
        subject_id=str(institution_id),
        subject_repr=f"{year} 年{_KINDS[kind]}编号",
        subject_number=f"{year} 年{_KINDS[kind]}流水号",
        institution_id=institution_id,
        region_code=region,
        facts=facts,
    )


def _missing(gaps: list[Gap], arrived_before: dt.datetime) -> tuple[int, list[int], int]:
    """The numbers missing in a year's ``gaps`` (:func:`_gaps`) for which a higher number
    arrived before ``arrived_before``: how many, the first :data:`SHOWN_MISSING`, and the
    year's highest sequence. Counted from the gaps, whatever the numbers: a lab's first
    report numbered 10,000,000 leaves 9,999,999 missing (counting them one by one took 12 s
    and a list of 80 MB at every batch of the lab)."""
    count, shown = 0, list[int]()
    for below, seq, later, _ in sorted(gaps, key=lambda gap: gap[1]):
        below = max(below, 0)  # numbering starts at 1
        if seq > below + 1 and later < arrived_before:
            count += seq - below - 1
            shown.extend(range(below + 1, min(seq, below + 1 + SHOWN_MISSING - len(shown))))
    return count, shown, max((gap[3] for gap in gaps), default=0)


@rule(
    "number_gap",
    title="编号不连续：年度流水号有缺号",
    clause="jz57 第二十六条（按年度统一编号，编号应当连续）；001 9.1.2",
    severity=Severity.WARNING,
    subject_type="institution",
    defaults={"delay_days": 3},
    labels={"delay_days": "更大的编号到达多少天后仍缺的号算缺号（天）"},
    triggers=(Report, Commission, Contract, TestRecord),
    groups=Groups(_numbering_keys),  # a write judges its numbering's year, not the lab's every year
    description="检测机构同一年度的检测合同、委托、原始记录、检测报告应连续编号，不得抽撤：某个流水号缺失，而比它大的编号"
    "到达已超过规定天数（给迟到的留出时间）。",
)
def number_gap(ctx: RuleContext) -> Iterator[Finding]:
    groups = _gaps(ctx)
    regions = _institution_regions(ctx, {k[1] for k in groups})
    for (kind, institution_id, year), gaps in sorted(groups.items()):
        region = regions.get(institution_id)
        delay = dt.timedelta(days=float(ctx.thresholds(region)["delay_days"]))
        count, missing, top = _missing(gaps, ctx.now - delay)
        if count:
            shown = "、".join(str(n) for n in missing) + ("……" if count > len(missing) else "")
            facts = {"缺号数": count, "缺号": shown, "最大流水号": top}
            yield _numbering((kind, institution_id, year), region, facts)


@rule(
    "number_reused",
    title="编号重复：同一年度流水号用于两份不同的合同、委托或报告",
    clause="jz57 第二十六条（按年度统一编号，编号应当连续）；001 9.1.2",
    severity=Severity.CRITICAL,
    subject_type="institution",
    triggers=(Report, Commission, Contract, TestRecord),
    groups=Groups(_numbering_keys),
    description="检测机构同一年度的同一个流水号出现在两个不同编号的检测合同、委托、原始记录或检测报告上"
    "（编号被重复使用或抽换）。",
)
def number_reused(ctx: RuleContext) -> Iterator[Finding]:
    groups = _reused(ctx)
    regions = _institution_regions(ctx, {k[1] for k in groups})
    for (kind, institution_id, year), twice in sorted(groups.items()):  # each seq twice or more
        shown = [f"第 {seq} 号：{'、'.join(sorted(n))}" for seq, n in sorted(twice.items())]
        yield _numbering((kind, institution_id, year), regions.get(institution_id),
                         {"重复": shown[:50]})  # fmt: skip


@rule(
    "report_signed_by_outsider",
    title="检测报告由其他检测机构的人员签字（疑似违法分包、转包）",
    clause="000 7.2.2（1）（违法分包转包分析）；001 4.1.11",
    severity=Severity.CRITICAL,
    subject_type="report",
    triggers=(Report,),
    description="报告上报的签字人员中，有人在报告签发当天是另一家检测机构登记在岗的人员，而不是本机构"
    "登记的人员：检测可能由其他机构完成，本机构只是出具报告（身份证号只用于比对，不保存，预警中脱敏"
    "显示）。同时登记在两家机构的人员由“证书挂靠”规则处理。",
)
def report_signed_by_outsider(ctx: RuleContext) -> Iterator[Finding]:
    stmt = select(Report).where(cast(Report.signatory_outsider_ids, String) != "[]")
    reports = [r for r in ctx.db.scalars(ctx.narrow(stmt, Report.institution_id))]
    ids = {i for r in reports for i in r.signatory_outsider_ids}
    if not ids:
        return
    people = {p.id: p for p in ctx.db.scalars(select(Person).where(Person.id.in_(sorted(ids))))}
    names = dict(
        ctx.db.execute(
            select(Institution.id, Institution.name).where(
                Institution.id.in_(sorted({p.institution_id for p in people.values()}))
            )
        ).all()
    )
    for report in reports:
        found = [people[i] for i in report.signatory_outsider_ids if i in people]
        if not found:
            continue
        yield _report_finding(
            report,
            {
                "其他机构的签字人员": [
                    f"{p.name}（{mask_value('id_number', p.id_number)}，"
                    f"{names.get(p.institution_id, '')}）"
                    for p in found
                ],
                "签发日期": report.issued_on.isoformat(),
                "监管码": report.supervision_code,
            },
        )
