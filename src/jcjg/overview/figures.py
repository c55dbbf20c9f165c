"""The overview's figures for a region (a GB/T 2260 code prefix) and a period: plain data, the
same for the page, the public summary and the report (docs/overview.md defines each).

Each section is one or two grouped queries; the test records come from the statistics' tally
(``testing.tally``), never from the records themselves. Callers decide who may see a region:
these functions filter by the region's prefix only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from jcjg.alerts.models import Alert, Case
from jcjg.auth.scopes import in_prefix
from jcjg.catalogue.models import Specialty
from jcjg.core.domains import rule_titles
from jcjg.core.regioncodes import scope_prefix
from jcjg.nonconformity.choices import NcStatus
from jcjg.nonconformity.models import Nonconformity
from jcjg.overview.periods import Period, PeriodKind, containing
from jcjg.rectification.choices import OrderStatus
from jcjg.rectification.models import RectificationOrder
from jcjg.regions.models import Region
from jcjg.registry.choices import LABELS as REGISTRY_LABELS
from jcjg.registry.choices import Title
from jcjg.registry.models import (
    CapabilityAssessment,
    Equipment,
    Person,
    QualificationCertificate,
    Training,
    certificate_specialty,
)
from jcjg.reports.models import Report
from jcjg.tenancy.models import Institution
from jcjg.testing.models import RecordTally

DUE_SOON_DAYS = 30  # calibration due within this many days counts as 即将到期
TOP = 10  # institutions and alert kinds listed among the top findings
UNSET = "未登记"
# a case that confirmed the alert: anything but not yet handled or dismissed
CONFIRMED = ("confirmed", "rectifying", "rectified", "closed")


def prefix_of(region_code: str) -> str:
    """The code prefix of a region's subtree; "" for the whole country."""
    return scope_prefix(region_code) if region_code else ""


def _in(column: Any, region_code: str) -> Any:
    return in_prefix(column, prefix_of(region_code)) if region_code else column.isnot(None)


def child_of(code: str, region_code: str) -> str:
    """The region one level below ``region_code`` that ``code`` lies in (a county's own
    code below a city; ``code`` itself at the bottom)."""
    size = len(prefix_of(region_code)) + 2
    return code[:size].ljust(6, "0") if size <= 6 else code


