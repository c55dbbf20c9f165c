"""Message types of the sampling chain: commissions (000 4.3.4 item 3) and sample events from
the lab's LIMS, including the receipt check (收样/验封) made by scanning each tag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.core.text import MultiLine
from jcjg.exchange.models import Message
from jcjg.exchange.types import (
    SHA256_PATTERN,
    HandlerContext,
    IsoDate,
    IsoDateTime,
    MessageBase,
    message_type,
    string_members,
    strings_named,
)
from jcjg.projects import service as projects
from jcjg.sampling import service
from jcjg.sampling.choices import CommissionStatus, SampleStatus, commission_transition_problem
from jcjg.sampling.models import Commission, Sample
from jcjg.tenancy.models import Institution

MAX_SAMPLES = 200


class CommissionMessage(MessageBase):
    number: str = Field(min_length=1, max_length=64, description="委托编号（机构年度统一编号）")
    sequence: int = Field(
        ge=1, le=10_000_000, description="委托编号在本年度序列中的序号（连续性检查）"
    )
    commissioned_on: IsoDate = Field(description="委托日期")
    project_code: str = Field(min_length=1, max_length=32, description="工程项目编号（平台登记）")
    client_unit: str = Field(default="", max_length=200, description="委托单位")
    items: list[str] = Field(default_factory=list, max_length=100, description="检测项目代码")
    witness_name: str = Field(default="", max_length=64, description="见证人员（委托单签字）")
    deliverer_name: str = Field(default="", max_length=64, description="送检人员")
    status: CommissionStatus = CommissionStatus.REGISTERED
    status_reason: MultiLine = Field(default="", max_length=200, description="退回等状态的原因")
    samples: list[str] = Field(
        default_factory=list, max_length=MAX_SAMPLES, description="委托覆盖的样品唯一性编码"
    )


_COMMISSION_EXAMPLE = {
    "message_id": "0b7a2c8e-7f1e-4a55-9a3e-1c2d3e4f5a6b",
    "institution_code": "JC360400-0001",
    "number": "WT-2026-000123",
    "sequence": 123,
    "commissioned_on": "2026-11-20",
    "project_code": "XM360402-001",
    "client_unit": "九江某建设有限公司",
    "items": ["0101"],
    "witness_name": "李见证",
    "deliverer_name": "王送样",
    "status": "delivered",
    "samples": ["360402260000001K"],
}


# what a commission message names, found in its body's bytes: its own number, its project
_NAMED = string_members("number", "project_code")


def _read_ahead(
    db: Session, institutions: Sequence[Institution], messages: Sequence[Message]
) -> None:
    """``batch_reads`` of commissions: the projects they name and the commissions they renew,
    read once for the batch, kept when found (``project_by_code``, ``commission_numbered``):
    a commission the batch registers is read by the next message naming it, as before. The
    keys are found in the bodies' bytes (``exchange.types.strings_named``): a guess, which the
    handlers' own reads stand behind."""
    projects_named: list[str] = []
    numbers: list[tuple[int, str]] = []
    for row in messages:
        if row.institution_id is None:
            continue
        named = strings_named(row.body, _NAMED, 4)
        projects_named += named.get("project_code", [])[:1]
        numbers += [(row.institution_id, n) for n in named.get("number", [])[:1]]
    projects.read_projects_ahead(db, projects_named)
    service.read_commissions_ahead(db, numbers)


@message_type(
    "commission",
    title="委托信息同步",
    schema=CommissionMessage,
    example=_COMMISSION_EXAMPLE,
    batch_reads=_read_ahead,
)
def handle_commission(ctx: HandlerContext, message: CommissionMessage) -> dict[str, Any]:
    """委托单（000 4.3.4 第 3 项）：按委托编号新增或更新；状态只能向前推进（已登记、已取样、
    已见证、已送检、已收样、检测中、已检测、已出报告），出报告前可退回。samples 为委托覆盖的
    样品唯一性编码（整体替换）：平台未发放或未登记的编码会触发“送检样品无平台唯一性标识”预警。"""
    project = projects.project_by_code(ctx.db, message.project_code)  # refused when none has it
    assert project is not None  # a code is required
    commission = service.commission_numbered(ctx.db, ctx.institution, message.number)
    created = commission is None
    if commission is None:
        commission = Commission(
            institution_id=ctx.institution.id,
            region_code=project.region_code,
            project_id=project.id,
            number=message.number,
            status=CommissionStatus.REGISTERED.value,
        )
        ctx.db.add(commission)
    elif commission.project_id != project.id:
        raise ValidationFailed(errors=[FieldError("project_code", "委托的工程项目不能更改")])
    commission.year = message.commissioned_on.year
    commission.seq = message.sequence
    commission.commissioned_on = message.commissioned_on
    commission.client_unit = message.client_unit
    commission.items = list(message.items)
    commission.witness_name = message.witness_name
    commission.deliverer_name = message.deliverer_name
    commission.message_id = ctx.message_id
    service.set_commission_status(commission, message.status.value, message.status_reason)
    ctx.db.flush()
    codes = [service.parse_code(c, "samples") if len(c) == 16 else c for c in message.samples]
    unknown = service.link_samples(ctx.db, commission, codes)
    for code in unknown:
        ctx.warn("untagged_sample", f"样品 {code} 不是平台发放并登记的唯一性编码", sample_code=code)
    gaps = service.commission_year_gap(ctx.db, ctx.institution.id, commission.year)
    return {
        "commission_number": commission.number,
        "created": created,
        "status": commission.status,
        "samples": len(codes),
        "unknown_samples": unknown,
        "missing_sequence_numbers": gaps[:50],
    }


