"""People's photos and training history (000 4.1.1 item 2: key people have a photo; 4.2.4:
training and capability). A photo is personal data: every reader of the person sees it
blurred; those who check identity (``person_photo:view``: stations, authorities and the
institution's administrator) see it clear, and each clear view is written to the audit log."""

from __future__ import annotations

import io
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from PIL import Image, ImageFilter
from sqlalchemy import select

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.catalogue.models import Specialty
from jcjg.core.blobs import blob_store
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import NotFound, PermissionDenied, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm
from jcjg.core.templating import redirect, render
from jcjg.documents.photos import take_photo
from jcjg.registry.models import CapabilityAssessment, Person, Training
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("institution:read"))]
Writer = Annotated[Principal, Depends(requires("institution:update"))]
VIEW_CLEAR = "person_photo:view"


def blurred(data: bytes) -> bytes:
    """The photo made unrecognisable: shrunk, blurred and enlarged again, as a JPEG."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    small = image.resize((max(1, image.width // 16), max(1, image.height // 16)))
    out = small.resize(image.size).filter(ImageFilter.GaussianBlur(8))
    buffer = io.BytesIO()
    out.save(buffer, "JPEG", quality=70)
    return buffer.getvalue()


def _profile(
    request: Request,
    db: SessionDep,
    principal: Principal,
    person: Person,
    *,
    clear: bool = False,
    error: ValidationFailed | None = None,
    saved: bool = False,
) -> Response:
    trainings = db.scalars(
        restrict(
            select(Training).where(Training.person_id == person.id), principal, "read"
        ).order_by(Training.start_date.desc())
    ).all()
    assessments = db.scalars(
        restrict(
            select(CapabilityAssessment).where(CapabilityAssessment.person_id == person.id),
            principal,
            "read",
        ).order_by(CapabilityAssessment.assessed_on.desc())
    ).all()
    specialties = dict(
        db.execute(
            select(Specialty.id, Specialty.name).where(
                Specialty.id.in_({a.specialty_id for a in assessments})
            )
        ).all()
    )
    context = {
        "person": person,
        "institution": db.get(Institution, person.institution_id),
        "trainings": trainings,
        "assessments": assessments,
        "specialties": specialties,
        "clear": clear and principal.can(VIEW_CLEAR),
        "errors": errors_by_field(error.errors) if error else {},
        "saved": saved,
    }
    return render(request, "registry/person.html", context, status_code=422 if error else 200)


@router.get("/registry/people/{person_id}/profile", response_class=HTMLResponse)
def profile(
    request: Request,
    db: SessionDep,
    principal: Reader,
    person_id: Id,
    clear: Annotated[bool, Query()] = False,
    saved: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """A person's photo (blurred unless asked for clear by one who may), trainings and exams,
    certificates and capability assessments."""
    person = get_scoped(db, Person, person_id, principal, "read")
    return _profile(request, db, principal, person, clear=clear, saved=bool(saved))


@router.get("/registry/people/{person_id}/photo")
def photo(
    db: SessionDep,
    settings: SettingsDep,
    principal: Reader,
    person_id: Id,
    clear: Annotated[bool, Query()] = False,
) -> Response:
    """The person's photo: blurred for every reader; ``?clear=true`` for those who check
    identity, audited."""
    person = get_scoped(db, Person, person_id, principal, "read")
    if not person.photo_sha256:
        raise NotFound()
    data = blob_store(settings).get(person.photo_sha256)
    if not clear:
        return Response(
            blurred(data), media_type="image/jpeg", headers={"Cache-Control": "private"}
        )
    if not principal.can(VIEW_CLEAR):
        raise PermissionDenied("当前账号无权查看清晰照片")
    record_event(db, AuditAction.UNMASK, obj=person, detail="查看人员清晰照片（核对身份）")
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Response(data, media_type=kind, headers={"Cache-Control": "private, no-store"})


@router.post("/registry/people/{person_id}/photo", response_class=HTMLResponse)
def upload_photo(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Writer,
    person_id: Id,
    form: PostedForm,
) -> Response:
    person = get_scoped(db, Person, person_id, principal, "update")
    try:
        stored = take_photo(settings, form.file("photo"), "photo")
    except ValidationFailed as error:
        return _profile(request, db, principal, person, error=error)
    person.photo_sha256 = stored.sha256
    db.flush()
    return redirect(f"/registry/people/{person.id}/profile?saved=1")
