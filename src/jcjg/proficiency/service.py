"""Proficiency schemes: who sees which, creating one with its participants, submitting results
(page, API and exchange alike) and the evaluation (statistics and scores, ISO 13528:2022)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, restrict, scope_clause
from jcjg.catalogue import service as catalogue
from jcjg.catalogue.models import Parameter
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.workdays import beijing_date
from jcjg.ledger import service as ledger
from jcjg.notify.service import notify
from jcjg.proficiency import statistics as stats
from jcjg.proficiency.choices import SAMPLES, AssignedMode, SchemeStatus, Source
from jcjg.proficiency.models import ProficiencyParticipant, ProficiencyResult, ProficiencyScheme
from jcjg.proficiency.schemas import ResultIn, ResultRead, ResultsIn, SchemeIn, SchemeRead
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


def parse(model: type[Any], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


# --- who sees which --------------------------------------------------------------------------


def schemes_stmt(*, principal: Principal, status: str = "", q: str = "") -> Select[Any]:
    """The schemes ``principal`` may read: those of their region, and those their institution
    takes part in."""
    principal.require("proficiency:read")
    taking_part = select(ProficiencyParticipant.scheme_id).where(
        scope_clause(ProficiencyParticipant, principal)
    )
    stmt = select(ProficiencyScheme).where(
        or_(
            scope_clause(ProficiencyScheme, principal),
            ProficiencyScheme.id.in_(taking_part),
        )
    )
    if status:
        stmt = stmt.where(ProficiencyScheme.status == status)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(ProficiencyScheme.code.like(like), ProficiencyScheme.title.like(like))
        )
    return stmt


def get_scheme(db: Session, principal: Principal, scheme_id: int) -> ProficiencyScheme:
    scheme: ProficiencyScheme | None = db.scalars(
        schemes_stmt(principal=principal).where(ProficiencyScheme.id == scheme_id)
    ).first()
    if scheme is None:
        raise NotFound()
    return scheme


def manages(principal: Principal, scheme: ProficiencyScheme) -> bool:
    """Whether ``principal`` organises ``scheme`` (its region's authority or station)."""
    return principal.can("proficiency:manage") and principal.covers_region(scheme.region_code)


def organises(principal: Principal, scheme: ProficiencyScheme) -> bool:
    """Whether ``principal`` reads ``scheme`` as its organiser does: every result, and who is
    behind each participant code (the scheme's region and those above it)."""
    return principal.covers_region(scheme.region_code)


def visible_results(
    db: Session, principal: Principal, scheme: ProficiencyScheme
) -> list[ProficiencyResult]:
    """The results ``principal`` reads: all of them as its organiser; otherwise those within
    its scope (an institution's own, a region's institutions')."""
    stmt = select(ProficiencyResult).where(ProficiencyResult.scheme_id == scheme.id)
    if not organises(principal, scheme):
        stmt = stmt.where(scope_clause(ProficiencyResult, principal))
    return list(
        db.scalars(stmt.order_by(ProficiencyResult.participant_id, ProficiencyResult.sample))
    )


def participants(db: Session, scheme: ProficiencyScheme) -> list[ProficiencyParticipant]:
    return list(
        db.scalars(
            select(ProficiencyParticipant)
            .where(ProficiencyParticipant.scheme_id == scheme.id)
            .order_by(ProficiencyParticipant.code)
        )
    )


def results(db: Session, scheme: ProficiencyScheme) -> list[ProficiencyResult]:
    return list(
        db.scalars(
            select(ProficiencyResult)
            .where(ProficiencyResult.scheme_id == scheme.id)
            .order_by(ProficiencyResult.participant_id, ProficiencyResult.sample)
        )
    )


def participant_of(
    db: Session, scheme: ProficiencyScheme, institution_id: int | None
) -> ProficiencyParticipant | None:
    if institution_id is None:
        return None
    return db.scalars(
        select(ProficiencyParticipant).where(
            ProficiencyParticipant.scheme_id == scheme.id,
            ProficiencyParticipant.institution_id == institution_id,
        )
    ).first()


def institution_names(db: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {i: n for i, n in rows}


def samples_of(scheme: ProficiencyScheme) -> tuple[str, ...]:
    return SAMPLES[: scheme.sample_count]


# --- a new scheme ---------------------------------------------------------------------------------


def _parameter(db: Session, code: str) -> Parameter:
    found = catalogue.by_code(db=db, model=Parameter, codes=[code]).get(code)
    if found is None:
        raise _refuse("parameter_code", "资质目录中没有这个检测参数代码")
    return found


def _invited(db: Session, principal: Principal, ids: Sequence[int]) -> list[Institution]:
    stmt = restrict(select(Institution).where(Institution.id.in_(ids)), principal, "read")
    found = {i.id: i for i in db.scalars(stmt)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise _refuse("institution_ids", f"检测机构 {missing[:5]} 不存在或不在您的管辖范围内")
    return [found[i] for i in ids]


def create_scheme(*, db: Session, principal: Principal, data: SchemeIn) -> ProficiencyScheme:
    """A scheme of ``data.region_code`` (``principal``'s region when not given; a platform
    administrator names it) with the institutions invited, each given a participant code P01,
    P02 … in the order given."""
    principal.require("proficiency:manage")
    region = data.region_code or principal.region_code
    if not region:
        raise _refuse("region_code", "请指定组织能力验证的行政区域")
    regions.current(db=db, code=region)
    if not principal.covers_region(region):
        raise _refuse("region_code", "只能组织本辖区内的能力验证")
    if db.scalar(select(ProficiencyScheme.id).where(ProficiencyScheme.code == data.code)):
        raise _refuse("code", "试验编号已存在")
    parameter = _parameter(db, data.parameter_code)
    invited = _invited(db, principal, data.institution_ids)
    scheme = ProficiencyScheme(
        code=data.code,
        title=data.title,
        region_code=region,
        item_code=parameter.test_item.code,
        parameter_code=parameter.code,
        unit=data.unit or parameter.unit or "",
        sample_count=data.sample_count,
        samples_sent_on=data.samples_sent_on,
        deadline=data.deadline,
        assigned_mode=data.assigned_mode.value,
        assigned_value=data.assigned_value,
        assigned_uncertainty=data.assigned_uncertainty,
        sigma_pt=data.sigma_pt,
        score=data.score.value,
        status=SchemeStatus.OPEN.value,
        notes=data.notes,
    )
    db.add(scheme)
    db.flush()
    rows = [
        ProficiencyParticipant(
            scheme_id=scheme.id,
            institution_id=institution.id,
            region_code=scheme.region_code,
            code=f"P{n:02d}",
        )
        for n, institution in enumerate(invited, start=1)
    ]
    db.add_all(rows)
    db.flush()
    _tell_invited(db, scheme, rows)
    return scheme


def invite(
    *, db: Session, principal: Principal, scheme: ProficiencyScheme, institution_ids: Sequence[int]
) -> list[ProficiencyParticipant]:
    """Invite more institutions to a scheme still collecting results (the organiser; 403
    without ``proficiency:manage``, 404 for another region's scheme); their codes continue
    after the last one given."""
    if not manages(principal, scheme):
        principal.require("proficiency:manage")
        raise NotFound()
    if scheme.status != SchemeStatus.OPEN.value:
        raise Conflict("该能力验证已完成统计评价，不能再邀请")
    if not institution_ids:
        raise _refuse("institution_ids", "请选择要邀请的检测机构")
    if len(set(institution_ids)) != len(institution_ids):
        raise _refuse("institution_ids", "同一检测机构重复")
    invited = _invited(db, principal, institution_ids)
    present = participants(db, scheme)
    already = {p.institution_id for p in present}
    again = [i.name for i in invited if i.id in already]
    if again:
        raise _refuse("institution_ids", f"已受邀：{'、'.join(again[:5])}")
    last = max((int(p.code[1:]) for p in present if p.code[1:].isdecimal()), default=0)
    added = []
    for n, institution in enumerate(invited, start=last + 1):
        row = ProficiencyParticipant(
            scheme_id=scheme.id,
            institution_id=institution.id,
            region_code=scheme.region_code,
            code=f"P{n:02d}",
        )
        db.add(row)
        added.append(row)
    db.flush()
    _tell_invited(db, scheme, added)
    return added


def _tell_invited(
    db: Session, scheme: ProficiencyScheme, invited: Sequence[ProficiencyParticipant]
) -> None:
    """The administrators of each invited institution are told (inbox, and their digests)."""
    ids = [p.institution_id for p in invited]
    if not ids:
        return
    admins = db.scalars(
        select(User).where(User.institution_id.in_(ids), User.role == Role.INSTITUTION_ADMIN.value)
    ).all()
    notify(
        db,
        admins,
        kind="proficiency",
        title=f"受邀参加能力验证：{scheme.title}",
        body=f"试验编号 {scheme.code}，结果提交截止 {scheme.deadline}。",
        link=f"/proficiency/schemes/{scheme.id}",
        severity="info",
        now=utcnow(),
    )


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submitted:
    participant: ProficiencyParticipant
    created: int
    updated: int


# zeta and En need the participant's uncertainty: a result without it could not be judged
NEEDS_UNCERTAINTY = frozenset({stats.Score.ZETA.value, stats.Score.EN.value})


def submit(
    *,
    db: Session,
    scheme: ProficiencyScheme,
    institution_id: int,
    data: ResultsIn,
    now: dt.datetime,
    source: Source,
    message_id: str | None = None,
    field_prefix: str = "",
) -> Submitted:
    """Write an invited institution's results on a scheme still collecting them, by its
    deadline (Beijing date); a result sent again replaces the one before."""
    participant = participant_of(db, scheme, institution_id)
    if participant is None:
        raise _refuse(f"{field_prefix}scheme", "本机构未受邀参加该能力验证")
    if scheme.status != SchemeStatus.OPEN.value:
        raise Conflict("该能力验证已完成统计评价，不再接收结果")
    if beijing_date(now) > scheme.deadline:
        raise _refuse(f"{field_prefix}scheme", f"已过结果提交截止日期（{scheme.deadline}）")
    allowed = samples_of(scheme)
    seen: set[str] = set()
    for at, result in enumerate(data.results):
        where = f"{field_prefix}results.{at}.sample"
        if result.sample not in allowed:
            raise _refuse(where, f"该能力验证只发放了样品 {'、'.join(allowed)}")
        if result.sample in seen:
            raise _refuse(where, "同一样品的结果重复")
        seen.add(result.sample)
        if scheme.score in NEEDS_UNCERTAINTY and result.expanded_uncertainty is None:
            raise _refuse(
                f"{field_prefix}results.{at}.expanded_uncertainty",
                f"该能力验证以{stats.Score(scheme.score).label}评定，须报告扩展不确定度 U",
            )
    existing = {
        r.sample: r
        for r in db.scalars(
            select(ProficiencyResult).where(ProficiencyResult.participant_id == participant.id)
        )
    }
    created = updated = 0
    for result in data.results:
        row = existing.get(result.sample)
        if row is None:
            row = ProficiencyResult(
                scheme_id=scheme.id,
                participant_id=participant.id,
                institution_id=institution_id,
                region_code=scheme.region_code,
                sample=result.sample,
            )
            db.add(row)
            created += 1
        else:
            updated += 1
        _fill(row, result, now, source, message_id)
    db.flush()
    return Submitted(participant, created, updated)


def _fill(
    row: ProficiencyResult,
    result: ResultIn,
    now: dt.datetime,
    source: Source,
    message_id: str | None,
) -> None:
    row.value = result.value
    row.expanded_uncertainty = result.expanded_uncertainty
    row.coverage_factor = result.coverage_factor
    row.method = result.method
    row.submitted_at = now
    row.source = source.value
    row.message_id = message_id


# --- evaluation -----------------------------------------------------------------------------------


def assigned_for(
    scheme: ProficiencyScheme, values: Sequence[float]
) -> tuple[stats.Assigned, dict[str, Any]]:
    """The assigned value, its uncertainty and sigma_pt of one sample, and the figures to keep:
    known beforehand, or the robust mean of ``values`` (Algorithm A; u(x*) = 1.25 s*/sqrt(p))."""
    facts: dict[str, Any] = {"p": len(values)}
    if scheme.assigned_mode == AssignedMode.KNOWN.value:
        x_pt, sigma = scheme.assigned_value or 0.0, scheme.sigma_pt or 0.0
        expanded = scheme.assigned_uncertainty or 0.0
        assigned = stats.Assigned(x_pt, expanded / 2, sigma, expanded)
        if len(values) >= stats.MIN_RESULTS:
            robust = stats.algorithm_a(values)
            facts.update(x_star=robust.x_star, s_star=robust.s_star, iterations=robust.iterations)
    else:
        if len(values) < stats.MIN_RESULTS:
            raise _refuse(
                "results", f"参加者结果少于 {stats.MIN_RESULTS} 个，不能用稳健统计确定指定值"
            )
        robust = stats.algorithm_a(values)
        facts.update(x_star=robust.x_star, s_star=robust.s_star, iterations=robust.iterations)
        sigma = scheme.sigma_pt or robust.s_star
        if sigma <= 0:
            raise _refuse("results", "参加者结果完全相同，稳健标准差为 0，请指定能力评定标准差")
        assigned = stats.Assigned(robust.x_star, robust.u_x_star, sigma)
    facts.update(
        x_pt=assigned.x_pt,
        u_x_pt=assigned.u_x_pt,
        U_x_pt=assigned.U_x_pt,
        sigma_pt=assigned.sigma_pt,
        u_small=assigned.u_x_pt <= 0.3 * assigned.sigma_pt,  # ISO 13528 9.2.1
    )
    return assigned, facts


def evaluate(
    *, db: Session, principal: Principal, scheme: ProficiencyScheme, now: dt.datetime
) -> None:
    """The organiser's evaluation (403 without ``proficiency:manage``, 404 for another
    region's scheme): see :func:`score_scheme`."""
    if not manages(principal, scheme):
        principal.require("proficiency:manage")
        raise NotFound()
    score_scheme(db=db, scheme=scheme, now=now)


def score_scheme(*, db: Session, scheme: ProficiencyScheme, now: dt.datetime) -> None:
    """Statistics and scores of every sample, the signal of the scheme's score on each result;
    the scheme becomes evaluated (again, when evaluated before). 422 with no result, or too
    few for a consensus value."""
    rows = results(db, scheme)
    if not rows:
        raise _refuse("results", "尚无参加者提交结果")
    score = stats.Score(scheme.score)
    figures: dict[str, Any] = {}
    for sample in samples_of(scheme):
        mine = [r for r in rows if r.sample == sample]
        if not mine:
            continue
        assigned, facts = assigned_for(scheme, [r.value for r in mine])
        figures[sample] = facts
        for row in mine:
            found = stats.scores(row.value, assigned, row.expanded_uncertainty, row.coverage_factor)
            row.z, row.z_prime, row.zeta, row.en = found.z, found.z_prime, found.zeta, found.en
            judged = stats.signal(score, found.get(score))
            row.signal = judged.value if judged else None
    scheme.statistics = figures
    scheme.status = SchemeStatus.EVALUATED.value
    scheme.evaluated_at = now
    db.flush()
    scheme.evaluation_index = ledger.notarise(db, EVALUATE_TYPE, evaluation_entry(db, scheme)).index


EVALUATE_TYPE = "proficiency_scheme:evaluate"


def evaluation_entry(db: Session, scheme: ProficiencyScheme) -> dict[str, Any]:
    """What the ledger keeps of an evaluation: the scheme, its statistics and every result with
    its scores by participant code (the codes, not the institutions: participants stay
    anonymous to each other; the organiser holds the key). Anyone given the report can check
    its figures against this entry."""
    codes = {
        p.id: p.code
        for p in db.scalars(
            select(ProficiencyParticipant).where(ProficiencyParticipant.scheme_id == scheme.id)
        )
    }
    return {
        "scheme": scheme.code,
        "parameter": scheme.parameter_code,
        "unit": scheme.unit,
        "score": scheme.score,
        "assigned_mode": scheme.assigned_mode,
        "statistics": scheme.statistics,
        "results": [
            {
                "participant": codes.get(r.participant_id, ""),
                "sample": r.sample,
                "value": r.value,
                "U": r.expanded_uncertainty,
                "k": r.coverage_factor,
                "z": r.z,
                "z_prime": r.z_prime,
                "zeta": r.zeta,
                "En": r.en,
                "signal": r.signal,
            }
            for r in sorted(
                results(db, scheme), key=lambda r: (codes.get(r.participant_id, ""), r.sample)
            )
        ],
    }


def counts(db: Session, scheme_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Per scheme: participants, those who submitted, and action signals."""
    out: dict[int, dict[str, int]] = {
        i: {"invited": 0, "submitted": 0, "action": 0} for i in scheme_ids
    }
    if not scheme_ids:
        return out
    for scheme_id, n in db.execute(
        select(ProficiencyParticipant.scheme_id, func.count())
        .where(ProficiencyParticipant.scheme_id.in_(scheme_ids))
        .group_by(ProficiencyParticipant.scheme_id)
    ):
        out[scheme_id]["invited"] = n
    for scheme_id, n in db.execute(
        select(
            ProficiencyResult.scheme_id, func.count(func.distinct(ProficiencyResult.participant_id))
        )
        .where(ProficiencyResult.scheme_id.in_(scheme_ids))
        .group_by(ProficiencyResult.scheme_id)
    ):
        out[scheme_id]["submitted"] = n
    for scheme_id, n in db.execute(
        select(ProficiencyResult.scheme_id, func.count())
        .where(ProficiencyResult.scheme_id.in_(scheme_ids), ProficiencyResult.signal == "action")
        .group_by(ProficiencyResult.scheme_id)
    ):
        out[scheme_id]["action"] = n
    return out


def scheme_read(db: Session, principal: Principal, scheme: ProficiencyScheme) -> SchemeRead:
    """A scheme as the API gives it: every result to its organiser, a participant its own."""
    people = participants(db, scheme)
    codes = {p.id: p.code for p in people}
    organiser = organises(principal, scheme)
    shown = visible_results(db, principal, scheme)
    return SchemeRead(
        id=scheme.id,
        code=scheme.code,
        title=scheme.title,
        region_code=scheme.region_code,
        item_code=scheme.item_code,
        parameter_code=scheme.parameter_code,
        unit=scheme.unit,
        sample_count=scheme.sample_count,
        samples_sent_on=scheme.samples_sent_on,
        deadline=scheme.deadline,
        assigned_mode=scheme.assigned_mode,
        assigned_value=scheme.assigned_value,
        assigned_uncertainty=scheme.assigned_uncertainty,
        sigma_pt=scheme.sigma_pt,
        score=scheme.score,
        status=scheme.status,
        evaluated_at=scheme.evaluated_at,
        participants=len(people),
        statistics=scheme.statistics or {},
        results=[
            ResultRead(
                participant_code=codes.get(r.participant_id, ""),
                institution_id=r.institution_id if organiser else None,
                sample=r.sample,
                value=r.value,
                expanded_uncertainty=r.expanded_uncertainty,
                coverage_factor=r.coverage_factor,
                method=r.method,
                submitted_at=r.submitted_at,
                source=r.source,
                z=r.z,
                z_prime=r.z_prime,
                zeta=r.zeta,
                en=r.en,
                signal=r.signal,
            )
            for r in shown
        ],
    )
