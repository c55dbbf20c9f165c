"""Projects and their witnesses and samplers: keyword-only functions, scoped by ``restrict``."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from pydantic import ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User, UserProject
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core.db import alive, memo, utcnow
from jcjg.core.errors import (
    Conflict,
    FieldError,
    PermissionDenied,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.memo import names_by_id
from jcjg.core.pagination import count_rows
from jcjg.core.patterns import MOBILE
from jcjg.core.text import MultiLine, TextModel
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import canonical_json
from jcjg.projects import geo
from jcjg.projects.choices import MemberRole, ProjectStatus
from jcjg.projects.models import Project, ProjectMember
from jcjg.projects.training import require_pass
from jcjg.regions import service as regions
from jcjg.registry.codes import id_number_problem

MAX_POLYGON_POINTS = 200


class ProjectFields(TextModel):
    """A project's own facts, as the station enters them (003 IV(2)) or another platform sends
    them (the ``project`` message adds its region through the message envelope)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    code: str = Field(
        min_length=1, max_length=32, pattern=r"^[0-9A-Za-z\-_]+$", description="工程项目编号"
    )
    name: str = Field(min_length=1, max_length=200, description="工程名称")
    address: str = Field(default="", max_length=200, description="工程地址")
    site_latitude: float | None = Field(
        default=None, ge=-90, le=90, description="电子围栏中心纬度（WGS-84）"
    )
    site_longitude: float | None = Field(
        default=None, ge=-180, le=180, description="电子围栏中心经度（WGS-84）"
    )
    site_radius_m: int = Field(default=300, ge=10, le=20_000, description="电子围栏半径（米）")
    site_polygon: list[list[float]] | None = Field(
        default=None,
        max_length=MAX_POLYGON_POINTS,
        description="电子围栏多边形：[[经度, 纬度], ...]，至少 3 个点（给出时优先于圆形围栏）",
    )
    owner_unit: str = Field(default="", max_length=200, description="建设单位")
    contractor_unit: str = Field(default="", max_length=200, description="施工单位")
    supervisor_unit: str = Field(default="", max_length=200, description="监理单位")
    station: str = Field(default="", max_length=200, description="监督机构（质量监督站）")
    permit_number: str = Field(default="", max_length=64, description="施工许可证号")
    curing_room: str = Field(
        default="",
        max_length=200,
        description="施工现场标准养护室（位置与设施，如“2 号楼东侧，温湿度自动控制”；"
        "空表示未设置）",
    )
    cube_molds: int = Field(
        default=0, ge=0, le=10_000, description="现场混凝土试模数量（个；0 表示未申报）"
    )
    status: ProjectStatus = ProjectStatus.UNDER_CONSTRUCTION
    notes: MultiLine = Field(default="", max_length=2000)

    @field_validator("site_polygon")
    @classmethod
    def _polygon(cls, value: list[list[float]] | None) -> list[list[float]] | None:
        if not value:
            return None
        if len(value) < 3:
            raise ValueError("电子围栏多边形至少需要 3 个点")
        for point in value:
            if len(point) != 2 or not geo.valid_position(point[1], point[0]):
                raise ValueError("多边形的每个点应为 [经度, 纬度]，且在有效范围内")
        return value


class ProjectIn(ProjectFields):
    region_code: str = Field(pattern=r"^[0-9]{6}$")


def check_centre(data: ProjectFields) -> None:
    if (data.site_latitude is None) != (data.site_longitude is None):
        raise ValidationFailed(
            errors=[FieldError("site_latitude", "中心点的经度和纬度须同时填写", "missing")]
        )


def parse_project(raw: dict[str, Any]) -> ProjectIn:
    try:
        data = ProjectIn.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    check_centre(data)
    return data


def _check_region(db: Session, principal: Principal, region_code: str) -> None:
    regions.current(db=db, code=region_code)  # a new project: a region of the current edition
    if not principal.covers_region(region_code):
        raise ValidationFailed(
            errors=[FieldError("region_code", "只能登记本辖区内的工程项目", "scope")]
        )


def create_project(*, db: Session, principal: Principal, raw: dict[str, Any]) -> Project:
    principal.require("project:create")
    data = parse_project(raw)
    _check_region(db, principal, data.region_code)
    if db.scalar(select(Project.id).where(Project.code == data.code)) is not None:
        raise ValidationFailed(errors=[FieldError("code", "该项目编号已存在", "unique")])
    project = Project(**data.model_dump(mode="json"))
    db.add(project)
    db.flush()
    notarise_project(db, project, created=True)  # a parent platform keeps it from the leaf
    return project


