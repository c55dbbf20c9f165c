"""Witnesses' and samplers' training and exams, and the stations' spot checks of who is on duty
(003 IV(3): "在建工程项目见证、取样人员上岗前须通过培训和考核，各地要定期现场抽查人员履职情况，
现场实际履职人员须和岗位聘任人员一致").

A witness or sampler is an account of a party unit (``auth.User`` with the role witness or
sampler) that the station assigns to projects (``ProjectMember``). Before the platform assigns
one, he needs a valid pass (``valid_pass``): a training whose exam he passed for that role, taken
by the first day of duty and not expired then; ``add_member`` refuses otherwise. Where a member
is on duty without one (a pass that expired while on duty, an assignment made before this check
or written by other means), the rule ``untrained_on_duty`` raises an alert; the daily sweep
(``alerts.sweep``) sees expiries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pydantic import ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.engine import run_triggered
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core.db import utcnow
from jcjg.core.errors import FieldError, NotFound, ValidationFailed, field_errors_from_pydantic
from jcjg.core.text import MultiLine, TextModel
from jcjg.core.workdays import beijing_date
from jcjg.projects.choices import MemberRole
from jcjg.projects.models import MemberTraining, Project, ProjectMember, SpotCheck

UNTRAINED = "untrained_on_duty"
MISMATCH = "on_duty_mismatch"
ROLES_OF_ACCOUNTS = {"witness": MemberRole.WITNESS, "sampler": MemberRole.SAMPLER}


# --- training and exams --------------------------------------------------------------------------


class TrainingIn(TextModel):
    """One training session of a witness or sampler and its exam, as the station records it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=1, max_length=64)
    role: MemberRole
    course: str = Field(min_length=1, max_length=200)
    syllabus: MultiLine | None = Field(default=None, max_length=4000)
    organiser: str | None = Field(default=None, max_length=100)
    start_date: dt.date
    hours: int = Field(default=0, ge=0, le=2000)
    exam_score: Decimal | None = Field(default=None, ge=0, le=100, decimal_places=1)
    passed: bool
    certificate_no: str | None = Field(default=None, max_length=64)
    valid_until: dt.date | None = None


def _account(db: Session, principal: Principal, username: str, role: MemberRole) -> User:
    """The witness's or sampler's account, in the recording station's region: one answer for
    an account that does not exist, has another role or belongs to another region."""
    user = db.scalars(select(User).where(User.username == username)).first()
    if user is None or user.role != role.value or not principal.covers_region(user.region_code):
        raise ValidationFailed(
            errors=[
                FieldError(
                    "username", f"本辖区没有该账号，或该账号的角色不是{role.label}", "invalid"
                )
            ]
        )
    return user


def add_training(*, db: Session, principal: Principal, raw: dict[str, Any]) -> MemberTraining:
    """Record a witness's or sampler's training and exam. The row takes the recording station's
    region (a platform administrator's: the account's own)."""
    principal.require("project:train")
    try:
        data = TrainingIn.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if data.valid_until and data.valid_until < data.start_date:
        raise ValidationFailed(errors=[FieldError("valid_until", "有效期不能早于培训日期")])
    user = _account(db, principal, data.username, data.role)
    region = principal.region_code or user.region_code
    if not region:
        raise ValidationFailed(errors=[FieldError("username", "该账号没有所属行政区划")])
    values = data.model_dump(exclude={"username", "role"})
    row = MemberTraining(region_code=region, user_id=user.id, role=data.role.value, **values)
    db.add(row)
    db.flush()
    _recheck(db, user.id)
    return row


def _recheck(db: Session, user_id: int) -> None:
    """A new pass (or a failed exam) changes ``untrained_on_duty`` for the person's projects at
    once, not at the next sweep (a training names no project, so its write narrows no run)."""
    projects = set(
        db.scalars(select(ProjectMember.project_id).where(ProjectMember.user_id == user_id))
    )
    if projects:
        run_triggered(db, {UNTRAINED: projects})


def valid_pass(
    db: Session, *, user_id: int, role: MemberRole | str, day: dt.date
) -> MemberTraining | None:
    """The person's pass for ``role`` valid on ``day`` (the latest-expiring one), or None."""
    rows = db.scalars(
        select(MemberTraining).where(
            MemberTraining.user_id == user_id,
            MemberTraining.role == str(role),
            MemberTraining.passed.is_(True),
        )
    )
    valid = [r for r in rows if r.passes_on(day)]
    return max(valid, key=lambda r: r.valid_until or dt.date.max, default=None)


def require_pass(db: Session, *, user: User, role: MemberRole, day: dt.date) -> None:
    """Refuse to assign a witness or sampler without a valid pass on his first day of duty."""
    if valid_pass(db, user_id=user.id, role=role, day=day) is None:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "username",
                    f"{user.display_name}没有在{day.isoformat()}有效的{role.label}培训考核合格记录，"
                    "不能上岗（见证、取样人员上岗前须通过培训和考核）；请先登记其培训考核",
                    "untrained",
                )
            ]
        )


