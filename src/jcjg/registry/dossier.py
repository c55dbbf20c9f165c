"""The institution's dossier (机构档案, /institutions/{id}): everything a regulator opens about
one testing institution on one page: its registration and qualifications, people and
equipment (this domain), and, through the ``registry.dossier`` hook, what the other domains
hold of it: its credit, open alerts and cases, rectification orders, penalties, cameras,
reports. Each domain answers with :class:`Section` s (one declarative form: headline figures,
a few rows, a link to the whole list), checking its own permission and scope; a reader sees
only the sections it may read, of an institution in its scope (404 otherwise)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped, in_prefix, restrict
from jcjg.catalogue.models import Specialty
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.dossier import DOSSIER, FACETS, Facet, Figure, Row, Section
from jcjg.core.errors import BadRequest
from jcjg.core.forms import Id
from jcjg.core.listing import Column, ListParams, ListView, export, list_params, page_context
from jcjg.core.pagination import Key, Order, PageParams, page_params
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.templating import contributions, render
from jcjg.core.workdays import beijing_date
from jcjg.regions import service as regions
from jcjg.regions.models import Region
from jcjg.registry.choices import CertificateStatus
from jcjg.registry.models import (
    Equipment,
    Person,
    QualificationCertificate,
    certificate_specialty,
)
from jcjg.tenancy.choices import InstitutionStatus
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)
Cells = Callable[[Session, Sequence[int]], Mapping[int, str]]


def _date(value: dt.date | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "—"


def _own_sections(db: Session, principal: Principal, inst: Institution) -> Iterable[Section]:
    today = beijing_date(utcnow())
    certificates = db.scalars(
        select(QualificationCertificate)
        .where(QualificationCertificate.institution_id == inst.id)
        .order_by(QualificationCertificate.valid_until.desc())
    ).all()
    valid = [
        c
        for c in certificates
        if c.status == CertificateStatus.VALID.value and c.valid_until >= today
    ]
    yield Section(
        "资质证书",
        10,
        figures=(
            Figure("有效资质证书", len(valid), tone="" if valid else "bad"),
            Figure("资质证书（全部）", len(certificates)),
        ),
        headers=("证书编号", "专项", "发证机关", "有效期至", "状态"),
        rows=[
            Row(
                (
                    c.number,
                    "、".join(s.name for s in c.specialties) or "—",
                    c.issued_by,
                    _date(c.valid_until),
                    "已过期" if c.valid_until < today else CertificateStatus(c.status).label,
                ),
                f"/registry/certificates/{c.id}",
            )
            for c in certificates[:10]
        ],
        more=("全部资质证书", f"/registry/certificates?institution_id={inst.id}"),
        empty="没有登记资质证书。",
        anchor="qualifications",
    )
    people = db.scalar(
        select(func.count()).select_from(Person).where(Person.institution_id == inst.id)
    )
    equipment = db.execute(
        select(
            func.count(),
            func.count().filter(Equipment.calibration_valid_until < today),
        ).where(Equipment.institution_id == inst.id, Equipment.status == "in_use")
    ).one()
    yield Section(
        "人员与设备",
        20,
        figures=(
            Figure("人员", people or 0, f"/registry/people?institution_id={inst.id}"),
            Figure("在用设备", equipment[0], f"/registry/equipment?institution_id={inst.id}"),
            Figure("检定/校准已过期", equipment[1], tone="bad" if equipment[1] else ""),
        ),
        anchor="people",
    )


def sections(db: Session, principal: Principal, inst: Institution) -> list[Section]:
    """The dossier's sections in order: this domain's and every domain's answer."""
    found = [*_own_sections(db, principal, inst),
             *contributions(DOSSIER, Section, db, principal, inst)]  # fmt: skip
    return sorted(found, key=lambda s: s.order)


@router.get("/institutions/{institution_id}", response_class=HTMLResponse)
def dossier_page(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("institution:read"))],
    institution_id: Id,
) -> Response:
    inst = get_scoped(db, Institution, institution_id, principal, "read")
    context = {
        "inst": inst,
        "region": regions.display_name(db=db, code=inst.region_code),
        "status": InstitutionStatus(inst.status).label,
        "active": inst.status == InstitutionStatus.ACTIVE.value,
        "sections": sections(db, principal, inst),
        "may_edit": principal.can("institution:update"),
    }
    return render(request, "registry/dossier.html", context)


# --- the list of dossiers (/institutions) -------------------------------------------------

ORDER = Order((Key(Institution.id, lambda i: i.id, descending=False),), (0,))
STATUS_CHOICES = tuple((s.value, s.label) for s in InstitutionStatus)


def _regions_within(db: Session, principal: Principal) -> list[tuple[str, str]]:
    """The cities and counties of the reader's scope, as the region filter offers them."""
    own = principal.region_code or ""
    stmt = select(Region.code, Region.name, Region.parent_code).where(
        Region.valid_to_id.is_(None), Region.parent_code.is_not(None)
    )
    if own:
        stmt = stmt.where(in_prefix(Region.code, scope_prefix(own)), Region.code != own)
    rows = db.execute(stmt.order_by(Region.code)).all()
    names = {code: name for code, name, _ in rows}
    return [
        (code, f"{names[parent]} › {name}" if parent in names else name)
        for code, name, parent in rows
    ]


