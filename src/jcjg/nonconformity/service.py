"""The register: a test record judged nonconforming (by the lab, the platform's recomputation or
both) enters it when it is stored, notarised, and the project's owner and supervision units
(the party accounts of the project) and the stations of its region are told at once (003
III(6)). Its handling (re-test, rework, removal, demolition, other) is recorded by the
institution or an authority until an authority closes it; ``nonconformity_unhandled`` fires
for items still open past their deadline.

A lab also reports a nonconforming result itself through the exchange API (message
``nonconformity``, :func:`report`): attached to its record's entry when the record is already
on the register (nobody told twice), else entered and told as above, with or without its raw
record on the platform (a record uploaded later under the reported number is linked)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserProject
from jcjg.auth.scopes import Principal, restrict
from jcjg.catalogue.models import TestItem
from jcjg.catalogue.service import by_code
from jcjg.core.context import context_of
from jcjg.core.db import beijing_month
from jcjg.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.workdays import add_working_days, beijing_date, beijing_midnight
from jcjg.ledger import service as ledger
from jcjg.nonconformity.choices import Handling, NcSource, NcStatus
from jcjg.nonconformity.models import Nonconformity
from jcjg.nonconformity.schemas import NonconformityIn
from jcjg.projects.models import Project
from jcjg.sampling.models import Sample
from jcjg.tenancy.models import Institution
from jcjg.testing.choices import Judgement, TestKind
from jcjg.testing.models import Specimen, TestRecord
from jcjg.testing.service import nonconforming_by

DEADLINE_WORKING_DAYS = 15  # to handle an item before nonconformity_unhandled


def register(db: Session, record: TestRecord, now: dt.datetime) -> Nonconformity | None:
    """Enter ``record`` in the register when it is nonconforming (once). An entry the lab
    reported before under the record's number is linked to it instead, and nobody is told
    again."""
    if not record.nonconforming_by:
        return None
    found = _of_record(db, record)
    if found is not None:
        return found
    pending = db.scalars(
        select(Nonconformity).where(
            Nonconformity.institution_id == record.institution_id,
            Nonconformity.reported_number == record.number,
            Nonconformity.test_record_id.is_(None),
        )
    ).first()
    if pending is not None:
        return _link(db, pending, record, now)
    return _enter(db, _from_record(db, record, now), record.number, now)


def _of_record(db: Session, record: TestRecord) -> Nonconformity | None:
    return db.scalars(
        select(Nonconformity).where(Nonconformity.test_record_id == record.id)
    ).first()


def _deadline(now: dt.datetime) -> dt.date:
    return add_working_days(beijing_date(now), DEADLINE_WORKING_DAYS)


def _from_record(db: Session, record: TestRecord, now: dt.datetime) -> Nonconformity:
    codes = db.scalars(
        select(Specimen.sample_code).where(
            Specimen.test_record_id == record.id, Specimen.sample_code.is_not(None)
        )
    ).all()
    parts = sorted(
        set(db.scalars(select(Sample.structure_part).where(Sample.sample_code.in_(codes)))) - {""}
    )
    return Nonconformity(
        institution_id=record.institution_id,
        region_code=supervising_region(db, record.project_id, record.region_code),
        project_id=record.project_id, test_record_id=record.id, source=NcSource.RECORD.value,
        found_by=record.nonconforming_by, material=TestKind(record.kind).label,
        item_code=record.item_code, structure_part="、".join(parts)[:100], grade=record.grade,
        values=_record_values(record), found_at=now, deadline=_deadline(now),
        status=NcStatus.OPEN.value,
    )  # fmt: skip


def supervising_region(db: Session, project_id: int | None, fallback: str) -> str:
    """The region an entry belongs to: its project's, whose station supervises the project and
    is told at once (003 III(6)), even when the lab is registered in another city; the lab's
    own region (``fallback``) for a record without a project. The lab sees its entries by
    institution and the project's parties by project either way."""
    project = db.get(Project, project_id) if project_id is not None else None
    return project.region_code if project is not None else fallback


