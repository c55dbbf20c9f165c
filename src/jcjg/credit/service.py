"""Credit rating: the province's model and its versions, the four evaluations, computing a
period's scores with their explanation, publication, appeals and corrections, and what the
public and the industry overview read (docs/credit.md)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, in_prefix, restrict
from jcjg.contracts.models import Contract
from jcjg.core.db import utcnow
from jcjg.core.errors import FieldError, NotFound, PermissionDenied, ValidationFailed
from jcjg.core.later import reading, write_later
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.workdays import beijing_date
from jcjg.credit import facts as known
from jcjg.credit import scoring
from jcjg.credit.choices import AppealStatus, FactKind, ScoreStatus, Source, SubjectType
from jcjg.credit.models import CreditAppeal, CreditEvaluation, CreditModel, CreditScore
from jcjg.ledger import service as ledger
from jcjg.notify.service import notify
from jcjg.regions.models import Region
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution

MODEL_TYPE = "credit_model:version"
PUBLISH_TYPE = "credit_score:publish"


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


def province_of(code: str) -> str:
    return code[:2] + "0000"


def home_province(db: Session, principal: Principal, asked: str = "") -> str:
    """The province whose model a page shows: the reader's own; for a reader of global scope
    (the platform administrator, the auditor) the one asked for, else the province holding most
    institutions."""
    if principal.region_code:
        return province_of(principal.region_code)
    if asked:
        return province_of(asked)
    per_province: dict[str, int] = {}
    for code, n in db.execute(
        select(Institution.region_code, func.count()).group_by(Institution.region_code)
    ):
        per_province[code[:2]] = per_province.get(code[:2], 0) + int(n)
    if per_province:
        busiest = min(per_province, key=lambda p: (-per_province[p], p))
        return f"{busiest}0000"
    first = db.scalar(
        select(Region.code).where(Region.code.like("__0000")).order_by(Region.code).limit(1)
    )
    return first or "110000"


def check_period(period: str) -> str:
    try:
        scoring.period_bounds(period)
    except ValueError as exc:
        raise _refuse("period", str(exc)) from exc
    return period


# --- the model -------------------------------------------------------------------------------


def models_of(db: Session, province: str) -> list[CreditModel]:
    return list(
        db.scalars(
            select(CreditModel)
            .where(CreditModel.region_code == province)
            .order_by(CreditModel.version.desc())
        )
    )


def current_model(db: Session, region_code: str) -> CreditModel:
    """The province's newest version; version 1 (the default config) when it has none, stored
    and notarised (by a request that only reads, after its reads: :func:`write_later`)."""
    province = province_of(region_code)
    found = models_of(db, province)
    if found:
        return found[0]
    row = CreditModel(region_code=province, version=1, config=scoring.DEFAULT_CONFIG,
                      note="平台默认模型")  # fmt: skip
    if reading(db):
        write_later(db, partial(current_model, region_code=region_code), required=False)
        return row
    db.add(row)
    db.flush()
    row.ledger_index = ledger.notarise(db, MODEL_TYPE, _model_entry(row)).index
    return row


def _model_entry(row: CreditModel) -> dict[str, Any]:
    return {"province": row.region_code, "version": row.version, "config": row.config}


def new_version(
    *, db: Session, principal: Principal, config: dict[str, Any], note: str
) -> CreditModel:
    """A provincial authority's new version (past scores keep theirs)."""
    principal.require("credit:model")
    if principal.region_code is None:
        raise PermissionDenied("只有省级主管部门可以修改信用评价模型")
    try:
        problems = scoring.check_config(config)
    except (TypeError, KeyError, ValueError, IndexError, ArithmeticError, AttributeError):
        problems = [("config", "模型配置的结构不对：请按说明填写各项")]
    if problems:
        raise ValidationFailed(errors=[FieldError(f, m) for f, m in problems])
    province = province_of(principal.region_code)
    latest = current_model(db, province)
    row = CreditModel(region_code=province, version=latest.version + 1, config=config,
                      note=note, created_by=principal.user_id)  # fmt: skip
    db.add(row)
    db.flush()
    row.ledger_index = ledger.notarise(db, MODEL_TYPE, _model_entry(row)).index
    return row


