"""Penalties: who sees which, recording and correcting a decision (each notarised, the
institution told), what the public may read, and counts for the industry overview."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from jcjg.auth.choices import Role
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal, in_prefix, restrict
from jcjg.catalogue.regulations import Regulation, applies_in, by_code, cite
from jcjg.config import get_settings
from jcjg.core.db import utcnow
from jcjg.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    PermissionDenied,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.masking import mask_name
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.workdays import beijing_date
from jcjg.ledger import service as ledger
from jcjg.ledger.canonical import canonical_json
from jcjg.notify.service import notify
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.models import Penalty
from jcjg.penalties.schemas import PenaltyIn, PenaltyPatch, PenaltyRead, _check
from jcjg.regions.models import Region
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution

DECIDE_TYPE = "penalty:decide"
CORRECT_TYPE = "penalty:correct"


def _refuse(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(errors=[FieldError(field, message)])


def parse(model: type[Any], raw: Any) -> Any:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc


# --- who sees which --------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    q: str = ""  # decision number or institution name
    kind: str = ""
    since: dt.date | None = None
    until: dt.date | None = None
    institution_id: int | None = None
    public: str = ""  # "yes": within its publicity period today; "no": outside


def penalties_stmt(
    *, principal: Principal, filters: Filters | None = None, today: dt.date | None = None
) -> Select[Any]:
    """The penalties ``principal`` may read (an authority's region, a lab its own), filtered."""
    f = filters or Filters()
    stmt = restrict(select(Penalty), principal, "read")
    if f.q:
        like = f"%{f.q}%"
        named = select(Institution.id).where(Institution.name.like(like))
        stmt = stmt.where(or_(Penalty.number.like(like), Penalty.institution_id.in_(named)))
    if f.kind:
        stmt = stmt.where(Penalty.kind == f.kind)
    if f.since:
        stmt = stmt.where(Penalty.decided_on >= f.since)
    if f.until:
        stmt = stmt.where(Penalty.decided_on <= f.until)
    if f.institution_id:
        stmt = stmt.where(Penalty.institution_id == f.institution_id)
    if f.public in ("yes", "no"):
        day = today or beijing_date(utcnow())
        within = (Penalty.public_from <= day) & (Penalty.public_until >= day)
        stmt = stmt.where(within if f.public == "yes" else ~within)
    return stmt


def get_penalty(db: Session, principal: Principal, penalty_id: int) -> Penalty:
    found: Penalty | None = db.scalars(
        penalties_stmt(principal=principal).where(Penalty.id == penalty_id)
    ).first()
    if found is None:
        raise NotFound()
    return found


def corrects(principal: Principal, penalty: Penalty) -> bool:
    """Whether ``principal`` may correct ``penalty``: an authority over its issuer's region, on
    the platform that recorded it (a child platform's decision is corrected there)."""
    return (
        penalty.origin is None
        and principal.can("penalty:manage")
        and principal.covers_region(penalty.issuer_region_code)
    )


def public_stmt(today: dt.date) -> Select[Any]:
    """The decisions anyone may read today: those within their publicity period."""
    return select(Penalty).where(Penalty.public_from <= today, Penalty.public_until >= today)


# --- recording and correcting ----------------------------------------------------------------


def _institution(db: Session, principal: Principal, institution_id: int) -> Institution:
    inst = db.get(Institution, institution_id)
    if inst is None or not principal.covers_region(inst.region_code):
        raise _refuse("institution_id", "检测机构不存在或不在本部门辖区")
    return inst


def _persons(db: Session, institution: Institution, ids: Sequence[int]) -> list[Person]:
    if not ids:
        return []
    rows = list(
        db.scalars(
            select(Person).where(Person.id.in_(ids), Person.institution_id == institution.id)
        )
    )
    if len(rows) != len(set(ids)):
        raise _refuse("person_ids", "所选人员不属于被处罚的检测机构")
    order = {pid: n for n, pid in enumerate(ids)}
    return sorted(rows, key=lambda p: order[p.id])


def bases(db: Session, principal: Principal) -> list[Regulation]:
    """What may ground a decision of ``principal``'s authority: the library's documents that
    apply in its region (national ones, its own region's, those above and below it; never
    another province's: ``catalogue.regulations.applies_in``), drafts excepted."""
    region = principal.region_code or get_settings().region_code
    return [
        r
        for r in db.scalars(select(Regulation).order_by(Regulation.code))
        if r.status != "draft" and applies_in(r, region)
    ]


def _regulation(db: Session, principal: Principal, code: str) -> Regulation:
    found = next((r for r in bases(db, principal) if r.code == code), None)
    if found is None:
        raise _refuse("basis_code", "处罚依据须为法规库中本地区适用的现行法规")
    return found


def _issuer(
    db: Session, principal: Principal, institution: Institution, given: str
) -> tuple[str, str]:
    code = principal.region_code or institution.region_code
    if given:
        return code, given
    region = db.get(Region, code)
    return code, f"{region.name if region else code}住房和城乡建设主管部门"


def names_digest(names: Sequence[str], salt: str | None) -> str:
    """What the ledger keeps of the people a decision names, never the names (they are public
    only for the publicity period; the log is forever): the SHA-256 of the RFC 8785 JSON of
    ``{"persons": [...], "salt": …}``, salted with the decision's own random salt so that a
    guessed name cannot be tested against the public log; a decision notarised before salts
    (``salt`` None) keeps the digest of the names' JSON alone."""
    if salt is None:
        return hashlib.sha256(json.dumps(list(names), ensure_ascii=False).encode()).hexdigest()
    return hashlib.sha256(canonical_json({"persons": list(names), "salt": salt})).hexdigest()


def ledger_entry(db: Session, penalty: Penalty) -> dict[str, Any]:
    inst = db.get(Institution, penalty.institution_id)
    return {
        "number": penalty.number,
        "institution": inst.credit_code or inst.code if inst else "",
        "institution_name": inst.name if inst else "",
        "persons_sha256": names_digest(penalty.person_names, penalty.persons_salt),
        "basis": f"{penalty.basis_code} {penalty.basis_article}".strip(),
        "facts_sha256": hashlib.sha256(penalty.facts.encode()).hexdigest(),
        "kind": penalty.kind,
        "amount": str(penalty.amount) if penalty.amount is not None else None,
        "decided_on": penalty.decided_on.isoformat(),
        "public_from": penalty.public_from.isoformat(),
        "public_until": penalty.public_until.isoformat(),
        "issuer_region": penalty.issuer_region_code,
    }


def _tell(db: Session, penalty: Penalty, corrected: bool) -> None:
    admins = db.scalars(
        select(User).where(
            User.institution_id == penalty.institution_id,
            User.role == Role.INSTITUTION_ADMIN.value,
        )
    ).all()
    title = "行政处罚决定已更正" if corrected else "收到行政处罚决定"
    notify(
        db,
        admins,
        kind="penalty",
        title=f"{title}：{penalty.number}",
        body=f"{PenaltyKind(penalty.kind).label}，决定日期 {penalty.decided_on}。",
        link=f"/penalties/{penalty.id}",
        severity="warning",
        now=utcnow(),
    )


def create(*, db: Session, principal: Principal, data: PenaltyIn) -> Penalty:
    """Record a decision (403 without ``penalty:manage``; 422 naming the field for another
    region's institution, people of another institution, an unknown regulation; 409 for a
    number already recorded). Notarised (``penalty:decide``), the institution told."""
    principal.require("penalty:manage")
    inst = _institution(db, principal, data.institution_id)
    persons = _persons(db, inst, data.person_ids)
    _regulation(db, principal, data.basis_code)
    if db.scalars(select(Penalty.id).where(Penalty.number == data.number)).first():
        raise Conflict(f"处罚决定书文号 {data.number} 已登记")
    issuer_region, issuer = _issuer(db, principal, inst, data.issuer)
    row = Penalty(
        number=data.number, institution_id=inst.id, region_code=inst.region_code,
        issuer_region_code=issuer_region, issuer=issuer,
        person_ids=[p.id for p in persons], person_names=[p.name for p in persons],
        basis_code=data.basis_code, basis_article=data.basis_article, facts=data.facts,
        kind=data.kind.value, amount=data.amount, decided_on=data.decided_on,
        public_from=data.public_from, public_until=data.public_until,
        created_by=principal.user_id, persons_salt=secrets.token_hex(16),
    )  # fmt: skip
    db.add(row)
    try:
        with db.begin_nested():
            db.flush()
    except IntegrityError as exc:
        raise Conflict(f"处罚决定书文号 {data.number} 已登记") from exc
    row.ledger_index = ledger.notarise(db, DECIDE_TYPE, ledger_entry(db, row)).index
    _tell(db, row, corrected=False)
    return row


_PATCHABLE = (
    "basis_code", "basis_article", "facts", "kind", "amount", "decided_on", "public_from",
    "public_until", "issuer",
)  # fmt: skip


def correct(*, db: Session, principal: Principal, penalty: Penalty, data: PenaltyPatch) -> Penalty:
    """Correct a decision's record (its issuer's authority only; the change log keeps before
    and after, the ledger the corrected entry with the reason)."""
    if not corrects(principal, penalty):
        principal.require("penalty:manage")
        if penalty.origin is not None:
            raise PermissionDenied(f"该决定由下级平台“{penalty.origin}”报送，只能在该平台更正")
        raise PermissionDenied("只有作出处罚决定的主管部门可以更正")
    given = data.model_dump(exclude_unset=True)
    if "basis_code" in given and given["basis_code"] is not None:
        _regulation(db, principal, given["basis_code"])
    kind = PenaltyKind(given.get("kind") or penalty.kind)
    amount = given.get("amount", penalty.amount)
    try:
        _check(
            kind, amount,
            given.get("decided_on") or penalty.decided_on,
            given.get("public_from") or penalty.public_from,
            given.get("public_until") or penalty.public_until,
        )  # fmt: skip
    except ValueError as exc:
        raise _refuse("body", str(exc)) from exc
    if data.person_ids is not None:
        inst = db.get(Institution, penalty.institution_id)
        assert inst is not None
        persons = _persons(db, inst, data.person_ids)
        penalty.person_ids = [p.id for p in persons]
        penalty.person_names = [p.name for p in persons]
    for name in _PATCHABLE:
        if name in given and given[name] is not None:
            value = given[name]
            setattr(penalty, name, value.value if isinstance(value, PenaltyKind) else value)
    if "amount" in given:
        penalty.amount = given["amount"]
    if penalty.persons_salt is None and penalty.origin is None:  # decided before salts
        penalty.persons_salt = secrets.token_hex(16)
    db.flush()
    entry = {**ledger_entry(db, penalty), "reason": data.reason}
    penalty.ledger_index = ledger.notarise(db, CORRECT_TYPE, entry).index
    _tell(db, penalty, corrected=True)
    return penalty


# --- reading ---------------------------------------------------------------------------------


def institution_names(db: Session, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {i: n for i, n in rows}


def basis_text(penalty: Penalty, known: dict[str, Regulation]) -> str:
    return cite(f"{penalty.basis_code} {penalty.basis_article}".strip(), known)


def shown_persons(penalty: Penalty, principal: Principal, today: dt.date) -> list[str]:
    """Names in full while the decision is public or for an authority over it; masked to
    others (a lab's staff read their own decisions with the names masked once not public)."""
    if penalty.is_public(today) or principal.covers_region(penalty.region_code):
        return list(penalty.person_names)
    return [mask_name(n) for n in penalty.person_names]


def read(db: Session, principal: Principal, penalty: Penalty) -> PenaltyRead:
    today = beijing_date(utcnow())
    names = institution_names(db, [penalty.institution_id])
    return PenaltyRead(
        id=penalty.id, number=penalty.number, institution_id=penalty.institution_id,
        institution_name=names.get(penalty.institution_id, ""),
        region_code=penalty.region_code, issuer_region_code=penalty.issuer_region_code,
        issuer=penalty.issuer, persons=shown_persons(penalty, principal, today),
        basis_code=penalty.basis_code, basis_article=penalty.basis_article,
        basis=basis_text(penalty, by_code(db)), facts=penalty.facts,
        kind=PenaltyKind(penalty.kind), kind_label=PenaltyKind(penalty.kind).label,
        amount=penalty.amount, decided_on=penalty.decided_on, public_from=penalty.public_from,
        public_until=penalty.public_until, is_public=penalty.is_public(today),
        ledger_index=penalty.ledger_index, origin=penalty.origin,
    )  # fmt: skip


# --- for other domains (credit, the industry overview) ---------------------------------------


@dataclass(frozen=True)
class Tally:
    count: int
    amount: Decimal


def counts_by_region(
    db: Session, region_prefix: str, since: dt.date, until: dt.date
) -> dict[str, Tally]:
    """Penalties decided in ``[since, until]`` against institutions whose region code starts
    with ``region_prefix`` (``"36"`` a province, ``"3604"`` a city; ``""`` all), by the
    institution's region code: how many and the sum of fines (yuan). Unscoped: the caller
    decides who may see the figures."""
    stmt = (
        select(Penalty.region_code, func.count(), func.coalesce(func.sum(Penalty.amount), 0))
        .where(Penalty.decided_on >= since, Penalty.decided_on <= until)
        .group_by(Penalty.region_code)
    )
    if region_prefix:
        stmt = stmt.where(in_prefix(Penalty.region_code, region_prefix))
    return {
        code: Tally(int(n), Decimal(str(total)).quantize(Decimal("0.01")))
        for code, n, total in db.execute(stmt)
    }


def region_prefix_of(code: str) -> str:
    return scope_prefix(code)
