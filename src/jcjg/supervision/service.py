"""Spot-check plans, their notarised draw ("双随机": institutions and officers, recomputable
with ``jcjg-verify-draw``), checks and findings, sign-off, publication, the supervision log and
the figures of a period (:func:`summary`). Keyword-only, flush, never commit
(docs/supervision.md)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import Select, exists, func, or_, select, true
from sqlalchemy.orm import Session

from jcjg.auth.models import User
from jcjg.auth.permissions import OFFICERS
from jcjg.auth.scopes import Principal, filed_in, in_prefix, restrict
from jcjg.catalogue.models import Specialty
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.workdays import beijing_midnight
from jcjg.experts import draw
from jcjg.experts.service import first_checkpoint, notarised_entry, revealed_randomness
from jcjg.ledger import service as ledger
from jcjg.ledger.models import LedgerLeaf
from jcjg.registry.models import QualificationCertificate, certificate_specialty
from jcjg.supervision.choices import CheckStatus, Conclusion, ItemResult, LogKind, PlanStatus
from jcjg.supervision.models import (
    CheckFinding,
    CheckItem,
    OfficerRelation,
    SupervisionCheck,
    SupervisionDraw,
    SupervisionLog,
    SupervisionPlan,
)
from jcjg.supervision.schemas import CheckItemIn, FindingIn, LogIn, PlanIn, SignIn
from jcjg.tenancy.models import Institution

OFFICER_ROLES = OFFICERS
M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


# --- the population and the pool ---------------------------------------------------------------


def population_stmt(region_code: str, specialty: str | None = None) -> Select[Any]:
    """The institutions a plan of ``region_code`` draws from: active, of the region's subtree
    or filed to work in it with a filing in force today (``auth.scopes.filed_in``), holding a
    valid qualification certificate of ``specialty`` when one is given. The one place that
    says who may be drawn."""
    here = in_prefix(Institution.region_code, scope_prefix(region_code))
    filed = filed_in(Institution, region_code)
    stmt = select(Institution).where(
        or_(here, Institution.id.in_(filed)) if filed is not None else here,
        Institution.status == "active",
    )
    if specialty:
        holds = (
            select(QualificationCertificate.id)
            .join(
                certificate_specialty,
                certificate_specialty.c.qualification_certificate_id == QualificationCertificate.id,
            )
            .join(Specialty, Specialty.id == certificate_specialty.c.specialty_id)
            .where(
                QualificationCertificate.institution_id == Institution.id,
                QualificationCertificate.status == "valid",
                Specialty.code == specialty,
            )
        )
        stmt = stmt.where(exists(holds))
    return stmt.order_by(Institution.id)


def officers_stmt(region_code: str) -> Select[Any]:
    """The officers' pool: active accounts of the authorities and stations of the region's
    subtree that hold an enforcement card (行政执法证号): people, not an office's account."""
    return (
        select(User)
        .where(
            User.role.in_([r.value for r in OFFICER_ROLES]),
            User.is_active.is_(True),
            User.enforcement_card.is_not(None),  # officers hold a card, offices do not
            User.region_code.is_not(None),
            in_prefix(User.region_code, scope_prefix(region_code)),
        )
        .order_by(User.id)
    )


def _recently_checked(db: Session, plan: SupervisionPlan, today: dt.date) -> set[int]:
    if plan.recent_months <= 0:
        return set()
    since = today - dt.timedelta(days=round(plan.recent_months * 30.44))
    stmt = select(SupervisionCheck.institution_id).where(
        SupervisionCheck.plan_id != plan.id,
        SupervisionCheck.status == CheckStatus.SIGNED.value,
        SupervisionCheck.check_date >= since,
    )
    return set(db.scalars(stmt))


# --- plans -------------------------------------------------------------------------------------


def plans_stmt(*, principal: Principal, q: str = "", status: str = "") -> Select[Any]:
    stmt = restrict(select(SupervisionPlan), principal, "read")
    if q:
        like = f"%{q}%"
        stmt = stmt.where(SupervisionPlan.title.like(like) | SupervisionPlan.code.like(like))
    if status:
        stmt = stmt.where(SupervisionPlan.status == status)
    return stmt


