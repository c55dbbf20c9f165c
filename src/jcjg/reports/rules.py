"""Rules on reports and their supervision codes (000 4.1.2; 002 15; 004 II)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.regions.models import Region
from jcjg.reports.choices import ReportStatus, ScanOutcome
from jcjg.reports.codes import SUPERVISION
from jcjg.reports.models import CodeScan, Report

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
            institution_id=report.institution_id if report else None,
            region_code=region,
            project_id=report.project_id if report else None,
            facts=facts,
        )


def _file_findings(ctx: RuleContext, key: str, what: str) -> Iterator[Finding]:
    stmt = select(Report).where(Report.pdf_sha256.is_not(None))
    for report in ctx.db.scalars(ctx.narrow(stmt, Report.institution_id)):
        problems = (report.pdf_checks or {}).get(key) or []
        if problems:
            yield Finding(
                key=f"report:{report.id}",
                subject_type="report",
                subject_id=str(report.id),
                subject_repr=f"检测报告 {report.number}（{what}）",
                institution_id=report.institution_id,
                region_code=report.region_code,
                project_id=report.project_id,
                facts={"问题": problems, "监管码": report.supervision_code},
            )


@rule(
    "report_signature_invalid",
    title="报告文件的电子签名无效或不是授权签字人签署",
    clause="000 4.1.2；001 9.1.1.3；002 第十一条",
    severity=Severity.CRITICAL,
    subject_type="report",
    triggers=(Report,),
    description="上传的报告 PDF 没有电子签名，或签名在签署后被篡改、文件被追加修改，"
    "或签名证书不是本机构登记的人员证书、签署时不在有效期，或签署晚于上传，"
    "或没有签字范围覆盖本报告检测专项的授权签字人签名。",
)
def report_signature_invalid(ctx: RuleContext) -> Iterator[Finding]:
    yield from _file_findings(ctx, "signature_problems", "电子签名")


@rule(
    "report_qr_mismatch",
    title="报告文件中的二维码不是本报告的监管码",
    clause="000 4.1.2；004 二；003 三（五）",
    severity=Severity.CRITICAL,
    subject_type="report",
    triggers=(Report,),
    description="上传的报告 PDF 中识别不到监管码二维码，或二维码是另一份报告的（复制的二维码），"
    "或二维码中的访问令牌与本报告不符。",
)
def report_qr_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    yield from _file_findings(ctx, "qr_problems", "二维码")