def _ratio(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def institutions(db: Session, region_code: str, as_of: dt.date) -> dict[str, Any]:
    """Registered institutions (not revoked) by status, qualification specialty and nature."""
    live = Institution.status != "revoked"
    where = (_in(Institution.region_code, region_code), live)
    total, suspended = db.execute(
        select(func.count(), func.count(case((Institution.status == "suspended", 1))))
        .where(*where)
    ).one()  # fmt: skip
    nature = db.execute(
        select(Institution.registration_type, func.count()).where(*where)
        .group_by(Institution.registration_type)
    ).all()  # fmt: skip
    specialty = db.execute(
        select(Specialty.name, func.count(func.distinct(QualificationCertificate.institution_id)))
        .join(certificate_specialty,
              certificate_specialty.c.qualification_certificate_id == QualificationCertificate.id)
        .join(Specialty, Specialty.id == certificate_specialty.c.specialty_id)
        .join(Institution, Institution.id == QualificationCertificate.institution_id)
        .where(*where, QualificationCertificate.status == "valid",
               QualificationCertificate.valid_until >= as_of)
        .group_by(Specialty.name).order_by(func.min(Specialty.sort), Specialty.name)
    ).all()  # fmt: skip
    return {
        "total": int(total),
        "suspended": int(suspended),
        "by_specialty": [[name, int(n)] for name, n in specialty],
        "by_nature": sorted(([k or UNSET, int(n)] for k, n in nature), key=lambda r: -r[1]),
    }


def staff(db: Session, region_code: str, period: Period, as_of: dt.date) -> dict[str, Any]:
    """People on the registry employed on ``as_of``, by title and certificate; the period's
    trainings and capability assessments."""
    employed = (
        _in(Person.region_code, region_code),
        (Person.employed_until.is_(None)) | (Person.employed_until >= as_of),
    )
    rows = db.execute(
        select(Person.title, func.count(),
               func.count(Person.inspector_certificate_no),
               func.count(Person.registered_certificate_no),
               func.count(Person.key_role))
        .where(*employed).group_by(Person.title)
    ).all()  # fmt: skip
    by_title = {t: int(n) for t, n, *_ in rows}
    trained = db.execute(
        select(func.count(), func.count(case((Training.passed.is_(True), 1))))
        .where(_in(Training.region_code, region_code),
               Training.start_date.between(period.start, period.end))
    ).one()  # fmt: skip
    assessed = db.execute(
        select(func.count(), func.count(case((CapabilityAssessment.result == "passed", 1))))
        .where(_in(CapabilityAssessment.region_code, region_code),
               CapabilityAssessment.assessed_on.between(period.start, period.end))
    ).one()  # fmt: skip
    return {
        "total": sum(by_title.values()),
        "by_title": [[REGISTRY_LABELS[t], by_title.get(t.value, 0)] for t in Title],
        "inspectors": sum(int(r[2]) for r in rows),
        "registered": sum(int(r[3]) for r in rows),
        "key_people": sum(int(r[4]) for r in rows),
        "trainings": int(trained[0]),
        "trainings_passed": int(trained[1]),
        "assessments": int(assessed[0]),
        "assessments_passed": int(assessed[1]),
    }


def equipment(db: Session, region_code: str, as_of: dt.date) -> dict[str, Any]:
    """Equipment not retired; calibration overdue and due soon among the equipment in use."""
    in_use = Equipment.status == "in_use"
    valid = Equipment.calibration_valid_until
    soon = as_of + dt.timedelta(days=DUE_SOON_DAYS)
    row = db.execute(
        select(func.count(), func.count(case((in_use, 1))),
               func.count(case((in_use & (valid < as_of), 1))),
               func.count(case((in_use & valid.is_(None), 1))),
               func.count(case((in_use & (valid >= as_of) & (valid <= soon), 1))))
        .where(_in(Equipment.region_code, region_code), Equipment.status != "retired")
    ).one()  # fmt: skip
    total, used, overdue, unset, due = (int(v) for v in row)
    return {"total": total, "in_use": used, "out_of_service": total - used, "overdue": overdue,
            "no_calibration": unset, "due_soon": due}  # fmt: skip


def testing(db: Session, region_code: str, period: Period) -> dict[str, Any]:
    """Test records and nonconforming ones by month, from the tally."""
    rows = db.execute(
        select(RecordTally.month, func.sum(RecordTally.records),
               func.sum(RecordTally.nonconforming))
        .where(_in(RecordTally.region_code, region_code), RecordTally.month.in_(period.months))
        .group_by(RecordTally.month)
    ).all()  # fmt: skip
    found = {m: (int(r or 0), int(n or 0)) for m, r, n in rows}
    by_month: list[list[Any]] = [[m, *found.get(m, (0, 0))] for m in period.months]
    records = sum(found.get(m, (0, 0))[0] for m in period.months)
    bad = sum(found.get(m, (0, 0))[1] for m in period.months)
    return {"records": records, "nonconforming": bad, "rate": _ratio(bad, records),
            "by_month": by_month}  # fmt: skip


def reports(db: Session, region_code: str, period: Period) -> dict[str, Any]:
    """Reports issued (dated) in the period, by their status now."""
    rows = db.execute(
        select(Report.status, func.count())
        .where(_in(Report.region_code, region_code),
               Report.issued_on.between(period.start, period.end))
        .group_by(Report.status)
    ).all()  # fmt: skip
    by = {s: int(n) for s, n in rows}
    return {"issued": sum(by.values()), "valid": by.get("issued", 0),
            "withdrawn": by.get("withdrawn", 0), "replaced": by.get("replaced", 0)}  # fmt: skip


def nonconformities(
    db: Session, region_code: str, period: Period, as_of: dt.date
) -> dict[str, Any]:
    """Nonconformities entered in the period, by their state now; overdue: not closed and past
    their deadline on ``as_of``."""
    late = (Nonconformity.status != NcStatus.CLOSED.value) & (Nonconformity.deadline < as_of)
    rows = db.execute(
        select(Nonconformity.status, func.count(), func.count(case((late, 1))))
        .where(_in(Nonconformity.region_code, region_code),
               Nonconformity.found_at >= period.since, Nonconformity.found_at < period.until)
        .group_by(Nonconformity.status)
    ).all()  # fmt: skip
    by = {s: int(n) for s, n, _ in rows}
    return {"found": sum(by.values()), "open": by.get("open", 0),
            "handling": by.get("handling", 0), "closed": by.get("closed", 0),
            "overdue": sum(int(o) for *_, o in rows)}  # fmt: skip


def orders(db: Session, region_code: str, period: Period, as_of: dt.date) -> dict[str, Any]:
    """Rectification orders issued in the period, by their state now; overdue: not closed and
    past their deadline on ``as_of``."""
    late = (RectificationOrder.status != OrderStatus.CLOSED.value) & (
        RectificationOrder.deadline < as_of
    )
    rows = db.execute(
        select(RectificationOrder.status, func.count(), func.count(case((late, 1))))
        .where(_in(RectificationOrder.region_code, region_code),
               RectificationOrder.issued_at >= period.since,
               RectificationOrder.issued_at < period.until)
        .group_by(RectificationOrder.status)
    ).all()  # fmt: skip
    by = {s: int(n) for s, n, _ in rows}
    return {"issued": sum(by.values()), "pending": by.get("issued", 0),
            "answered": by.get("answered", 0), "closed": by.get("closed", 0),
            "overdue": sum(int(o) for *_, o in rows)}  # fmt: skip


def alerts(db: Session, region_code: str, period: Period) -> dict[str, Any]:
    """Alerts first raised in the period by rule (kind), open and confirmed among them; cases
    closed in the period."""
    confirmed = Case.status.in_(CONFIRMED)
    rows = db.execute(
        select(Alert.rule_id, func.count(), func.count(case((Alert.status == "open", 1))),
               func.count(case((confirmed, 1))))
        .outerjoin(Case, Case.alert_id == Alert.id)
        .where(_in(Alert.region_code, region_code), Alert.status != "withdrawn",
               Alert.first_seen_at >= period.since, Alert.first_seen_at < period.until)
        .group_by(Alert.rule_id)
    ).all()  # fmt: skip
    closed = db.scalar(
        select(func.count()).select_from(Case)
        .where(_in(Case.region_code, region_code), Case.status == "closed",
               Case.closed_at >= period.since, Case.closed_at < period.until)
    )  # fmt: skip
    titles = rule_titles()
    pairs = [(titles.get(r, r), int(n)) for r, n, *_ in rows]
    by_rule = [[t, n] for t, n in sorted(pairs, key=lambda x: -x[1])]
    return {"total": sum(int(r[1]) for r in rows), "open": sum(int(r[2]) for r in rows),
            "confirmed": sum(int(r[3]) for r in rows), "cases_closed": int(closed or 0),
            "by_rule": by_rule}  # fmt: skip


def _grouped(db: Session, column: Any, *where: Any) -> list[tuple[str, int]]:
    return [(c, int(n)) for c, n in db.execute(select(column, func.count()).where(*where)
                                               .group_by(column))]  # fmt: skip


def areas(db: Session, region_code: str, period: Period, as_of: dt.date) -> list[dict[str, Any]]:
    """The figures of each region one level below, for the drill-down."""
    kids = _children(db, region_code)
    out: dict[str, dict[str, Any]] = {
        code: {"code": code, "name": name, "institutions": 0, "people": 0, "equipment": 0,
               "overdue": 0, "records": 0, "nonconforming": 0, "alerts": 0, "nc_open": 0}
        for code, name in kids
    }  # fmt: skip
    today_in_use = (Equipment.status == "in_use") & (Equipment.calibration_valid_until < as_of)

    def add(pairs: Iterable[tuple[str, int]], key: str) -> None:
        for code, n in pairs:
            area = out.get(child_of(code, region_code))
            if area is not None:
                area[key] += n

    add(_grouped(db, Institution.region_code, _in(Institution.region_code, region_code),
                 Institution.status != "revoked"), "institutions")  # fmt: skip
    add(
        _grouped(
            db,
            Person.region_code,
            _in(Person.region_code, region_code),
            (Person.employed_until.is_(None)) | (Person.employed_until >= as_of),
        ),
        "people",
    )
    add(_grouped(db, Equipment.region_code, _in(Equipment.region_code, region_code),
                 Equipment.status != "retired"), "equipment")  # fmt: skip
    add(_grouped(db, Equipment.region_code, _in(Equipment.region_code, region_code),
                 today_in_use), "overdue")  # fmt: skip
    tally = db.execute(
        select(RecordTally.region_code, func.sum(RecordTally.records),
               func.sum(RecordTally.nonconforming))
        .where(_in(RecordTally.region_code, region_code), RecordTally.month.in_(period.months))
        .group_by(RecordTally.region_code)
    ).all()  # fmt: skip
    add(((c, int(r or 0)) for c, r, _ in tally), "records")
    add(((c, int(n or 0)) for c, _, n in tally), "nonconforming")
    add(_grouped(db, Alert.region_code, _in(Alert.region_code, region_code),
                 Alert.first_seen_at >= period.since, Alert.first_seen_at < period.until),
        "alerts")  # fmt: skip
    add(_grouped(db, Nonconformity.region_code, _in(Nonconformity.region_code, region_code),
                 Nonconformity.status != NcStatus.CLOSED.value), "nc_open")  # fmt: skip
    for area in out.values():
        area["rate"] = _ratio(area["nonconforming"], area["records"])
    return list(out.values())


def _children(db: Session, region_code: str) -> list[tuple[str, str]]:
    """The regions one level below (provinces below the country); none below a county."""
    parent = Region.parent_code == region_code if region_code else Region.parent_code.is_(None)
    rows = db.execute(
        select(Region.code, Region.name).where(parent, Region.valid_to_id.is_(None))
        .order_by(Region.code)
    ).all()  # fmt: skip
    return [(c, n) for c, n in rows if c != region_code]


def top_institutions(db: Session, region_code: str, period: Period) -> list[dict[str, Any]]:
    """The institutions with the most confirmed alerts and nonconformities in the period."""
    confirmed: dict[int, int] = {int(k or 0): int(v) for k, v in (
        db.execute(
            select(Alert.institution_id, func.count())
            .join(Case, Case.alert_id == Alert.id)
            .where(_in(Alert.region_code, region_code), Case.status.in_(CONFIRMED),
                   Alert.institution_id.isnot(None),
                   Alert.first_seen_at >= period.since, Alert.first_seen_at < period.until)
            .group_by(Alert.institution_id)
        )
    )}  # fmt: skip
    found: dict[int, int] = {int(k): int(v) for k, v in (
        db.execute(
            select(Nonconformity.institution_id, func.count())
            .where(_in(Nonconformity.region_code, region_code),
                   Nonconformity.found_at >= period.since, Nonconformity.found_at < period.until)
            .group_by(Nonconformity.institution_id)
        )
    )}  # fmt: skip
    ids = sorted(set(confirmed) | set(found),
                 key=lambda i: (-(confirmed.get(i, 0) + found.get(i, 0)), i))[:TOP]  # fmt: skip
    names = {k: v for k, v in db.execute(select(Institution.id, Institution.name)
                            .where(Institution.id.in_(ids)))} if ids else {}  # fmt: skip
    return [{"id": i, "name": names.get(i, ""), "alerts": int(confirmed.get(i, 0)),
             "nonconformities": int(found.get(i, 0))} for i in ids]  # fmt: skip


def institution_rows(db: Session, region_code: str, period: Period) -> list[dict[str, Any]]:
    """The institutions registered in a county (the drill-down's last level) with their
    period's records, nonconforming records and alerts."""
    rows = db.execute(
        select(Institution.id, Institution.name, Institution.region_code, Institution.status)
        .where(_in(Institution.region_code, region_code), Institution.status != "revoked")
        .order_by(Institution.name)
    ).all()  # fmt: skip
    ids = [r.id for r in rows]
    if not ids:
        return []
    tally = {i: (int(r or 0), int(n or 0)) for i, r, n in db.execute(
        select(RecordTally.institution_id, func.sum(RecordTally.records),
               func.sum(RecordTally.nonconforming))
        .where(RecordTally.institution_id.in_(ids), RecordTally.month.in_(period.months))
        .group_by(RecordTally.institution_id))}  # fmt: skip
    raised = {k: v for k, v in db.execute(
        select(Alert.institution_id, func.count())
        .where(Alert.institution_id.in_(ids), Alert.first_seen_at >= period.since,
               Alert.first_seen_at < period.until)
        .group_by(Alert.institution_id))}  # fmt: skip
    return [{"id": r.id, "name": r.name, "region_code": r.region_code, "status": r.status,
             "records": tally.get(r.id, (0, 0))[0], "nonconforming": tally.get(r.id, (0, 0))[1],
             "alerts": int(raised.get(r.id, 0))} for r in rows]  # fmt: skip


def trend(db: Session, region_code: str, end: Period, months: int = 12) -> list[list[Any]]:
    """[month, records, nonconforming, rate] of the ``months`` months up to ``end``'s last."""
    last = containing(PeriodKind.MONTH, end.end)
    chain = [last]
    while len(chain) < months:
        chain.append(chain[-1].previous())
    keys = [p.key for p in reversed(chain)]
    rows = db.execute(
        select(RecordTally.month, func.sum(RecordTally.records),
               func.sum(RecordTally.nonconforming))
        .where(_in(RecordTally.region_code, region_code), RecordTally.month.in_(keys))
        .group_by(RecordTally.month)
    ).all()  # fmt: skip
    found = {m: (int(r or 0), int(n or 0)) for m, r, n in rows}
    return [[k, *found.get(k, (0, 0)), _ratio(found.get(k, (0, 0))[1], found.get(k, (0, 0))[0])]
            for k in keys]  # fmt: skip


def collect(db: Session, region_code: str, period: Period, as_of: dt.date) -> dict[str, Any]:
    """Every section's figures (JSON data: the report keeps what fed it)."""
    return {
        "region_code": region_code,
        "period": period.key,
        "as_of": as_of.isoformat(),
        "institutions": institutions(db, region_code, as_of),
        "staff": staff(db, region_code, period, as_of),
        "equipment": equipment(db, region_code, as_of),
        "testing": testing(db, region_code, period),
        "reports": reports(db, region_code, period),
        "nonconformities": nonconformities(db, region_code, period, as_of),
        "orders": orders(db, region_code, period, as_of),
        "alerts": alerts(db, region_code, period),
        "areas": areas(db, region_code, period, as_of),
    }
