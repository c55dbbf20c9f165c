"""The region table: one row per province, city or county code ever loaded, with the editions
it is valid in; and what each later edition changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base
from jcjg.core.mixins import IdMixin


class Region(Base):
    """An administrative region, keyed by its GB/T 2260 code (a public code, hence the key).

    A code abolished by a later edition keeps its row (records made under it still point at
    it): ``valid_to_id`` names the first edition without it and ``replaced_by`` the codes that
    took its place, where the edition says so. Current regions have no ``valid_to_id``.
    """

    __tablename__ = "region"

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))  # RegionLevel value
    parent_code: Mapped[str | None] = mapped_column(
        ForeignKey("region.code"), index=True, default=None
    )
    # None only for rows written before editions were recorded, until the first edition loads
    valid_from_id: Mapped[int | None] = mapped_column(
        ForeignKey("reference_edition.id"), default=None
    )
    valid_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("reference_edition.id"), index=True, default=None
    )
    replaced_by: Mapped[list[str]] = mapped_column(JSON, default=list)

    @property
    def is_current(self) -> bool:
        return self.valid_to_id is None


class RegionChange(IdMixin, Base):
    """What an edition changed for one code: added, renamed, abolished or restored, with the
    name before and after (the history of a renamed region)."""

    __tablename__ = "region_change"

    edition_id: Mapped[int] = mapped_column(ForeignKey("reference_edition.id"), index=True)
    code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    change: Mapped[str] = mapped_column(String(16))  # RegionChangeKind value
    name_before: Mapped[str | None] = mapped_column(String(64), default=None)
    name_after: Mapped[str | None] = mapped_column(String(64), default=None)
    replaced_by: Mapped[list[str]] = mapped_column(JSON, default=list)


class RegionBoundary(IdMixin, Base):
    """The shape of one region in one boundary edition (``regions.boundaries``): a GeoJSON
    Polygon or MultiPolygon in WGS-84 degrees, and the point its label and its institutions
    are drawn at. A later edition's shape of the same code supersedes it on the map."""

    __tablename__ = "region_boundary"
    __table_args__ = (UniqueConstraint("edition_id", "code"),)

    edition_id: Mapped[int] = mapped_column(ForeignKey("reference_edition.id"))
    code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    geometry: Mapped[dict[str, Any]] = mapped_column(JSON)
    label_lon: Mapped[float] = mapped_column(Float)
    label_lat: Mapped[float] = mapped_column(Float)
