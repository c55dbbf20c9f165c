"""The registry of 000 4.1.1: institutions, their premises (labs), people, equipment,
capabilities, qualification certificates, e-licences and signatories.

Every row below an institution carries ``institution_id`` and a copy of the institution's
``region_code``, so data scopes apply to it directly (``restrict``: region subtree for
authorities, the institution for its own staff).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from jcjg.catalogue.models import Parameter, Specialty, TestItem
from jcjg.core.db import Base, UTCDateTime
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin

_SCOPE = {"region": "region_code", "institution": "institution_id"}


def _association(name: str, left: str, right: str) -> Table:
    return Table(
        name,
        Base.metadata,
        Column(f"{left}_id", ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True),
        Column(f"{right}_id", ForeignKey(f"{right}.id", ondelete="CASCADE"), primary_key=True),
    )


lab_specialty = _association("lab_specialty", "lab", "specialty")
person_specialty = _association("person_specialty", "person", "specialty")
equipment_test_item = _association("equipment_test_item", "equipment", "test_item")
certificate_specialty = _association(
    "qualification_certificate_specialty", "qualification_certificate", "specialty"
)
signatory_specialty = _association("signatory_specialty", "signatory", "specialty")


class InstitutionRow(ChangeLogged, IdMixin, TimestampMixin):
    """Columns of every row that belongs to an institution."""

    __permission_entity__: ClassVar[str] = "institution"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)


class Lab(InstitutionRow, Base):
    """Laboratory premises (检测场所): one address of an institution."""

    __tablename__ = "lab"

    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    area_m2: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    specialties: Mapped[list[Specialty]] = relationship(secondary=lab_specialty, lazy="selectin")


class Person(InstitutionRow, Base):
    """A person of an institution: key people (法定代表人、技术负责人、质量负责人), registered
    engineers (注册人员) and inspectors (检测人员) alike, with the fields of 4.1.1 items 2-4."""

    __tablename__ = "person"
    __audit_mask__ = frozenset({"id_number", "mobile"})

    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str | None] = mapped_column(String(8), default=None)
    birth_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    id_number: Mapped[str] = mapped_column(String(18), index=True)
    education: Mapped[str | None] = mapped_column(String(32), default=None)
    major: Mapped[str | None] = mapped_column(String(64), default=None)
    position: Mapped[str | None] = mapped_column(String(64), default=None)  # 职务
    title: Mapped[str] = mapped_column(String(16), default="none")  # Title value
    title_major: Mapped[str | None] = mapped_column(String(64), default=None)
    title_certificate_no: Mapped[str | None] = mapped_column(String(64), default=None)
    years_in_testing: Mapped[int] = mapped_column(Integer, default=0)
    office_phone: Mapped[str | None] = mapped_column(String(32), default=None)
    mobile: Mapped[str | None] = mapped_column(String(11), default=None)
    resume: Mapped[str | None] = mapped_column(Text, default=None)
    key_role: Mapped[str | None] = mapped_column(String(32), default=None)  # KeyRole value
    is_inspector: Mapped[bool] = mapped_column(Boolean, default=True)
    inspector_certificate_no: Mapped[str | None] = mapped_column(String(64), default=None)
    registered_certificate_no: Mapped[str | None] = mapped_column(
        String(64), index=True, default=None
    )
    registration_kind: Mapped[str | None] = mapped_column(String(64), default=None)
    lab_id: Mapped[int | None] = mapped_column(ForeignKey("lab.id"), default=None)
    employed_from: Mapped[dt.date | None] = mapped_column(Date, default=None)
    employed_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # The person's photo in the blob store (4.1.1 item 2: key people have one); shown blurred
    # except to those who check identity, each clear view audited (registry.photos).
    photo_sha256: Mapped[str | None] = mapped_column(String(64), default=None)

    specialties: Mapped[list[Specialty]] = relationship(secondary=person_specialty, lazy="selectin")

    @validates("id_number", "registered_certificate_no")
    def _stored_plain(self, key: str, value: str | None) -> str | None:
        """The numbers that identify a person across institutions, stored as they are compared
        (certificate lending): without surrounding blanks, an ID number's X in capitals."""
        if value is None:
            return None
        value = value.strip()
        return value.upper() if key == "id_number" else value or None

    def audit_repr(self) -> str:
        return self.name

    def alert_institution_ids(self) -> set[int]:
        """A change to a person concerns every institution that has someone with the same ID
        number or registered certificate (certificate lending is seen from both sides)."""
        from sqlalchemy import or_, select
        from sqlalchemy.orm import object_session

        ids = {self.institution_id}
        session = object_session(self)
        keys = [
            getattr(Person, name) == value
            for name in ("id_number", "registered_certificate_no")
            if (value := getattr(self, name))
        ]
        if session is not None and keys:
            with session.no_autoflush:
                ids.update(session.scalars(select(Person.institution_id).where(or_(*keys))))
        return ids


