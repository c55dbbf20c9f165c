"""Cameras: registering, changing and retiring them (pages, API and the ``video.camera``
message share these), what their status says in words, and the audit of watching.
Keyword-only functions; scoped by ``restrict``; flush, never commit."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.config import Settings
from jcjg.core.db import utcnow
from jcjg.core.errors import FieldError, ValidationFailed, field_errors_from_pydantic
from jcjg.core.pagination import count_rows
from jcjg.projects.models import Project
from jcjg.registry.models import Equipment, Lab
from jcjg.tenancy.models import Institution
from jcjg.video import addresses
from jcjg.video.choices import CameraStatus, PlaceKind
from jcjg.video.credentials import seal_password, unseal_password
from jcjg.video.models import Camera, Outage
from jcjg.video.schemas import CameraFields, CameraIn, CameraRead, CameraUpdate

FIELDS = tuple(CameraFields.model_fields)


def cameras_stmt(
    *,
    principal: Principal,
    place_kind: str = "",
    status: str = "",
    institution_id: int | None = None,
    q: str = "",
) -> Select[Any]:
    """The cameras within scope, filtered."""
    stmt = restrict(select(Camera), principal, "read")
    if place_kind:
        stmt = stmt.where(Camera.place_kind == place_kind)
    if status:
        stmt = stmt.where(Camera.status == status)
    if institution_id is not None:
        stmt = stmt.where(Camera.institution_id == institution_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Camera.code.like(like), Camera.name.like(like)))
    return stmt


def count(db: Session, stmt: Select[Any]) -> int:
    return count_rows(db, stmt)


def parse(raw: dict[str, Any]) -> CameraIn:
    try:
        return CameraIn.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


@dataclass(frozen=True)
class Refs:
    """A camera's references, resolved and checked against its institution."""

    lab_id: int | None = None
    equipment_id: int | None = None
    project_id: int | None = None


def check_refs(db: Session, institution: Institution, refs: Refs, place_kind: str) -> Refs:
    """The lab and machine must be the institution's own; an on-site camera needs a project."""
    lab_id = refs.lab_id
    if refs.lab_id is not None:
        lab = db.get(Lab, refs.lab_id)
        if lab is None or lab.institution_id != institution.id:
            raise _refuse("lab_id", "该检测场所不属于本机构")
    if refs.equipment_id is not None:
        machine = db.get(Equipment, refs.equipment_id)
        if machine is None or machine.institution_id != institution.id:
            raise _refuse("equipment_id", "该仪器设备不属于本机构")
        lab_id = lab_id or machine.lab_id
    if refs.project_id is not None and db.get(Project, refs.project_id) is None:
        raise _refuse("project_id", "平台没有这个工程项目")
    if place_kind == PlaceKind.ONSITE and refs.project_id is None:
        raise _refuse("project_id", "现场检测摄像机须选择工程项目")
    return Refs(lab_id, refs.equipment_id, refs.project_id)


ADDRESS_REFUSED = "address_refused"  # the code of a stream address refused for where it points


def check_address(settings: Settings, camera: Camera | None, stream_url: str) -> None:
    """A new camera's stream address, or a changed one, must point where the recorder may
    connect (:mod:`jcjg.video.addresses`): refused with a 422 naming ``stream_url``. One kept
    as it was is left to the recorder, which checks it at every connection."""
    if camera is not None and camera.stream_url == stream_url:
        return
    why = addresses.refusal(settings, stream_url)
    if why is not None:
        raise ValidationFailed(errors=[FieldError("stream_url", why, ADDRESS_REFUSED)])


def _code_taken(db: Session, institution_id: int, code: str, camera: Camera | None) -> bool:
    found = db.scalar(
        select(Camera.id).where(Camera.institution_id == institution_id, Camera.code == code)
    )
    return found is not None and (camera is None or found != camera.id)


def write_camera(
    db: Session,
    settings: Settings,
    *,
    institution: Institution,
    camera: Camera | None,
    fields: CameraFields,
    refs: Refs,
    password: str | None,
) -> tuple[Camera, bool]:
    """Create or change a camera of ``institution``; ``password`` None keeps the one sealed.
    Answers the camera and whether anything changed."""
    check_address(settings, camera, fields.stream_url)
    refs = check_refs(db, institution, refs, fields.place_kind)
    if _code_taken(db, institution.id, fields.code, camera):
        raise _refuse("code", "本机构已有这个摄像机编号")
    old_password = unseal_password(settings, camera) if camera is not None else ""
    old_code = camera.code if camera is not None else fields.code
    values = {**fields.model_dump(mode="json"), **refs.__dict__}
    if camera is None:
        camera = Camera(
            institution_id=institution.id,
            region_code=institution.region_code,
            status=CameraStatus.PENDING.value,
            status_since=utcnow(),
            **values,
        )
        db.add(camera)
        changed = True
    else:
        changed = any(getattr(camera, k) != v for k, v in values.items())
        for key, value in values.items():
            if getattr(camera, key) != value:
                setattr(camera, key, value)
    new_password = old_password if password is None else password
    if new_password != old_password or (new_password and old_code != camera.code):
        changed = changed or new_password != old_password
        seal_password(settings, camera, new_password)  # the key id holds the code: seal again
    db.flush()
    return camera, changed


def institution_of(db: Session, principal: Principal, institution_id: int | None) -> Institution:
    """Whose camera: the principal's own institution, or (a platform account) the one named."""
    if principal.institution_id is not None:
        if institution_id not in (None, principal.institution_id):
            raise _refuse("institution_id", "只能登记本机构的摄像机")
        institution_id = principal.institution_id
    if institution_id is None:
        raise _refuse("institution_id", "请选择检测机构")
    institution = db.get(Institution, institution_id)
    outside = principal.institution_id is None and (
        institution is None or not principal.covers_region(institution.region_code)
    )
    if institution is None or outside:
        raise _refuse("institution_id", "没有这个检测机构")
    return institution