def create_plan(*, db: Session, principal: Principal, data: PlanIn) -> SupervisionPlan:
    if not principal.covers_region(data.region_code):
        raise _refuse("region_code", "只能为本辖区制定抽查计划")
    if data.specialty and not db.scalar(
        select(Specialty.id).where(Specialty.code == data.specialty)
    ):
        raise _refuse("specialty", "资质专项不存在")
    now = utcnow()
    serial = 1 + (
        db.scalar(
            select(func.count(SupervisionPlan.id)).where(
                SupervisionPlan.region_code == data.region_code
            )
        )
        or 0
    )
    plan = SupervisionPlan(
        code=f"SC-{data.region_code}-{now:%Y%m%d}-{serial}",
        title=data.title, region_code=data.region_code, period_start=data.period_start,
        period_end=data.period_end, basis=data.basis, check_type=data.check_type.value,
        specialty=data.specialty or None, institution_count=data.institution_count,
        officers_per_check=data.officers_per_check, recent_months=data.recent_months,
        note=data.note, status=PlanStatus.DRAFT.value, created_by=principal.user_id,
    )  # fmt: skip
    db.add(plan)
    db.flush()
    return plan


def draw_of(db: Session, plan_id: int) -> SupervisionDraw | None:
    return db.scalars(select(SupervisionDraw).where(SupervisionDraw.plan_id == plan_id)).first()


# --- the draw ----------------------------------------------------------------------------------


def _request_lists(
    db: Session, plan: SupervisionPlan, code: str, salt: bytes
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int], dict[str, int]]:
    """The request's institutions and officers (by pseudonym, sorted) and the maps kept."""
    recent = _recently_checked(db, plan, utcnow().date())
    institutions, inst_ids = [], {}
    for inst in db.scalars(population_stmt(plan.region_code, plan.specialty)):
        name = draw.pseudonym(salt, code + draw.INSTITUTION_TAG, inst.id)
        inst_ids[name] = inst.id
        reason = "recent" if inst.id in recent else None
        institutions.append({"pseudonym": name, "excluded": reason})
    by_id = {v: k for k, v in inst_ids.items()}
    officers, officer_ids = [], {}
    for user in db.scalars(officers_stmt(plan.region_code)):
        name = draw.pseudonym(salt, code + draw.OFFICER_TAG, user.id)
        officer_ids[name] = user.id
        related = db.scalars(
            select(OfficerRelation.institution_id).where(OfficerRelation.user_id == user.id)
        )
        conflicts = sorted(by_id[i] for i in related if i in by_id)
        officers.append({"pseudonym": name, "conflicts": conflicts})
    institutions.sort(key=lambda i: str(i["pseudonym"]))
    officers.sort(key=lambda o: str(o["pseudonym"]))
    return institutions, officers, inst_ids, officer_ids


def request_draw(*, db: Session, principal: Principal, plan: SupervisionPlan) -> SupervisionDraw:
    """Notarise a commitment to a fresh secret, then the request (the population with its
    exclusions, the officers with their conflicts, the counts)."""
    db.refresh(plan, with_for_update=True)
    if plan.status != PlanStatus.DRAFT or draw_of(db, plan.id) is not None:
        raise Conflict("本计划已抽取，不能再次抽取。")
    code = f"{plan.code}-1"
    salt, secret = secrets.token_bytes(16), secrets.token_bytes(32)
    institutions, officers, inst_ids, officer_ids = _request_lists(db, plan, code, salt)
    if not any(not i["excluded"] for i in institutions):
        raise Conflict("抽查范围内没有可抽取的检测机构。")
    if len(officers) < plan.officers_per_check:
        raise Conflict(f"本辖区执法人员不足 {plan.officers_per_check} 人，无法组成检查组。")
    commit = ledger.notarise(
        db, draw.SUPERVISION_COMMIT_TYPE, {"draw": code, "commitment": draw.commitment(secret)}
    )
    request = ledger.notarise(
        db,
        draw.SUPERVISION_REQUEST_TYPE,
        {
            "draw": code, "plan": plan.code, "title": plan.title, "region": plan.region_code,
            "basis": plan.basis, "specialty": plan.specialty, "recent_months": plan.recent_months,
            "salt": salt.hex(), "commitment": draw.commitment(secret),
            "institution_count": plan.institution_count,
            "officers_per_check": plan.officers_per_check,
            "institutions": institutions, "officers": officers,
        },
    )  # fmt: skip
    row = SupervisionDraw(
        plan_id=plan.id, region_code=plan.region_code, code=code, status="requested",
        secret=secret.hex(), commit_index=commit.index, request_index=request.index,
        institutions=inst_ids, officers=officer_ids, requested_by=principal.user_id,
    )  # fmt: skip
    db.add(row)
    plan.status = PlanStatus.DRAWING.value
    db.flush()
    return row