def _specialties(db: Session) -> list[tuple[str, str]]:
    rows = db.execute(
        select(Specialty.code, Specialty.name)
        .where(Specialty.valid_to_id.is_(None))
        .order_by(Specialty.sort, Specialty.code)
    ).all()
    return [(code, name) for code, name in rows]


def _in_force() -> Any:
    """A certificate valid today (Beijing): in status valid and not expired."""
    return (QualificationCertificate.status == CertificateStatus.VALID.value) & (
        QualificationCertificate.valid_until >= beijing_date(utcnow())
    )


def _qualified(code: str) -> Any:
    """The institutions holding a valid certificate whose scope has specialty ``code``."""
    return Institution.id.in_(
        select(QualificationCertificate.institution_id)
        .join(certificate_specialty)
        .join(Specialty, Specialty.id == certificate_specialty.c.specialty_id)
        .where(Specialty.code == code, _in_force())
    )


def _qualifications(db: Session, ids: Sequence[int]) -> dict[int, str]:
    certificates = db.scalars(
        select(QualificationCertificate).where(
            QualificationCertificate.institution_id.in_(ids), _in_force()
        )
    )
    found: dict[int, list[str]] = {}
    for c in certificates:
        found.setdefault(c.institution_id, []).extend(s.name for s in c.specialties)
    return {i: "、".join(dict.fromkeys(names)) for i, names in found.items()}


def facets(db: Session, principal: Principal) -> list[Facet]:
    """The list's filters and their columns: this domain's, then every domain's answer."""
    own = [
        # place and status are columns of the list itself
        Facet("region", "所在地", _regions_within(db, principal),
              lambda code: in_prefix(Institution.region_code, scope_prefix(code)), order=10),
        Facet("specialty", "资质专项", _specialties(db), _qualified, _qualifications, order=20),
        Facet("status", "状态", STATUS_CHOICES, lambda v: Institution.status == v, order=30),
    ]  # fmt: skip
    return sorted([*own, *contributions(FACETS, Facet, db, principal)], key=lambda f: f.order)


def _chosen(request: Request, found: list[Facet]) -> dict[str, str]:
    """The filters asked for, each checked against its choices (400 otherwise)."""
    chosen = {}
    for facet in found:
        value = request.query_params.get(facet.key, "")
        if not value:
            continue
        if value not in {v for v, _ in facet.choices}:
            raise BadRequest(f"筛选条件“{facet.label}”的取值无效")
        chosen[facet.key] = value
    return chosen


def _columns(found: list[Facet]) -> list[tuple[Facet, Cells]]:
    """The facets with a column, each with its cells."""
    return [(f, f.cells) for f in found if f.cells is not None]


def _view(found: list[Facet]) -> ListView:
    shown = _columns(found)

    def cells(db: Session, rows: Sequence[Institution]) -> list[list[str]]:
        ids = [r.id for r in rows]
        places = regions.display_names(db=db, codes=(r.region_code for r in rows))
        extra = [column(db, ids) for _, column in shown]
        return [
            [r.name, r.code, places.get(r.region_code, r.region_code),
             InstitutionStatus(r.status).label, *(e.get(r.id, "—") for e in extra)]
            for r in rows
        ]  # fmt: skip

    return ListView(
        name="institution",
        title="检测机构档案",
        columns=(
            Column("name", "检测机构", Institution.name),
            Column("code", "机构编号", Institution.code),
            Column("region", "所在地", Institution.region_code),
            Column("status", "状态", Institution.status),
            *(Column(f.key, f.label) for f, _ in shown),
        ),
        order=ORDER,
        cells=cells,
    )


@router.get("/institutions", response_class=HTMLResponse)
def dossier_list(
    request: Request,
    db: SessionDep,
    principal: Annotated[Principal, Depends(requires("institution:read"))],
    paging: Annotated[PageParams, Depends(page_params)],
    params: Annotated[ListParams, Depends(list_params)],
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    """The institutions within scope, filtered by place, qualification, status and what the
    other domains add (credit grade, open alerts); ``?format=xlsx`` exports them."""
    found = facets(db, principal)
    chosen = _chosen(request, found)
    stmt = restrict(select(Institution), principal, "read")
    if q.strip():
        like = f"%{q.strip()}%"
        stmt = stmt.where(
            Institution.name.like(like) | Institution.code.like(like)
            | Institution.credit_code.like(like)
        )  # fmt: skip
    for facet in found:
        if facet.key in chosen:
            stmt = stmt.where(facet.where(chosen[facet.key]))
    view = _view(found)
    if params.exporting:
        return export(request, db, view, stmt, params, user_id=principal.user_id)
    context = page_context(request, db, view, stmt, paging, params)
    ids = [r.id for r in context["rows"]]
    shown = _columns(found)
    context.update(
        {
            "q": q,
            "facets": found,
            "chosen": chosen,
            "shown": [f for f, _ in shown],
            "cells": {f.key: column(db, ids) for f, column in shown},
            "places": regions.display_names(db=db, codes=(r.region_code for r in context["rows"])),
            "statuses": dict(STATUS_CHOICES),
        }
    )
    return render(request, "registry/institutions.html", context)
