"""The penalties part of an institution's dossier (``registry.dossier``)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.auth.scopes import Principal, restrict
from jcjg.core.dossier import Figure, Row, Section
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.models import Penalty
from jcjg.tenancy.models import Institution


def sections(db: Session, principal: Principal, inst: Institution) -> Iterator[Section]:
    if not principal.can("penalty:read"):
        return
    mine = restrict(select(Penalty), principal, "read").where(Penalty.institution_id == inst.id)
    rows = db.scalars(mine.order_by(Penalty.decided_on.desc(), Penalty.id.desc()).limit(5)).all()
    total = db.scalar(select(func.count()).select_from(mine.subquery())) or 0
    yield Section(
        "行政处罚",
        60,
        figures=(Figure("行政处罚", total, tone="bad"),),
        headers=("决定书文号", "处罚种类", "处罚机关", "决定日期"),
        rows=[
            Row(
                (p.number, PenaltyKind(p.kind).label, p.issuer, f"{p.decided_on:%Y-%m-%d}"),
                f"/penalties/{p.id}",
            )
            for p in rows
        ],
        more=("该机构的全部行政处罚", f"/penalties?q={quote(inst.name)}"),
        empty="没有行政处罚记录。",
        anchor="penalties",
    )