def complete(*, db: Session, draw_row: SupervisionDraw) -> bool:
    """Take the randomness, assign, notarise the result and give the checks; False while the
    checkpoint that gives the randomness is not there yet."""
    if draw_row.status != "requested":
        return True
    db.refresh(draw_row, with_for_update=True)
    if draw_row.status != "requested":
        return True
    checkpoint = first_checkpoint(db, draw_row.request_index)
    if checkpoint is None:
        return False
    request = db.get_one(LedgerLeaf, draw_row.request_index)
    data: dict[str, Any] = json.loads(request.entry)["data"]
    seed = draw.seed(
        request.leaf_hash, draw.randomness(bytes.fromhex(draw_row.secret), checkpoint.root_hash)
    )
    checks = draw.assign(
        seed, data["institution_count"], data["officers_per_check"],
        data["institutions"], data["officers"],
    )  # fmt: skip
    result = ledger.notarise(
        db,
        draw.SUPERVISION_RESULT_TYPE,
        {
            "draw": draw_row.code, "request_leaf_hash": request.leaf_hash.hex(), "seed": seed,
            "secret": draw_row.secret, "checkpoint_size": checkpoint.size,
            "checkpoint_root": checkpoint.root_hash.hex(), "checks": checks,
        },
    )  # fmt: skip
    draw_row.status, draw_row.seed, draw_row.checks = "completed", seed, checks
    draw_row.result_index, draw_row.checkpoint_size = result.index, checkpoint.size
    draw_row.completed_at = utcnow()
    _give_checks(db, draw_row, checks)
    db.flush()
    return True


def _give_checks(db: Session, draw_row: SupervisionDraw, checks: list[dict[str, Any]]) -> None:
    plan = db.get_one(SupervisionPlan, draw_row.plan_id)
    for item in checks:
        db.add(
            SupervisionCheck(
                plan_id=plan.id,
                institution_id=draw_row.institutions[item["institution"]],
                region_code=plan.region_code,
                place=item["place"],
                check_type=plan.check_type,
                officers=[
                    {"user_id": draw_row.officers[o], "signed_at": None} for o in item["officers"]
                ],
            )
        )
    plan.status = PlanStatus.DRAWN.value


def complete_waiting(db: Session) -> int:
    done = 0
    for row in db.scalars(
        select(SupervisionDraw)
        .where(SupervisionDraw.status == "requested")
        .order_by(SupervisionDraw.id)
    ).all():
        done += complete(db=db, draw_row=row)
    return done


def published_inputs(db: Session, draw_row: SupervisionDraw) -> dict[str, Any]:
    """Everything anyone needs to recompute the draw (``jcjg-verify-draw``)."""
    if draw_row.status != "completed" or draw_row.checkpoint_size is None:
        raise Conflict("抽取尚未完成，完成后才公布全部输入。")
    places = [c["institution"] for c in draw_row.checks]
    people = sorted({o for c in draw_row.checks for o in c["officers"]})
    return {
        "format": draw.SUPERVISION_FORMAT,
        "origin": ledger.log_identity().origin,
        "key": ledger.log_identity().vkey,
        "commitment": notarised_entry(db, draw_row.commit_index),
        "request": notarised_entry(db, draw_row.request_index),
        "randomness": revealed_randomness(
            db, draw_row.secret, draw_row.request_index, draw_row.checkpoint_size
        ),
        "result": notarised_entry(db, int(draw_row.result_index or 0)),
        "drawn_institutions": [
            {"pseudonym": p, "institution_id": draw_row.institutions[p]} for p in places
        ],
        "drawn_officers": [{"pseudonym": p, "user_id": draw_row.officers[p]} for p in people],
    }


# --- checks ------------------------------------------------------------------------------------


def checks_of(db: Session, plan_id: int) -> list[SupervisionCheck]:
    stmt = select(SupervisionCheck).where(SupervisionCheck.plan_id == plan_id)
    return list(db.scalars(stmt.order_by(SupervisionCheck.place)))


