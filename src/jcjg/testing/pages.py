"""Test records: the list with its flags, a record's page with the chain back to the sample,
each specimen's curve played back (ECharts), and the revisions beside the original values."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert
from jcjg.alerts.service import rule_title
from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, restrict
from jcjg.core.deps import SessionDep, SettingsDep, TransactionalRoute
from jcjg.core.pagination import PageParams, page_params
from jcjg.core.templating import render
from jcjg.projects.models import Project
from jcjg.registry.models import Institution
from jcjg.sampling.models import Commission, Sample, SampleSeal
from jcjg.testing import service
from jcjg.testing.choices import Acquisition, Judgement, TestKind
from jcjg.testing.models import Curve, Revision, Specimen, TestRecord

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Reader = Annotated[Principal, Depends(requires("test_record:read"))]
RecordId = Annotated[int, Path(ge=1, le=2**31 - 1)]

_CHOICES: dict[str, Any] = {
    "kinds": {k.value: k for k in TestKind},
    "acquisitions": {a.value: a for a in Acquisition},
    "judgements": {j.value: j for j in Judgement},
    "rule_title": rule_title,
}


@router.get("/testing/records", response_class=HTMLResponse)
def record_list(
    request: Request,
    db: SessionDep,
    principal: Reader,
    paging: Annotated[PageParams, Depends(page_params)],
    kind: Annotated[str, Query(max_length=24)] = "",
    q: Annotated[str, Query(max_length=64)] = "",
    flagged: Annotated[bool, Query()] = False,
    since: Annotated[dt.date | None, Query()] = None,
) -> Response:
    stmt = restrict(select(TestRecord), principal, "read")
    if kind:
        stmt = stmt.where(TestRecord.kind == kind)
    if q:
        stmt = stmt.where(TestRecord.number.like(f"%{q}%"))
    if since:
        stmt = stmt.where(TestRecord.ended_at >= dt.datetime.combine(since, dt.time(), dt.UTC))
    if flagged:
        with_alerts = select(Alert.subject_id).where(
            Alert.subject_type == "test_record", Alert.status == "open"
        )
        stmt = stmt.where(cast(TestRecord.id, String).in_(with_alerts))
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.scalars(
        stmt.order_by(TestRecord.ended_at.desc(), TestRecord.id.desc())
        .offset(paging.offset)
        .limit(paging.limit)
    ).all()
    flags = _flags(db, [r.id for r in rows])
    institutions = dict(
        db.execute(
            select(Institution.id, Institution.name).where(
                Institution.id.in_({r.institution_id for r in rows})
            )
        ).all()
    )
    return render(
        request,
        "testing/list.html",
        {
            "rows": rows,
            "total": total,
            "paging": paging,
            "kind": kind,
            "q": q,
            "flagged": flagged,
            "since": since.isoformat() if since else "",
            "flags": flags,
            "institutions": institutions,
            **_CHOICES,
        },
    )


def _flags(db: Session, record_ids: list[int]) -> dict[int, list[str]]:
    """Open alerts' rule ids per record."""
    out: dict[int, list[str]] = {i: [] for i in record_ids}
    if not record_ids:
        return out
    for subject_id, rule_id in db.execute(
        select(Alert.subject_id, Alert.rule_id).where(
            Alert.subject_type == "test_record",
            Alert.status == "open",
            Alert.subject_id.in_([str(i) for i in record_ids]),
        )
    ):
        if subject_id and int(subject_id) in out and rule_id not in out[int(subject_id)]:
            out[int(subject_id)].append(rule_id)
    return out


@router.get("/testing/records/{record_id}", response_class=HTMLResponse)
def record_detail(
    request: Request, db: SessionDep, principal: Reader, record_id: RecordId
) -> Response:
    record = get_scoped(db, TestRecord, record_id, principal, "read")
    specimens = db.scalars(
        select(Specimen).where(Specimen.test_record_id == record.id).order_by(Specimen.position)
    ).all()
    curves = {
        c.specimen_id: c for c in db.scalars(select(Curve).where(Curve.test_record_id == record.id))
    }
    revisions = db.scalars(
        select(Revision).where(Revision.test_record_id == record.id).order_by(Revision.id)
    ).all()
    alerts = db.scalars(
        select(Alert)
        .where(
            Alert.subject_type == "test_record",
            Alert.subject_id == str(record.id),
            Alert.status == "open",
        )
        .order_by(Alert.id)
    ).all()
    codes = sorted({s.sample_code for s in specimens if s.sample_code})
    samples = db.scalars(select(Sample).where(Sample.sample_code.in_(codes))).all()
    sealed = set(
        db.scalars(
            select(SampleSeal.sample_id).where(SampleSeal.sample_id.in_([s.id for s in samples]))
        )
    )
    return render(
        request,
        "testing/detail.html",
        {
            "record": record,
            "institution": db.get(Institution, record.institution_id),
            "project": db.get(Project, record.project_id) if record.project_id else None,
            "commission": db.get(Commission, record.commission_id)
            if record.commission_id
            else None,
            "specimens": specimens,
            "curves": curves,
            "revisions": revisions,
            "revised": service.current_values(db, record),
            "alerts": alerts if principal.can("alert:read") else [],
            "samples": samples,
            "sealed": sealed,
            **_CHOICES,
        },
    )


@router.get("/testing/curves/{curve_id}.json")
def curve_points(
    db: SessionDep, settings: SettingsDep, principal: Reader, curve_id: RecordId
) -> Response:
    """A curve's points for playback: ``t`` (s), ``f`` (kN), ``d`` (mm, when measured)."""
    row = get_scoped(db, Curve, curve_id, principal, "read")
    curve = service.load_curve(settings, row)
    body: dict[str, Any] = {
        "t": [round(float(v), 3) for v in curve.t],
        "f": [round(float(v), 3) for v in curve.force],
        "peak_kn": row.peak_kn,
        "rate_kn_s": row.rate_kn_s,
        "sampling_hz": row.sampling_hz,
    }
    if curve.displacement is not None:
        body["d"] = [round(float(v), 3) for v in curve.displacement]
    return JSONResponse(body, headers={"Cache-Control": "private, max-age=3600"})
