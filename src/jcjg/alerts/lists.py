"""The alert list's columns, its one status (the condition and its handling in one word) and
its export (``core.listing``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from jcjg.alerts import cases, service
from jcjg.alerts.choices import AlertStatus, CaseStatus, Severity
from jcjg.alerts.models import Alert, Case
from jcjg.core.db import utcnow
from jcjg.core.listing import Column, ListView, when
from jcjg.core.workdays import beijing_date
from jcjg.regions import service as regions
from jcjg.tenancy.models import Institution


def status(alert: Alert, case: Case | None) -> tuple[str, str]:
    """The alert's one status for lists, with its badge: the handling where someone has handled
    it; otherwise 待确认 while its condition lasts, 已自动消除 once it has gone by itself, 已撤回
    when it was withdrawn (never a finding)."""
    if case is not None and case.status != CaseStatus.NEW.value:
        handled = CaseStatus(case.status)
        return handled.label, handled.badge
    if alert.status == AlertStatus.CLOSED.value:
        return "已自动消除", "ok"
    if alert.status == AlertStatus.WITHDRAWN.value:
        return "已撤回", "muted"
    return CaseStatus.NEW.label, CaseStatus.NEW.badge


def region_names(db: Session, rows: Sequence[Alert]) -> dict[str, str]:
    return regions.display_names(db=db, codes=(a.region_code for a in rows))


def institution_names(db: Session, rows: Sequence[Alert]) -> dict[int, str]:
    ids = {a.institution_id for a in rows if a.institution_id}
    if not ids:
        return {}
    found = db.execute(select(Institution.id, Institution.name).where(Institution.id.in_(ids)))
    return {i: n for i, n in found}


def _cells(db: Session, rows: Sequence[Alert]) -> list[list[str]]:
    case_of = {c.alert_id: c for c in cases.cases_of(db, [a.id for a in rows])}
    names, places = institution_names(db, rows), region_names(db, rows)
    today = beijing_date(utcnow())
    out = []
    for a in rows:
        sev = next((s for s in Severity if s.value == a.severity), None)
        case = case_of.get(a.id)
        text = status(a, case)[0]
        if case is not None and case.deadline and case.status == CaseStatus.RECTIFYING.value:
            text += f"（期限 {case.deadline}{'，已逾期' if case.deadline < today else ''}）"
        out.append(
            [
                sev.label if sev else a.severity,
                service.rule_title(a.rule_id),
                a.subject_repr,
                names.get(a.institution_id, "") if a.institution_id else "",
                places.get(a.region_code, "") if a.region_code else "",
                when(a.first_seen_at),
                when(a.last_seen_at),
                text,
            ]
        )
    return out


ALERTS = ListView(
    name="alert",
    title="预警",
    columns=(
        Column("severity", "严重程度", service.SEVERITY_LEVEL),
        Column("rule", "规则"),
        Column("subject", "对象", Alert.subject_repr),
        Column("institution", "检测机构"),
        Column("region", "行政区划", Alert.region_code),
        Column("first_seen", "首次发现", Alert.first_seen_at),
        Column("last_seen", "最近发现", Alert.last_seen_at),
        Column("status", "状态"),
    ),
    order=service.ALERT_ORDER,
    cells=_cells,
    # the list's row (alerts/_results.html, alert_lists.status): not the facts found
    shown=(
        Alert.id,
        Alert.severity,
        Alert.rule_id,
        Alert.subject_repr,
        Alert.institution_id,
        Alert.region_code,
        Alert.first_seen_at,
        Alert.last_seen_at,
        Alert.status,
    ),
)