def items_for(db: Session, check_type: str) -> list[CheckItem]:
    stmt = select(CheckItem).where(CheckItem.check_type == check_type, CheckItem.is_active)
    return list(db.scalars(stmt.order_by(CheckItem.sort, CheckItem.code)))


def check_items_stmt(*, check_type: str = "", status: str = "", q: str = "") -> Select[Any]:
    """The check items (every type's template), filtered: ``status`` active / inactive."""
    stmt = select(CheckItem)
    if check_type:
        stmt = stmt.where(CheckItem.check_type == check_type)
    if status:
        stmt = stmt.where(CheckItem.is_active.is_(status == "active"))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            CheckItem.code.like(like) | CheckItem.title.like(like) | CheckItem.guidance.like(like)
        )
    return stmt


def save_check_item(
    *, db: Session, principal: Principal, data: CheckItemIn, item_id: int | None = None
) -> CheckItem:
    """Add an item to a check type's template, or change one (its type and code stay: the
    findings recorded against it keep their meaning). An inactive item is put on no new check
    and no longer needed to sign one. 409 on a code the type already has."""
    principal.require("check_item:manage")
    if item_id is None:
        taken = db.scalars(
            select(CheckItem.id).where(
                CheckItem.check_type == data.check_type.value, CheckItem.code == data.code
            )
        ).first()
        if taken is not None:
            raise Conflict(
                f"检查项编号 {data.code} 已存在", errors=[FieldError("code", "编号已存在")]
            )
        item = CheckItem(check_type=data.check_type.value, code=data.code)
        db.add(item)
    else:
        found = db.get(CheckItem, item_id)
        if found is None:
            raise NotFound()
        item = found
        if (item.check_type, item.code) != (data.check_type.value, data.code):
            raise _refuse("code", "检查项的类别和编号不能修改：已记录的检查结果指向它")
    item.title, item.guidance, item.sort = data.title, data.guidance, data.sort
    item.is_active = data.is_active
    db.flush()
    return item


def findings_of(db: Session, check_id: int) -> dict[int, CheckFinding]:
    rows = db.scalars(select(CheckFinding).where(CheckFinding.check_id == check_id))
    return {f.item_id: f for f in rows}


def is_officer(check: SupervisionCheck, principal: Principal) -> bool:
    return any(o["user_id"] == principal.user_id for o in check.officers)


def _own_open(check: SupervisionCheck, principal: Principal) -> None:
    if not is_officer(check, principal):
        raise PermissionDenied("只有抽中的检查人员可以记录本检查")
    if check.status == CheckStatus.SIGNED:
        raise Conflict("本检查已签字确认，不能再修改。")


def record_finding(
    *, db: Session, principal: Principal, check: SupervisionCheck, data: FindingIn,
    photos: list[str],
) -> CheckFinding:  # fmt: skip
    """One item's result (kept photos added to those already there); the check is then under
    way and the officers' signatures, if any, are void."""
    _own_open(check, principal)
    item = db.get(CheckItem, data.item_id)
    if item is None or item.check_type != check.check_type:
        raise _refuse("item_id", "检查项不属于本检查")
    row = db.scalars(
        select(CheckFinding).where(
            CheckFinding.check_id == check.id, CheckFinding.item_id == item.id
        )
    ).first()
    if row is None:
        row = CheckFinding(check_id=check.id, item_id=item.id, region_code=check.region_code)
        db.add(row)
    row.result, row.finding = data.result.value, data.finding
    row.photos = [*(row.photos or []), *photos]
    row.latitude, row.longitude = data.latitude, data.longitude
    row.recorded_by = principal.user_id
    check.status = CheckStatus.IN_PROGRESS.value
    check.officers = [{**o, "signed_at": None} for o in check.officers]
    if check.latitude is None and data.latitude is not None:
        check.latitude, check.longitude = data.latitude, data.longitude
    db.flush()
    return row