class TrainingFields:
    """The columns of one person's training session and its exam (培训与考核, 000 4.2.4; 003 IV(3)):
    what was taught (course, syllabus, hours), by whom, the exam's score and whether it was
    passed, and the certificate it gave with its expiry. Institution staff (``Training``) and
    the witnesses and samplers of the party units (``projects.models.MemberTraining``) keep the
    same fields, so one reading (``passes_on``) serves both."""

    course: Mapped[str] = mapped_column(String(200))
    syllabus: Mapped[str | None] = mapped_column(Text, default=None)  # 培训大纲
    organiser: Mapped[str | None] = mapped_column(String(100), default=None)
    start_date: Mapped[dt.date] = mapped_column(Date)
    hours: Mapped[int] = mapped_column(Integer, default=0)
    exam_score: Mapped[Decimal | None] = mapped_column(Numeric(5, 1), default=None)
    passed: Mapped[bool | None] = mapped_column(Boolean, default=None)  # None: no exam
    result: Mapped[str | None] = mapped_column(String(64), default=None)
    certificate_no: Mapped[str | None] = mapped_column(String(64), default=None)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, default=None)  # None: no expiry

    def passes_on(self, day: dt.date) -> bool:
        """A valid pass on ``day``: the exam passed, taken by then, its certificate not expired."""
        return (
            self.passed is True
            and self.start_date <= day
            and (self.valid_until is None or day <= self.valid_until)
        )


class Training(TrainingFields, InstitutionRow, Base):
    """An inspector's training session and exam, with the certificate it gave (4.2.4)."""

    __tablename__ = "training"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)


class CapabilityAssessment(InstitutionRow, Base):
    """An inspector's capability assessment (人员能力考核, 4.2.4) in a specialty."""

    __tablename__ = "capability_assessment"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    specialty_id: Mapped[int] = mapped_column(ForeignKey("specialty.id"))
    assessed_on: Mapped[dt.date] = mapped_column(Date)
    method: Mapped[str] = mapped_column(String(100))
    score: Mapped[Decimal | None] = mapped_column(Numeric(5, 1), default=None)
    result: Mapped[str] = mapped_column(String(16))  # AssessmentResult value
    assessor: Mapped[str | None] = mapped_column(String(64), default=None)
    valid_until: Mapped[dt.date | None] = mapped_column(Date, default=None)


class Assignment(InstitutionRow, Base):
    """Work the institution assigns an inspector in a specialty (岗位安排); checked by the
    ``unlicensed_work`` rule against the specialties the inspector is qualified for."""

    __tablename__ = "assignment"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    specialty_id: Mapped[int] = mapped_column(ForeignKey("specialty.id"))
    lab_id: Mapped[int | None] = mapped_column(ForeignKey("lab.id"), default=None)
    start_date: Mapped[dt.date] = mapped_column(Date)
    end_date: Mapped[dt.date | None] = mapped_column(Date, default=None)


class Equipment(InstitutionRow, Base):
    """Equipment (仪器设备) with the fields of 4.1.1 item 5."""

    __tablename__ = "equipment"

    name: Mapped[str] = mapped_column(String(100))
    asset_number: Mapped[str | None] = mapped_column(String(64), default=None)
    model: Mapped[str | None] = mapped_column(String(64), default=None)
    specification: Mapped[str | None] = mapped_column(String(100), default=None)
    measuring_range: Mapped[str | None] = mapped_column(String(100), default=None)
    accuracy: Mapped[str | None] = mapped_column(String(64), default=None)  # 准确度等级/不确定度
    calibration_body: Mapped[str | None] = mapped_column(String(100), default=None)
    calibration_valid_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    # The calibration certificate's file in the blob store (sent through the exchange API).
    calibration_certificate_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    self_check_items: Mapped[str | None] = mapped_column(String(200), default=None)
    self_check_method: Mapped[str | None] = mapped_column(String(200), default=None)
    status: Mapped[str] = mapped_column(String(16), default="in_use")
    lab_id: Mapped[int | None] = mapped_column(ForeignKey("lab.id"), default=None)

    test_items: Mapped[list[TestItem]] = relationship(
        secondary=equipment_test_item, lazy="selectin"
    )


