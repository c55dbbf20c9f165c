"""What operations keep: each backup made (``jcjg backup`` or the job ``operations.backup``),
the latest readings watched, and the operator rules' thresholds."""

from __future__ import annotations

import datetime as dt
from typing import ClassVar

from sqlalchemy import BigInteger, Float, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class Backup(IdMixin, Base):
    """One backup: when, how it ended (``running``, ``succeeded``, ``failed`` with ``error``),
    where it is, its size and the ledger's size it holds."""

    __tablename__ = "ops_backup"

    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    status: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # sqlite or postgresql
    path: Mapped[str | None] = mapped_column(String(500), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    files: Mapped[int | None] = mapped_column(Integer, default=None)
    ledger_size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)


class Reading(IdMixin, Base):
    """The latest reading of one figure the operators watch, per host (``""`` for the platform
    as a whole): a disk's free space (``disk:<path>``, ``value`` free bytes of ``total``), the
    exchange's apply lag (``exchange:apply_lag``, seconds), its backlog. The job
    ``operations.watch`` writes this host's every minute; a recorder or a worker on another
    host writes its own. The rules ``ops_*`` judge the latest of each."""

    __tablename__ = "ops_reading"
    __table_args__ = (UniqueConstraint("host", "name"),)

    host: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    label: Mapped[str] = mapped_column(String(100))  # what it is, in words
    value: Mapped[float] = mapped_column(Float)
    total: Mapped[float | None] = mapped_column(Float, default=None)
    read_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class Threshold(ChangeLogged, IdMixin, TimestampMixin, Base):
    """The platform's value of one threshold of an operator rule (``ops_*``), over the rule's
    default: set by a platform administrator on the operations page (/ops). Platform-wide, not
    per region: the platform's disks and processes are its own."""

    __tablename__ = "ops_threshold"
    __table_args__ = (UniqueConstraint("rule_id", "key"),)
    __permission_entity__: ClassVar[str] = "ops"

    rule_id: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)

    def audit_repr(self) -> str:
        return f"{self.rule_id} {self.key}"
