"""Rules on contracts (000 4.3.3; 003 III(3))."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import select

from jcjg.alerts.choices import Severity
from jcjg.alerts.engine import Finding, RuleContext, rule
from jcjg.contracts.models import Contract
from jcjg.contracts.service import working_days_late


@rule(
    "contract_late",
    title="检测合同未按时上传",
    clause="000 4.3.3；002 第九条；003 三（三）",
    severity=Severity.WARNING,
    subject_type="contract",
    defaults={"working_days": 5},
    labels={"working_days": "签订后上传的期限（工作日）"},
    triggers=(Contract,),
    description="检测合同签订后超过规定的工作日数（按法定节假日和调休）才上传到平台。",
)
def contract_late(ctx: RuleContext) -> Iterator[Finding]:
    for contract in ctx.db.scalars(ctx.narrow(select(Contract), Contract.institution_id)):
        allowed = int(ctx.thresholds(contract.region_code)["working_days"])
        taken = working_days_late(contract)
        if taken > allowed:
            yield Finding(
                key=f"contract:{contract.id}",
                subject_type="contract",
                subject_id=str(contract.id),
                subject_repr=f"检测合同 {contract.number}",
                subject_number=contract.number,
                institution_id=contract.institution_id,
                region_code=contract.region_code,
                project_id=contract.project_id,
                facts={
                    "签订日期": contract.signed_on.isoformat(),
                    "上传": contract.received_at.isoformat(),
                    "签订后工作日": taken,
                    "期限（工作日）": allowed,
                },
            )
