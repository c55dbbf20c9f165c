"""Projects and the witnesses and samplers assigned to them."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
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

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin
from jcjg.registry.models import TrainingFields


class Project(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A construction project (工程项目) as its supervising station entered it (003 IV(2)) or as
    another platform sent it. The site is a point with a radius, or a polygon of
    ``[longitude, latitude]`` pairs (WGS-84, as phones report them)."""

    __tablename__ = "project"
    __permission_entity__: ClassVar[str] = "project"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "project": "id"}

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    site_latitude: Mapped[float | None] = mapped_column(Float, default=None)
    site_longitude: Mapped[float | None] = mapped_column(Float, default=None)
    site_radius_m: Mapped[int] = mapped_column(Integer, default=300)
    site_polygon: Mapped[list[list[float]] | None] = mapped_column(JSON, default=None)
    owner_unit: Mapped[str] = mapped_column(String(200), default="")
    contractor_unit: Mapped[str] = mapped_column(String(200), default="")
    supervisor_unit: Mapped[str] = mapped_column(String(200), default="")
    station: Mapped[str] = mapped_column(String(200), default="")  # supervising station
    permit_number: Mapped[str] = mapped_column(String(64), default="")  # 施工许可证号
    # the site's standard curing room (003 I(3)): where and what ("" none) and its cube molds
    curing_room: Mapped[str] = mapped_column(String(200), default="")
    cube_molds: Mapped[int] = mapped_column(Integer, default=0)  # 0: not declared
    status: Mapped[str] = mapped_column(String(24), default="under_construction")
    # Where the record came from: "" for this platform, else the sending platform's region code.
    origin: Mapped[str] = mapped_column(String(16), default="")
    notes: Mapped[str] = mapped_column(Text, default="")


class ProjectMember(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A witness or sampler assigned to a project from ``starts_on`` (until ``ends_on``).

    ``reported_at`` is when the station learnt of it (the platform's clock): a change of witness
    or sampler must be reported 3 working days before it takes effect (003 IV(3)). The person's
    data the station keeps (001 7.1.1) sits with the assignment; the registered face photo is
    what identity checks compare live photos with.
    """

    __tablename__ = "project_member"
    __permission_entity__: ClassVar[str] = "project"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "project": "project_id",
        "self": "user_id",
    }
    __audit_mask__ = frozenset({"id_number", "phone"})
    __table_args__ = (UniqueConstraint("project_id", "user_id", "role", "starts_on"),)

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # MemberRole
    name: Mapped[str] = mapped_column(String(64))
    id_number: Mapped[str] = mapped_column(String(18), default="")
    phone: Mapped[str] = mapped_column(String(20), default="")
    unit_name: Mapped[str] = mapped_column(String(200), default="")
    certificate_no: Mapped[str] = mapped_column(String(64), default="")  # 上岗证号
    photo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    starts_on: Mapped[dt.date] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date, default=None)
    reported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # True for the project's first witness/sampler (no change to report ahead).
    is_initial: Mapped[bool] = mapped_column(default=False)

    def active_on(self, day: dt.date) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)

    def audit_repr(self) -> str:
        return f"{self.name} ({self.role})"

    def facts(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "starts_on": self.starts_on.isoformat()}


class MemberTraining(TrainingFields, ChangeLogged, IdMixin, TimestampMixin, Base):
    """A witness's or sampler's training session and exam (上岗培训考核, 003 IV(3): witnesses and
    samplers are trained and examined before they take up duty), with the certificate it gave.

    The person is the account (``user_id``) the station assigns to projects; the station of the
    region records it (or receives it), so the row is scoped by region and the person reads his
    own. The columns are the registry's ``TrainingFields``, as for institution staff."""

    __tablename__ = "member_training"
    __permission_entity__: ClassVar[str] = "project"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "self": "user_id"}

    region_code: Mapped[str] = mapped_column(String(6), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # MemberRole the exam qualifies for

    def audit_repr(self) -> str:
        return f"{self.course} ({self.start_date.isoformat()})"


class SpotCheck(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A station's spot check of who is on duty at a project (现场抽查履职情况, 003 IV(3)): the
    person found doing a witness's or sampler's work is, or is not, the appointed one. Recorded
    on a phone at the site with a photo and the phone's position; a mismatch raises the rule
    ``on_duty_mismatch``."""

    __tablename__ = "spot_check"
    __permission_entity__: ClassVar[str] = "project"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "project": "project_id",
    }

    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    role: Mapped[str] = mapped_column(String(16))  # MemberRole checked
    # the appointed member on duty that day (None: nobody was appointed)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("project_member.id"), default=None)
    found_name: Mapped[str] = mapped_column(String(64))  # who was found doing the work
    is_appointed: Mapped[bool] = mapped_column(Boolean)
    photo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    note: Mapped[str] = mapped_column(Text, default="")
    checked_by: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def audit_repr(self) -> str:
        return f"{self.found_name} ({self.checked_at:%Y-%m-%d})"
