"""What the sampling chain adds to a project's pages: issuing its sample codes and printing
their label sheets (the station or a party unit, 003 I(1)), and the sections of the project's
page (codes, samples, commissions) and the samples column of the project list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.errors import NotFound
from jcjg.core.forms import Id, PostedForm
from jcjg.core.templating import Column, Panel, redirect, render
from jcjg.documents.pdf import Label, label_sheet_pdf
from jcjg.projects.models import Project
from jcjg.sampling import codes as sample_codes
from jcjg.sampling import pours
from jcjg.sampling import service as sampling
from jcjg.sampling.choices import CommissionStatus, Curing, SampleStatus
from jcjg.sampling.models import Commission, ConcretePour, Sample, SampleCode, SampleCodeBatch

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Issuer = Annotated[Principal, Depends(requires("sample:issue_codes"))]
Reader = Annotated[Principal, Depends(requires("sample:read"))]
# a sample is sealed from the witness's seal on, whatever happened to it after
_SEALED = ("sealed", "delivered", "received", "testing", "tested")


@router.post("/projects/{project_id}/codes", response_class=HTMLResponse)
def codes_issue(db: SessionDep, principal: Issuer, project_id: Id, form: PostedForm) -> Response:
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
    project_id: Id,
    batch_id: Id,
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


@router.get("/pours/{pour_id}", response_class=HTMLResponse)
def pour_page(request: Request, db: SessionDep, principal: Reader, pour_id: Id) -> Response:
    """One concrete pour: its specimen sets by curing kind against what it needs."""
    pour = get_scoped(db, ConcretePour, pour_id, principal, "read")
    project = db.get(Project, pour.project_id)
    if project is None:
        raise NotFound()
    samples = pours.pour_samples(db, [pour.id])[pour.id]
    shift = pours.shift_hours(db, pour.region_code)
    recorder = db.get(User, pour.recorded_by)
    return render(
        request,
        "sampling/pour.html",
        {
            "pour": pour,
            "project": project,
            "samples": samples,
            "sets": pours.shortfall(pour, samples, shift),
            "recorder": recorder.display_name if recorder is not None else "",
            "curings": {c.value: c for c in Curing},
            "sample_statuses": {s.value: s for s in SampleStatus},
            "display": sample_codes.display,
        },
    )


def project_panels(db: Session, principal: Principal, project: Project) -> Iterable[Panel]:
    """The project page's sections of the sampling chain: codes, samples, commissions."""
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
    yield Panel("sampling/project_codes.html", {"project": project, "batches": batches,
                                                "used": used}, order=20)  # fmt: skip
    yield Panel(
        "sampling/project_samples.html",
        {"samples": samples, "sample_statuses": {s.value: s for s in SampleStatus}},
        order=30,
    )
    project_pours = pours.recent_pours(db, project.id, limit=50)
    if project_pours:
        cast = pours.pour_samples(db, [p.id for p in project_pours])
        shift = pours.shift_hours(db, project.region_code)
        sets = {p.id: pours.shortfall(p, cast[p.id], shift) for p in project_pours}
        yield Panel("sampling/project_pours.html", {"pours": project_pours, "sets": sets},
                    order=25)  # fmt: skip
    yield Panel(
        "sampling/project_commissions.html",
        {"commissions": commissions,
         "commission_statuses": {s.value: s for s in CommissionStatus}},
        order=40,
    )  # fmt: skip


def project_columns(db: Session, principal: Principal, project_ids: list[int]) -> Iterable[Column]:
    """The project list's count of samples awaiting the witness, sealed and refused."""
    counts: dict[int, dict[str, int]] = {i: {} for i in project_ids}
    if project_ids:
        for project_id, status, n in db.execute(
            select(Sample.project_id, Sample.status, func.count())
            .where(Sample.project_id.in_(project_ids))
            .group_by(Sample.project_id, Sample.status)
        ):
            counts[project_id][status] = n
    cells: dict[int, Markup | str] = {}
    for project_id, c in counts.items():
        sealed = sum(c.get(s, 0) for s in _SEALED)
        refused = c.get("refused", 0)
        shown = Markup('<span class="badge bad">{}</span>').format(refused) if refused else "0"
        cells[project_id] = Markup("{} / {} / {}").format(c.get("sampled", 0), sealed, shown)
    yield Column("样品（待见证 / 已封样 / 拒收）", cells, order=10)
