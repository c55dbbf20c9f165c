"""Saved analyses (决策分析：保存、共享、定期运行)."""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class Analysis(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An analysis someone saved: its definition (catalogue keys only), whether it is shared
    with the owner's region (every reader runs it on the data of their own scope) and whether
    a job runs it daily, weekly or monthly and sends the owner its spreadsheet."""

    __tablename__ = "analysis"
    __permission_entity__: ClassVar[str] = "analysis"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
        "self": "owner_id",
    }
    __audit_untracked__: ClassVar[frozenset[str]] = frozenset({"last_run_at", "updated_at"})

    name: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    region_code: Mapped[str | None] = mapped_column(String(6), index=True, default=None)
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    schedule: Mapped[str] = mapped_column(String(8), default="")  # Schedule value
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    def audit_repr(self) -> str:
        return self.name
