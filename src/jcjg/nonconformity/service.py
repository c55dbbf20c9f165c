"""The register: a test record judged nonconforming (by the lab, the platform's recomputation or
both) enters it when it is stored, notarised, and the project's owner and supervision units
(the party accounts of the project) and the stations of its region are told at once (003
III(6)). Its handling (re-test, rework, removal, demolition, other) is recorded by the
institution or an authority until an authority closes it; ``nonconformity_unhandled`` fires
for items still open past their deadline."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserProject
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.db import beijing_month
from jcjg.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from jcjg.core.workdays import add_working_days, beijing_date
from jcjg.ledger import service as ledger
from jcjg.nonconformity.choices import Handling, NcStatus
from jcjg.nonconformity.models import Nonconformity
from jcjg.projects.models import Project
from jcjg.registry.models import Institution
from jcjg.sampling.models import Sample
from jcjg.testing.choices import TestKind
from jcjg.testing.models import Specimen, TestRecord

DEADLINE_WORKING_DAYS = 15  # to handle an item before nonconformity_unhandled


def register(db: Session, record: TestRecord, now: dt.datetime) -> Nonconformity | None:
    """Enter ``record`` in the register when it is nonconforming (once)."""
    if not record.nonconforming_by:
        return None
    found = db.scalars(
        select(Nonconformity).where(Nonconformity.test_record_id == record.id)
    ).first()
    if found is not None:
        return found
    codes = db.scalars(
        select(Specimen.sample_code).where(
            Specimen.test_record_id == record.id, Specimen.sample_code.is_not(None)
        )
    ).all()
    parts = sorted(
        set(db.scalars(select(Sample.structure_part).where(Sample.sample_code.in_(codes)))) - {""}
    )
    item = Nonconformity(
        institution_id=record.institution_id, region_code=record.region_code,
        project_id=record.project_id, test_record_id=record.id, found_by=record.nonconforming_by,
        material=TestKind(record.kind).label, item_code=record.item_code,
        structure_part="、".join(parts)[:100], grade=record.grade,
        values={"lab": record.results, "platform": record.recomputed,
                "lab_judgement": record.lab_judgement,
                "platform_judgement": record.platform_judgement},
        found_at=now, deadline=add_working_days(beijing_date(now), DEADLINE_WORKING_DAYS),
        status=NcStatus.OPEN.value,
    )  # fmt: skip
    db.add(item)
    db.flush()
    item.ledger_index = ledger.notarise(
        db,
        "nonconformity:register",
        {"nonconformity": item.id, "test_record": record.id, "number": record.number,
         "institution": record.institution_id, "project": record.project_id,
         "found_by": item.found_by, "item": record.item_code, "at": now.isoformat()},
    ).index  # fmt: skip
    item.notified = _tell(db, item, record, now)
    return item


def told(db: Session, item: Nonconformity) -> list[User]:
    """Who hears of a new nonconformity: the project's party accounts (owner, supervision) and
    the stations and authorities of its region and the one above."""
    from jcjg.alerts.cases import parent_region
    from jcjg.notify.service import authorities

    parties: list[User] = []
    if item.project_id is not None:
        parties = list(db.scalars(
            select(User).join(UserProject, UserProject.user_id == User.id).where(
                UserProject.project_id == item.project_id, User.role == Role.PARTY_UNIT.value,
                User.is_active.is_(True),
            ).order_by(User.id)
        ))  # fmt: skip
    region = item.region_code
    if item.project_id is not None:
        project = db.get(Project, item.project_id)
        region = project.region_code if project is not None else region
    local = (Role.STATION.value, Role.CITY_AUTHORITY.value)
    return parties + authorities(db, [region, parent_region(db, region)], roles=local)


def _tell(db: Session, item: Nonconformity, record: TestRecord, now: dt.datetime) -> int:
    from jcjg.notify.service import notify

    institution = db.get(Institution, item.institution_id)
    project = db.get(Project, item.project_id) if item.project_id else None
    where = project.name if project else (institution.name if institution else "")
    body = "；".join(x for x in (
        f"检测机构 {institution.name}" if institution else "",
        f"原始记录 {record.number}",
        f"部位 {item.structure_part}" if item.structure_part else "",
        f"处理期限 {item.deadline}",
    ) if x)  # fmt: skip
    rows = notify(db, told(db, item), kind="nonconformity", severity="critical",
                  title=f"不合格结果：{item.material} {item.grade} · {where}".strip(),
                  body=body, link=f"/nonconformities/{item.id}", now=now)  # fmt: skip
    return len(rows)


def may_record(principal: Principal, item: Nonconformity) -> bool:
    return principal.can("case:handle") or (
        principal.can("case:answer") and principal.institution_id == item.institution_id
    )


def record_handling(
    *, db: Session, principal: Principal, item: Nonconformity, handling: str, note: str,
    close: bool, now: dt.datetime,
) -> Nonconformity:  # fmt: skip
    """Record how the item was handled (the institution or an authority) and, for an
    authority, close it."""
    if item.status == NcStatus.CLOSED.value:
        raise Conflict("该不合格结果已闭环")
    if close and not principal.can("case:handle"):
        raise PermissionDenied("只有监管部门可以闭环")
    if not may_record(principal, item):
        raise PermissionDenied("您不能处理这条不合格结果")
    errors = []
    if handling not in {h.value for h in Handling}:
        errors.append(FieldError("handling", "请选择处理方式"))
    if not note.strip():
        errors.append(FieldError("note", "请写明处理情况（如复检报告编号、返工部位）"))
    if len(note) > 2000:
        errors.append(FieldError("note", "说明不超过 2000 字"))
    if errors:
        raise ValidationFailed(errors=errors)
    before = item.status
    item.handling = handling
    item.handling_note = note.strip()
    item.handled_at = now
    item.status = (NcStatus.CLOSED if close else NcStatus.HANDLING).value
    item.closed_at = now if close else None
    ledger.notarise(
        db,
        "nonconformity:close" if close else "nonconformity:handle",
        {"nonconformity": item.id, "handling": handling, "status": item.status,
         "at": now.isoformat()},
    )  # fmt: skip
    record_event(
        db, AuditAction.UPDATE, object_type="nonconformity", object_id=str(item.id),
        object_repr=f"不合格结果 #{item.id}", detail=note[:200],
        before={"status": before}, after={"status": item.status, "handling": handling},
    )  # fmt: skip
    return item


def search_stmt(principal: Principal, status: str | None = None) -> Select[Any]:
    stmt = select(Nonconformity).order_by(Nonconformity.found_at.desc(), Nonconformity.id.desc())
    if status:
        stmt = stmt.where(Nonconformity.status == status)
    return restrict(stmt, principal, "read")


@dataclass(frozen=True)
class SummaryRow:
    key: str
    total: int
    open: int
    overdue: int


def summary(db: Session, principal: Principal, by: str, today: dt.date) -> list[SummaryRow]:
    """Counts by ``region``, ``institution``, ``material`` or ``month`` (Beijing), within the
    reader's scope: all, not closed, not closed past their deadline."""
    column = {
        "region": Nonconformity.region_code,
        "institution": Nonconformity.institution_id,
        "material": Nonconformity.material,
        "month": beijing_month(Nonconformity.found_at),
    }[by]
    not_closed = Nonconformity.status != NcStatus.CLOSED.value
    stmt = restrict(
        select(
            column,
            func.count(),
            func.sum(case((not_closed, 1), else_=0)),
            func.sum(case((not_closed & (Nonconformity.deadline < today), 1), else_=0)),
        )
        .group_by(column)
        .order_by(column),
        principal,
        "read",
    )
    return [SummaryRow(str(k), int(n), int(o or 0), int(d or 0)) for k, n, o, d in db.execute(stmt)]
