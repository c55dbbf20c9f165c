"""A city's penalty decisions rebuilt on its province (``core.facts``; docs/networking.md, "A
child's facts"): a decision the city records (``penalty:decide``) or corrects
(``penalty:correct``) becomes a decision on the province too, against the province's copy of
the institution, so the province's penalty register, credit scores, dossiers and public
notices hold every city's decisions without anyone typing them in again.

The entry holds the facts and the people's names only as SHA-256 digests (the log is public
and forever; names are public only within the publicity period). The city sends what they
cover beside the entry (``contents``); the province keeps them only if they match the digests
(the issuer's name, which the entry does not digest, rests on the city's signed word).
A decision whose content the city no longer holds as notarised (it was corrected before it
was forwarded) comes without it and the correction's entry, next in the log, brings it.

The province keeps the decision as the city's (``origin``): it shows where it came from and
only the city corrects it; a decision number the province holds for another decision is
refused (409)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

from pydantic import ConfigDict, Field
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from jcjg.core.errors import (
    Conflict,
    FieldError,
    NotFound,
    ValidationFailed,
)
from jcjg.core.facts import Exported, FactApplier, FactContent, ForwardedFact, parsed_content
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.text import MultiLine, TextModel
from jcjg.penalties.choices import PenaltyKind
from jcjg.penalties.models import Penalty
from jcjg.penalties.schemas import MAX_AMOUNT, _check
from jcjg.penalties.service import CORRECT_TYPE, DECIDE_TYPE, names_digest, parse
from jcjg.registry.models import Person
from jcjg.tenancy.models import Institution

_HEX64 = r"^[0-9a-f]{64}$"


class Decided(TextModel):
    """A decision's entry as the child notarised it (``penalties.service.ledger_entry``)."""

    model_config = ConfigDict(extra="ignore")  # a correction's reason, what a later log adds

    number: str = Field(min_length=4, max_length=64)
    institution: str = Field(min_length=1, max_length=32)  # credit code, else the code
    persons_sha256: str = Field(pattern=_HEX64)
    basis: str = Field(pattern=r"^\S{1,16}( .{0,64})?$")  # "<regulation code> <article>"
    facts_sha256: str = Field(pattern=_HEX64)
    kind: PenaltyKind
    amount: Decimal | None = Field(default=None, ge=0, le=MAX_AMOUNT, decimal_places=2)
    decided_on: dt.date
    public_from: dt.date
    public_until: dt.date
    issuer_region: str = Field(pattern=r"^\d{6}$")


class Content(TextModel):
    """What the entry's digests cover, sent beside it."""

    model_config = ConfigDict(extra="forbid")

    facts: MultiLine = Field(min_length=1, max_length=4000)
    persons: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(
        default_factory=list, max_length=20
    )
    issuer: str = Field(min_length=1, max_length=100)
    # the salt of the names' digest (``service.names_digest``); none for a decision notarised
    # before salts
    salt: str | None = Field(default=None, pattern=r"^[0-9a-f]{32}$")


# --- the child: what the digests cover ----------------------------------------------------------


def contents() -> dict[str, FactContent]:
    return {DECIDE_TYPE: content, CORRECT_TYPE: content}


def content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The decision's facts, people and issuer, if they are still what ``data`` notarised."""
    penalty = db.scalar(select(Penalty).where(Penalty.number == data.get("number")))
    if penalty is None or _digests(penalty.facts, penalty.person_names, penalty.persons_salt) != (
        data.get("facts_sha256"),
        data.get("persons_sha256"),
    ):
        return None
    given: dict[str, Any] = {
        "facts": penalty.facts, "persons": list(penalty.person_names), "issuer": penalty.issuer,
    }  # fmt: skip
    if penalty.persons_salt is not None:
        given["salt"] = penalty.persons_salt
    return Exported(given)


def _digests(facts: str, persons: list[str], salt: str | None) -> tuple[str, str]:
    return hashlib.sha256(facts.encode()).hexdigest(), names_digest(persons, salt)


# --- the parent: the decision rebuilt -----------------------------------------------------------


def appliers() -> dict[str, FactApplier]:
    return {DECIDE_TYPE: decide, CORRECT_TYPE: correct}


