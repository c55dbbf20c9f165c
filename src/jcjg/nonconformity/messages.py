"""Message type ``nonconformity``: a lab reports a nonconforming result itself (003 III(6);
000 4.3.4 item 6), with or without its raw record on the platform."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.core.regioncodes import in_subtree
from jcjg.exchange import problems
from jcjg.exchange.choices import ClientKind
from jcjg.exchange.problems import ExchangeError
from jcjg.exchange.types import HandlerContext, message_type
from jcjg.nonconformity import service
from jcjg.nonconformity.schemas import NonconformityIn
from jcjg.projects.models import Project

_EXAMPLE: dict[str, Any] = {
    "message_id": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
    "institution_code": "JC360400-0001",
    "record_number": "XCJL-2026-0102",
    "project_code": "XM360402-001",
    "sample_codes": [],
    "item_code": "0203",
    "material": "混凝土结构构件",
    "structure_part": "3 层 ⑤～⑨ 轴梁板",
    "grade": "C30",
    "requirement": "推定强度 ≥ 30.0 MPa（JGJ/T 23-2011）",
    "values": {"推定强度_MPa": 26.4, "测区数": 10},
    "conclusion": "所检构件混凝土强度推定值不满足 C30 设计要求",
    "judged_at": "2026-11-26T16:30:00+08:00",
    "informed_client_at": "2026-11-26T17:05:00+08:00",
    "notes": "电话告知建设单位项目负责人张工，并发送书面通知单 TZ-2026-031",
}


def _project(ctx: HandlerContext, code: str | None) -> Project | None:
    """The project ``project_code`` names: on the platform (422), and within the sending
    platform's region when another platform reports (403)."""
    if not code:
        return None
    project = ctx.db.scalars(select(Project).where(Project.code == code)).first()
    if project is None:
        raise ValidationFailed(errors=[FieldError("project_code", "平台没有这个工程项目编号")])
    if ctx.client.kind == ClientKind.PLATFORM.value and not in_subtree(
        project.region_code, ctx.client.region_code
    ):
        raise ExchangeError(
            problems.WRONG_SENDER, f"工程项目“{code}”不在本平台所辖区域内，不能报送其数据"
        )
    return project


@message_type("nonconformity", title="不合格结果报告", schema=NonconformityIn, example=_EXAMPLE)
def handle_nonconformity(ctx: HandlerContext, message: NonconformityIn) -> dict[str, Any]:
    """检测机构报告检测结果不合格（003 三（六）；000 4.3.4 第 6 项）：原始记录编号；平台尚无该
    原始记录（记录随后上传，或现场检测）时，报告工程项目、样品、检测项目、部位、检测结果和
    限值；以及判定结论、判定时间、告知委托单位的时间和方式。平台已有该记录且已列入不合格台账的，
    报告并入该条目，不重复通知；否则新登记一条，并即时通知工程的建设、监理单位和属地监督机构。
    同一原始记录编号只报告一次。"""
    project = _project(ctx, message.project_code)
    done = service.report(
        db=ctx.db,
        institution=ctx.institution,
        data=message,
        project=project,
        received_at=ctx.received_at,
    )
    for code in done.unknown_samples:
        ctx.warn("unknown_sample", f"样品 {code} 不是平台发放的唯一性编码", sample_code=code)
    if message.informed_client_at is None:
        ctx.warn(
            "client_not_informed", "未报告告知委托单位的时间：不合格时应及时告知（003 三（六））"
        )
    item = done.item
    return {
        "record_number": message.record_number,
        "nonconformity_id": item.id,
        "outcome": done.outcome,
        "record_id": done.record_id,
        "found_by": item.found_by,
        "deadline": item.deadline.isoformat(),
        "notified": item.notified if done.outcome == "registered" else 0,
        "ledger_index": done.ledger_index,
    }
