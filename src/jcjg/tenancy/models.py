"""The inspection institution: the tenant every institution-scoped row belongs to.

It lives below the business domains (NetBox's ``tenancy`` app) so that accounts, the exchange,
the registry and every domain that keeps an institution's data can name it without importing
one another. Its registry data (labs, people, equipment ...) is the ``registry`` domain's.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import JSON, Date, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class Institution(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An inspection institution (检测机构), with the basic information of 000 4.1.1 item 1."""

    __tablename__ = "institution"
    __permission_entity__: ClassVar[str] = "institution"
    __scope_columns__: ClassVar[dict[str, str]] = {"region": "region_code", "institution": "id"}
    # Filings to work elsewhere (jcjg.registry.models.InstitutionFiling): while one is in force
    # the filed region's principals see the institution and its rows (auth.scopes).
    __scope_filings__: ClassVar[dict[str, str]] = {
        "table": "institution_filing", "institution": "institution_id",
        "region": "filed_region_code", "from": "valid_from", "until": "valid_until",
        "status": "status", "in_force": "filed",
    }  # fmt: skip

    code: Mapped[str] = mapped_column(String(32), unique=True)  # platform-assigned (003 III(5))
    name: Mapped[str] = mapped_column(String(200))
    credit_code: Mapped[str | None] = mapped_column(String(18), unique=True, default=None)
    region_code: Mapped[str] = mapped_column(ForeignKey("region.code"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    founded_date: Mapped[dt.date | None] = mapped_column(Date, default=None)
    registered_address: Mapped[str | None] = mapped_column(String(200), default=None)
    phone: Mapped[str | None] = mapped_column(String(32), default=None)
    postcode: Mapped[str | None] = mapped_column(String(6), default=None)
    fax: Mapped[str | None] = mapped_column(String(32), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None)
    registration_authority: Mapped[str | None] = mapped_column(String(100), default=None)
    registered_capital: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), default=None)
    registration_type: Mapped[str | None] = mapped_column(String(64), default=None)
    investors: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"name", "share"}]
    insured_staff_count: Mapped[int | None] = mapped_column(Integer, default=None)
    technical_staff_count: Mapped[int | None] = mapped_column(Integer, default=None)
    intermediate_title_count: Mapped[int | None] = mapped_column(Integer, default=None)
    senior_title_count: Mapped[int | None] = mapped_column(Integer, default=None)
    equipment_set_count: Mapped[int | None] = mapped_column(Integer, default=None)
    equipment_original_value: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), default=None)
    floor_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)
    testing_area_m2: Mapped[Decimal | None] = mapped_column(Numeric(12, 2), default=None)

    @property
    def institution_id(self) -> int:
        """Its own id: lets generic code treat the institution like its rows."""
        return self.id
