"""Proficiency testing (能力验证, 000 4.2.3): a scheme, the institutions invited to it and the
results they submit, with the scores the evaluation gives them (ISO 13528:2022)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin

_SCOPE = {"region": "region_code", "institution": "institution_id"}


class ProficiencyScheme(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A proficiency test (能力验证计划): its test number, the parameter tested, the samples sent
    to each participant (one, or a pair A and B for a Youden plot), the deadline, and how the
    assigned value is set: known beforehand (a reference value with its uncertainty and the
    standard deviation for proficiency assessment) or from the participants' results
    (Algorithm A). Organised by a region's authority or station; seen by that region and by
    the institutions taking part."""

    __tablename__ = "proficiency_scheme"
    __permission_entity__: ClassVar[str] = "proficiency"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}
    __audit_untracked__: ClassVar[frozenset[str]] = frozenset({"statistics", "updated_at"})

    code: Mapped[str] = mapped_column(String(32), unique=True)  # 试验编号
    title: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the organiser's region
    item_code: Mapped[str] = mapped_column(String(12))  # catalogue test item
    parameter_code: Mapped[str] = mapped_column(String(16))  # catalogue parameter
    unit: Mapped[str] = mapped_column(String(32), default="")
    sample_count: Mapped[int] = mapped_column(Integer, default=1)  # 1: A; 2: A and B
    samples_sent_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    deadline: Mapped[dt.date] = mapped_column(Date)
    assigned_mode: Mapped[str] = mapped_column(String(12), default="consensus")  # AssignedMode
    assigned_value: Mapped[float | None] = mapped_column(Float, default=None)  # known x_pt
    assigned_uncertainty: Mapped[float | None] = mapped_column(Float, default=None)  # U, k=2
    sigma_pt: Mapped[float | None] = mapped_column(Float, default=None)  # None: s* (consensus)
    score: Mapped[str] = mapped_column(String(8), default="z")  # statistics.Score judged
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)  # SchemeStatus
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # the ledger leaf of the latest evaluation (proficiency_scheme:evaluate)
    evaluation_index: Mapped[int | None] = mapped_column(Integer, default=None)
    # per sample ("A", "B"): x_pt, u_x_pt, U_x_pt, sigma_pt, x_star, s_star, p, iterations
    statistics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")

    def audit_repr(self) -> str:
        return f"{self.code} {self.title}"


class ProficiencyParticipant(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An institution invited to a scheme, known to the others by its participant code only."""

    __tablename__ = "proficiency_participant"
    __permission_entity__: ClassVar[str] = "proficiency"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (
        UniqueConstraint("scheme_id", "institution_id"),
        UniqueConstraint("scheme_id", "code"),
    )

    scheme_id: Mapped[int] = mapped_column(ForeignKey("proficiency_scheme.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the scheme's
    code: Mapped[str] = mapped_column(String(16))  # 参加者代码: P01, P02 ...

    def audit_repr(self) -> str:
        return self.code


class ProficiencyResult(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A participant's result on one sample, as submitted (on its page or by the exchange),
    and, once the scheme is evaluated, its scores and the signal of the scheme's score."""

    __tablename__ = "proficiency_result"
    __permission_entity__: ClassVar[str] = "proficiency"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __audit_untracked__: ClassVar[frozenset[str]] = frozenset(
        {"z", "z_prime", "zeta", "en", "signal", "updated_at"}
    )
    __table_args__ = (UniqueConstraint("participant_id", "sample"),)

    scheme_id: Mapped[int] = mapped_column(ForeignKey("proficiency_scheme.id"), index=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("proficiency_participant.id"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    sample: Mapped[str] = mapped_column(String(1))  # "A" or "B"
    value: Mapped[float] = mapped_column(Float)
    expanded_uncertainty: Mapped[float | None] = mapped_column(Float, default=None)  # U(x)
    coverage_factor: Mapped[float] = mapped_column(Float, default=2.0)  # k
    method: Mapped[str] = mapped_column(String(100), default="")
    submitted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    source: Mapped[str] = mapped_column(String(12), default="page")  # page | exchange
    message_id: Mapped[str | None] = mapped_column(String(36), default=None)
    z: Mapped[float | None] = mapped_column(Float, default=None)
    z_prime: Mapped[float | None] = mapped_column(Float, default=None)
    zeta: Mapped[float | None] = mapped_column(Float, default=None)
    en: Mapped[float | None] = mapped_column(Float, default=None)
    signal: Mapped[str | None] = mapped_column(String(16), default=None)  # statistics.Signal

    def audit_repr(self) -> str:
        return f"样品 {self.sample}：{self.value}"