# --- evaluations -----------------------------------------------------------------------------


def source_of(principal: Principal) -> Source:
    if principal.role is Role.INSTITUTION_ADMIN:
        return Source.SELF
    if principal.role is Role.PARTY_UNIT:
        return Source.PARTY
    if principal.role in (Role.PROVINCIAL_AUTHORITY, Role.CITY_AUTHORITY, Role.PLATFORM_ADMIN):
        return Source.AUTHORITY
    if principal.role is Role.ASSOCIATION:
        return Source.ASSOCIATION
    raise PermissionDenied("当前账号不能填写信用评价")


def worked_on(db: Session, institution_id: int, project_ids: Sequence[int]) -> list[int]:
    """The projects among ``project_ids`` the institution has a contract for."""
    if not project_ids:
        return []
    rows = db.scalars(
        select(Contract.project_id).where(
            Contract.institution_id == institution_id, Contract.project_id.in_(project_ids)
        )
    )
    return sorted(set(rows))


def evaluable(db: Session, principal: Principal) -> list[Institution]:
    """The institutions ``principal`` may evaluate."""
    source = source_of(principal)
    if source is Source.SELF:
        return [i for i in [db.get(Institution, principal.institution_id)] if i]
    if source is Source.PARTY:
        ids = select(Contract.institution_id).where(
            Contract.project_id.in_(sorted(principal.project_ids))
        )
        return list(db.scalars(select(Institution).where(Institution.id.in_(ids))))
    return list(db.scalars(restrict(select(Institution), principal, "read").limit(500)))


def _slot(source: Source, project_id: int | None, principal: Principal) -> str:
    if source is Source.PARTY:
        return f"party:{project_id}:{principal.user_id}"
    return source.value


def evaluate(
    *,
    db: Session,
    principal: Principal,
    institution_id: int,
    period: str,
    score: Decimal,
    comment: str,
    project_id: int | None = None,
) -> CreditEvaluation:
    """Record (or replace) ``principal``'s evaluation: the source follows the role."""
    principal.require("credit:evaluate")
    source = source_of(principal)
    check_period(period)
    inst = next((i for i in evaluable(db, principal) if i.id == institution_id), None)
    if inst is None:
        raise _refuse("institution_id", "不能评价该检测机构")
    if not Decimal(0) <= score <= Decimal(100):
        raise _refuse("score", "评分须在 0 到 100 之间")
    if source is Source.PARTY:
        mine = sorted(principal.project_ids)
        if project_id is None or project_id not in worked_on(db, inst.id, mine):
            raise _refuse("project_id", "须选择该机构承接检测的、本单位参与的工程项目")
    else:
        project_id = None
    slot = _slot(source, project_id, principal)
    row = db.scalars(
        select(CreditEvaluation).where(
            CreditEvaluation.institution_id == inst.id,
            CreditEvaluation.period == period,
            CreditEvaluation.slot == slot,
        )
    ).first()
    if row is None:
        row = CreditEvaluation(institution_id=inst.id, region_code=inst.region_code,
                               period=period, source=source.value, slot=slot,
                               project_id=project_id, score=score)  # fmt: skip
        db.add(row)
    row.score = score
    row.comment = comment
    row.evaluator_id = principal.user_id
    row.evaluator_unit = principal.display_name
    db.flush()
    return row


def evaluations(db: Session, institution_id: int, period: str) -> list[CreditEvaluation]:
    return list(
        db.scalars(
            select(CreditEvaluation)
            .where(CreditEvaluation.institution_id == institution_id)
            .where(CreditEvaluation.period == period)
            .order_by(CreditEvaluation.source, CreditEvaluation.id)
        )
    )


# --- computing -------------------------------------------------------------------------------


