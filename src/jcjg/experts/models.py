"""The expert pool (专家库) and review panels (评审组) drawn from it.

An expert belongs to the pool of a region (the province keeps it), holds specialties of the
catalogue (by code), works for an employer and declares the other institutions they are
related to; a panel is one review (of an institution, a dispute, a spot check) needing experts
of given specialties; each draw for it (the first, and each replacement) is notarised before its
randomness is known, and its result after (docs/experts.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class Expert(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One expert of a region's pool; ``user_id`` their account (role expert), when they have
    one, through which they keep their own data and answer their panels."""

    __tablename__ = "expert"
    __permission_entity__: ClassVar[str] = "expert"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "self": "user_id"}
    __audit_mask__: ClassVar[frozenset[str]] = frozenset({"phone"})

    code: Mapped[str] = mapped_column(String(32), unique=True)  # 专家编号
    name: Mapped[str] = mapped_column(String(50))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), unique=True, default=None
    )
    title: Mapped[str] = mapped_column(String(50), default="")  # 职称: 正高级工程师
    employer: Mapped[str] = mapped_column(String(200), default="")
    employer_credit_code: Mapped[str | None] = mapped_column(String(18), default=None)
    phone: Mapped[str] = mapped_column(String(20), default="")
    # the catalogue's specialty codes ("01", "03"), sorted
    specialties: Mapped[list[str]] = mapped_column(JSON, default=list)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    unavailable_until: Mapped[dt.date | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(Text, default="")

    def audit_repr(self) -> str:
        return f"{self.code} {self.name}"


class ExpertRelation(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An institution the expert declares a relation to (a former employer, a relative's
    employer): they are excluded from reviewing it."""

    __tablename__ = "expert_relation"
    __permission_entity__: ClassVar[str] = "expert"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}

    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # RelationKind
    organisation: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), default=None)
    note: Mapped[str] = mapped_column(String(200), default="")

    def audit_repr(self) -> str:
        return self.organisation


class Panel(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One review needing a panel of experts: what, of whom, how many of which specialties."""

    __tablename__ = "panel"
    __permission_entity__: ClassVar[str] = "panel"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}

    code: Mapped[str] = mapped_column(String(32), unique=True)  # PS-2026-0001
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(24))  # ReviewKind
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    region_policy: Mapped[str] = mapped_column(String(16), default="within")  # RegionPolicy
    # [{"specialty": "01", "count": 2}, ...] in the order the draw fills them
    requirements: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    review_date: Mapped[dt.date | None] = mapped_column(default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    def audit_repr(self) -> str:
        return f"{self.code} {self.title}"


class PanelDraw(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One draw for a panel: its commitment and request (notarised when asked), its
    randomness and result (notarised when completed). ``secret`` is revealed with the result."""

    __tablename__ = "panel_draw"
    __permission_entity__: ClassVar[str] = "panel"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"secret"})
    __table_args__ = (UniqueConstraint("panel_id", "sequence"),)

    panel_id: Mapped[int] = mapped_column(ForeignKey("panel.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    sequence: Mapped[int] = mapped_column(Integer)  # 1: the first; then replacements
    code: Mapped[str] = mapped_column(String(48), unique=True)  # <panel code>-<sequence>
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    secret: Mapped[str] = mapped_column(String(64))  # hex, kept until the reveal
    commit_index: Mapped[int] = mapped_column(BigInteger)
    request_index: Mapped[int] = mapped_column(BigInteger)
    result_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    checkpoint_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    seed: Mapped[str | None] = mapped_column(String(64), default=None)
    # who was a candidate (pseudonym -> expert id: never published) and who was drawn
    candidates: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    drawn: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    def audit_repr(self) -> str:
        return self.code


class PanelMember(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An expert drawn for a panel: their answer, then their opinion and scores."""

    __tablename__ = "panel_member"
    __permission_entity__: ClassVar[str] = "panel"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "self": "user_id"}
    __table_args__ = (UniqueConstraint("panel_id", "expert_id"),)

    panel_id: Mapped[int] = mapped_column(ForeignKey("panel.id"), index=True)
    draw_id: Mapped[int] = mapped_column(ForeignKey("panel_draw.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("expert.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), index=True, default=None
    )  # the expert's account when drawn: their own row
    specialty: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16), default="invited", index=True)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    decline_reason: Mapped[str] = mapped_column(String(200), default="")
    conclusion: Mapped[str | None] = mapped_column(String(16), default=None)  # Conclusion
    score: Mapped[int | None] = mapped_column(Integer, default=None)  # 0-100
    # {"personnel": 18, ...}: the score per part of the review (SCORE_PARTS)
    scores: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    opinion: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    opinion_index: Mapped[int | None] = mapped_column(BigInteger, default=None)

    def audit_repr(self) -> str:
        return f"{self.panel_id}/{self.expert_id}"
