"""Handling alerts (督办, 整改; 000 4.1.6, 4.3.4 item 6; 002 17-18): an authority of the
alert's region confirms or dismisses it (with a reason), orders rectification with a deadline
and a responsible party, the institution answers with evidence, and the authority closes the
case or returns it; a closed or dismissed case can be reopened. When a deadline passes the
case is escalated one level up (county -> city -> province) by the ``alerts.escalate`` job.

Every step is a :class:`CaseEvent` written with the case in one transaction, audited, and
notarised in the log (``case:<action>``: ids, statuses, the deadline and the evidence's
hashes; no names).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import CaseAction, CaseStatus
from jcjg.alerts.models import Alert, Case, CaseEvent
from jcjg.audit.choices import AuditAction
from jcjg.audit.service import record_event
from jcjg.auth.models import User
from jcjg.auth.scopes import Principal
from jcjg.config import Settings
from jcjg.core import domains
from jcjg.core.errors import Conflict, FieldError, PermissionDenied, ValidationFailed
from jcjg.core.evidence import Upload as Upload  # re-exported: the pages and tests make them
from jcjg.core.evidence import check as check_evidence
from jcjg.core.evidence import store as store_evidence
from jcjg.core.workdays import add_working_days, beijing_date
from jcjg.ledger import service as ledger
from jcjg.regions.models import Region
from jcjg.tenancy.models import Institution

HANDLE = "case:handle"  # authorities: confirm, dismiss, order, return, close, reopen
ANSWER = "case:answer"  # the institution: answer an order with evidence

S = CaseStatus
A = CaseAction
TRANSITIONS: dict[CaseAction, tuple[frozenset[CaseStatus], CaseStatus]] = {
    A.CONFIRM: (frozenset({S.NEW}), S.CONFIRMED),
    A.DISMISS: (frozenset({S.NEW, S.CONFIRMED}), S.DISMISSED),
    A.REQUIRE: (frozenset({S.NEW, S.CONFIRMED}), S.RECTIFYING),
    A.RECTIFY: (frozenset({S.RECTIFYING}), S.RECTIFIED),
    A.RETURN: (frozenset({S.RECTIFIED}), S.RECTIFYING),
    A.CLOSE: (frozenset({S.CONFIRMED, S.RECTIFIED}), S.CLOSED),
    A.REOPEN: (frozenset({S.CLOSED, S.DISMISSED}), S.CONFIRMED),
}
NEEDS_NOTE = {A.DISMISS, A.RETURN, A.REOPEN, A.RECTIFY}
NEEDS_DEADLINE = {A.REQUIRE, A.RETURN}
DEFAULT_WORKING_DAYS = 10  # the deadline offered by the form


def status_of(case: Case | None) -> CaseStatus:
    return CaseStatus(case.status) if case is not None else CaseStatus.NEW


def case_of(db: Session, alert: Alert) -> Case | None:
    return db.scalars(select(Case).where(Case.alert_id == alert.id)).first()


def cases_of(db: Session, alert_ids: list[int]) -> list[Case]:
    if not alert_ids:
        return []
    return list(db.scalars(select(Case).where(Case.alert_id.in_(alert_ids))))


def events_of(db: Session, case: Case | None) -> list[CaseEvent]:
    if case is None:
        return []
    return list(
        db.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id))
    )


def _may(principal: Principal, alert: Alert, action: CaseAction) -> bool:
    if alert.origin is not None:
        return False  # a child platform's alert (alerts.facts): handled there
    if action is A.RECTIFY:
        return principal.can(ANSWER) and (
            alert.institution_id is not None and principal.institution_id == alert.institution_id
        )
    if action is A.ESCALATE:
        return False  # the platform's, on a deadline
    return principal.can(HANDLE)


def allowed_actions(principal: Principal, alert: Alert, case: Case | None) -> list[CaseAction]:
    """What ``principal`` may do with the alert's case now (in the form's order)."""
    status = status_of(case)
    return [
        action
        for action, (sources, _) in TRANSITIONS.items()
        if status in sources and _may(principal, alert, action)
    ]


def parse_deadline(
    raw: str | dt.date | None, today: dt.date, errors: list[FieldError]
) -> dt.date | None:
    """A rectification deadline as given (a date, or text ``YYYY-MM-DD`` from a form): after
    today and within a year, or a field error on ``deadline`` (and None)."""
    day = raw if isinstance(raw, dt.date) else None
    if isinstance(raw, str) and raw.strip():
        try:
            day = dt.date.fromisoformat(raw.strip())
        except ValueError:
            errors.append(FieldError("deadline", "整改期限应为日期（年-月-日）", "type"))
            return None
    if day is None:
        errors.append(FieldError("deadline", "请给出整改期限", "required"))
    elif day <= today:
        errors.append(FieldError("deadline", "整改期限应晚于今天", "too_early"))
    elif day > today + dt.timedelta(days=366):
        errors.append(FieldError("deadline", "整改期限不超过一年", "too_late"))
    else:
        return day
    return None


def _clean(
    action: CaseAction,
    *,
    note: str,
    deadline: str | dt.date | None,
    responsible: str,
    evidence: list[Upload],
    today: dt.date,
    choices: Sequence[str] = (),
) -> dt.date | None:
    """Check the step's fields (422 with every error); the deadline it sets, if any."""
    errors: list[FieldError] = []
    if action in NEEDS_NOTE and not note.strip():
        says = "请写明整改情况" if action is A.RECTIFY else "请写明理由"
        errors.append(FieldError("note", says, "required"))
    if len(note) > 2000:
        errors.append(FieldError("note", "说明不超过 2000 字", "too_long"))
    day = parse_deadline(deadline, today, errors) if action in NEEDS_DEADLINE else None
    if action is A.REQUIRE and not responsible.strip():
        errors.append(FieldError("responsible", "请写明整改责任单位", "required"))
    if len(responsible) > 200:
        errors.append(FieldError("responsible", "责任单位不超过 200 字", "too_long"))
    elif action is A.REQUIRE and choices and responsible.strip() not in choices:
        errors.append(
            FieldError(
                "responsible",
                "责任单位须为本预警的检测机构或工程参建单位（按登记的名称选择）",
                "invalid",
            )
        )
    if action is A.RECTIFY and not evidence:
        errors.append(FieldError("evidence", "请上传整改证明材料（PDF 或照片）", "required"))
    errors += check_evidence(evidence)
    if action is not A.RECTIFY and evidence:
        errors.append(FieldError("evidence", "只有整改结果附证明材料", "unexpected"))
    if errors:
        raise ValidationFailed(errors=errors)
    return day


