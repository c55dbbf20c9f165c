"""The institution's dossier (机构档案, /institutions/{id}): everything a regulator opens about
one testing institution on one page: its registration and qualifications, people and
equipment (this domain), and, through the ``registry.dossier`` hook, what the other domains
hold of it: its credit, open alerts and cases, rectification orders, penalties, cameras,
reports. Each domain answers with :class:`Section` s (one declarative form: headline figures,
a few rows, a link to the whole list), checking its own permission and scope; a reader sees
only the sections it may read, of an institution in its scope (404 otherwise)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.deps import requires
from jcjg.auth.scopes import Principal, get_scoped
from jcjg.core.db import utcnow
from jcjg.core.deps import SessionDep, TransactionalRoute
from jcjg.core.domains import hooks
from jcjg.core.dossier import DOSSIER, Figure, Row, Section
from jcjg.core.forms import Id
from jcjg.core.templating import render
from jcjg.core.workdays import beijing_date
from jcjg.regions import service as regions
from jcjg.registry.choices import CertificateStatus
from jcjg.registry.models import Equipment, Person, QualificationCertificate
from jcjg.tenancy.choices import InstitutionStatus
from jcjg.tenancy.models import Institution

router = APIRouter(include_in_schema=False, route_class=TransactionalRoute)


def _date(value: dt.date | None) -> str:
    return f"{value:%Y-%m-%d}" if value else "—"


def _own_sections(db: Session, principal: Principal, inst: Institution) -> Iterable[Section]:
    today = beijing_date(utcnow())
    certificates = db.scalars(
        select(QualificationCertificate)
        .where(QualificationCertificate.institution_id == inst.id)
        .order_by(QualificationCertificate.valid_until.desc())
    ).all()
    valid = [c for c in certificates if c.status == "valid" and c.valid_until >= today]
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
    """The dossier's sections in order: this domain's, then every domain's answer."""
    found = list(_own_sections(db, principal, inst))
    for answer in hooks(DOSSIER):
        found += list(answer(db, principal, inst))
    for item in found:
        if not isinstance(item, Section):
            raise TypeError(f"hook {DOSSIER!r} answered {item!r}, not a Section")
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
