"""A city's alert handling rebuilt on its province (``core.facts``; docs/networking.md, "A
child's facts"): every step the city takes on an alert (``case:<action>``: confirm, dismiss,
require rectification, the institution's answer with its evidence, return, close, reopen, the
escalation of an overdue case) becomes the same step of the province's copy of the city's alert,
so the province sees how each city disposes of its findings, and its credit scores and
dossiers count the city's confirmed cases.

An alert is a rule's finding; its key and subject name the city's own rows, which mean nothing
on the province (its rules raise their own alerts from the lab messages the city forwarded, each
on its own rows). A case's entry names the city's ids, the statuses, the deadline and the
SHA-256 of the answer's evidence, not the texts. So the city sends beside each leaf what the
province needs (``content``): the alert as the city holds it (its rule, severity, subject in
words and by number, the institution's and project's codes, region, facts, when first seen,
status), who took the step, the note, the responsible party and the evidence's particulars;
the evidence files themselves are uploaded before the forward. The texts rest on the city's
word (its forward is signed); the evidence must be the files the entry notarised.

The province keeps the alert as the city's (``origin``): it shows where it came from, only the
city handles it (a step here is refused, 403), its rules leave it alone (they neither refresh
nor close it) and the escalation job leaves it to the city's."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import FIGURE, AlertStatus, CaseAction, CaseStatus, Severity
from jcjg.alerts.models import Alert, Case, CaseEvent
from jcjg.core import domains
from jcjg.core.errors import (
    FieldError,
    ValidationFailed,
    field_errors_from_pydantic,
)
from jcjg.core.evidence import Stored
from jcjg.core.facts import Exported, FactApplier, FactContent, ForwardedFact, parsed_content
from jcjg.core.regioncodes import scope_prefix
from jcjg.core.text import FORBIDDEN, MultiLine, TextModel
from jcjg.tenancy.facts import childs_institution
from jcjg.tenancy.models import Institution

PREFIX = "case:"
# A domain's hook: () -> ProjectCodes, how an alert's project is named between platforms
PROJECT_CODES = "alerts.project_codes"
MAX_FACTS = 8192  # bytes of the facts' JSON; a rule's facts are a few hundred


class Stepped(TextModel):
    """A step's entry as the child notarised it (``alerts.cases._event``)."""

    model_config = ConfigDict(extra="ignore")  # what a later log adds

    case: int = Field(strict=True, ge=1)  # the child's ids: name the child's alert, not used here
    alert: int = Field(strict=True, ge=1)
    rule: str = Field(min_length=1, max_length=64)
    to: CaseStatus
    deadline: dt.date | None = None
    escalated_to: str | None = Field(default=None, pattern=r"^\d{6}$")
    evidence: list[str] = Field(default_factory=list, max_length=10)
    at: dt.datetime


class Found(TextModel):
    """The alert as the child holds it."""

    model_config = ConfigDict(extra="forbid")

    severity: Severity
    subject_type: str = Field(min_length=1, max_length=32)
    subject_repr: str = Field(min_length=1, max_length=200)
    subject_number: str | None = Field(default=None, max_length=64)
    institution: str | None = Field(default=None, min_length=1, max_length=32)  # its code
    project: str | None = Field(default=None, min_length=1, max_length=32)  # its code
    region: str = Field(pattern=r"^\d{6}$")
    facts: dict[str, Any] = Field(default_factory=dict)
    first_seen_at: dt.datetime
    status: AlertStatus
    closed_at: dt.datetime | None = None
    close_reason: str | None = Field(default=None, max_length=200)

    @field_validator("facts")
    @classmethod
    def _facts(cls, value: dict[str, Any]) -> dict[str, Any]:
        text = json.dumps(value, ensure_ascii=False)
        if len(text.encode()) > MAX_FACTS:
            raise ValueError(f"预警事实不超过 {MAX_FACTS} 字节")
        if any(FORBIDDEN.search(s) for s in _strings(value)):
            raise ValueError("预警事实含有不允许的控制字符")
        return value


