"""Credit rating (信用评价, 000 4.2.2 item 7; 001 5.3.4; 003 IV(5)): the versioned model of a
province, the four evaluations, the scores computed per period with their explanation, appeals
and their corrections (docs/credit.md)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin
from jcjg.credit.choices import FactKind

_SCOPE = {"region": "region_code", "institution": "institution_id"}


class CreditModel(IdMixin, Base):
    """One version of a province's model: never changed once written (a new version is a new
    row; scores keep the version they were computed with). ``config`` holds ``baseline``,
    ``weights`` by source, ``deductions`` by fact kind (``points`` each, ``cap``), ``bands``
    (``[[grade, minimum], ...]`` highest first) and ``person`` (``baseline``, ``deductions``)."""

    __tablename__ = "credit_model"
    __permission_entity__: ClassVar[str] = "credit"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}
    __table_args__ = (UniqueConstraint("region_code", "version"),)

    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the province
    version: Mapped[int] = mapped_column(Integer)
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)


class CreditEvaluation(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One evaluation of an institution for a period, 0 to 100, by one of the four sources.
    ``slot`` makes it one per source and period (``self``, ``association``, ``authority``) and
    one per project and evaluating account for the parties (``party:<project>:<user>``)."""

    __tablename__ = "credit_evaluation"
    __permission_entity__: ClassVar[str] = "credit"
    __scope_columns__: ClassVar[dict[str, str]] = {**_SCOPE, "self": "evaluator_id"}
    __table_args__ = (UniqueConstraint("institution_id", "period", "slot"),)

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the institution's
    period: Mapped[str] = mapped_column(String(8), index=True)  # 2026 or 2026Q3
    source: Mapped[str] = mapped_column(String(16))  # Source
    slot: Mapped[str] = mapped_column(String(48))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    evaluator_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    evaluator_unit: Mapped[str] = mapped_column(String(200), default="")
    score: Mapped[Decimal] = mapped_column(Numeric(5, 2))
    comment: Mapped[str] = mapped_column(Text, default="")

    def audit_repr(self) -> str:
        return f"{self.period} {self.source} {self.score}"


class CreditScore(IdMixin, Base):
    """A computed score and grade of an institution (or one of its key people) for a period,
    with the model version and its explanation (every fact that moved it). A recomputation
    writes a new row and marks the old one no longer current: the history stays."""

    __tablename__ = "credit_score"
    __permission_entity__: ClassVar[str] = "credit"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (Index("ix_credit_score_current", "institution_id", "period", "is_current"),)

    subject_type: Mapped[str] = mapped_column(String(16), default="institution")  # SubjectType
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), default=None)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    period: Mapped[str] = mapped_column(String(8), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("credit_model.id"))
    base: Mapped[Decimal] = mapped_column(Numeric(6, 2))  # the evaluations' weighted mean
    deducted: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    score: Mapped[Decimal] = mapped_column(Numeric(6, 2))
    grade: Mapped[str] = mapped_column(String(8), index=True)
    # {"evaluations": {source: mean or null}, "facts": [{kind, subject, link, points}],
    #  "deductions": {kind: {"count", "points", "capped"}}}
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    status: Mapped[str] = mapped_column(String(12), default="draft")  # ScoreStatus
    computed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    reason: Mapped[str] = mapped_column(String(200), default="")  # why computed (job, appeal)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)  # publication's


class CreditAppeal(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An institution's appeal against a score or one fact of it, within the model's days;
    decided by the authority: upheld, or corrected (the fact struck out, the score recomputed
    as a new row named here)."""

    __tablename__ = "credit_appeal"
    __permission_entity__: ClassVar[str] = "credit"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    score_id: Mapped[int] = mapped_column(ForeignKey("credit_score.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    period: Mapped[str] = mapped_column(String(8))
    fact: Mapped[str] = mapped_column(String(64), default="")  # "<kind>:<subject>", "" the score
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default="pending")  # AppealStatus
    filed_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    filed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    new_score_id: Mapped[int | None] = mapped_column(ForeignKey("credit_score.id"), default=None)

    def audit_repr(self) -> str:
        """The period and what is appealed, in words: "2026Q4 整改通知 2" (the audit log's
        pages show it; the stored ``kind:subject`` is an identifier)."""
        if not self.fact:
            return f"{self.period} 评价结果"
        kind, _, subject = self.fact.partition(":")
        label = FactKind(kind).label if kind in FactKind._value2member_map_ else "评价事项"
        return f"{self.period} {label} {subject}".rstrip()
