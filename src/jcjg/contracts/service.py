"""Contracts: stored once with their PDF, linked to the project, notarised."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.config import Settings
from jcjg.contracts.models import Contract
from jcjg.contracts.schemas import ContractIn
from jcjg.core.blobs import blob_store
from jcjg.core.errors import FieldError, ValidationFailed
from jcjg.core.workdays import beijing_date, working_days_between
from jcjg.ledger import service as ledger
from jcjg.projects.models import Project
from jcjg.tenancy.models import Institution


def _fail(field: str, message: str, kind: str = "invalid") -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message, kind)])


def working_days_late(contract: Contract) -> int:
    """Statutory working days from the contract's signing to its upload (Beijing days)."""
    return working_days_between(contract.signed_on, beijing_date(contract.received_at))


def store_contract(
    *,
    db: Session,
    settings: Settings,
    institution: Institution,
    data: ContractIn,
    received_at: dt.datetime,
    message_id: str | None = None,
) -> Contract:
    if data.signed_on > beijing_date(received_at):
        raise _fail("signed_on", "签订日期不能晚于今天")
    taken = select(Contract.id).where(
        Contract.institution_id == institution.id, Contract.number == data.number
    )
    if db.scalar(taken) is not None:
        raise _fail("number", "该合同编号已上传；合同只上传一次", "unique")
    project = db.scalars(select(Project).where(Project.code == data.project_code)).first()
    if project is None:
        raise _fail("project_code", "平台没有这个工程项目编号")
    if not blob_store(settings).get(data.pdf_sha256).startswith(b"%PDF-"):
        raise _fail("pdf_sha256", "合同文本不是 PDF")
    contract = Contract(
        institution_id=institution.id,
        region_code=institution.region_code,
        project_id=project.id,
        number=data.number,
        year=data.year or data.signed_on.year,
        sequence=data.sequence,
        client_unit=data.client_unit,
        signed_on=data.signed_on,
        items=list(data.items),
        amount_yuan=data.amount_yuan,
        pdf_sha256=data.pdf_sha256,
        received_at=received_at,
        message_id=message_id,
    )
    db.add(contract)
    db.flush()
    receipt = ledger.notarise(
        db,
        "contract:upload",
        {
            "institution_code": institution.code,
            "contract_number": contract.number,
            "project_code": project.code,
            "signed_on": contract.signed_on.isoformat(),
            "pdf_sha256": contract.pdf_sha256,
        },
    )
    contract.ledger_index = receipt.index
    db.flush()
    return contract