def _record_values(record: TestRecord) -> dict[str, Any]:
    return {"lab": record.results, "platform": record.recomputed,
            "lab_judgement": record.lab_judgement,
            "platform_judgement": record.platform_judgement}  # fmt: skip


def _enter(db: Session, item: Nonconformity, number: str, now: dt.datetime) -> Nonconformity:
    """Add a new entry: notarised (``nonconformity:register``) and told at once."""
    db.add(item)
    db.flush()
    item.ledger_index = ledger.notarise(
        db,
        "nonconformity:register",
        {"nonconformity": item.id, "test_record": item.test_record_id, "number": number,
         "institution": item.institution_id, "project": item.project_id,
         "found_by": item.found_by, "source": item.source, "item": item.item_code,
         "at": now.isoformat()},
    ).index  # fmt: skip
    item.notified = _tell(db, item, number, now)
    return item


def _link(db: Session, item: Nonconformity, record: TestRecord, now: dt.datetime) -> Nonconformity:
    """The record of an entry the lab reported without it has arrived: link them (notarised as
    ``nonconformity:link``); the parties were told when it was reported."""
    item.test_record_id = record.id
    if record.nonconforming_by in ("platform", "both"):
        item.found_by = "both"
    item.values = {**item.values, **_record_values(record), "lab_reported": item.values.get("lab")}
    _audit(
        db,
        AuditAction.UPDATE,
        item,
        f"机构报告的不合格结果，其原始记录 {record.number} 已上传并关联",
    )
    ledger.notarise(
        db,
        "nonconformity:link",
        {"nonconformity": item.id, "test_record": record.id, "number": record.number,
         "found_by": item.found_by, "at": now.isoformat()},
    )  # fmt: skip
    db.flush()
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
    region = item.region_code  # the project's: see supervising_region
    local = (Role.STATION.value, Role.CITY_AUTHORITY.value)
    return parties + authorities(db, [region, parent_region(db, region)], roles=local)


def _tell(db: Session, item: Nonconformity, number: str, now: dt.datetime) -> int:
    from jcjg.notify.service import notify

    institution = db.get(Institution, item.institution_id)
    project = db.get(Project, item.project_id) if item.project_id else None
    where = project.name if project else (institution.name if institution else "")
    body = "；".join(x for x in (
        f"检测机构 {institution.name}" if institution else "",
        f"原始记录 {number}",
        "检测机构报告" if item.source == NcSource.REPORTED.value else "",
        f"部位 {item.structure_part}" if item.structure_part else "",
        f"处理期限 {item.deadline}",
    ) if x)  # fmt: skip
    rows = notify(db, told(db, item), kind="nonconformity", severity="critical",
                  title=f"不合格结果：{item.material} {item.grade} · {where}".strip(),
                  body=body, link=f"/nonconformities/{item.id}", now=now)  # fmt: skip
    return len(rows)


# --- reported by the lab (message ``nonconformity``) -------------------------------------------

# how far a lab's clock may run ahead of the platform's (as for test records)
CLOCK_SLACK = dt.timedelta(minutes=5)
# the result's own fields: with a record on the platform, the record says them
_FROM_RECORD = ("sample_codes", "material", "values")


@dataclass(frozen=True)
class Reported:
    """What a lab's report did: ``registered`` a new entry (its parties told) or ``attached``
    the report to the entry of a record already on the register (nobody told again)."""

    item: Nonconformity
    outcome: str
    ledger_index: int
    record_id: int | None
    unknown_samples: list[str]


def _fail(field: str, message: str, kind: str = "invalid") -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message, kind)])


