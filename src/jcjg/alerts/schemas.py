"""API views of alerts and rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from jcjg.alerts.models import Alert
from jcjg.alerts.service import RuleView, rule_title, severity_of, status_label


class AlertRead(BaseModel):
    id: int
    rule_id: str
    rule_title: str
    severity: str
    severity_label: str
    subject_type: str
    subject_id: str | None
    subject_repr: str
    institution_id: int | None
    region_code: str | None
    facts: dict[str, Any]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    status: str
    status_label: str
    closed_at: dt.datetime | None
    close_reason: str | None

    @classmethod
    def of(cls, alert: Alert) -> AlertRead:
        severity = severity_of(alert.severity)
        return cls(
            id=alert.id,
            rule_id=alert.rule_id,
            rule_title=rule_title(alert.rule_id),
            severity=alert.severity,
            severity_label=severity.label if severity else alert.severity,
            subject_type=alert.subject_type,
            subject_id=alert.subject_id,
            subject_repr=alert.subject_repr,
            institution_id=alert.institution_id,
            region_code=alert.region_code,
            facts=alert.facts or {},
            first_seen_at=alert.first_seen_at,
            last_seen_at=alert.last_seen_at,
            status=alert.status,
            status_label=status_label(alert.status),
            closed_at=alert.closed_at,
            close_reason=alert.close_reason,
        )


class ThresholdOverride(BaseModel):
    region_code: str
    key: str
    value: float | int


class RuleRead(BaseModel):
    id: str
    title: str
    clause: str
    severity: str
    severity_label: str
    subject_type: str
    description: str
    defaults: dict[str, float | int]
    labels: dict[str, str]
    region_code: str | None
    thresholds: dict[str, float | int]
    overrides: list[ThresholdOverride]

    @classmethod
    def of(cls, view: RuleView) -> RuleRead:
        rule = view.rule
        return cls(
            id=rule.id,
            title=rule.title,
            clause=rule.clause,
            severity=rule.severity.value,
            severity_label=rule.severity.label,
            subject_type=rule.subject_type,
            description=rule.description,
            defaults=dict(rule.defaults),
            labels={k: rule.label(k) for k in rule.defaults},
            region_code=view.region_code,
            thresholds=view.thresholds,
            overrides=[
                ThresholdOverride(region_code=o.region_code, key=o.key, value=o.value)
                for o in view.overrides
            ],
        )
