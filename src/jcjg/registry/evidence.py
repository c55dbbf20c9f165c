"""The registry's part of an alert's evidence chain: its entries link to their generic pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.evidence import Link, Source, reading
from jcjg.registry.models import Assignment, Equipment, Person, QualificationCertificate, Signatory
from jcjg.tenancy.models import Institution

# subject type -> (what, the generic page's kind, model, the column its link shows)
_KINDS: dict[str, tuple[str, str, Any, Any]] = {
    "institution": ("检测机构", "institutions", Institution, Institution.name),
    "person": ("人员", "people", Person, Person.name),
    "assignment": ("人员任职", "assignments", Assignment, Person.name),
    "equipment": ("仪器设备", "equipment", Equipment, Equipment.name),
    "certificate": ("资质证书", "certificates", QualificationCertificate,
                    QualificationCertificate.number),
    "signatory": ("授权签字人", "signatories", Signatory, Person.name),
}  # fmt: skip


def describe(db: Session, kind: str, keys: Sequence[str]) -> list[Link]:
    ids = [int(k) for k in keys if k.isdecimal()]
    if kind not in _KINDS or not ids:
        return []
    what, slug, model, text = _KINDS[kind]
    stmt = select(model.id, text).where(model.id.in_(ids))
    if text.class_ is Person and model is not Person:
        stmt = stmt.join(Person, Person.id == model.person_id)
    found: dict[int, Any] = {i: t for i, t in db.execute(stmt)}
    return [
        Link(what, str(found[i]), f"/registry/{slug}/{i}", None, kind, str(i), reading(model))
        for i in ids
        if i in found
    ]


def source() -> Source:
    return Source(describe)