def act(
    *,
    db: Session,
    settings: Settings,
    principal: Principal,
    alert: Alert,
    action: CaseAction,
    now: dt.datetime,
    note: str = "",
    deadline: str | dt.date | None = None,
    responsible: str = "",
    evidence: list[Upload] | None = None,
) -> Case:
    """Take ``action`` on the alert's case (opening it if none): checked, written, audited and
    notarised in the session's transaction (the caller commits)."""
    evidence = evidence or []
    # one step at a time on an alert: a second request waits here, then sees the first's status
    db.refresh(alert, with_for_update=True)
    case = case_of(db, alert)
    status = status_of(case)
    if alert.origin is not None:
        raise PermissionDenied(f"这条预警由下级平台“{alert.origin}”报送，只能在该平台处理")
    if not _may(principal, alert, action):
        raise PermissionDenied("您不能对这条预警执行此操作")
    sources, target = TRANSITIONS[action]
    if status not in sources:
        raise Conflict(f"预警处理状态为“{status.label}”，不能{action.label}")
    today = beijing_date(now)
    choices = responsible_choices(db, alert) if action is A.REQUIRE else []
    day = _clean(action, note=note, deadline=deadline, responsible=responsible,
                 evidence=evidence, today=today, choices=choices)  # fmt: skip
    stored = store_evidence(settings, evidence)
    if case is None:
        case = Case(
            alert_id=alert.id,
            status=status.value,
            region_code=alert.region_code,
            institution_id=alert.institution_id,
            project_id=alert.project_id,
            opened_at=now,
        )
        db.add(case)
    case.status = target.value
    case.updated_at = now
    if action in NEEDS_DEADLINE:
        case.deadline = day
        case.escalation_level = 0  # a new deadline: its lapse escalates afresh
        case.escalated_to = None
        case.escalated_at = None
    if action is A.REQUIRE:
        case.responsible = responsible.strip()
    case.closed_at = now if target in (S.CLOSED, S.DISMISSED) else None
    db.flush()
    return _event(db, case, alert, action, status, principal.user_id, principal.display_name,
                  now, note=note.strip(), deadline=day, evidence=stored)  # fmt: skip


# The hook a project's domain answers with the parties of a project (``hook(db, project_id)``:
# their registered names): who may be made responsible for an alert's rectification beside the
# alert's institution.
PROJECT_PARTIES = "alerts.project_parties"


def responsible_choices(db: Session, alert: Alert) -> list[str]:
    """Whom a rectification may be required of: the alert's institution by its registered
    name, and its project's parties (建设、施工、监理单位) as the project records them. None
    (an alert on a platform or the platform's own operation): the party is written out."""
    names: list[str] = []
    if alert.institution_id:
        inst = db.get(Institution, alert.institution_id)
        if inst is not None:
            names.append(inst.name)
    if alert.project_id:
        for hook in domains.hooks(PROJECT_PARTIES):
            names += hook(db, alert.project_id)
    return list(dict.fromkeys(n for n in names if n))


