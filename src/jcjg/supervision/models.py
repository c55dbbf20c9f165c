"""Spot-check plans (抽查计划), their notarised draws, the checks given to the drawn officers
with their findings per item (check items configured as data), and the supervision log
(监管台账). docs/supervision.md."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core import labels
from jcjg.core.db import Base, UTCDateTime
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class CheckItem(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One item of a check type's template (资质与人员、仪器设备检定校准 ...): configurable,
    seeded by the migration; an inactive item is no longer put on new checks."""

    __tablename__ = "check_item"
    __table_args__ = (UniqueConstraint("check_type", "code"),)

    check_type: Mapped[str] = mapped_column(String(32), index=True)  # CheckType
    code: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(100))
    guidance: Mapped[str] = mapped_column(Text, default="")  # what the officers look at
    sort: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    def audit_repr(self) -> str:
        return f"{self.code} {self.title}"


class SupervisionPlan(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A random spot-check plan of an authority for its region: who may be drawn (the
    population: institutions of the region, optionally holding a specialty), how many, the
    officers' pool and how many a check, the exclusions."""

    __tablename__ = "supervision_plan"
    __permission_entity__: ClassVar[str] = "supervision"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}

    code: Mapped[str] = mapped_column(String(32), unique=True)  # SC-<region>-<yyyymmdd>-<n>
    title: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    period_start: Mapped[dt.date] = mapped_column(Date)
    period_end: Mapped[dt.date] = mapped_column(Date)
    basis: Mapped[str] = mapped_column(String(64))  # a regulation's clause ("002 第十六条")
    check_type: Mapped[str] = mapped_column(String(32), default="institution")
    specialty: Mapped[str | None] = mapped_column(String(8), default=None)  # population filter
    institution_count: Mapped[int] = mapped_column(Integer)
    officers_per_check: Mapped[int] = mapped_column(Integer, default=2)
    recent_months: Mapped[int] = mapped_column(Integer, default=12)  # 0: no exclusion
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)  # PlanStatus
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    def audit_repr(self) -> str:
        return f"{self.code} {self.title}"


class SupervisionDraw(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A plan's draw: commitment and request notarised when asked, the randomness and the
    result when completed (as a panel's draw; the secret is revealed with the result)."""

    __tablename__ = "supervision_draw"
    __permission_entity__: ClassVar[str] = "supervision"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"secret"})

    plan_id: Mapped[int] = mapped_column(ForeignKey("supervision_plan.id"), unique=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)  # <plan code>-1
    status: Mapped[str] = mapped_column(String(16), default="requested", index=True)
    secret: Mapped[str] = mapped_column(String(64))
    commit_index: Mapped[int] = mapped_column(BigInteger)
    request_index: Mapped[int] = mapped_column(BigInteger)
    result_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    checkpoint_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    seed: Mapped[str | None] = mapped_column(String(64), default=None)
    # pseudonym -> institution id / account id (never published beyond the drawn)
    institutions: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    officers: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    checks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    def audit_repr(self) -> str:
        return self.code


class SupervisionCheck(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A check (检查任务) of one drawn institution by the drawn officers."""

    __tablename__ = "supervision_check"
    __permission_entity__: ClassVar[str] = "supervision"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}
    __table_args__ = (UniqueConstraint("plan_id", "institution_id"),)

    plan_id: Mapped[int] = mapped_column(ForeignKey("supervision_plan.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    place: Mapped[int] = mapped_column(Integer)
    check_type: Mapped[str] = mapped_column(String(32), default="institution")
    # [{"user_id": 3, "signed_at": "<iso>" | null}, ...] in the draw's order
    officers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="assigned", index=True)
    check_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    conclusion: Mapped[str | None] = mapped_column(String(16), default=None)  # Conclusion
    summary: Mapped[str] = mapped_column(Text, default="")  # published: no personal data
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    signed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    def audit_repr(self) -> str:
        return f"{self.plan_id}/{self.institution_id}"


class CheckFinding(ChangeLogged, IdMixin, TimestampMixin, Base):
    """One item's result on a check: conforming, nonconforming or not applicable, what was
    found, photos (blob sha256s), where; a nonconforming one may lead to a rectification order
    (issued on its own page, jcjg.rectification)."""

    __tablename__ = "check_finding"
    __permission_entity__: ClassVar[str] = "supervision"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}
    __table_args__ = (UniqueConstraint("check_id", "item_id"),)

    check_id: Mapped[int] = mapped_column(ForeignKey("supervision_check.id"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("check_item.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    result: Mapped[str] = mapped_column(String(16))  # ItemResult
    finding: Mapped[str] = mapped_column(Text, default="")
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    recorded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    def audit_repr(self) -> str:
        return f"{self.check_id}/{self.item_id} {labels.shown('result', self.result)}"


class SupervisionLog(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An entry of the supervision log (监管台账, 004): a day's supervision work."""

    __tablename__ = "supervision_log"
    __permission_entity__: ClassVar[str] = "supervision_log"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}

    region_code: Mapped[str] = mapped_column(String(6), index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)  # LogKind
    entry_date: Mapped[dt.date] = mapped_column(Date, index=True)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    project_id: Mapped[int | None] = mapped_column(ForeignKey("project.id"), default=None)
    participants: Mapped[str] = mapped_column(String(200), default="")
    summary: Mapped[str] = mapped_column(Text)
    follow_up: Mapped[str] = mapped_column(Text, default="")
    # [{"sha256", "name", "media_type", "size"}] as core.evidence stores them
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    check_id: Mapped[int | None] = mapped_column(
        ForeignKey("supervision_check.id"), default=None
    )  # written by a spot check
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)

    def audit_repr(self) -> str:
        return f"{self.entry_date} {labels.shown('kind', self.kind)}"


class OfficerRelation(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An officer's declared relation with an institution (former employer, relative working
    there ...): never drawn to check it (回避)."""

    __tablename__ = "officer_relation"
    __permission_entity__: ClassVar[str] = "supervision"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code"}
    __table_args__ = (UniqueConstraint("user_id", "institution_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the officer's region
    note: Mapped[str] = mapped_column(String(200), default="")

    def audit_repr(self) -> str:
        return f"{self.user_id}/{self.institution_id}"