def update_project(
    *, db: Session, principal: Principal, project_id: int, raw: dict[str, Any]
) -> Project:
    project = get_scoped(db, Project, project_id, principal, "update")
    data = parse_project({"code": project.code, "region_code": project.region_code, **raw})
    if data.code != project.code or data.region_code != project.region_code:
        raise ValidationFailed(errors=[FieldError("code", "项目编号和行政区划不能修改")])
    changed = False
    for key, value in data.model_dump(mode="json").items():
        if getattr(project, key) != value:
            setattr(project, key, value)
            changed = True
    db.flush()
    if changed:
        notarise_project(db, project, created=False)
    return project


def projects_stmt(*, principal: Principal, q: str = "", status: str = "") -> Select[Any]:
    """The projects within scope whose name or code holds ``q``, in ``status``."""
    stmt = restrict(select(Project), principal, "read")
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Project.name.like(like), Project.code.like(like)))
    if status:
        stmt = stmt.where(Project.status == status)
    return stmt


def list_projects(
    *,
    db: Session,
    principal: Principal,
    q: str = "",
    status: str = "",
    offset: int = 0,
    limit: int = 50,
) -> tuple[Sequence[Project], int]:
    stmt = projects_stmt(principal=principal, q=q, status=status)
    total = count_rows(db, stmt)
    rows = db.scalars(stmt.order_by(Project.id.desc()).offset(offset).limit(limit)).all()
    return rows, total


# --- the log: a project entered here is a fact a parent platform keeps (projects.facts) ----------

PROJECT_REGISTER = "project:register"
PROJECT_UPDATE = "project:update"


def particulars(project: Project) -> dict[str, Any]:
    """The project's form as JSON (what ``sha256`` in its entry covers)."""
    fields = {name: getattr(project, name) for name in ProjectFields.model_fields}
    return ProjectFields.model_validate(fields).model_dump(mode="json")


def particulars_digest(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(fields))).hexdigest()


def project_entry(project: Project) -> dict[str, Any]:
    """Its code, region and name, and the SHA-256 of its particulars (RFC 8785 JSON): those
    travel beside the leaf, to the parent (``projects.facts``)."""
    return {
        "code": project.code,
        "region_code": project.region_code,
        "name": project.name,
        "sha256": particulars_digest(particulars(project)),
    }


def notarise_project(db: Session, project: Project, *, created: bool) -> None:
    """Notarise a project of this platform's stations, entered or changed (not one another
    platform sent: its message is the log's record)."""
    if project.origin:
        return
    ledger.notarise(db, PROJECT_REGISTER if created else PROJECT_UPDATE, project_entry(project))


_BY_CODE = "projects.by_code"  # a batch's memo: (_BY_CODE, code) -> the project


def read_projects_ahead(db: Session, codes: Iterable[str]) -> None:
    """The projects a batch's messages name by code, read in one statement for the batch and
    kept in its memo for :func:`project_by_code` (one statement a message before). Only the
    projects found are kept: a message of the batch may register one not found."""
    kept = memo(db)
    wanted = sorted(set(codes))
    if kept is None or not wanted:
        return
    for project in db.scalars(select(Project).where(Project.code.in_(wanted))):
        kept[(_BY_CODE, project.code)] = project


def project_by_code(db: Session, code: str | None) -> Project | None:
    """The project a message names by its code (None when it names none); refused on
    ``project_code`` when the platform has no such project."""
    if not code:
        return None
    kept = memo(db)
    ahead = kept.get((_BY_CODE, code)) if kept is not None else None
    if ahead is not None and alive(ahead):
        return cast(Project, ahead)
    project = db.scalars(select(Project).where(Project.code == code)).first()
    if project is None:
        raise ValidationFailed(errors=[FieldError("project_code", "平台没有这个工程项目编号")])
    return project


def site_distance(project: Project, lat: float | None, lon: float | None) -> float | None:
    """Metres outside the project's geofence (0 inside); None without a position or fence."""
    if lat is None or lon is None or not geo.valid_position(lat, lon):
        return None
    centre = (
        (project.site_latitude, project.site_longitude)
        if project.site_latitude is not None and project.site_longitude is not None
        else None
    )
    distance = geo.distance_outside(
        lat, lon, centre=centre, radius_m=project.site_radius_m, polygon=project.site_polygon
    )
    return None if distance is None or not math.isfinite(distance) else round(distance, 1)


