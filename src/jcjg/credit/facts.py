"""The facts the platform knows about an institution in a period (docs/credit.md, "Facts"):
each a :class:`Fact` with the subject a reader can open. Queries only, no writes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import CaseStatus
from jcjg.alerts.models import Alert, Case
from jcjg.core.workdays import BEIJING, beijing_date
from jcjg.credit.choices import FactKind
from jcjg.exchange.models import Message
from jcjg.nonconformity.models import Nonconformity
from jcjg.penalties.models import Penalty
from jcjg.proficiency.models import ProficiencyResult, ProficiencyScheme
from jcjg.rectification.models import RectificationOrder

# a case counts once the authority confirmed the alert (every status after it)
CONFIRMED = (
    CaseStatus.CONFIRMED.value,
    CaseStatus.RECTIFYING.value,
    CaseStatus.RECTIFIED.value,
    CaseStatus.CLOSED.value,
)


@dataclass(frozen=True)
class Fact:
    kind: FactKind
    subject_id: int
    text: str  # what a reader recognises it by (a number, a rule's finding)
    link: str  # the page that shows it ("" when none)

    @property
    def key(self) -> str:
        return f"{self.kind.value}:{self.subject_id}"


def moments(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """A period's days as instants: Beijing midnight to Beijing midnight."""
    return (
        dt.datetime.combine(start, dt.time(), BEIJING).astimezone(dt.UTC),
        dt.datetime.combine(end, dt.time(), BEIJING).astimezone(dt.UTC),
    )


def _alerts(db: Session, inst: int, lo: dt.datetime, hi: dt.datetime) -> list[Fact]:
    rows = db.execute(
        select(Case.alert_id, Alert.subject_repr)
        .join(Alert, Alert.id == Case.alert_id)
        .where(Case.institution_id == inst, Case.status.in_(CONFIRMED))
        .where(Case.opened_at >= lo, Case.opened_at < hi)
        .order_by(Case.alert_id)
    )
    return [Fact(FactKind.ALERT_CONFIRMED, a, text, f"/alerts/{a}") for a, text in rows]


def _nonconformities(db: Session, inst: int, lo: dt.datetime, hi: dt.datetime) -> list[Fact]:
    rows = db.execute(
        select(Nonconformity.id, Nonconformity.material, Nonconformity.item_code)
        .where(Nonconformity.institution_id == inst, Nonconformity.found_by == "platform")
        .where(Nonconformity.found_at >= lo, Nonconformity.found_at < hi)
        .order_by(Nonconformity.id)
    )
    return [
        Fact(FactKind.NONCONFORMITY_UNREPORTED, i, material, f"/nonconformities/{i}")
        for i, material, _ in rows
    ]


def _orders(db: Session, inst: int, lo: dt.datetime, hi: dt.datetime, today: dt.date) -> list[Fact]:
    out: list[Fact] = []
    rows = db.scalars(
        select(RectificationOrder)
        .where(RectificationOrder.institution_id == inst)
        .where(RectificationOrder.issued_at >= lo, RectificationOrder.issued_at < hi)
        .order_by(RectificationOrder.id)
    )
    for o in rows:
        link = f"/rectification-orders/{o.id}"
        out.append(Fact(FactKind.RECTIFICATION_ORDER, o.id, o.number, link))
        answered = beijing_date(o.answered_at) if o.answered_at else None
        late = answered > o.deadline if answered else o.deadline < today
        if late:
            out.append(Fact(FactKind.RECTIFICATION_OVERDUE, o.id, o.number, link))
    return out


def _penalties(db: Session, inst: int, start: dt.date, end: dt.date) -> list[Fact]:
    rows = db.execute(
        select(Penalty.id, Penalty.number)
        .where(Penalty.institution_id == inst)
        .where(Penalty.decided_on >= start, Penalty.decided_on < end)
        .order_by(Penalty.id)
    )
    return [Fact(FactKind.PENALTY, i, n, f"/penalties/{i}") for i, n in rows]


def _proficiency(db: Session, inst: int, lo: dt.datetime, hi: dt.datetime) -> list[Fact]:
    rows = db.execute(
        select(
            ProficiencyResult.id,
            ProficiencyResult.signal,
            ProficiencyScheme.id,
            ProficiencyScheme.code,
            ProficiencyResult.sample,
        )
        .join(ProficiencyScheme, ProficiencyScheme.id == ProficiencyResult.scheme_id)
        .where(ProficiencyResult.institution_id == inst)
        .where(ProficiencyResult.signal.in_(("action", "warning")))
        .where(ProficiencyScheme.evaluated_at >= lo, ProficiencyScheme.evaluated_at < hi)
        .order_by(ProficiencyResult.id)
    )
    out: list[Fact] = []
    for rid, signal, sid, code, sample in rows:
        kind = FactKind.PROFICIENCY_ACTION if signal == "action" else FactKind.PROFICIENCY_WARNING
        out.append(Fact(kind, rid, f"{code} 样品 {sample}", f"/proficiency/schemes/{sid}"))
    return out


def _rejected(db: Session, inst: int, lo: dt.datetime, hi: dt.datetime) -> list[Fact]:
    rows = db.execute(
        select(Message.id, Message.message_id)
        .where(Message.institution_id == inst, Message.status == "rejected")
        .where(Message.received_at >= lo, Message.received_at < hi)
        .order_by(Message.id)
    )
    return [Fact(FactKind.EXCHANGE_REJECTED, i, str(mid), "") for i, mid in rows]


def of_institution(
    db: Session, institution_id: int, start: dt.date, end: dt.date, today: dt.date
) -> list[Fact]:
    """Every fact about the institution whose moment lies in ``[start, end)``."""
    lo, hi = moments(start, end)
    return [
        *_alerts(db, institution_id, lo, hi),
        *_nonconformities(db, institution_id, lo, hi),
        *_orders(db, institution_id, lo, hi, today),
        *_penalties(db, institution_id, start, end),
        *_proficiency(db, institution_id, lo, hi),
        *_rejected(db, institution_id, lo, hi),
    ]


def of_person(
    db: Session, institution_id: int, person_id: int, start: dt.date, end: dt.date
) -> list[Fact]:
    """A key person's facts: the penalties in the period that name them."""
    rows = db.scalars(
        select(Penalty)
        .where(Penalty.institution_id == institution_id)
        .where(Penalty.decided_on >= start, Penalty.decided_on < end)
        .order_by(Penalty.id)
    )
    return [
        Fact(FactKind.PENALTY, p.id, p.number, f"/penalties/{p.id}")
        for p in rows
        if person_id in (p.person_ids or [])
    ]
