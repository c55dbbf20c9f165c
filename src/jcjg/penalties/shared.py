"""The published penalty decisions as a derived source of shared data (``core.shared``;
docs/sharing.md, "Derived sources"): a decision is served only within its publicity period
(公示期), as the public list shows it, with the people it names (their names as decided, their
identity numbers from the registry: personal, masked by every consumer's policy)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.core.shared import SharedRow, SharedSource, SourceFilters
from jcjg.penalties.models import Penalty
from jcjg.penalties.service import public_stmt
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution

CODE = "penalty.decision"

FIELDS = {
    "number": "处罚决定书文号",
    "institution_name": "被处罚机构",
    "issuer": "处罚机关",
    "issuer_region_code": "处罚机关行政区划",
    "basis_code": "处罚依据",
    "basis_article": "依据条款",
    "facts": "违法事实",
    "kind": "处罚种类",
    "amount": "罚款金额（元）",
    "decided_on": "决定日期",
    "public_from": "公示起始日期",
    "public_until": "公示截止日期",
    "persons[].name": "被处罚人员姓名",
    "persons[].id_number": "被处罚人员身份证号",
}


def _rows(
    db: Session, chosen: SourceFilters, today: dt.date, after: int, limit: int
) -> Sequence[SharedRow]:
    stmt = (
        public_stmt(today)
        .add_columns(Institution.code, Institution.name)
        .join(Institution, Institution.id == Penalty.institution_id)
        .where(Penalty.id > after)
    )
    stmt = chosen.applied(
        stmt,
        key=Penalty.id,
        institution_code=Institution.code,
        region_code=Penalty.region_code,
        day=Penalty.decided_on,
    )
    found = db.execute(stmt.order_by(Penalty.id).limit(limit)).all()
    ids = {i for p, _, _ in found for i in p.person_ids}
    numbers: dict[int, str] = {}
    if ids:
        for person_id, id_number in db.execute(
            select(Person.id, Person.id_number).where(Person.id.in_(ids))
        ):
            numbers[person_id] = id_number
    return [
        SharedRow(
            key=p.id,
            record_id=p.number,
            institution_code=code,
            region_code=p.region_code,
            day=p.decided_on,
            data={
                "number": p.number,
                "institution_name": name,
                "issuer": p.issuer,
                "issuer_region_code": p.issuer_region_code,
                "basis_code": p.basis_code,
                "basis_article": p.basis_article,
                "facts": p.facts,
                "kind": p.kind,
                "amount": None if p.amount is None else f"{p.amount:.2f}",
                "decided_on": p.decided_on.isoformat(),
                "public_from": p.public_from.isoformat(),
                "public_until": p.public_until.isoformat(),
                # the names as decided; an identity number where the name is a registry
                # person's (``person_ids`` in the same order), else null
                "persons": [
                    {
                        "name": person_name,
                        "id_number": numbers.get(p.person_ids[i])
                        if i < len(p.person_ids)
                        else None,
                    }
                    for i, person_name in enumerate(p.person_names)
                ],
            },
        )
        for p, code, name in found
    ]


def _versions(db: Session, today: dt.date) -> dict[int, str]:
    """Every decision public today, by id, with the moments it and what its shared record
    reads besides were last changed (recorded, corrected here or by the child platform that
    sent it; its institution's name, its people's identity numbers in the registry): a new
    moment is a new version (one whose shared data did not change queues nothing)."""
    stmt = (
        public_stmt(today)
        .join(Institution, Institution.id == Penalty.institution_id)
        .with_only_columns(
            Penalty.id, Penalty.updated_at, Institution.updated_at, Penalty.person_ids
        )
    )  # fmt: skip
    found = db.execute(stmt).all()
    ids = {i for *_, person_ids in found for i in person_ids or ()}
    people: dict[int, dt.datetime] = {}
    if ids:
        moments = select(Person.id, Person.updated_at).where(Person.id.in_(ids))
        people = {person_id: moment for person_id, moment in db.execute(moments)}
    return {  # the moments' digest: the token's column holds 64 characters
        key: hashlib.sha256(
            "|".join(
                moment.isoformat()
                for moment in (changed, named, *(people.get(i) for i in person_ids or ()))
                if moment is not None
            ).encode()
        ).hexdigest()
        for key, changed, named, person_ids in found
    }


def sources() -> list[SharedSource]:
    return [
        SharedSource(
            code=CODE,
            title="行政处罚决定",
            fields=FIELDS,
            personal=("persons[].id_number",),
            rows=_rows,
            versions=_versions,
        )
    ]