def struck(db: Session, institution_id: int, period: str) -> set[str]:
    """Facts struck out by corrected appeals (``<kind>:<subject>``)."""
    rows = db.scalars(
        select(CreditAppeal.fact).where(
            CreditAppeal.institution_id == institution_id,
            CreditAppeal.period == period,
            CreditAppeal.status == AppealStatus.CORRECTED.value,
            CreditAppeal.fact != "",
        )
    )
    return set(rows)


def _explain(facts: list[known.Fact], result: scoring.Result) -> dict[str, Any]:
    listed = []
    for f in facts:
        rule = result.deductions.get(f.kind.value)
        listed.append({"kind": f.kind.value, "subject_id": f.subject_id, "text": f.text,
                       "link": f.link, "counted": rule is not None})  # fmt: skip
    return {
        "evaluations": {k: (str(v) if v is not None else None) for k, v in result.means.items()},
        "deductions": result.deductions,
        "facts": listed,
    }


def _store(
    db: Session,
    *,
    inst: Institution,
    period: str,
    model: CreditModel,
    result: scoring.Result,
    facts: list[known.Fact],
    reason: str,
    person: Person | None = None,
) -> CreditScore:
    whose = CreditScore.person_id == person.id if person else CreditScore.person_id.is_(None)
    previous = db.scalars(
        select(CreditScore).where(
            CreditScore.institution_id == inst.id,
            CreditScore.period == period,
            whose,
            CreditScore.is_current.is_(True),
        )
    ).first()
    status = previous.status if previous else ScoreStatus.DRAFT.value
    if previous is not None:
        previous.is_current = False
    row = CreditScore(
        subject_type=(SubjectType.PERSON if person else SubjectType.INSTITUTION).value,
        institution_id=inst.id, person_id=person.id if person else None,
        region_code=inst.region_code, period=period, model_id=model.id, base=result.base,
        deducted=result.deducted, score=result.score, grade=result.grade,
        explanation=_explain(facts, result), status=status, reason=reason[:200],
        published_at=previous.published_at if previous else None, computed_at=utcnow(),
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row


def compute_institution(
    db: Session, inst: Institution, period: str, *, reason: str, today: dt.date | None = None
) -> CreditScore:
    """Compute and store the institution's score for ``period`` and its key people's."""
    start, end = scoring.period_bounds(period)
    day = today or beijing_date(utcnow())
    model = current_model(db, inst.region_code)
    gone = struck(db, inst.id, period)
    facts = [f for f in known.of_institution(db, inst.id, start, end, day) if f.key not in gone]
    scores: dict[str, list[Decimal]] = {}
    for e in evaluations(db, inst.id, period):
        scores.setdefault(e.source, []).append(Decimal(e.score))
    result = scoring.compute(model.config, scores, Counter(f.kind.value for f in facts))
    row = _store(db, inst=inst, period=period, model=model, result=result, facts=facts,
                 reason=reason)  # fmt: skip
    people = db.scalars(
        select(Person).where(Person.institution_id == inst.id, Person.key_role.is_not(None))
    )
    for person in people:
        mine = [f for f in known.of_person(db, inst.id, person.id, start, end)
                if f.key not in gone]  # fmt: skip
        res = scoring.compute(model.config, {}, Counter(f.kind.value for f in mine), person=True)
        _store(db, inst=inst, period=period, model=model, result=res, facts=mine,
               reason=reason, person=person)  # fmt: skip
    return row


def compute_region(db: Session, region_prefix: str, period: str, *, reason: str) -> int:
    """Compute every active institution of the region (prefix) whose period is not yet
    published; published periods change only by a corrected appeal. How many were computed."""
    stmt = select(Institution).where(Institution.status == "active")
    if region_prefix:
        stmt = stmt.where(in_prefix(Institution.region_code, region_prefix))
    published = set(
        db.scalars(
            select(CreditScore.institution_id).where(
                CreditScore.period == period,
                CreditScore.status == ScoreStatus.PUBLISHED.value,
                CreditScore.is_current.is_(True),
            )
        )
    )
    n = 0
    for inst in db.scalars(stmt.order_by(Institution.id)).all():
        if inst.id in published:
            continue
        compute_institution(db, inst, period, reason=reason)
        n += 1
    return n


def compute_on_demand(*, db: Session, principal: Principal, period: str) -> int:
    principal.require("credit:manage")
    check_period(period)
    prefix = scope_prefix(principal.region_code) if principal.region_code else ""
    return compute_region(db, prefix, period, reason="主管部门发起计算")


def publish(*, db: Session, principal: Principal, period: str) -> int:
    """Publish the region's current draft institution scores of ``period`` (notarised as one
    entry; each institution's administrators told). How many were published."""
    principal.require("credit:manage")
    check_period(period)
    stmt = restrict(select(CreditScore), principal, "read").where(
        CreditScore.period == period,
        CreditScore.is_current.is_(True),
        CreditScore.status == ScoreStatus.DRAFT.value,
    )
    rows = list(db.scalars(stmt.order_by(CreditScore.institution_id, CreditScore.id)))
    if not rows:
        raise _refuse("period", "该期间没有待公布的信用评价结果（请先计算）")
    now = utcnow()
    names = {i.id: i for i in db.scalars(select(Institution).where(
        Institution.id.in_({r.institution_id for r in rows})))}  # fmt: skip
    entry = {
        "period": period,
        "region": principal.region_code or "",
        "scores": [
            {
                "institution": names[r.institution_id].credit_code or names[r.institution_id].code,
                "person": r.person_id,
                "score": str(r.score),
                "grade": r.grade,
                "model": r.model_id,
            }
            for r in rows
        ],
    }
    index = ledger.notarise(db, PUBLISH_TYPE, entry).index
    for r in rows:
        r.status = ScoreStatus.PUBLISHED.value
        r.published_at = now
        r.ledger_index = index
    _tell(db, sorted({r.institution_id for r in rows}), f"{period} 信用评价结果已公布",
          "/credit/institutions/{}")  # fmt: skip
    return len([r for r in rows if r.person_id is None])


def _tell(db: Session, institution_ids: Sequence[int], title: str, link: str) -> None:
    for inst_id in institution_ids:
        admins = db.scalars(
            select(User).where(
                User.institution_id == inst_id, User.role == Role.INSTITUTION_ADMIN.value
            )
        ).all()
        notify(db, admins, kind="credit", title=title, link=link.format(inst_id),
               severity="info", now=utcnow())  # fmt: skip


# --- reading ---------------------------------------------------------------------------------


def scores_stmt(
    *, principal: Principal, period: str = "", grade: str = "", q: str = "", status: str = ""
) -> Select[Any]:
    """Current institution scores in reach."""
    stmt = restrict(select(CreditScore), principal, "read").where(
        CreditScore.is_current.is_(True), CreditScore.person_id.is_(None)
    )
    if period:
        stmt = stmt.where(CreditScore.period == period)
    if grade:
        stmt = stmt.where(CreditScore.grade == grade)
    if status:
        stmt = stmt.where(CreditScore.status == status)
    if q:
        like = f"%{q}%"
        named = select(Institution.id).where(
            (Institution.name.like(like)) | (Institution.credit_code.like(like))
        )
        stmt = stmt.where(CreditScore.institution_id.in_(named))
    return stmt


def history(db: Session, principal: Principal, institution_id: int) -> list[CreditScore]:
    return list(
        db.scalars(
            restrict(select(CreditScore), principal, "read")
            .where(CreditScore.institution_id == institution_id)
            .order_by(CreditScore.period.desc(), CreditScore.id.desc())
        )
    )


def institution_in_reach(db: Session, principal: Principal, institution_id: int) -> bool:
    """Whether the principal may read the institution (an empty history is then an answer)."""
    stmt = restrict(select(Institution.id), principal, "read")
    return db.scalar(stmt.where(Institution.id == institution_id)) is not None


def get_score(db: Session, principal: Principal, score_id: int) -> CreditScore:
    found: CreditScore | None = db.scalars(
        restrict(select(CreditScore), principal, "read").where(CreditScore.id == score_id)
    ).first()
    if found is None:
        raise NotFound()
    return found


def latest_published(db: Session, institution_id: int) -> CreditScore | None:
    return db.scalars(
        select(CreditScore)
        .where(
            CreditScore.institution_id == institution_id,
            CreditScore.person_id.is_(None),
            CreditScore.is_current.is_(True),
            CreditScore.status == ScoreStatus.PUBLISHED.value,
        )
        .order_by(CreditScore.period.desc())
    ).first()


def grade_distribution(db: Session, region_prefix: str, period: str) -> dict[str, int]:
    """Published current institution grades of ``period`` in the region (code prefix, ``""``
    all): ``{grade: count}``. Unscoped: published grades are public."""
    stmt = (
        select(CreditScore.grade, func.count())
        .where(
            CreditScore.period == period,
            CreditScore.person_id.is_(None),
            CreditScore.is_current.is_(True),
            CreditScore.status == ScoreStatus.PUBLISHED.value,
        )
        .group_by(CreditScore.grade)
    )
    if region_prefix:
        stmt = stmt.where(in_prefix(CreditScore.region_code, region_prefix))
    return {g: int(n) for g, n in db.execute(stmt)}


# --- appeals ---------------------------------------------------------------------------------


def appeal(
    *, db: Session, principal: Principal, score: CreditScore, fact: str, reason: str
) -> CreditAppeal:
    """The institution appeals its score or one fact of it within the model's days."""
    principal.require("credit:appeal")
    if principal.institution_id != score.institution_id or not score.is_current:
        raise NotFound()
    model = db.get(CreditModel, score.model_id)
    days = int((model.config if model else {}).get("appeal_days", 15))
    since = score.published_at or score.computed_at
    if utcnow() - since > dt.timedelta(days=days):
        raise _refuse("reason", f"已超过申诉期限（公布或计算后 {days} 日内）")
    keys = {f"{f['kind']}:{f['subject_id']}" for f in score.explanation.get("facts", [])}
    if fact and fact not in keys:
        raise _refuse("fact", "所申诉的事项不在该评价结果中")
    if len(reason.strip()) < 4:
        raise _refuse("reason", "请写明申诉理由")
    row = CreditAppeal(score_id=score.id, institution_id=score.institution_id,
                       region_code=score.region_code, period=score.period, fact=fact,
                       reason=reason, filed_by=principal.user_id)  # fmt: skip
    db.add(row)
    db.flush()
    return row


def appeals_of(db: Session, principal: Principal, institution_id: int) -> list[CreditAppeal]:
    return list(
        db.scalars(
            restrict(select(CreditAppeal), principal, "read")
            .where(CreditAppeal.institution_id == institution_id)
            .order_by(CreditAppeal.id.desc())
        )
    )


def decide(
    *, db: Session, principal: Principal, appeal_id: int, corrected: bool, decision: str
) -> CreditAppeal:
    """The authority upholds the score or corrects it: the fact struck out and the score
    recomputed (a new row; the old one stays in the history). The institution is told."""
    principal.require("credit:manage")
    row: CreditAppeal | None = db.scalars(
        restrict(select(CreditAppeal), principal, "read").where(CreditAppeal.id == appeal_id)
    ).first()
    if row is None:
        raise NotFound()
    if row.status != AppealStatus.PENDING.value:
        raise _refuse("decision", "该申诉已处理")
    if len(decision.strip()) < 2:
        raise _refuse("decision", "请写明处理意见")
    row.status = (AppealStatus.CORRECTED if corrected else AppealStatus.UPHELD).value
    row.decision = decision
    row.decided_by = principal.user_id
    row.decided_at = utcnow()
    db.flush()
    if corrected:
        inst = db.get(Institution, row.institution_id)
        assert inst is not None
        new = compute_institution(db, inst, row.period, reason=f"申诉更正（第 {row.id} 号）")
        row.new_score_id = new.id
    _tell(db, [row.institution_id], f"信用评价申诉已处理：{AppealStatus(row.status).label}",
          "/credit/institutions/{}")  # fmt: skip
    return row


FACT_LABELS = {k.value: k.label for k in FactKind}