def decide(db: Session, fact: ForwardedFact) -> None:
    """The city's decision recorded here as the city's; the same one sent again: brought up to
    date (the forward is at-least-once)."""
    decided = _decided(fact)
    inst = _institution(db, fact, decided)
    same = db.scalar(select(Penalty).where(Penalty.number == decided.number))
    if same is not None and (same.origin != fact.platform or same.institution_id != inst.id):
        raise Conflict(
            f"处罚决定书文号 {decided.number} 在本平台已登记为另一份决定",
            errors=[FieldError("number", "已登记", "duplicate")],
        )
    penalty = same or Penalty(
        number=decided.number, institution_id=inst.id, facts="", issuer="",
        person_ids=[], person_names=[], origin=fact.platform,
    )  # fmt: skip
    _fill(db, penalty, inst, decided, fact)
    if same is None:
        db.add(penalty)
    db.flush()


def correct(db: Session, fact: ForwardedFact) -> None:
    """The city's correction of a decision it sent before: the province's copy follows."""
    decided = _decided(fact)
    penalty = db.scalar(
        select(Penalty).where(Penalty.number == decided.number, Penalty.origin == fact.platform)
    )
    if penalty is None or not penalty.issuer_region_code.startswith(scope_prefix(fact.region_code)):
        raise NotFound(f"处罚决定书文号 {decided.number} 未由该下级平台报送，无从更正")
    inst = db.get(Institution, penalty.institution_id)
    assert inst is not None
    _fill(db, penalty, inst, decided, fact)
    db.flush()


def _decided(fact: ForwardedFact) -> Decided:
    decided: Decided = parse(Decided, fact.data)
    try:
        _check(
            decided.kind, decided.amount, decided.decided_on, decided.public_from,
            decided.public_until,
        )  # fmt: skip
    except ValueError as exc:
        raise ValidationFailed(errors=[FieldError("data", str(exc))]) from exc
    if not decided.issuer_region.startswith(scope_prefix(fact.region_code)):
        raise ValidationFailed(
            f"处罚机关的行政区划 {decided.issuer_region} 不在下级平台“{fact.platform}”的辖区内",
            errors=[FieldError("issuer_region", "不在该下级平台辖区内", "scope")],
        )
    return decided


def _institution(db: Session, fact: ForwardedFact, decided: Decided) -> Institution:
    """The province's copy of the institution the decision names, within the child's region."""
    inst = db.scalar(
        select(Institution).where(
            or_(
                Institution.credit_code == decided.institution,
                Institution.code == decided.institution,
            ),
            Institution.region_code.startswith(scope_prefix(fact.region_code), autoescape=True),
        )
    )
    if inst is None:
        raise NotFound(
            f"被处罚的检测机构“{decided.institution}”在本平台不存在或不在该下级平台辖区内"
        )
    return inst


def _fill(
    db: Session, penalty: Penalty, inst: Institution, decided: Decided, fact: ForwardedFact
) -> None:
    basis_code, _, article = decided.basis.partition(" ")
    penalty.region_code = inst.region_code
    penalty.issuer_region_code = decided.issuer_region
    penalty.basis_code, penalty.basis_article = basis_code, article.strip()
    penalty.kind = decided.kind.value
    penalty.amount = decided.amount
    penalty.decided_on = decided.decided_on
    penalty.public_from, penalty.public_until = decided.public_from, decided.public_until
    penalty.origin_index = fact.index
    if fact.content is None:  # corrected at the child since: the correction brings it
        return
    given = parsed_content(Content, fact.content)
    if _digests(given.facts, given.persons, given.salt) != (
        decided.facts_sha256,
        decided.persons_sha256,
    ):
        raise ValidationFailed(
            "随决定报送的违法事实或人员与存证的摘要不符",
            errors=[FieldError("content", "与存证的摘要不符", "mismatch")],
        )
    penalty.facts, penalty.issuer = given.facts, given.issuer
    penalty.person_names, penalty.persons_salt = given.persons, given.salt
    penalty.person_ids = _person_ids(db, inst, given.persons)


def _person_ids(db: Session, inst: Institution, names: list[str]) -> list[int]:
    """The province's registry people the names stand for: a name only one person of the
    institution holds here (its lab's personnel messages registered them); others stay names."""
    if not names:
        return []
    found: dict[str, list[int]] = {}
    for pid, name in db.execute(
        select(Person.id, Person.name).where(
            Person.institution_id == inst.id, Person.name.in_(names)
        )
    ):
        found.setdefault(name, []).append(pid)
    return [ids[0] for n in names if len(ids := found.get(n, [])) == 1]