def sign(
    *, db: Session, principal: Principal, check: SupervisionCheck, data: SignIn
) -> SupervisionCheck:
    """An officer signs the check; when every officer has signed, it is done and written in
    the supervision log. Every item needs its result first."""
    _own_open(check, principal)
    found = findings_of(db, check.id)
    missing = [i.title for i in items_for(db, check.check_type) if i.id not in found]
    if missing:
        raise _refuse("conclusion", "尚有检查项未记录：" + "、".join(missing))
    bad = any(f.result == ItemResult.NONCONFORMING for f in found.values())
    if bad and data.conclusion == Conclusion.CONFORMING:
        raise _refuse("conclusion", "有不符合的检查项，结论不能为未发现问题")
    now = utcnow()
    check.conclusion, check.summary = data.conclusion.value, data.summary
    check.officers = [
        {**o, "signed_at": now.isoformat()} if o["user_id"] == principal.user_id else o
        for o in check.officers
    ]
    if all(o["signed_at"] for o in check.officers):
        check.status, check.signed_at = CheckStatus.SIGNED.value, now
        check.check_date = now.date()
        _log_check(db, check)
    db.flush()
    return check


def _log_check(db: Session, check: SupervisionCheck) -> None:
    plan = db.get_one(SupervisionPlan, check.plan_id)
    names = db.scalars(
        select(User.display_name).where(User.id.in_([o["user_id"] for o in check.officers]))
    )
    db.add(
        SupervisionLog(
            region_code=check.region_code, kind=LogKind.SPOT_CHECK.value,
            entry_date=check.check_date or utcnow().date(), institution_id=check.institution_id,
            participants="、".join(names), summary=f"{plan.title}：{check.summary}",
            follow_up="责令整改" if check.conclusion == Conclusion.NONCONFORMING else "",
            check_id=check.id,
        )
    )  # fmt: skip


def publish(*, db: Session, plan: SupervisionPlan) -> SupervisionPlan:
    """Make the plan's results public (一公开): every check signed first."""
    if plan.status != PlanStatus.DRAWN:
        raise Conflict("只有已抽取、检查完毕的计划可以公开结果。")
    if any(c.status != CheckStatus.SIGNED for c in checks_of(db, plan.id)):
        raise Conflict("尚有检查未签字确认，不能公开结果。")
    plan.status, plan.published_at = PlanStatus.PUBLISHED.value, utcnow()
    db.flush()
    return plan


def public_plans_stmt() -> Select[Any]:
    return select(SupervisionPlan).where(SupervisionPlan.status == PlanStatus.PUBLISHED.value)


def relations_stmt(*, principal: Principal, institution_id: int | None = None) -> Select[Any]:
    """The declared relations (回避申报) of the principal's region's officers."""
    stmt = restrict(select(OfficerRelation), principal, "read")
    if institution_id is not None:
        stmt = stmt.where(OfficerRelation.institution_id == institution_id)
    return stmt


