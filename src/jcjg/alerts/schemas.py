"""API views of alerts and rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from jcjg.alerts.models import Alert
from jcjg.alerts.service import BASIS_MAX, RuleView, rule_title, severity_of, status_label
from jcjg.core import labels
from jcjg.core.text import TextModel
from jcjg.tenancy.models import Institution


class InstitutionRef(BaseModel):
    id: int
    name: str
    code: str


class AlertRead(BaseModel):
    id: int
    rule_id: str
    rule_title: str
    severity: str
    severity_label: str
    subject_type: str
    subject_id: str | None
    subject_repr: str
    subject_kind: str = Field(description="对象类型（中文）：检测记录、检测报告、样品、仪器设备……")
    subject_number: str | None = Field(
        description="对象编号：记录、报告、合同、委托编号，样品标识码，设备资产编号；无则为 null"
    )
    institution_id: int | None
    institution: InstitutionRef | None = Field(description="所涉检测机构：名称与机构编号")
    region_code: str | None
    facts: dict[str, Any]
    first_seen_at: dt.datetime
    last_seen_at: dt.datetime
    status: str
    status_label: str
    closed_at: dt.datetime | None
    close_reason: str | None
    origin: str | None = Field(
        default=None, description="下级平台发现并处理的预警：该平台的名称（只能在该平台处理）"
    )

    @classmethod
    def of(cls, alert: Alert, institution: Institution | None = None) -> AlertRead:
        """The alert, with its institution (loaded by the caller) when it has one."""
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
            subject_kind=labels.label("entity", alert.subject_type),
            subject_number=alert.subject_number,
            institution_id=alert.institution_id,
            institution=(
                InstitutionRef(id=institution.id, name=institution.name, code=institution.code)
                if institution is not None
                else None
            ),
            region_code=alert.region_code,
            facts=alert.facts or {},
            first_seen_at=alert.first_seen_at,
            last_seen_at=alert.last_seen_at,
            status=alert.status,
            status_label=status_label(alert.status),
            closed_at=alert.closed_at,
            close_reason=alert.close_reason,
            origin=alert.origin,
        )


class ThresholdOverride(BaseModel):
    region_code: str
    key: str
    value: float | int


class BasisBody(TextModel):
    clause: str = Field(
        max_length=BASIS_MAX,
        description="该地区补充的依据：法规库引用代号与条款，多条以“；”分隔；空字符串删除",
        examples=["003 四（三）"],
    )


class LocalBasis(BaseModel):
    region_code: str
    clause: str = Field(description="该地区补充的依据：法规库引用代号与条款，以“；”分隔")


class RuleRead(BaseModel):
    id: str
    title: str
    clause: str = Field(description="规则自身的依据（国家依据在前）")
    citation: str = Field(
        description="依据：法规、标准的全称、文号与条款（规则自身的依据与本地区补充的依据，"
        "只含本平台所在地区适用的文件）"
    )
    local_basis: list[LocalBasis] = Field(
        default_factory=list, description="省、市、县补充的依据，由上至下"
    )
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
    def of(cls, view: RuleView, cite: Callable[[str], str] = str) -> RuleRead:
        """The rule as the API gives it; ``cite`` turns its clause into titles and articles."""
        rule = view.rule
        return cls(
            id=rule.id,
            title=rule.title,
            clause=rule.clause,
            citation=cite(view.clause),
            local_basis=[LocalBasis(region_code=c, clause=t) for c, t in view.local],
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