def create_camera(
    *, db: Session, settings: Settings, principal: Principal, data: CameraIn
) -> Camera:
    principal.require("camera:write")
    institution = institution_of(db, principal, data.institution_id)
    fields = CameraFields.model_validate(data.model_dump(include=set(FIELDS)))
    camera, _ = write_camera(
        db,
        settings,
        institution=institution,
        camera=None,
        fields=fields,
        refs=Refs(data.lab_id, data.equipment_id, data.project_id),
        password=data.password,
    )
    return camera


def update_camera(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    camera_id: int,
    data: CameraIn,
) -> Camera:
    """Change a camera with a whole form's values (a blank password keeps the old one)."""
    camera = get_scoped(db, Camera, camera_id, principal, "write")
    institution = db.get(Institution, camera.institution_id)
    assert institution is not None
    fields = CameraFields.model_validate(data.model_dump(include=set(FIELDS)))
    write_camera(
        db,
        settings,
        institution=institution,
        camera=camera,
        fields=fields,
        refs=Refs(data.lab_id, data.equipment_id, data.project_id),
        password=data.password or None,
    )
    return camera


def patch_camera(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    camera_id: int,
    data: CameraUpdate,
) -> Camera:
    """Change the fields given (the API's PATCH); ``retired: true`` retires the camera."""
    camera = get_scoped(db, Camera, camera_id, principal, "write")
    given = data.model_dump(exclude_unset=True, mode="json")
    retired = given.pop("retired", None)
    current = {k: getattr(camera, k) for k in (*FIELDS, "lab_id", "equipment_id", "project_id")}
    merged = parse({**current, **given, "institution_id": camera.institution_id})
    update_camera(db=db, settings=settings, principal=principal, camera_id=camera.id, data=merged)
    if retired:
        retire_camera(db=db, principal=principal, camera_id=camera.id)
    elif retired is False and camera.status == CameraStatus.RETIRED:
        set_status(camera, CameraStatus.PENDING)
    return camera


def set_status(camera: Camera, status: CameraStatus) -> None:
    if camera.status != status.value:
        camera.status = status.value
        camera.status_since = utcnow()


def retire_camera(*, db: Session, principal: Principal, camera_id: int) -> Camera:
    """Take a camera out of service: no longer recorded, nor judged by the rules."""
    camera = get_scoped(db, Camera, camera_id, principal, "write")
    set_status(camera, CameraStatus.RETIRED)
    db.flush()
    return camera


def camera_read(camera: Camera) -> CameraRead:
    status = CameraStatus(camera.status)
    return CameraRead(
        id=camera.id,
        institution_id=camera.institution_id,
        region_code=camera.region_code,
        code=camera.code,
        name=camera.name,
        place_kind=camera.place_kind,
        place_kind_label=PlaceKind(camera.place_kind).label,
        form=camera.form,
        lab_id=camera.lab_id,
        equipment_id=camera.equipment_id,
        project_id=camera.project_id,
        location=camera.location,
        resolution=camera.resolution,
        stream_url=camera.stream_url,
        username=camera.username,
        has_password=bool(camera.password_sealed),
        onvif_address=camera.onvif_address,
        status=status.value,
        status_label=status.label,
        status_since=camera.status_since,
        last_segment_at=camera.last_segment_at,
        verified_at=camera.verified_at,
        integrity=list(camera.integrity or []),
    )


def outages(db: Session, camera_id: int, limit: int = 20) -> list[Outage]:
    return list(
        db.scalars(
            select(Outage)
            .where(Outage.camera_id == camera_id)
            .order_by(Outage.started_at.desc())
            .limit(limit)
        )
    )


_PROBLEM_WORDS = {
    "chain": "哈希链不连续",
    "sequence": "片段编号不连续",
    "file_missing": "录像文件缺失",
    "file_changed": "录像文件已被改动",
    "batch": "与存证的哈希链头不一致",
}


def integrity_words(camera: Camera) -> list[str]:
    """What the last integrity check found, in words (empty: all well)."""
    out = []
    for problem in camera.integrity or []:
        kind = _PROBLEM_WORDS.get(str(problem.get("kind")), "录像异常")
        detail = str(problem.get("detail") or "")
        sequence = problem.get("sequence")
        where = f"第 {sequence} 段" if sequence is not None else ""
        out.append("：".join(p for p in (f"{where}{kind}", detail) if p and p != kind))
    return out


def audit_watch(
    db: Session,
    camera: Camera,
    *,
    mode: str,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> None:
    """One audit entry per page opened to watch a camera (not one per segment fetched)."""
    span = ""
    if start is not None and end is not None:
        span = f"，{start.isoformat(timespec='seconds')} 至 {end.isoformat(timespec='seconds')}"
    detail = ("实时预览" if mode == "live" else "录像回放") + span
    record_event(
        db,
        cast(AuditAction, "camera:watch"),  # the audit action is the permission's tag
        object_type="camera",
        object_id=str(camera.id),
        object_repr=camera.audit_repr(),
        detail=detail,
    )


def audit_clip(db: Session, camera: Camera, detail: str) -> None:
    record_event(
        db,
        cast(AuditAction, "camera:export"),
        object_type="camera",
        object_id=str(camera.id),
        object_repr=camera.audit_repr(),
        detail=detail,
    )