# --- witnesses and samplers ---------------------------------------------------------------------


class MemberIn(TextModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=1, max_length=64)
    role: MemberRole
    id_number: str = Field(default="", max_length=18)
    phone: str = Field(default="", pattern=f"^({MOBILE})?$")
    unit_name: str = Field(default="", max_length=200)
    certificate_no: str = Field(default="", max_length=64)
    starts_on: dt.date
    ends_on: dt.date | None = None

    @field_validator("id_number")
    @classmethod
    def _id_number(cls, value: str) -> str:
        if value:
            problem = id_number_problem(value)
            if problem:
                raise ValueError(problem)
        return value.upper()


ROLE_FOR_MEMBER = {MemberRole.WITNESS: Role.WITNESS, MemberRole.SAMPLER: Role.SAMPLER}


def add_member(
    *,
    db: Session,
    principal: Principal,
    project_id: int,
    raw: dict[str, Any],
    photo_sha256: str | None = None,
    now: dt.datetime | None = None,
) -> ProjectMember:
    """Assign a witness or sampler (003 IV(3)). The first of each role is the initial one; a
    later one is a change, which must be reported 3 working days ahead (rule
    ``assignment_change_late``). The account is granted the project. A person without a valid
    training pass for the role on ``starts_on`` is refused (``training.require_pass``)."""
    project = get_scoped(db, Project, project_id, principal, "assign")
    try:
        data = MemberIn.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if data.ends_on and data.ends_on < data.starts_on:
        raise ValidationFailed(errors=[FieldError("ends_on", "结束日期不能早于开始日期")])
    user = db.scalars(select(User).where(User.username == data.username)).first()
    if user is None or user.role != ROLE_FOR_MEMBER[data.role].value:
        raise ValidationFailed(
            errors=[
                FieldError(
                    "username", f"没有该账号，或该账号的角色不是{data.role.label}", "invalid"
                )
            ]
        )
    require_pass(db, user=user, role=data.role, day=data.starts_on)
    earlier = db.scalar(
        select(func.count())
        .select_from(ProjectMember)
        .where(ProjectMember.project_id == project.id, ProjectMember.role == data.role.value)
    )
    member = ProjectMember(
        project_id=project.id,
        region_code=project.region_code,
        user_id=user.id,
        role=data.role.value,
        name=user.display_name,
        id_number=data.id_number,
        phone=data.phone,
        unit_name=data.unit_name,
        certificate_no=data.certificate_no,
        photo_sha256=photo_sha256,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        reported_at=now or utcnow(),
        is_initial=not earlier,
    )
    db.add(member)
    if not any(p.project_id == project.id for p in user.projects):
        user.projects.append(UserProject(project_id=project.id))
    try:
        with db.begin_nested():
            db.flush()
    except Exception as exc:  # the unique (project, user, role, starts_on)
        raise Conflict("该人员在同一日期已被指派为此角色") from exc
    return member


def end_member(
    *, db: Session, principal: Principal, member_id: int, ends_on: dt.date
) -> ProjectMember:
    member = get_scoped(db, ProjectMember, member_id, principal, "assign")
    if ends_on < member.starts_on:
        raise ValidationFailed(errors=[FieldError("ends_on", "结束日期不能早于开始日期")])
    member.ends_on = ends_on
    db.flush()
    return member


def members(db: Session, project_id: int) -> Sequence[ProjectMember]:
    return db.scalars(
        select(ProjectMember)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.role, ProjectMember.starts_on)
    ).all()


def active_member(
    db: Session, *, project_id: int, user_id: int, role: MemberRole, day: dt.date
) -> ProjectMember | None:
    rows = db.scalars(
        select(ProjectMember).where(
            ProjectMember.project_id == project_id,
            ProjectMember.user_id == user_id,
            ProjectMember.role == role.value,
        )
    )
    return next((m for m in rows if m.active_on(day)), None)


def require_project_member(principal: Principal, project_id: int) -> None:
    if project_id not in principal.project_ids:
        raise PermissionDenied("您未被指派到该工程项目")


def names_of(db: Session, rows: Iterable[Any]) -> dict[str, dict[int, str]]:
    """The institution and project names of rows that carry ``institution_id`` and
    ``project_id`` (test records, contracts, on-site tests), by id, for a list page."""
    from jcjg.tenancy.models import Institution

    rows = list(rows)
    return {
        "institutions": names_by_id(db, Institution, (r.institution_id for r in rows)),
        "projects": names_by_id(db, Project, (r.project_id for r in rows)),
    }