class Capability(InstitutionRow, Base):
    """A lab may test a parameter (检测能力, 4.1.1 item 6)."""

    __tablename__ = "capability"
    __table_args__ = (UniqueConstraint("lab_id", "parameter_id"),)

    lab_id: Mapped[int] = mapped_column(ForeignKey("lab.id"), index=True)
    parameter_id: Mapped[int] = mapped_column(ForeignKey("parameter.id"))

    parameter: Mapped[Parameter] = relationship(lazy="joined")


class QualificationCertificate(InstitutionRow, Base):
    """A qualification certificate (资质证书) with its scope (specialties) and validity."""

    __tablename__ = "qualification_certificate"

    number: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[str] = mapped_column(String(100))
    issue_date: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="valid")

    specialties: Mapped[list[Specialty]] = relationship(
        secondary=certificate_specialty, lazy="selectin"
    )

    def audit_repr(self) -> str:
        return self.number


class ELicence(InstitutionRow, Base):
    """An electronic licence file (电子证照, 4.1.1 item 8), kept in the blob store."""

    __tablename__ = "e_licence"

    kind: Mapped[str] = mapped_column(String(32))  # ELicenceKind value
    number: Mapped[str] = mapped_column(String(64))
    valid_until: Mapped[dt.date | None] = mapped_column(Date, default=None)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    blob_digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)


class Signatory(InstitutionRow, Base):
    """An authorised signatory (报告批准人, 4.1.1 item 7) with the specialties he may sign."""

    __tablename__ = "signatory"

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    position: Mapped[str | None] = mapped_column(String(64), default=None)
    title: Mapped[str | None] = mapped_column(String(16), default=None)
    lab_id: Mapped[int | None] = mapped_column(ForeignKey("lab.id"), default=None)

    specialties: Mapped[list[Specialty]] = relationship(
        secondary=signatory_specialty, lazy="selectin"
    )


class SigningCertificate(InstitutionRow, Base):
    """A certificate a person of the institution signs reports with (电子签名证书), sent with the
    signatories. Kept when the person stops signing: reports signed before still verify. A
    report's PDF signature is trusted when its signer certificate is one of these (pinned by
    SHA-256 of the DER), whatever CA issued it."""

    __tablename__ = "signing_certificate"
    __table_args__ = (UniqueConstraint("institution_id", "sha256"),)

    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(300))
    serial_number: Mapped[str] = mapped_column(String(64))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    der: Mapped[bytes] = mapped_column(LargeBinary)


class InstitutionFiling(InstitutionRow, Base):
    """An institution's filing (备案) to work in a region other than its own (004 一: out-of-
    province institutions filed and supervised like local ones). While it is in force (status
    ``filed``, ``valid_from`` <= today <= ``valid_until``, Beijing days) the authorities of the
    filed region and the regions below it see the institution and its rows as their own
    (``Institution.__scope_filings__``, read by ``auth.scopes``); a province's filing covers
    its cities and counties."""

    __tablename__ = "institution_filing"

    filing_number: Mapped[str] = mapped_column(String(64), unique=True)  # 备案编号
    filed_region_code: Mapped[str] = mapped_column(String(6), index=True)  # where it works
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="filed")  # FilingStatus
    local_office: Mapped[str | None] = mapped_column(String(200), default=None)
    scope_note: Mapped[str | None] = mapped_column(Text, default=None)  # the work filed


class RegistrySync(Base):
    """Where an institution's system stands in sending its registry over the exchange: when a
    registry message last changed it, when the system last said its sync was complete
    (``registry.sync``), and when the rules that judge a whole registry last judged it. A
    registry is *settled* when it was said complete after its last change, or when no registry
    message came for the quiet period (``JCJG_REGISTRY_QUIET_SECONDS``)."""

    __tablename__ = "registry_sync"

    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), primary_key=True)
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    complete_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    judged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