def report(
    *, db: Session, institution: Institution, data: NonconformityIn, project: Project | None,
    received_at: dt.datetime,
) -> Reported:  # fmt: skip
    """The lab's report of a nonconforming result (003 III(6)). ``record_number`` names its raw
    record: one the platform holds is linked (its entry gets the report, or is created);
    otherwise the entry is made from the reported fields and linked when the record arrives.
    A record number is reported once. ``project`` is the one ``project_code`` names, checked
    by the caller. A 422 leaves nothing written."""
    latest = received_at + CLOCK_SLACK
    if data.judged_at > latest:
        raise _fail("judged_at", "判定时间晚于平台收到数据的时间")
    if data.informed_client_at is not None and data.informed_client_at > latest:
        raise _fail("informed_client_at", "告知时间晚于平台收到数据的时间")
    if data.informed_client_at is not None and data.informed_client_at < data.judged_at:
        raise _fail("informed_client_at", "告知委托单位的时间不能早于判定时间")
    taken = db.scalars(
        select(Nonconformity).where(
            Nonconformity.institution_id == institution.id,
            Nonconformity.reported_number == data.record_number,
        )
    ).first()
    if taken is not None:
        raise _fail(
            "record_number", f"该原始记录的不合格结果已报告（不合格台账 #{taken.id}）", "unique"
        )
    record = db.scalars(
        select(TestRecord).where(
            TestRecord.institution_id == institution.id, TestRecord.number == data.record_number
        )
    ).first()
    if record is not None:
        return _report_record(db, record, data, project, received_at)
    return _report_result(db, institution, data, project, received_at)


def _apply_report(item: Nonconformity, data: NonconformityIn, now: dt.datetime) -> None:
    item.reported_number = data.record_number
    item.conclusion = data.conclusion
    item.judged_at = data.judged_at
    item.informed_client_at = data.informed_client_at
    item.reported_note = data.notes
    item.reported_at = now
    if data.structure_part:
        item.structure_part = data.structure_part
    if data.requirement:
        item.requirement = data.requirement


def _audit(db: Session, action: AuditAction, item: Nonconformity, detail: str) -> None:
    context = replace(
        context_of(db), region_code=item.region_code, institution_id=item.institution_id
    )
    record_event(
        db, action, object_type="nonconformity", object_id=str(item.id),
        object_repr=f"不合格结果 #{item.id}", detail=detail[:200], context=context,
        after={"source": item.source, "found_by": item.found_by,
               "reported_number": item.reported_number},
    )  # fmt: skip


def _report_record(
    db: Session, record: TestRecord, data: NonconformityIn, project: Project | None,
    now: dt.datetime,
) -> Reported:  # fmt: skip
    errors = [
        FieldError(name, "平台已有该原始记录，以原始记录为准，请不要填写此项")
        for name in _FROM_RECORD
        if getattr(data, name)
    ]
    if project is not None and project.id != record.project_id:
        errors.append(FieldError("project_code", "与该原始记录的工程项目不一致"))
    if data.item_code and data.item_code != record.item_code:
        errors.append(FieldError("item_code", f"与该原始记录的检测项目 {record.item_code} 不一致"))
    if data.grade and data.grade != record.grade:
        errors.append(
            FieldError("grade", f"与该原始记录的设计等级 {record.grade or '（无）'} 不一致")
        )
    if errors:
        raise ValidationFailed(errors=errors)
    item = _of_record(db, record)
    if item is None:  # the lab's word puts it on the register: a new entry, told at once
        _judged_by(db, record, nonconforming_by(
            Judgement.NONCONFORMING.value, record.platform_judgement))  # fmt: skip
        item = _from_record(db, record, now)
        _apply_report(item, data, now)
        _enter(db, item, record.number, now)
        _audit(db, AuditAction.CREATE, item, f"检测机构报告不合格结果，原始记录 {record.number}")
        assert item.ledger_index is not None
        return Reported(item, "registered", item.ledger_index, record.id, [])
    if item.found_by == "platform":  # the platform found it; now the lab agrees
        item.found_by = "both"
        _judged_by(db, record, "both")
    _apply_report(item, data, now)
    index = ledger.notarise(
        db,
        "nonconformity:report",
        {"nonconformity": item.id, "test_record": record.id, "number": record.number,
         "institution": item.institution_id, "found_by": item.found_by,
         "judged_at": data.judged_at.isoformat(),
         "informed_client_at": _iso(data.informed_client_at), "at": now.isoformat()},
    ).index  # fmt: skip
    _audit(db, AuditAction.UPDATE, item, f"检测机构报告不合格结果，原始记录 {record.number}")
    return Reported(item, "attached", index, record.id, [])