class Content(TextModel):
    """What the province needs of the step beyond its entry."""

    model_config = ConfigDict(extra="forbid")

    alert: Found
    actor: str = Field(min_length=1, max_length=100)
    note: MultiLine = Field(default="", max_length=2000)
    responsible: str = Field(default="", max_length=200)
    evidence: list[Stored] = Field(default_factory=list, max_length=10)


@dataclass(frozen=True)
class ProjectCodes:
    """The projects' domain's answer: a project's code by id (the child), a project's id by
    code within a region (prefix) (the parent)."""

    code_of: Callable[[Session, int], str | None]
    id_of: Callable[[Session, str, str], int | None]


def _project_code(db: Session, project_id: int) -> str | None:
    return next(
        (c for h in domains.hooks(PROJECT_CODES) if (c := h().code_of(db, project_id))), None
    )


def _project_id(db: Session, code: str, within: str) -> int | None:
    return next(
        (i for h in domains.hooks(PROJECT_CODES) if (i := h().id_of(db, code, within))), None
    )


def _strings(value: Any) -> list[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# --- the child: what the entry does not hold ------------------------------------------------------


def contents() -> dict[str, FactContent]:
    return {PREFIX + action.value: content for action in CaseAction}


def content(db: Session, index: int, data: Mapping[str, Any]) -> Exported | None:
    """The step notarised at ``index``: its alert as held now, who took it, its note and
    responsible party, its evidence (the files uploaded with the forward)."""
    event = db.scalar(select(CaseEvent).where(CaseEvent.ledger_index == index))
    case = db.get(Case, event.case_id) if event is not None else None
    alert = db.get(Alert, case.alert_id) if case is not None else None
    if event is None or case is None or alert is None or case.id != data.get("case"):
        return None
    if alert.origin is not None or alert.region_code is None:
        return None  # a grandchild's, or of no region: not ours to send
    inst = db.get(Institution, alert.institution_id) if alert.institution_id else None
    found = {
        "severity": alert.severity, "subject_type": alert.subject_type,
        "subject_repr": alert.subject_repr, "subject_number": alert.subject_number,
        "institution": inst.code if inst else None,
        "project": _project_code(db, alert.project_id) if alert.project_id else None,
        "region": alert.region_code,
        "facts": {k: v for k, v in (alert.facts or {}).items() if k != FIGURE},
        "first_seen_at": alert.first_seen_at.isoformat(), "status": alert.status,
        "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
        "close_reason": alert.close_reason,
    }  # fmt: skip
    given = {
        "alert": found, "actor": event.actor_name, "note": event.note,
        "responsible": event.responsible, "evidence": list(event.evidence),
    }  # fmt: skip
    return Exported(given, tuple(f["sha256"] for f in event.evidence))


# --- the parent: the step taken on its copy ---------------------------------------------------


def appliers() -> dict[str, FactApplier]:
    return {PREFIX + action.value: _applier(action) for action in CaseAction}


def _applier(action: CaseAction) -> FactApplier:
    def apply(db: Session, fact: ForwardedFact) -> None:
        step, given = _parsed(fact)
        alert = _alert(db, fact, step, given)
        case = db.scalar(select(Case).where(Case.alert_id == alert.id))
        if case is None:
            case = Case(alert_id=alert.id, status=CaseStatus.NEW.value, opened_at=step.at)
            db.add(case)
        elif db.scalar(
            select(CaseEvent.id).where(
                CaseEvent.case_id == case.id,
                CaseEvent.action == action.value,
                CaseEvent.at == step.at,
            )
        ):
            return  # sent again: the forward is at-least-once
        _follow(case, alert, action, step, given)
        db.flush()
        db.add(
            CaseEvent(
                case_id=case.id, action=action.value, from_status=case.status,
                to_status=step.to.value, actor_id=None, actor_name=given.actor, note=given.note,
                deadline=step.deadline, responsible=given.responsible,
                evidence=[f.model_dump() for f in given.evidence], at=step.at,
            )
        )  # fmt: skip
        case.status = step.to.value
        db.flush()

    return apply


def _alert(db: Session, fact: ForwardedFact, step: Stepped, given: Content) -> Alert:
    """The province's copy of the child's alert, made on its first step, brought up to date."""
    within = scope_prefix(fact.region_code)
    found = given.alert
    inst = None
    if found.institution is not None:
        inst = childs_institution(db, fact, found.institution)
    # the project, when the province holds it (the project message): else the alert names none
    project_id = _project_id(db, found.project, within) if found.project else None
    key = f"{fact.platform}#{step.alert}"  # the child's alert, among the child's
    alert = db.scalar(select(Alert).where(Alert.origin == fact.platform, Alert.key == key))
    if alert is None:
        alert = Alert(rule_id=step.rule, key=key, origin=fact.platform)
        db.add(alert)
    elif alert.rule_id != step.rule:
        raise ValidationFailed(
            "该预警在下级平台的规则与此前报送的不同",
            errors=[FieldError("rule", "与此前报送的不同", "mismatch")],
        )
    alert.severity, alert.subject_type = found.severity.value, found.subject_type
    alert.subject_id = None  # the child's row: nothing here
    alert.subject_repr, alert.subject_number = found.subject_repr, found.subject_number
    alert.institution_id = inst.id if inst else None
    alert.project_id = project_id
    alert.region_code, alert.facts = found.region, found.facts
    alert.first_seen_at, alert.last_seen_at = found.first_seen_at, step.at
    alert.status, alert.closed_at = found.status.value, found.closed_at
    alert.close_reason, alert.origin_index = found.close_reason, fact.index
    db.flush()
    return alert


def _follow(case: Case, alert: Alert, action: CaseAction, step: Stepped, given: Content) -> None:
    """The case as the step leaves it (its status is set by the caller, after the event's
    ``from``)."""
    case.region_code, case.institution_id = alert.region_code, alert.institution_id
    case.project_id, case.deadline, case.updated_at = alert.project_id, step.deadline, step.at
    if action is CaseAction.REQUIRE:
        case.responsible = given.responsible
    if action in (CaseAction.REQUIRE, CaseAction.RETURN):
        case.escalation_level, case.escalated_to, case.escalated_at = 0, None, None
    if action is CaseAction.ESCALATE:
        case.escalation_level = (case.escalation_level or 0) + 1
        case.escalated_to, case.escalated_at = step.escalated_to, step.at
    closing = step.to in (CaseStatus.CLOSED, CaseStatus.DISMISSED)
    case.closed_at = step.at if closing else None


def _parsed(fact: ForwardedFact) -> tuple[Stepped, Content]:
    try:
        step = Stepped.model_validate(dict(fact.data))
    except ValidationError as exc:
        raise ValidationFailed(errors=field_errors_from_pydantic(exc.errors())) from exc
    if fact.content is None:
        raise ValidationFailed(errors=[FieldError("content", "缺少预警处理的内容")])
    given = parsed_content(Content, fact.content)
    for name, moment in (("at", step.at), ("content.alert.first_seen_at",
                                             given.alert.first_seen_at)):  # fmt: skip
        if moment.tzinfo is None:
            raise ValidationFailed(errors=[FieldError(name, "时间须带时区")])
    if not given.alert.region.startswith(scope_prefix(fact.region_code)):
        raise ValidationFailed(
            f"预警的行政区划 {given.alert.region} 不在下级平台“{fact.platform}”的辖区内",
            errors=[FieldError("content.alert.region", "不在该下级平台辖区内", "scope")],
        )
    if [f.sha256 for f in given.evidence] != step.evidence:
        raise ValidationFailed(
            "随整改结果报送的证明材料与存证不符",
            errors=[FieldError("content.evidence", "与存证的文件摘要不符", "mismatch")],
        )
    return step, given
