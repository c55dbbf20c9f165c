"""Pages of witnesses' and samplers' training (003 IV(3)): the list of trainings and exams, the
form a station records one with, a person's history (trainings, assignments, spot checks), the
station's spot-check form on a phone, and the appointed person's photo for the station that
checks identity on site (each view audited as a personal-data read)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core import listing
from jcjg.core.blobs import blob_store
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import Id, PostedForm
from jcjg.core.listing import Listing, ListParams, list_params
from jcjg.core.pagination import PageParams, count_total, page_params, paginate
from jcjg.core.templating import redirect, render
from jcjg.core.text import text_fields
from jcjg.core.workdays import beijing_date
from jcjg.documents.photos import take_photo
from jcjg.projects import training
from jcjg.projects.choices import MemberRole
from jcjg.projects.lists import TRAININGS, training_state
from jcjg.projects.models import Project, ProjectMember

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("project:read"))]
Trainer = Annotated[Principal, Depends(requires("project:train"))]
Checker = Annotated[Principal, Depends(requires("project:spot_check"))]
ROLES = {r.value: r for r in MemberRole}
STATES = {"valid": "合格且有效", "expired": "合格已过期", "failed": "未通过考核"}
TRAINING_FIELDS = (
    "username", "role", "course", "syllabus", "organiser", "start_date", "hours", "exam_score",
    "passed", "certificate_no", "valid_until",
)  # fmt: skip


@router.get("/projects/trainings", response_class=HTMLResponse)
def training_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=100)] = "",
    role: Annotated[str, Query(max_length=16)] = "",
    state: Annotated[str, Query(max_length=16)] = "",
    saved: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """Witnesses' and samplers' trainings and exams within scope; ``?format=xlsx`` exports."""
    today = beijing_date(utcnow())
    role = role if role in ROLES else ""
    state = state if state in STATES else ""
    stmt = training.trainings_stmt(principal=principal, q=q, role=role, state=state, today=today)
    if params.exporting:
        return listing.export(request, db, TRAININGS, stmt, params, user_id=principal.user_id)
    total = count_total(db, stmt)
    paged = paginate(db, stmt, paging, TRAININGS.order_for(params))
    names = dict(
        db.execute(
            select(User.id, User.display_name).where(User.id.in_({r.user_id for r in paged.rows}))
        ).all()
    )
    context = {
        "rows": paged.rows, "total": total, "paging": paging, "paged": paged, "q": q,
        "role": role, "state": state, "roles": ROLES, "states": STATES, "names": names,
        "today": today, "state_of": training_state, "saved": bool(saved),
        "listing": Listing.of(request, TRAININGS, params),
    }  # fmt: skip
    return render(request, "projects/trainings.html", context)


def _training_form(
    request: Request, values: dict[str, Any], error: ValidationFailed | None = None
) -> Response:
    context = {
        "values": values,
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.on_page if error else "",
        "roles": ROLES,
    }
    return render(
        request, "projects/training_form.html", context, status_code=422 if error else 200
    )


@router.get("/projects/trainings/new", response_class=HTMLResponse)
def training_new(
    request: Request, principal: Trainer, username: Annotated[str, Query(max_length=64)] = ""
) -> Response:
    return _training_form(request, {"username": username, "passed": "true", "role": "witness"})


@router.post("/projects/trainings", response_class=HTMLResponse)
@text_fields(multiline=("syllabus",))
def training_create(
    request: Request, db: SessionDep, principal: Trainer, form: PostedForm
) -> Response:
    values = form.values()
    raw: dict[str, Any] = {k: v for k, v in values.items() if k in TRAINING_FIELDS and v != ""}
    raw["passed"] = values.get("passed") == "true"
    try:
        row = training.add_training(db=db, principal=principal, raw=raw)
    except ValidationFailed as error:
        db.rollback()
        return _training_form(request, values, error)
    return redirect(f"/projects/people/{row.user_id}?saved=1")


@router.get("/projects/people/{user_id}", response_class=HTMLResponse)
def person_history(
    request: Request,
    db: SessionDep,
    principal: Reader,
    user_id: Id,
    saved: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    """A witness's or sampler's history: trainings and exams with their certificates, the
    projects he was assigned to, and the stations' spot checks of him."""
    user = training.person(db, principal, user_id)
    found = training.history(db, principal, user)
    projects = dict(
        db.execute(
            select(Project.id, Project.name).where(
                Project.id.in_({m.project_id for m in found["members"]})
            )
        ).all()
    )
    today = beijing_date(utcnow())
    context = {
        "person": user, **found, "projects": projects, "roles": ROLES, "today": today,
        "state_of": training_state, "saved": bool(saved),
        "valid": {r: training.valid_pass(db, user_id=user.id, role=r, day=today) for r in ROLES},
    }  # fmt: skip
    return render(request, "projects/person.html", context)


# --- spot checks ---------------------------------------------------------------------------------


def _spot_form(
    request: Request,
    db: SessionDep,
    principal: Principal,
    project: Project,
    values: dict[str, str],
    error: ValidationFailed | None = None,
    saved: bool = False,
) -> Response:
    today = beijing_date(utcnow())
    on_duty = {r: training.on_duty(db, project.id, MemberRole(r), today) for r in ROLES}
    context = {
        "project": project, "values": values, "roles": ROLES, "on_duty": on_duty,
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.on_page if error else "",
        "checks": training.spot_checks(db, principal, project.id), "saved": saved,
    }  # fmt: skip
    return render(request, "projects/spot_check.html", context, status_code=422 if error else 200)


@router.get("/projects/{project_id}/spot-checks", response_class=HTMLResponse)
def spot_check_new(
    request: Request,
    db: SessionDep,
    principal: Checker,
    project_id: Id,
    saved: Annotated[str, Query(max_length=4)] = "",
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "spot_check")
    return _spot_form(request, db, principal, project, {"role": "witness"}, saved=bool(saved))


@router.post("/projects/{project_id}/spot-checks", response_class=HTMLResponse)
@text_fields(multiline=("note",))
def spot_check_create(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Checker,
    project_id: Id,
    form: PostedForm,
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "spot_check")
    values = form.values()
    try:
        photo = take_photo(settings, form.file("photo"), "photo")
        raw: dict[str, Any] = {
            k: v for k, v in values.items()
            if k in {"role", "found_name", "latitude", "longitude", "note"} and v != ""
        }  # fmt: skip
        raw["is_appointed"] = values.get("is_appointed", "")
        training.add_spot_check(
            db=db, principal=principal, project_id=project.id, raw=raw, photo_sha256=photo.sha256
        )
    except ValidationFailed as error:
        db.rollback()
        project = get_scoped(db, Project, project_id, principal, "spot_check")
        return _spot_form(request, db, principal, project, values, error)
    return redirect(f"/projects/{project.id}/spot-checks?saved=1#checks")


@router.get("/projects/members/{member_id}/photo")
def member_photo(
    db: SessionDep, settings: SettingsDep, principal: Checker, member_id: Id
) -> Response:
    """The appointed person's registered photo, for the station that checks who is on duty; each
    view is written to the audit log as a read of personal data."""
    member = get_scoped(db, ProjectMember, member_id, principal, "spot_check")
    if not member.photo_sha256:
        raise NotFound()
    record_event(
        db,
        AuditAction.UNMASK,
        obj=member,
        detail="查看见证、取样人员照片（现场抽查核对身份）",
    )
    data = blob_store(settings).get(member.photo_sha256)
    kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
    return Response(data, media_type=kind, headers={"Cache-Control": "private, no-store"})