def add_relation(
    *, db: Session, principal: Principal, institution_id: int, note: str
) -> OfficerRelation:
    """An officer declares a relation with an institution of the region's population (its own
    and those filed to work there): never drawn to check it. Once per institution (409)."""
    if principal.user_id is None or not principal.region_code:
        raise PermissionDenied("只有本地区的执法人员可以申报回避")
    population = population_stmt(principal.region_code).where(Institution.id == institution_id)
    inst = db.scalars(population).first()
    if inst is None:
        raise _refuse("institution_id", "请选择本辖区（或在本辖区备案）的检测机构")
    if len(note) > 200:
        raise _refuse("note", "关系说明不能超过 200 字")
    known = select(OfficerRelation.id).where(
        OfficerRelation.user_id == principal.user_id, OfficerRelation.institution_id == inst.id
    )
    if db.scalar(known) is not None:
        raise Conflict(
            "您已申报过与该检测机构的关系",
            errors=[FieldError("institution_id", "已申报过", "duplicate")],
        )
    row = OfficerRelation(
        user_id=principal.user_id, institution_id=inst.id,
        region_code=principal.region_code, note=note,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


def withdraw_relation(*, db: Session, principal: Principal, relation_id: int) -> None:
    """An officer withdraws a declaration of their own (another's: 404)."""
    stmt = restrict(select(OfficerRelation), principal, "write")
    row = db.scalars(stmt.where(OfficerRelation.id == relation_id)).first()
    if row is None or row.user_id != principal.user_id:
        raise NotFound("没有这条回避申报")
    db.delete(row)
    db.flush()


# --- the supervision log -----------------------------------------------------------------------


def log_stmt(
    *, principal: Principal, kind: str = "", institution_id: int | None = None,
    since: dt.date | None = None, until: dt.date | None = None,
) -> Select[Any]:  # fmt: skip
    stmt = restrict(select(SupervisionLog), principal, "read")
    if kind:
        stmt = stmt.where(SupervisionLog.kind == kind)
    if institution_id is not None:
        stmt = stmt.where(SupervisionLog.institution_id == institution_id)
    if since is not None:
        stmt = stmt.where(SupervisionLog.entry_date >= since)
    if until is not None:
        stmt = stmt.where(SupervisionLog.entry_date <= until)
    return stmt


def add_log(
    *, db: Session, principal: Principal, data: LogIn, attachments: list[dict[str, Any]]
) -> SupervisionLog:
    region = principal.region_code
    if data.institution_id is not None:
        inst = db.get(Institution, data.institution_id)
        if inst is None or not principal.covers_region(inst.region_code):
            raise _refuse("institution_id", "请选择辖区内的检测机构")
        region = region or inst.region_code
    if not region:
        raise _refuse("kind", "没有所属辖区的账号不能记录监管台账")
    row = SupervisionLog(
        region_code=region, kind=data.kind.value, entry_date=data.entry_date,
        institution_id=data.institution_id, project_id=data.project_id,
        participants=data.participants, summary=data.summary, follow_up=data.follow_up,
        attachments=attachments, created_by=principal.user_id,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


# --- the figures of a period (the periodic supervision report) --------------------------------


def _within(column: Any, region_prefix: str) -> Any:
    return in_prefix(column, region_prefix) if region_prefix else true()


def summary(db: Session, region_prefix: str, since: dt.date, until: dt.date) -> dict[str, Any]:
    """Supervision work in the regions whose code starts with ``region_prefix`` ("36", "3604";
    ``""`` everywhere) with dates from ``since`` to ``until`` inclusive: ``checks_done`` (checks
    signed), ``institutions_checked`` (distinct), ``nonconforming_checks``, ``findings_by_item``
    (``{item title: {"conforming": n, "nonconforming": n, "not_applicable": n}}`` over the
    signed checks), ``log_by_kind`` (``{LogKind value: n}``), ``plans_published`` (results
    published in those Beijing days)."""
    checks = list(
        db.scalars(
            select(SupervisionCheck).where(
                _within(SupervisionCheck.region_code, region_prefix),
                SupervisionCheck.status == CheckStatus.SIGNED.value,
                SupervisionCheck.check_date >= since,
                SupervisionCheck.check_date <= until,
            )
        )
    )
    by_item: dict[str, dict[str, int]] = {}
    ids = [c.id for c in checks]
    if ids:
        rows = db.execute(
            select(CheckItem.title, CheckFinding.result, func.count(CheckFinding.id))
            .join(CheckItem, CheckItem.id == CheckFinding.item_id)
            .where(CheckFinding.check_id.in_(ids))
            .group_by(CheckItem.title, CheckFinding.result)
        ).all()
        for title, result, n in rows:
            by_item.setdefault(title, dict.fromkeys([r.value for r in ItemResult], 0))[result] = n
    kinds = db.execute(
        select(SupervisionLog.kind, func.count(SupervisionLog.id))
        .where(
            _within(SupervisionLog.region_code, region_prefix),
            SupervisionLog.entry_date >= since,
            SupervisionLog.entry_date <= until,
        )
        .group_by(SupervisionLog.kind)
    ).all()
    published = db.scalar(
        select(func.count(SupervisionPlan.id)).where(
            _within(SupervisionPlan.region_code, region_prefix),
            SupervisionPlan.status == PlanStatus.PUBLISHED.value,
            SupervisionPlan.published_at >= beijing_midnight(since),
            SupervisionPlan.published_at < beijing_midnight(until + dt.timedelta(days=1)),
        )
    )
    return {
        "checks_done": len(checks),
        "institutions_checked": len({c.institution_id for c in checks}),
        "nonconforming_checks": sum(c.conclusion == Conclusion.NONCONFORMING for c in checks),
        "findings_by_item": by_item,
        "log_by_kind": {k: n for k, n in kinds},
        "plans_published": published or 0,
    }


def get_check(db: Session, principal: Principal, check_id: int) -> SupervisionCheck:
    row = db.scalars(
        restrict(select(SupervisionCheck), principal, "read").where(SupervisionCheck.id == check_id)
    ).first()
    if row is None:
        raise NotFound("没有这项检查")
    return row