def _event(db: Session, case: Case, alert: Alert, action: CaseAction, before: CaseStatus,
           actor_id: int | None, actor_name: str, now: dt.datetime, *, note: str = "",
           deadline: dt.date | None = None, evidence: list[dict[str, Any]] | None = None,
           ) -> Case:  # fmt: skip
    event = CaseEvent(
        case_id=case.id,
        action=action.value,
        from_status=before.value,
        to_status=case.status,
        actor_id=actor_id,
        actor_name=actor_name[:100],
        note=note,
        deadline=deadline if action in NEEDS_DEADLINE else case.deadline,
        responsible=case.responsible,
        evidence=evidence or [],
        at=now,
    )
    db.add(event)
    db.flush()
    receipt = ledger.notarise(
        db,
        f"case:{action.value}",
        {
            "case": case.id,
            "alert": alert.id,
            "rule": alert.rule_id,
            "subject": f"{alert.subject_type}:{alert.subject_id}",
            "from": before.value,
            "to": case.status,
            "deadline": case.deadline.isoformat() if case.deadline else None,
            "escalated_to": case.escalated_to,
            "evidence": [e["sha256"] for e in event.evidence],
            "at": now.isoformat(),
        },
    )
    event.ledger_index = receipt.index
    record_event(
        db,
        AuditAction.UPDATE,
        object_type="alert_case",
        object_id=str(case.id),
        object_repr=f"预警 #{alert.id} {action.label}",
        detail=note[:200] or None,
        before={"status": before.value},
        after={"status": case.status, "deadline": str(case.deadline) if case.deadline else None},
    )
    _tell(db, case, alert, action, now, note)
    return case


_TOLD = {
    A.CONFIRM: ("case", "预警已确认"),
    A.DISMISS: ("case", "预警已排除"),
    A.REQUIRE: ("rectification", "整改要求"),
    A.RECTIFY: ("case", "整改结果待复核"),
    A.RETURN: ("rectification", "整改被退回，请重新整改"),
    A.CLOSE: ("case", "预警已办结"),
    A.REOPEN: ("case", "预警重新打开"),
    A.ESCALATE: ("escalation", "整改逾期，已升级督办"),
}


def recipients(db: Session, case: Case, alert: Alert, action: CaseAction) -> list[User]:
    """Who hears of a step: the institution of every step addressed to it; the authorities of
    the alert's region and the one above of an answer; those of the region it went up to (and
    the institution) of an escalation."""
    from jcjg.notify.service import authorities, institution_users

    lab = institution_users(db, case.institution_id)
    if action is A.RECTIFY:
        return authorities(db, [alert.region_code, parent_region(db, alert.region_code)])
    if action is A.ESCALATE:
        return authorities(db, [case.escalated_to]) + lab
    return lab


def _tell(db: Session, case: Case, alert: Alert, action: CaseAction, now: dt.datetime,
          note: str) -> None:  # fmt: skip
    from jcjg.alerts.service import rule_title
    from jcjg.notify.service import notify

    kind, says = _TOLD[action]
    body = []
    if action in NEEDS_DEADLINE and case.deadline:
        body.append(f"整改期限 {case.deadline}")
    if note:
        body.append(note[:300])
    severity = "critical" if action is A.ESCALATE else alert.severity
    notify(db, recipients(db, case, alert, action), kind=kind, rule_id=alert.rule_id,
           severity=severity, title=f"{says}：{rule_title(alert.rule_id)} · {alert.subject_repr}",
           body="；".join(body), link=f"/alerts/{alert.id}#case", now=now)  # fmt: skip


def parent_region(db: Session, code: str | None) -> str | None:
    """The next level up as the region table has it: a county's city (or its province when
    the county has no city), a city's province; a province (or an unknown code) has none."""
    region = db.get(Region, code) if code else None
    return region.parent_code if region is not None else None


def escalate_overdue(db: Session, now: dt.datetime) -> list[Case]:
    """Escalate every case whose rectification deadline has passed one level up from where it
    stands (the alert's region, then each escalation's), once per Beijing day it stays
    overdue until the province has it."""
    today = beijing_date(now)
    overdue = db.scalars(
        select(Case)
        .join(Alert, Alert.id == Case.alert_id)
        .where(Case.status == S.RECTIFYING.value, Case.deadline < today)
        .where(Alert.origin.is_(None))  # a child's case: the child escalates it (alerts.facts)
    ).all()
    done = []
    for case in overdue:
        here = case.escalated_to or case.region_code
        up = parent_region(db, here)
        if up is None:
            continue  # already at the top
        if case.escalated_at is not None and beijing_date(case.escalated_at) >= today:
            continue  # once a day
        alert = db.get(Alert, case.alert_id)
        assert alert is not None
        case.escalation_level += 1
        case.escalated_to = up
        case.escalated_at = now
        case.updated_at = now
        db.flush()
        days = (today - case.deadline).days if case.deadline else 0
        _event(db, case, alert, A.ESCALATE, S.RECTIFYING, None, "平台", now,
               note=f"整改期限 {case.deadline} 已过 {days} 天，升级至上一级督办")  # fmt: skip
        done.append(case)
    return done


def default_deadline(now: dt.datetime) -> dt.date:
    return add_working_days(beijing_date(now), DEFAULT_WORKING_DAYS)
