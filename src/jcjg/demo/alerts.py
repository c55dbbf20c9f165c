"""Demo handling for ``make run``: the Jiujiang station (``jj_station``) has worked some of the
alerts the demo's planted problems raise, so every step of a case can be seen at once:

- one alert dismissed with a reason;
- one confirmed only;
- one rectifying, its deadline ahead;
- one answered by the lab (``lab_admin``) with a PDF, waiting for the station's review;
- one closed;
- one ordered three weeks ago and never answered: overdue and escalated to the city.

The alerts of the problems planted on the lab's systems, reports and register, and of the
order given it (:data:`NOT_YET_WORKED`), are left without a case: the station has not taken
them up yet. Everything goes through :func:`jcjg.alerts.cases.act`, the same checks, audit rows, log
entries and notifications as on the pages. Idempotent: nothing is done when any case exists."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts import cases
from jcjg.alerts.choices import CaseAction
from jcjg.alerts.models import Alert, Case
from jcjg.auth.models import User
from jcjg.auth.sessions import principal_for
from jcjg.config import Settings
from jcjg.core.db import Base, utcnow
from jcjg.core.evidence import Upload
from jcjg.core.workdays import add_working_days, beijing_date
from jcjg.documents.pdf import page_pdf

A = CaseAction
# the steps each demo case is taken through, in the order the alerts are picked
PLAN: list[tuple[str, ...]] = [
    ("dismiss",),
    ("confirm",),
    ("confirm", "require"),
    ("confirm", "require", "rectify"),
    ("confirm", "require", "rectify", "close"),
    ("confirm", "require", "late"),
]

# Rules whose demo alerts wait for the station (this hour's monitoring of the exchange, the
# numbering and filing of reports, the register's overdue item, the order given): no case.
NOT_YET_WORKED = frozenset(
    {
        "client_error_spike",
        "client_silent",
        "contract_late",
        "nonconformity_unhandled",
        "number_gap",
        "number_reused",
        "rectification_order_overdue",
        "report_data_mismatch",
        "report_late",
        "seal_invalid",
        "unknown_code_scanned",
    }
)


def load(db: Session, settings: Settings) -> int:
    """Work the demo's alerts as described above; how many cases were made (0 when there
    are cases already, or the demo's accounts or alerts are missing)."""
    if db.scalar(select(Case.id).limit(1)) is not None:
        return 0
    users = {u.username: u for u in db.scalars(select(User).where(
        User.username.in_(["jj_station", "lab_admin"])))}  # fmt: skip
    if len(users) < 2:
        return 0
    station = principal_for(db=db, user=users["jj_station"], settings=settings)
    lab = principal_for(db=db, user=users["lab_admin"], settings=settings)
    alerts = db.scalars(
        select(Alert)
        .where(Alert.status == "open", Alert.institution_id == lab.institution_id)
        .where(Alert.rule_id.not_in(NOT_YET_WORKED))
        .order_by(Alert.rule_id, Alert.id)
    ).all()
    picked: list[Alert] = []
    for alert in alerts:  # one alert per rule, so the demo's cases differ
        if all(a.rule_id != alert.rule_id for a in picked):
            picked.append(alert)
    now = utcnow()
    for alert, steps in _planned(picked):
        late = "late" in steps
        # a late case was ordered three weeks ago, with the usual ten working days: about a
        # standing problem of the registry (not a test of last week), seen before that
        when = now - dt.timedelta(days=21) if late else now
        deadline = add_working_days(beijing_date(when), 10)
        for step in (s for s in steps if s != "late"):
            action = A(step)
            who = lab if action is A.RECTIFY else station
            cases.act(
                db=db, settings=settings, principal=who, alert=alert, action=action, now=when,
                note=_NOTES[action], deadline=deadline,
                responsible=cases.responsible_choices(db, alert)[0],
                evidence=[_evidence(alert)] if action is A.RECTIFY else [],
            )  # fmt: skip
        if late:  # (after the actions, which read the alert afresh)
            db.flush()
            alert.first_seen_at = min(alert.first_seen_at, when - dt.timedelta(hours=1))
    cases.escalate_overdue(db, now)
    db.flush()
    return len(_planned(picked))


# what time a demo subject arrived on the platform: the first of these columns it has
ARRIVED = ("received_at", "issued_at", "created_at")
BACKDATED_DAYS = 60


def date_by_arrival(db: Session) -> int:
    """The sweep found the demo's planted problems all at once, at load time; the rules would
    have found each as its data arrived (a record checked on upload). Each open alert about an
    event (not a standing state of the registry) is dated, like its case, from its subject's
    arrival, when that lies in the last :data:`BACKDATED_DAYS` days: the home's 30-day chart
    then shows the region's weeks, not one bar. How many were dated."""
    now = utcnow()
    tables = {m.class_.__tablename__: m.class_ for m in Base.registry.mappers}
    dated = 0
    for alert in db.scalars(select(Alert).where(Alert.status == "open")):
        model = tables.get(alert.subject_type)
        if (
            model is None
            or alert.subject_type in STANDING
            or not (alert.subject_id or "").isdigit()
        ):
            continue
        row = db.get(model, int(alert.subject_id or 0))
        arrived = next((getattr(row, c) for c in ARRIVED if getattr(row, c, None)), None)
        if not isinstance(arrived, dt.datetime) or arrived.tzinfo is None:
            continue
        seen = arrived + dt.timedelta(minutes=5)
        if now - dt.timedelta(days=BACKDATED_DAYS) < seen < alert.first_seen_at:
            alert.first_seen_at = seen
            dated += 1
    db.flush()
    return dated


# Subjects of an alert that are standing states of the registry (a person's registrations, a
# piece of equipment), not events with their own time (a test, a sample, a report) that a case
# cannot predate.
STANDING = frozenset({"person", "equipment", "certificate", "institution", "signatory"})


def _planned(picked: list[Alert]) -> list[tuple[Alert, tuple[str, ...]]]:
    """Each picked alert with the steps of its case. The case ordered three weeks ago takes an
    alert about a standing state of the registry (a person, a piece of equipment), never one
    about an event of the last days; without one, no case is late."""
    standing = [a for a in picked if a.subject_type in STANDING]
    late_alert = standing[-1] if standing else None
    others = [a for a in picked if a is not late_alert]
    plans = [p for p in PLAN if "late" not in p]
    out = list(zip(others, plans, strict=False))
    if late_alert is not None:
        out += [(late_alert, p) for p in PLAN if "late" in p]
    return out


_NOTES = {
    A.DISMISS: "经现场核实，系数据录入错误，已更正，不构成违规",
    A.CONFIRM: "经核实属实",
    A.REQUIRE: "请查明原因、完成整改，并上传整改报告",
    A.RECTIFY: "已完成整改，整改报告见附件",
    A.CLOSE: "整改到位，予以办结",
}


def _evidence(alert: Alert) -> Upload:
    pdf = page_pdf("整改报告", (
        f"预警：{alert.subject_repr}",
        "已查明原因、完成整改，并组织相关人员学习有关规定。",
    ))  # fmt: skip
    return Upload("整改报告.pdf", pdf)