class SampleEventMessage(MessageBase):
    sample_code: str = Field(min_length=1, max_length=64, description="扫描样品标识得到的编码")
    event: Literal["received", "testing", "tested"] = Field(
        description="received：收样验封（平台核验并答复收或拒）；testing / tested：检测开始 / 完成"
    )
    commission_number: str | None = Field(default=None, max_length=64)
    occurred_at: IsoDateTime | None = None
    tag_intact: bool = Field(default=True, description="标识是否完好（破损则拒收）")
    photo_sha256: str | None = Field(
        default=None, pattern=SHA256_PATTERN, description="收样时拍摄的样品照片（须先上传）"
    )
    notes: MultiLine = Field(default="", max_length=2000)


def _event_files(message: SampleEventMessage) -> list[str]:
    return [message.photo_sha256] if message.photo_sha256 else []


_EVENT_EXAMPLE = {
    "message_id": "6f2d1c0b-3a4e-4f5a-8b7c-9d0e1f2a3b4c",
    "institution_code": "JC360400-0001",
    "sample_code": "360402260000001K",
    "event": "received",
    "commission_number": "WT-2026-000123",
    "tag_intact": True,
    "photo_sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}


@message_type(
    "sample_event",
    title="样品流转（收样验封、检测开始/完成）",
    schema=SampleEventMessage,
    example=_EVENT_EXAMPLE,
    files=_event_files,
)
def handle_sample_event(ctx: HandlerContext, message: SampleEventMessage) -> dict[str, Any]:
    """检测机构扫描样品标识后报送。received：平台核验编码是否存在、是否属于该委托和项目、
    电子封志是否有效、状态是否允许收样，并用收样照片与封样照片比对（感知哈希），答复 accepted
    （收样）或拒收及原因；拒收记录留存。testing / tested：样品进入检测 / 检测完成。"""
    if message.event == "received":
        receipt = service.check_receipt(
            db=ctx.db,
            settings=ctx.settings,
            data=service.ReceiptInput(
                sample_code=message.sample_code,
                institution=ctx.institution,
                commission_number=message.commission_number,
                photo_sha256=message.photo_sha256,
                tag_intact=message.tag_intact,
                via="exchange",
                message_id=ctx.message_id,
                notes=message.notes,
            ),
            now=ctx.received_at,
        )
        if not receipt.accepted:
            ctx.warn(
                "receipt_refused",
                "拒收：" + "；".join(r["message"] for r in receipt.reasons),
                sample_code=receipt.sample_code,
            )
        return {
            "sample_code": receipt.sample_code,
            "accepted": receipt.accepted,
            "reasons": receipt.reasons,
            "phash_distance": receipt.phash_distance,
        }
    code = service.parse_code(message.sample_code)
    sample = ctx.db.scalars(
        select(Sample).where(
            Sample.sample_code == code, Sample.institution_id == ctx.institution.id
        )
    ).first()
    if sample is None:
        raise ValidationFailed(errors=[FieldError("sample_code", "本机构没有收下这个样品")])
    allowed = {
        "testing": {SampleStatus.RECEIVED, SampleStatus.TESTING},
        "tested": {SampleStatus.TESTING, SampleStatus.TESTED, SampleStatus.RECEIVED},
    }[message.event]
    if sample.status not in allowed:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "event", f"样品当前状态为“{SampleStatus(sample.status).label}”，不能报送该事件"
                )
            ]
        )
    sample.status = message.event
    if sample.commission_id is not None:
        commission = ctx.db.get(Commission, sample.commission_id)
        if commission is not None and commission.status != CommissionStatus.REJECTED:
            target = message.event
            if commission_transition_problem(commission.status, target) is None:
                commission.status = target
    return {"sample_code": code, "status": sample.status}
