"""Administrative penalties (行政处罚, 000 4.2.2 item 6): one decision each, against an
institution and optionally people of it, with its legal basis, facts, kind, amount, date and
publicity period (公示期)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import ClassVar

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin


class Penalty(ChangeLogged, IdMixin, TimestampMixin, Base):
    """An administrative penalty decision (行政处罚决定). ``region_code`` is the institution's
    region (the data scope: its city and province see it); ``issuer_region_code`` the issuing
    authority's. ``person_ids`` name registry people (``person``) the decision names;
    ``person_names`` keeps their names as decided (shown to the public only while public).
    ``origin`` names the child platform a decision came from (docs/networking.md)."""

    __tablename__ = "penalty"
    __permission_entity__: ClassVar[str] = "penalty"
    __scope_columns__: ClassVar[dict[str, str]] = {
        "region": "region_code",
        "institution": "institution_id",
    }
    __audit_mask__ = frozenset({"person_names"})
    __audit_exclude__ = frozenset({"persons_salt"})  # with the digest, it tests a guessed name

    number: Mapped[str] = mapped_column(String(64), unique=True)  # 处罚决定书文号
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    issuer_region_code: Mapped[str] = mapped_column(String(6), index=True)
    issuer: Mapped[str] = mapped_column(String(100))  # 处罚机关 as written on the decision
    person_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    person_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    # the random salt of the names' digest in the ledger (``service.names_digest``); None for a
    # decision notarised before salts
    persons_salt: Mapped[str | None] = mapped_column(String(32), default=None)
    basis_code: Mapped[str] = mapped_column(String(16))  # regulation.code
    basis_article: Mapped[str] = mapped_column(String(64), default="")  # 第三十一条
    facts: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # PenaltyKind
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), default=None)  # yuan
    decided_on: Mapped[dt.date] = mapped_column(Date, index=True)
    public_from: Mapped[dt.date] = mapped_column(Date)
    public_until: Mapped[dt.date] = mapped_column(Date, index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    ledger_index: Mapped[int | None] = mapped_column(Integer, default=None)  # latest entry's
    # a decision a child platform recorded and forwarded (penalties.facts): the child's name
    # here, and the index of its latest entry in the child's log; only the child corrects it
    origin: Mapped[str | None] = mapped_column(String(100), default=None)
    origin_index: Mapped[int | None] = mapped_column(BigInteger, default=None)

    def audit_repr(self) -> str:
        return self.number

    def is_public(self, today: dt.date) -> bool:
        return self.public_from <= today <= self.public_until
