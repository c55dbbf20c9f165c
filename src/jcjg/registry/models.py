"""Institutions: the unit an institution-scoped principal is limited to."""

from __future__ import annotations

from typing import ClassVar

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class Institution(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An inspection institution (检测机构)."""

    __tablename__ = "institution"
    __permission_entity__: ClassVar[str] = "institution"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "institution": "id"}

    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True, default=None)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