def trainings_stmt(
    *, principal: Principal, q: str = "", role: str = "", state: str = "", today: dt.date
) -> Any:
    """The training list within scope, filtered: ``state`` is ``valid`` (a pass valid today),
    ``expired`` (passed, expired), ``failed`` (the exam not passed) or empty."""
    stmt = restrict(
        select(MemberTraining).join(User, User.id == MemberTraining.user_id), principal, "read"
    )
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            User.display_name.like(like)
            | MemberTraining.course.like(like)
            | MemberTraining.certificate_no.like(like)
        )
    if role:
        stmt = stmt.where(MemberTraining.role == role)
    passed = MemberTraining.passed.is_(True)
    unexpired = MemberTraining.valid_until.is_(None) | (MemberTraining.valid_until >= today)
    if state == "valid":
        stmt = stmt.where(passed, unexpired, MemberTraining.start_date <= today)
    elif state == "expired":
        stmt = stmt.where(passed, MemberTraining.valid_until < today)
    elif state == "failed":
        stmt = stmt.where(MemberTraining.passed.is_not(True))
    return stmt


# --- a person's history --------------------------------------------------------------------------


def person(db: Session, principal: Principal, user_id: int) -> User:
    """A witness or sampler the principal may read: his own account, or one with a training or
    an assignment within the principal's scope (404 otherwise)."""
    user = db.get(User, user_id)
    if user is None or user.role not in ROLES_OF_ACCOUNTS:
        raise NotFound()
    if principal.user_id == user.id:
        return user
    seen = db.scalar(
        restrict(
            select(MemberTraining.id).where(MemberTraining.user_id == user.id), principal, "read"
        )
    ) or db.scalar(
        restrict(
            select(ProjectMember.id).where(ProjectMember.user_id == user.id), principal, "read"
        )
    )
    if seen is None:
        raise NotFound()
    return user


def history(db: Session, principal: Principal, user: User) -> dict[str, Sequence[Any]]:
    """What the principal may see of the person: trainings and exams, assignments, spot checks."""
    trainings = db.scalars(
        restrict(
            select(MemberTraining).where(MemberTraining.user_id == user.id), principal, "read"
        ).order_by(MemberTraining.start_date.desc(), MemberTraining.id.desc())
    ).all()
    members = db.scalars(
        restrict(
            select(ProjectMember).where(ProjectMember.user_id == user.id), principal, "read"
        ).order_by(ProjectMember.starts_on.desc())
    ).all()
    member_ids = [m.id for m in members]
    checks = (
        db.scalars(
            restrict(
                select(SpotCheck).where(SpotCheck.member_id.in_(member_ids)), principal, "read"
            ).order_by(SpotCheck.checked_at.desc())
        ).all()
        if member_ids
        else []
    )
    return {"trainings": trainings, "members": members, "spot_checks": checks}


# --- spot checks ---------------------------------------------------------------------------------


class SpotCheckIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    role: MemberRole
    found_name: str = Field(min_length=1, max_length=64)
    is_appointed: bool
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    note: MultiLine = Field(default="", max_length=2000)


def on_duty(db: Session, project_id: int, role: MemberRole, day: dt.date) -> ProjectMember | None:
    """The member appointed to ``role`` at the project on ``day`` (the latest to start)."""
    rows = db.scalars(
        select(ProjectMember)
        .where(ProjectMember.project_id == project_id, ProjectMember.role == role.value)
        .order_by(ProjectMember.starts_on.desc(), ProjectMember.id.desc())
    )
    return next((m for m in rows if m.active_on(day)), None)


def add_spot_check(
    *,
    db: Session,
    principal: Principal,
    project_id: int,
    raw: dict[str, Any],
    photo_sha256: str,
    now: dt.datetime | None = None,
) -> SpotCheck:
    """Record a spot check at the project: the person found on duty is, or is not, the appointed
    one. Where nobody is appointed to the role that day, the person found cannot be."""
    project = get_scoped(db, Project, project_id, principal, "spot_check")
    try:
        data = SpotCheckIn.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if (data.latitude is None) != (data.longitude is None):
        raise ValidationFailed(errors=[FieldError("latitude", "经度和纬度须同时提供")])
    at = now or utcnow()
    member = on_duty(db, project.id, data.role, beijing_date(at))
    row = SpotCheck(
        project_id=project.id,
        region_code=project.region_code,
        role=data.role.value,
        member_id=member.id if member else None,
        found_name=data.found_name,
        is_appointed=data.is_appointed and member is not None,
        photo_sha256=photo_sha256,
        latitude=data.latitude,
        longitude=data.longitude,
        note=data.note,
        checked_by=principal.user_id,
        checked_at=at,
    )
    db.add(row)
    db.flush()
    return row


def spot_checks(db: Session, principal: Principal, project_id: int) -> Sequence[SpotCheck]:
    return db.scalars(
        restrict(select(SpotCheck).where(SpotCheck.project_id == project_id), principal, "read")
        .order_by(SpotCheck.checked_at.desc())
        .limit(50)
    ).all()
