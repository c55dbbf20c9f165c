"""Pages of projects: the list, entering and editing a project (the station, 003 IV(2)), its
witnesses and samplers (003 IV(3)), and the sample codes issued to it with their label sheets."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import NotFound, ValidationFailed, errors_by_field
from jcjg.core.forms import PostedForm
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.templating import redirect, render
from jcjg.documents.pdf import Label, label_sheet_pdf
from jcjg.projects import service
from jcjg.projects.choices import MemberRole, ProjectStatus
from jcjg.projects.models import Project
from jcjg.sampling import codes as sample_codes
from jcjg.sampling import service as sampling
from jcjg.sampling.choices import CommissionStatus, SampleStatus
from jcjg.sampling.models import Commission, Sample, SampleCode, SampleCodeBatch
from jcjg.sampling.service import take_photo

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Reader = Annotated[Principal, Depends(requires("project:read"))]
Creator = Annotated[Principal, Depends(requires("project:create"))]
Updater = Annotated[Principal, Depends(requires("project:update"))]
Assigner = Annotated[Principal, Depends(requires("project:assign"))]
Issuer = Annotated[Principal, Depends(requires("sample:issue_codes"))]
ProjectId = Annotated[int, Path(ge=1, le=2**31 - 1)]
_CHOICES: dict[str, Any] = {
    "statuses": {s.value: s for s in ProjectStatus},
    "member_roles": {r.value: r for r in MemberRole},
    "sample_statuses": {s.value: s for s in SampleStatus},
    "commission_statuses": {s.value: s for s in CommissionStatus},
}
FORM_FIELDS = (
    "code",
    "name",
    "region_code",
    "address",
    "site_latitude",
    "site_longitude",
    "site_radius_m",
    "site_polygon",
    "owner_unit",
    "contractor_unit",
    "supervisor_unit",
    "station",
    "permit_number",
    "status",
    "notes",
)
DONE = {
    "created": "工程项目已登记。",
    "updated": "工程项目信息已保存。",
    "member": "人员已登记到项目。",
    "codes": "样品编码已发放，可打印标识。",
}


def _raw(values: dict[str, str]) -> dict[str, Any]:
    """Form text as the project schema's input: blanks left out, the polygon parsed."""
    raw: dict[str, Any] = {k: v for k, v in values.items() if k in FORM_FIELDS and v != ""}
    if "site_polygon" in raw:
        try:
            raw["site_polygon"] = json.loads(raw["site_polygon"])
        except ValueError:
            raw["site_polygon"] = "无效"  # the schema refuses it with a field error
    return raw


def _form(
    request: Request,
    values: dict[str, Any],
    *,
    project: Project | None = None,
    error: ValidationFailed | None = None,
) -> Response:
    context = {
        "values": values,
        "errors": errors_by_field(error.errors) if error else {},
        "error": error.detail if error else "",
        "project": project,
        **_CHOICES,
    }
    return render(request, "projects/form.html", context, status_code=422 if error else 200)


@router.get("/projects", response_class=HTMLResponse)
def project_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    q: Annotated[str, Query(max_length=100)] = "",
    status: Annotated[str, Query(max_length=24)] = "",
) -> Response:
    rows, total = service.list_projects(
        db=db, principal=principal, q=q, status=status, offset=paging.offset, limit=paging.limit
    )
    ids = [p.id for p in rows]
    counts: dict[int, dict[str, int]] = {i: {} for i in ids}
    if ids:
        for project_id, status_value, n in db.execute(
            select(Sample.project_id, Sample.status, func.count())
            .where(Sample.project_id.in_(ids))
            .group_by(Sample.project_id, Sample.status)
        ):
            counts[project_id][status_value] = n
    return render(
        request,
        "projects/list.html",
        {
            "rows": rows,
            "total": total,
            "paging": paging,
            "q": q,
            "status": status,
            "counts": counts,
            **_CHOICES,
        },
    )


@router.get("/projects/new", response_class=HTMLResponse)
def project_new(request: Request, principal: Creator) -> Response:
    return _form(request, {"region_code": principal.region_code or "", "site_radius_m": "300"})


@router.post("/projects", response_class=HTMLResponse)
def project_create(
    request: Request, db: SessionDep, principal: Creator, form: PostedForm
) -> Response:
    values = form.values()
    try:
        project = service.create_project(db=db, principal=principal, raw=_raw(values))
    except ValidationFailed as error:
        db.rollback()
        return _form(request, values, error=error)
    return redirect(f"/projects/{project.id}?done=created")


def _results(db: Session, principal: Principal, project: Project) -> dict[str, Any]:
    """What the project's testing produced, as far as the reader may see (000 4.3.2 item 2:
    reports gathered by project): contracts, reports, nonconforming test records."""
    from jcjg.contracts.models import Contract
    from jcjg.reports.choices import ReportStatus
    from jcjg.reports.models import Report
    from jcjg.testing.choices import NONCONFORMING_BY, Judgement
    from jcjg.testing.models import TestRecord

    out: dict[str, Any] = {
        "contracts": [],
        "reports": [],
        "nonconforming": [],
        "report_statuses": {s.value: s for s in ReportStatus},
        "judgements": {j.value: j for j in Judgement},
        "nonconforming_by": NONCONFORMING_BY,
    }
    if principal.can("contract:read"):
        out["contracts"] = db.scalars(
            restrict(select(Contract), principal, "read")
            .where(Contract.project_id == project.id)
            .order_by(Contract.signed_on.desc())
            .limit(100)
        ).all()
    if principal.can("report:read"):
        out["reports"] = db.scalars(
            restrict(select(Report), principal, "read")
            .where(Report.project_id == project.id)
            .order_by(Report.issued_on.desc(), Report.id.desc())
            .limit(100)
        ).all()
    if principal.can("test_record:read"):
        out["nonconforming"] = db.scalars(
            restrict(select(TestRecord), principal, "read")
            .where(TestRecord.project_id == project.id, TestRecord.nonconforming_by != "")
            .order_by(TestRecord.ended_at.desc())
            .limit(100)
        ).all()
    return out


