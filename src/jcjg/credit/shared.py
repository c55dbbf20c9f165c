"""The published credit results as a derived source of shared data (``core.shared``;
docs/sharing.md, "Data the platform derives"): each institution's current score and grade of a
period once the authority published them (信用评价结果), as the public lookup shows the grade.
Institutions only: a key person's score is never shared."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from jcjg.core.shared import SharedRow, SharedSource, SourceFilters
from jcjg.core.workdays import beijing_date
from jcjg.credit.choices import ScoreStatus, SubjectType
from jcjg.credit.models import CreditModel, CreditScore
from jcjg.tenancy.models import Institution

CODE = "credit.grade"

FIELDS = {
    "institution_name": "被评价机构",
    "credit_code": "统一社会信用代码",
    "period": "评价期间",
    "score": "信用得分",
    "grade": "信用等级",
    "deducted": "扣分",
    "model_version": "评价模型版本",
    "published_on": "公布日期",
}


def _published() -> Select[Any]:
    """The current, published scores of institutions (not of their people)."""
    return select(CreditScore).where(
        CreditScore.is_current.is_(True),
        CreditScore.status == ScoreStatus.PUBLISHED.value,
        CreditScore.subject_type == SubjectType.INSTITUTION.value,
        CreditScore.person_id.is_(None),
        CreditScore.published_at.is_not(None),
    )


def _rows(
    db: Session, chosen: SourceFilters, today: dt.date, after: int, limit: int
) -> Sequence[SharedRow]:
    del today  # a published result stays public until recomputed
    stmt = (
        _published()
        .add_columns(Institution.code, Institution.name, Institution.credit_code)
        .add_columns(CreditModel.version)
        .join(Institution, Institution.id == CreditScore.institution_id)
        .join(CreditModel, CreditModel.id == CreditScore.model_id)
        .where(CreditScore.id > after)
    )
    stmt = chosen.applied(
        stmt,
        key=CreditScore.id,
        institution_code=Institution.code,
        region_code=CreditScore.region_code,
        day=CreditScore.published_at,
        moments=True,
    )
    found = db.execute(stmt.order_by(CreditScore.id).limit(limit)).all()
    out = []
    for score, code, name, credit_code, version in found:
        assert score.published_at is not None  # _published
        day = beijing_date(score.published_at)
        out.append(
            SharedRow(
                key=score.id,
                record_id=f"{score.period}/{code}",
                institution_code=code,
                region_code=score.region_code,
                day=day,
                data={
                    "institution_name": name,
                    "credit_code": credit_code or "",
                    "period": score.period,
                    "score": f"{score.score:.2f}",
                    "grade": score.grade,
                    "deducted": f"{score.deducted:.2f}",
                    "model_version": version,
                    "published_on": day.isoformat(),
                },
            )
        )
    return out


def _versions(db: Session, today: dt.date) -> dict[int, str]:
    """Every published current result, by id: a result never changes once written (a
    recomputation is a new row, published as it replaces the old), so its version is its
    publication's moment."""
    del today
    stmt = _published().with_only_columns(CreditScore.id, CreditScore.published_at)
    return {key: published.isoformat() for key, published in db.execute(stmt) if published}


def sources() -> list[SharedSource]:
    return [
        SharedSource(
            code=CODE,
            title="信用评价结果",
            fields=FIELDS,
            personal=(),
            rows=_rows,
            versions=_versions,
        )
    ]
