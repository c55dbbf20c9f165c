"""The alerts part of an institution's dossier (``registry.dossier``): its open alerts and cases."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from jcjg.alerts.choices import OPEN_CASES, AlertStatus, Severity
from jcjg.alerts.models import Alert, Case
from jcjg.alerts.service import rule_title
from jcjg.auth.scopes import Principal, restrict
from jcjg.core.dossier import Facet, Figure, Row, Section
from jcjg.core.workdays import beijing_minute
from jcjg.tenancy.models import Institution

SHOWN = 10


def sections(db: Session, principal: Principal, inst: Institution) -> Iterator[Section]:
    if not principal.can("alert:read"):
        return
    mine = restrict(select(Alert), principal, "read").where(
        Alert.institution_id == inst.id, Alert.status == AlertStatus.OPEN.value
    )
    counts = dict(
        db.execute(
            mine.with_only_columns(Alert.severity, func.count()).group_by(Alert.severity)
        ).all()
    )
    rows = db.scalars(mine.order_by(Alert.last_seen_at.desc(), Alert.id.desc()).limit(SHOWN)).all()
    open_cases = restrict(select(Case.id), principal, "read").where(
        Case.institution_id == inst.id, Case.status.in_(OPEN_CASES)
    )
    cases = db.scalar(select(func.count()).select_from(open_cases.subquery()))
    listed = f"/alerts?institution_id={inst.id}"
    yield Section(
        "预警与案件",
        40,
        figures=(
            Figure("未处理预警", sum(counts.values()), listed, tone="bad"),
            Figure(
                Severity.CRITICAL.label,
                counts.get(Severity.CRITICAL.value, 0),
                f"{listed}&severity=critical",
                tone="bad",
            ),
            Figure("办理中的案件", cases or 0, tone="bad"),
        ),
        headers=("预警", "对象", "级别", "最近发现"),
        rows=[
            Row(
                (
                    rule_title(a.rule_id),
                    a.subject_repr,
                    Severity(a.severity).label,
                    beijing_minute(a.last_seen_at),
                ),
                f"/alerts/{a.id}",
            )
            for a in rows
        ],
        more=("该机构的全部预警", listed),
        empty="没有未处理的预警。",
        anchor="alerts",
    )


def facets(db: Session, principal: Principal) -> Iterator[Facet]:
    """未处理预警 on the institution list: whether the institution has open alerts the reader
    may read, and how many."""
    if not principal.can("alert:read"):
        return
    opened = restrict(select(Alert.institution_id), principal, "read").where(
        Alert.status == AlertStatus.OPEN.value, Alert.institution_id.is_not(None)
    )

    def where(value: str) -> Any:
        held = Institution.id.in_(opened)
        return held if value == "yes" else ~held

    def cells(db: Session, ids: Sequence[int]) -> dict[int, str]:
        rows = db.execute(
            opened.with_only_columns(Alert.institution_id, func.count())
            .where(Alert.institution_id.in_(ids))
            .group_by(Alert.institution_id)
        ).all()
        return {i: str(n) for i, n in rows if i is not None}

    choices = [("yes", "有未处理预警"), ("no", "没有未处理预警")]
    yield Facet("alerts", "未处理预警", choices, where, cells, order=50)