def _judged_by(db: Session, record: TestRecord, by: str) -> None:
    """The lab's report makes the record nonconforming by the lab too: changed with its audit
    row (records are otherwise written once)."""
    before = record.nonconforming_by
    record.nonconforming_by = by
    record_event(
        db, AuditAction.UPDATE, object_type="test_record", object_id=str(record.id),
        object_repr=f"原始记录 {record.number}", detail="检测机构报告该结果不合格",
        before={"nonconforming_by": before}, after={"nonconforming_by": by},
        context=replace(context_of(db), region_code=record.region_code,
                        institution_id=record.institution_id),
    )  # fmt: skip


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def works_for(db: Session, institution_id: int, project_id: int) -> bool:
    """Whether the lab tests for the project: a contract, a commission or a test record of the
    lab names it. A lab reports results only of projects it works for, so no one can set off
    critical notifications to a stranger project's parties and station."""
    from jcjg.contracts.models import Contract
    from jcjg.sampling.models import Commission

    model: Any
    for model in (Contract, Commission, TestRecord):
        mine = (model.institution_id == institution_id) & (model.project_id == project_id)
        if db.scalar(select(model.id).where(mine).limit(1)) is not None:
            return True
    return False


def _report_result(
    db: Session, institution: Institution, data: NonconformityIn, project: Project | None,
    now: dt.datetime,
) -> Reported:  # fmt: skip
    item_code = data.item_code or ""
    if project is None or not item_code or not data.values:
        needed = "平台尚无该原始记录时须填写"
        missing = [
            FieldError(name, needed + what, "missing")
            for name, what, given in (
                ("project_code", "工程项目编号", project is not None),
                ("item_code", "检测项目代码", bool(item_code)),
                ("values", "检测结果", bool(data.values)),
            )
            if not given
        ]
        unknown = FieldError(
            "record_number",
            "本机构没有这个原始记录编号；平台尚无该记录时，须填写 project_code、item_code 和 "
            "values 报告检测结果",
        )
        raise ValidationFailed(errors=[unknown, *missing])
    if not works_for(db, institution.id, project.id):
        raise ValidationFailed(errors=[FieldError(
            "project_code",
            "本机构在该工程项目没有检测合同、委托或检测记录，不能报告其检测结果",
            "not_commissioned",
        )])  # fmt: skip
    codes = list(dict.fromkeys(data.sample_codes))
    samples = (
        {s.sample_code: s for s in db.scalars(select(Sample).where(Sample.sample_code.in_(codes)))}
        if codes
        else {}
    )
    for code, sample in samples.items():
        if sample.project_id != project.id:
            raise _fail("sample_codes", f"样品 {code} 不属于该工程项目")
    parts = sorted({s.structure_part for s in samples.values()} - {""})
    catalogued = by_code(db=db, model=TestItem, codes=[item_code]).get(item_code)
    material = data.material or (catalogued.name if catalogued else None)
    item = Nonconformity(
        institution_id=institution.id, region_code=project.region_code,
        project_id=project.id, test_record_id=None, source=NcSource.REPORTED.value,
        found_by="lab", material=(material or item_code)[:40], item_code=item_code,
        structure_part="、".join(parts)[:100], grade=data.grade,
        values={"lab": dict(data.values), "lab_judgement": Judgement.NONCONFORMING.value,
                "sample_codes": codes},
        found_at=now, deadline=_deadline(now), status=NcStatus.OPEN.value,
    )  # fmt: skip
    _apply_report(item, data, now)
    _enter(db, item, data.record_number, now)
    _audit(db, AuditAction.CREATE, item, f"检测机构报告不合格结果，原始记录 {data.record_number}")
    assert item.ledger_index is not None
    return Reported(
        item, "registered", item.ledger_index, None, [c for c in codes if c not in samples]
    )


