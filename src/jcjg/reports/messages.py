"""Message types of reports: ``report`` (ask for a supervision code) and ``report_withdrawal``."""

from __future__ import annotations

import contextlib
from typing import Any

from jcjg.config import Settings
from jcjg.core.blobs import blob_store
from jcjg.documents.scan import ScanUnavailable, pdf_qr_codes
from jcjg.exchange.types import HandlerContext, message_type
from jcjg.reports import service
from jcjg.reports.schemas import ReportFileIn, ReportIn, WithdrawalIn
from jcjg.testing.messages import read_named_ahead

_REPORT_EXAMPLE: dict[str, Any] = {
    "message_id": "2b7e4c1d-9a3f-4d6e-8b1c-5f0a2e9d7c31",
    "institution_code": "JC360400-0001",
    "number": "BG-HNT-2026-000321",
    "sequence": 321,
    "title": "混凝土试块抗压强度检测报告",
    "commission_number": "WT-2026-000123",
    "test_record_numbers": ["JL-HNT-2026-001234"],
    "items": ["0108"],
    "conclusion": "所检混凝土试块抗压强度符合 C30 设计要求。",
    "judgement": "conforming",
    "results": {"strength_mpa": 36.1},
    "signatories": [
        {"name": "王检测", "id_number": "360402198503120011"},
        {"name": "李审核"},
        {"name": "张批准", "id_number": "360402197811230027"},
    ],
    "issued_on": "2026-11-21",
}


@message_type(
    "report",
    title="检测报告（申领监管码）",
    schema=ReportIn,
    example=_REPORT_EXAMPLE,
    batch_reads=read_named_ahead,  # its project, commission and signatories, once a batch
)
def handle_report(ctx: HandlerContext, message: ReportIn) -> dict[str, Any]:
    """检测报告申领监管码（000 4.1.2；004 二；003 三（五））：报告编号与年度流水号、委托、
    涵盖的原始记录、检测项目、结论、主要结果、签字人、签发日期。平台发放全平台唯一的监管码
    （含地区代码与校验字符）和本报告的访问令牌，回执中给出验证网址及其二维码（SVG、PNG），
    打印在报告上；扫码即可查验报告真伪及其检测全过程。更正报告用新编号申领，并在 replaces
    中写明被替换的报告和原因，两份报告都保留、互相关联。"""
    report = service.issue_report(
        db=ctx.db,
        institution=ctx.institution,
        data=message,
        received_at=ctx.received_at,
        message_id=ctx.message_id,
        adopted=_adopted(ctx.origin),
    )
    return {"report_number": report.number, **service.receipt_results(ctx.settings, report)}


def _adopted(origin: dict[str, Any] | None) -> tuple[str, str] | None:
    """The code and token the child platform issued, for a report it forwarded."""
    answer = (origin or {}).get("results") or {}
    code, token = answer.get("supervision_code"), answer.get("token")
    if isinstance(code, str) and isinstance(token, str):
        return code, token
    return None


_WITHDRAWAL_EXAMPLE = {
    "message_id": "7d3e5f1a-2b4c-4d6e-9f8a-0b1c2d3e4f5a",
    "institution_code": "JC360400-0001",
    "number": "BG-HNT-2026-000321",
    "reason": "委托单位提供的设计强度等级有误，报告作废",
}


@message_type(
    "report_withdrawal",
    title="撤回检测报告",
    schema=WithdrawalIn,
    example=_WITHDRAWAL_EXAMPLE,
)
def handle_withdrawal(ctx: HandlerContext, message: WithdrawalIn) -> dict[str, Any]:
    """撤回已申领监管码的检测报告并说明原因。报告保留，扫码时显示“已撤回”及原因，并触发
    “扫描无效监管码”预警。"""
    report = service.withdraw_report(
        db=ctx.db, institution=ctx.institution, data=message, received_at=ctx.received_at
    )
    return {"report_number": report.number, "supervision_code": report.supervision_code}


_FILE_EXAMPLE = {
    "message_id": "9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
    "institution_code": "JC360400-0001",
    "number": "BG-HNT-2026-000321",
    "pdf_sha256": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
}


def _decode_ahead(message: ReportFileIn, settings: Settings) -> None:
    """The QR codes of the report's PDF decoded before the apply transaction (the slow part
    of checking it: rendering its pages), kept by :func:`jcjg.documents.scan.pdf_qr_codes`."""
    content = blob_store(settings).get(message.pdf_sha256)
    if content.startswith(b"%PDF-") and len(content) <= service.MAX_PDF_BYTES:
        with contextlib.suppress(ScanUnavailable):
            pdf_qr_codes(content)


@message_type(
    "report_file",
    title="检测报告文件（签章 PDF）",
    schema=ReportFileIn,
    example=_FILE_EXAMPLE,
    files=lambda m: [m.pdf_sha256],
    prepare=_decode_ahead,
)
def handle_file(ctx: HandlerContext, message: ReportFileIn) -> dict[str, Any]:
    """已申领监管码的检测报告的最终文件：经签字人电子签名（PAdES / PDF 签名）、印有本报告监管码
    二维码的 PDF，须先上传文件。平台核验每个签名是否完好、是否覆盖整个文件、签名证书是否为本机构
    登记的人员证书、是否有签字范围覆盖本报告专项的授权签字人签名、签名是否早于上传，并识别报告中
    的二维码是否为本报告的监管码；发现的问题写入回执并触发预警。"""
    report = service.attach_pdf(
        db=ctx.db,
        settings=ctx.settings,
        institution=ctx.institution,
        data=message,
        received_at=ctx.received_at,
    )
    checks = report.pdf_checks
    problems = [*checks["signature_problems"], *checks["qr_problems"]]
    for problem in problems:
        ctx.warn("report_file_problem", problem)
    return {
        "report_number": report.number,
        "supervision_code": report.supervision_code,
        "signatures": len(checks["signatures"]),
        "problems": problems,
    }
