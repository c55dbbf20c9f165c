"""Message type of contracts: ``contract``."""

from __future__ import annotations

from typing import Any

from jcjg.contracts import service
from jcjg.contracts.schemas import ContractIn
from jcjg.exchange.types import HandlerContext, message_type

_EXAMPLE = {
    "message_id": "0f1e2d3c-4b5a-4697-8a7b-6c5d4e3f2a1b",
    "institution_code": "JC360400-0001",
    "number": "HT-2026-0088",
    "sequence": 88,
    "project_code": "XM360402-001",
    "client_unit": "九江市濂溪区城市建设投资有限公司",
    "signed_on": "2026-11-18",
    "items": ["0108", "0102"],
    "amount_yuan": "186000.00",
    "pdf_sha256": "5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5",
}


@message_type(
    "contract",
    title="检测合同",
    schema=ContractIn,
    example=_EXAMPLE,
    files=lambda m: [m.pdf_sha256],
)
def handle_contract(ctx: HandlerContext, message: ContractIn) -> dict[str, Any]:
    """检测合同（000 4.3.3；002 第九条；003 三（三））：检测机构与建设单位签订的检测合同及其文本
    PDF（须先上传），关联工程项目，签订后 5 个工作日内上传，逾期触发预警。合同只上传一次，
    写入防篡改日志。"""
    contract = service.store_contract(
        db=ctx.db,
        settings=ctx.settings,
        institution=ctx.institution,
        data=message,
        received_at=ctx.received_at,
        message_id=ctx.message_id,
    )
    return {
        "contract_number": contract.number,
        "working_days_after_signing": service.working_days_late(contract),
        "ledger_index": contract.ledger_index,
    }