def _project_context(db: Session, principal: Principal, project: Project) -> dict[str, Any]:
    members = service.members(db, project.id)
    batches = db.scalars(
        select(SampleCodeBatch)
        .where(SampleCodeBatch.project_id == project.id)
        .order_by(SampleCodeBatch.id.desc())
    ).all()
    used = dict(
        db.execute(
            select(SampleCode.batch_id, func.count())
            .where(SampleCode.project_id == project.id, SampleCode.used_at.is_not(None))
            .group_by(SampleCode.batch_id)
        ).all()
    )
    samples = db.scalars(
        select(Sample).where(Sample.project_id == project.id).order_by(Sample.id.desc()).limit(50)
    ).all()
    commissions = db.scalars(
        select(Commission)
        .where(Commission.project_id == project.id)
        .order_by(Commission.id.desc())
        .limit(50)
    ).all()
    alerts = db.scalars(
        select(Alert)
        .where(Alert.project_id == project.id, Alert.status == "open")
        .order_by(Alert.id.desc())
        .limit(50)
    ).all()
    return {
        **_results(db, principal, project),
        "project": project,
        "members": members,
        "batches": batches,
        "used": used,
        "samples": samples,
        "commissions": commissions,
        "alerts": alerts if principal.can("alert:read") else [],
        "today": utcnow().date(),
        **_CHOICES,
    }


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_detail(
    request: Request,
    db: SessionDep,
    principal: Reader,
    project_id: ProjectId,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "read")
    context = _project_context(db, principal, project)
    context.update({"done": DONE.get(done, ""), "member_values": {}, "member_errors": {}})
    return render(request, "projects/detail.html", context)


@router.get("/projects/{project_id}/edit", response_class=HTMLResponse)
def project_edit(
    request: Request, db: SessionDep, principal: Updater, project_id: ProjectId
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "update")
    values: dict[str, Any] = {k: getattr(project, k) for k in FORM_FIELDS}
    values["site_polygon"] = json.dumps(project.site_polygon) if project.site_polygon else ""
    values = {k: "" if v is None else v for k, v in values.items()}
    return _form(request, values, project=project)


@router.post("/projects/{project_id}/edit", response_class=HTMLResponse)
def project_update(
    request: Request, db: SessionDep, principal: Updater, project_id: ProjectId, form: PostedForm
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "update")
    values = form.values()
    try:
        service.update_project(db=db, principal=principal, project_id=project.id, raw=_raw(values))
    except ValidationFailed as error:
        db.rollback()
        return _form(request, values, project=project, error=error)
    return redirect(f"/projects/{project_id}?done=updated")


@router.post("/projects/{project_id}/members", response_class=HTMLResponse)
def member_add(
    request: Request,
    db: SessionDep,
    settings: SettingsDep,
    principal: Assigner,
    project_id: ProjectId,
    form: PostedForm,
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "assign")
    values = form.values()
    try:
        photo = form.file("photo")
        photo_sha256 = take_photo(settings, photo, "photo").sha256 if photo else None
        raw = {k: v for k, v in values.items() if v != ""}
        service.add_member(
            db=db, principal=principal, project_id=project.id, raw=raw, photo_sha256=photo_sha256
        )
    except ValidationFailed as error:
        db.rollback()
        project = get_scoped(db, Project, project_id, principal, "read")
        context = _project_context(db, principal, project)
        context.update(
            {
                "done": "",
                "member_values": values,
                "member_errors": errors_by_field(error.errors),
                "member_error": error.detail,
            }
        )
        return render(request, "projects/detail.html", context, status_code=422)
    return redirect(f"/projects/{project_id}?done=member#members")


@router.post("/projects/{project_id}/codes", response_class=HTMLResponse)
def codes_issue(
    db: SessionDep, principal: Issuer, project_id: ProjectId, form: PostedForm
) -> Response:
    values = form.values()
    try:
        count = int(values.get("count", ""))
    except ValueError:
        count = 0
    batch = sampling.issue_codes(
        db=db, principal=principal, project_id=project_id, count=count, now=utcnow()
    )
    return redirect(f"/projects/{project_id}?done=codes&batch={batch.id}#codes")


@router.get("/projects/{project_id}/codes/{batch_id}.pdf")
def codes_pdf(
    db: SessionDep,
    settings: SettingsDep,
    principal: Issuer,
    project_id: ProjectId,
    batch_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
) -> Response:
    project = get_scoped(db, Project, project_id, principal, "read")
    batch = db.get(SampleCodeBatch, batch_id)
    if batch is None or batch.project_id != project.id:
        raise NotFound()
    labels = [
        Label(
            code=sample_codes.display(c.code),
            qr_payload=sampling.code_url(settings, c.code),
            lines=(project.name, f"{project.code} · 见证取样唯一性标识"),
        )
        for c in sampling.batch_codes(db, batch.id)
    ]
    pdf = label_sheet_pdf(
        labels,
        title=f"样品唯一性标识 · {project.name}",
        footer=f"{settings.platform_name} · 第 {batch.id} 批",
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="labels-{project.code}-{batch.id}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
