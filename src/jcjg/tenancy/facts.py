"""An institution's registration, its status and its name as facts of the platform's log: the
proof of when the registry changed, and what a parent platform rebuilds the institution from
(docs/networking.md, "A child's facts"). Only the registry's public particulars go in the log:
the platform's code, the name, the unified social credit code, the region and the status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.errors import NotFound
from jcjg.core.facts import ForwardedFact
from jcjg.core.regioncodes import scope_prefix
from jcjg.ledger.service import notarise
from jcjg.tenancy.models import Institution

REGISTER = "institution:register"
STATUS = "institution:status"
UPDATE = "institution:update"


def registered(inst: Institution) -> dict[str, Any]:
    """The entry of a registration."""
    return {
        "code": inst.code,
        "name": inst.name,
        "credit_code": inst.credit_code,
        "region_code": inst.region_code,
    }


def notarise_registered(db: Session, inst: Institution) -> None:
    notarise(db, REGISTER, registered(inst))


def notarise_status(db: Session, inst: Institution) -> None:
    notarise(db, STATUS, {"code": inst.code, "status": inst.status})


def notarise_updated(db: Session, inst: Institution) -> None:
    """The name or the credit code changed (the region never does)."""
    notarise(db, UPDATE, {"code": inst.code, "name": inst.name, "credit_code": inst.credit_code})


def childs_institution(
    db: Session, fact: ForwardedFact, code: str, kind: str = "检测机构"
) -> Institution:
    """The institution ``code`` a child platform's fact names, as this platform holds it and
    within the child's region; 404 otherwise (a child names only its own region's)."""
    inst = db.scalar(
        select(Institution).where(
            Institution.code == code,
            Institution.region_code.startswith(scope_prefix(fact.region_code), autoescape=True),
        )
    )
    if inst is None:
        raise NotFound(f"{kind}“{code}”在本平台不存在或不在该下级平台辖区内")
    return inst
