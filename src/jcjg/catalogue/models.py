"""Specialties, test items, parameters, each row valid from one edition of the qualification
standard and, once a later edition changed or dropped it, up to that edition.

An edition that keeps an entry as it was keeps its row (the capabilities and certificates that
point at it see no change); one that changes an entry, or moves it under a changed parent, closes
the row and adds a new one; one that drops it closes it. Rows are never deleted, so what a record
points at stays readable. Codes repeat across rows; one row per code is current.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from jcjg.core.db import Base
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class EditionRange:
    """The editions a catalogue row is valid in (``jcjg.core.editions``): from
    ``valid_from_id`` (None for rows kept from before editions were recorded) up to, not
    including, ``valid_to_id`` (None while current)."""

    @declared_attr
    def valid_from_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("reference_edition.id"), default=None)

    @declared_attr
    def valid_to_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("reference_edition.id"), index=True, default=None)

    @property
    def is_current(self) -> bool:
        return self.valid_to_id is None


class Specialty(EditionRange, ChangeLogged, IdMixin, TimestampMixin, Base):
    """A field of testing named by the qualification standard (检测专项), with its minimums."""

    __tablename__ = "specialty"
    __table_args__ = (UniqueConstraint("code", "valid_from_id"),)

    code: Mapped[str] = mapped_column(String(8), index=True)
    name: Mapped[str] = mapped_column(String(64))
    sort: Mapped[int] = mapped_column(Integer, default=0)
    min_inspectors: Mapped[int] = mapped_column(Integer, default=0)
    min_intermediate_titles: Mapped[int] = mapped_column(Integer, default=0)
    min_senior_titles: Mapped[int] = mapped_column(Integer, default=0)
    min_registered_engineers: Mapped[int] = mapped_column(Integer, default=0)
    min_equipment_sets: Mapped[int] = mapped_column(Integer, default=0)
    min_testing_area_m2: Mapped[int] = mapped_column(Integer, default=0)

    # Loaded on access, not eagerly: a certificate, person or lab links to specialties on
    # every write, and eager items (and their parameters) would pull the whole catalogue in.
    # Pages that show the tree ask for it (service.specialties).
    items: Mapped[list[TestItem]] = relationship(
        back_populates="specialty", order_by="TestItem.code", lazy="select"
    )

    def audit_repr(self) -> str:
        return f"{self.code} {self.name}"


class TestItem(EditionRange, ChangeLogged, IdMixin, TimestampMixin, Base):
    """A test item of a specialty (检测项目), e.g. 水泥."""

    __tablename__ = "test_item"
    __table_args__ = (UniqueConstraint("code", "valid_from_id"),)
    __test__ = False  # not a pytest class

    specialty_id: Mapped[int] = mapped_column(ForeignKey("specialty.id"), index=True)
    code: Mapped[str] = mapped_column(String(12), index=True)
    name: Mapped[str] = mapped_column(String(100))
    standards: Mapped[list[Any]] = mapped_column(JSON, default=list)

    specialty: Mapped[Specialty] = relationship(back_populates="items")
    parameters: Mapped[list[Parameter]] = relationship(
        back_populates="test_item", order_by="Parameter.code", lazy="select"
    )

    def audit_repr(self) -> str:
        return f"{self.code} {self.name}"


class Parameter(EditionRange, ChangeLogged, IdMixin, TimestampMixin, Base):
    """A parameter of a test item (参数), required (必备) or optional (可选)."""

    __tablename__ = "parameter"
    __table_args__ = (UniqueConstraint("code", "valid_from_id"),)

    test_item_id: Mapped[int] = mapped_column(ForeignKey("test_item.id"), index=True)
    code: Mapped[str] = mapped_column(String(16), index=True)
    name: Mapped[str] = mapped_column(String(100))
    required: Mapped[bool] = mapped_column(Boolean, default=True)
    unit: Mapped[str | None] = mapped_column(String(32), default=None)

    test_item: Mapped[TestItem] = relationship(back_populates="parameters")

    def audit_repr(self) -> str:
        return f"{self.code} {self.name}"