def may_record(principal: Principal, item: Nonconformity) -> bool:
    if item.handling_origin is not None:
        return False  # a child platform handles it (nonconformity.facts)
    return principal.can("case:handle") or (
        principal.can("case:answer") and principal.institution_id == item.institution_id
    )


def record_handling(
    *, db: Session, principal: Principal, item: Nonconformity, handling: str, note: str,
    close: bool, now: dt.datetime,
) -> Nonconformity:  # fmt: skip
    """Record how the item was handled (the institution or an authority) and, for an
    authority, close it."""
    if item.handling_origin is not None:
        raise PermissionDenied(
            f"这条不合格结果由下级平台“{item.handling_origin}”处理，只能在该平台处理"
        )
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


# the list's filter on status: a status, or those not closed (of them, those past the deadline)
UNCLOSED = "unclosed"
OVERDUE = "overdue"


def search_stmt(
    principal: Principal,
    status: str | None = None,
    *,
    today: dt.date | None = None,
    institution_id: int | None = None,
    region_code: str | None = None,
    project_id: int | None = None,
    since: dt.date | None = None,
) -> Select[Any]:
    """The register within scope, newest first. ``status`` is an :class:`NcStatus` value,
    ``unclosed`` or ``overdue`` (not closed, deadline before ``today``); ``region_code`` takes
    its subtree; ``since`` keeps the items found from that Beijing day on."""
    stmt = select(Nonconformity).order_by(Nonconformity.found_at.desc(), Nonconformity.id.desc())
    if status in (UNCLOSED, OVERDUE):
        stmt = stmt.where(Nonconformity.status != NcStatus.CLOSED.value)
        if status == OVERDUE:
            stmt = stmt.where(Nonconformity.deadline < (today or dt.date.min))
    elif status:
        stmt = stmt.where(Nonconformity.status == status)
    if institution_id is not None:
        stmt = stmt.where(Nonconformity.institution_id == institution_id)
    if region_code:
        stmt = stmt.where(Nonconformity.region_code.startswith(scope_prefix(region_code)))
    if project_id is not None:
        stmt = stmt.where(Nonconformity.project_id == project_id)
    if since is not None:
        stmt = stmt.where(Nonconformity.found_at >= beijing_midnight(since))
    return restrict(stmt, principal, "read")


def counts(db: Session, principal: Principal, *, today: dt.date, since: dt.date) -> dict[str, int]:
    """The register's numbers of the home pages within scope, in one pass: by status
    (``open``, ``handling``), ``unclosed``, ``overdue`` on ``today``, and ``recent`` (found
    from Beijing day ``since`` on); each what :func:`search_stmt` with that filter finds."""
    not_closed = Nonconformity.status != NcStatus.CLOSED.value
    buckets = {
        NcStatus.OPEN.value: Nonconformity.status == NcStatus.OPEN.value,
        NcStatus.HANDLING.value: Nonconformity.status == NcStatus.HANDLING.value,
        UNCLOSED: not_closed,
        OVERDUE: not_closed & (Nonconformity.deadline < today),
        "recent": Nonconformity.found_at >= beijing_midnight(since),
    }
    stmt = restrict(select(Nonconformity), principal, "read").with_only_columns(
        *(func.sum(case((cond, 1), else_=0)) for cond in buckets.values()),
        maintain_column_froms=True,
    )
    found = db.execute(stmt).one()
    return {name: int(n or 0) for name, n in zip(buckets, found, strict=True)}


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
