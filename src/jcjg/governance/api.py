"""JSON API of the data standard: its published versions (those to come included, so that a
lab's system can prepare) and a version's whole content."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import func, select

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.forms import Id
from jcjg.governance import service
from jcjg.governance.choices import StandardStatus
from jcjg.governance.models import DataStandard, QualityCheck
from jcjg.governance.quality import score
from jcjg.ledger.service import timestamp
from jcjg.tenancy.models import Institution

router = APIRouter(prefix="/api/v1", tags=["数据标准"], route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("data_standard:read"))]


def _read(v: DataStandard, now: Any) -> dict[str, Any]:
    return {
        "version": v.version,
        "title": v.title,
        "status": v.status,
        "effective_at": timestamp(v.effective_at) if v.effective_at else None,
        "in_force": bool(v.effective_at and v.effective_at <= now),
        "published_at": timestamp(v.published_at) if v.published_at else None,
        "base_version": v.base_version,
        "note": v.note,
        "content_sha256": v.content_sha256 if v.status == StandardStatus.PUBLISHED else None,
        "ledger_index": v.ledger_index,
    }


@router.get("/governance/standards", summary="已发布的数据标准版本（含待生效的）")
def standards(db: SessionDep, principal: Reader) -> dict[str, Any]:
    now = utcnow()
    current = service.in_force(db, now)
    rows = db.scalars(
        select(DataStandard)
        .where(DataStandard.status == StandardStatus.PUBLISHED.value)
        .order_by(DataStandard.version)
    )
    return {
        "in_force": current.version if current else None,
        "items": [_read(v, now) for v in rows],
    }


@router.get("/governance/standards/{version}", summary="某版数据标准的全部内容")
def standard_content(db: SessionDep, principal: Reader, version: Id) -> dict[str, Any]:
    """A published version's elements, code lists and models (a draft only for those who may
    edit or review it)."""
    row = service.get(db, version)
    if row.status != StandardStatus.PUBLISHED and not (
        principal.can("data_standard:edit") or principal.can("data_standard:review")
    ):
        raise NotFound(f"数据标准第 {version} 版不存在")
    return {**_read(row, utcnow()), "content": service.content_of(db, row)}


QualityReader = Annotated[Principal, Depends(requires("data_quality:read"))]


@router.get("/governance/quality", summary="各检测机构某月的数据质量得分")
def quality_scores(
    db: SessionDep,
    principal: QualityReader,
    month: Annotated[str, Query(pattern=r"^20[0-9]{2}-(0[1-9]|1[0-2])$", description="YYYY-MM")],
) -> dict[str, Any]:
    """The month's scores of the institutions within the caller's scope: messages checked,
    rules applied (checks), failed, and the score (per cent of checks passed)."""
    inner = (
        restrict(select(QualityCheck), principal, "read")
        .where(QualityCheck.month == month)
        .subquery()
    )
    rows = db.execute(
        select(
            Institution.code,
            Institution.name,
            func.count(),
            func.sum(inner.c.total),
            func.sum(inner.c.failed),
        )
        .join(Institution, Institution.id == inner.c.institution_id)
        .group_by(Institution.code, Institution.name)
        .order_by(Institution.code)
    ).all()
    return {
        "month": month,
        "items": [
            {
                "institution_code": code,
                "institution_name": name,
                "messages": int(n),
                "checks": int(t or 0),
                "failed": int(f or 0),
                "score": score(int(t or 0), int(f or 0)),
            }
            for code, name, n, t, f in rows
        ],
    }
