"""Exchange clients, their keys, and what they sent (000 6.0.1-6.0.8).

A client is the LIMS of one institution, or another platform (scoped to a region). It signs
each request with one of its keys (RFC 9421); a key has a validity window, may overlap its
successor during a rotation, and can be revoked. The platform keeps Ed25519 public keys, and
HMAC secrets encrypted under the platform secret (never in the change log).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin

_SCOPE = {"region": "region_code", "institution": "institution_id"}


class Client(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A system that exchanges data with the platform: a lab's LIMS or another platform."""

    __tablename__ = "exchange_client"
    __permission_entity__: ClassVar[str] = "exchange_client"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16), default="lims")  # ClientKind value
    # A LIMS belongs to one institution; a platform peer has none and covers region_code.
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # ClientStatus value
    vendor: Mapped[str | None] = mapped_column(String(100), default=None)
    contact_name: Mapped[str | None] = mapped_column(String(64), default=None)
    contact_phone: Mapped[str | None] = mapped_column(String(32), default=None)
    purpose: Mapped[str | None] = mapped_column(String(500), default=None)
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    decision_note: Mapped[str | None] = mapped_column(String(200), default=None)
    # Its own limit of requests a minute (a lab's bulk sync, a platform's forwards), set by an
    # approver; None: the platform's JCJG_EXCHANGE_RATE_LIMIT_PER_MINUTE
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer, default=None)
    # Bookkeeping, refreshed from the monitor's counters.
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)

    __audit_mask__: ClassVar[frozenset[str]] = frozenset({"contact_phone"})
    __audit_untracked__: ClassVar[frozenset[str]] = frozenset({"last_seen_at", "updated_at"})

    keys: Mapped[list[ClientKey]] = relationship(
        back_populates="client", order_by="ClientKey.id", lazy="selectin"
    )


class ClientKey(ChangeLogged, IdMixin, Base):
    """One signing key of a client: ``key_id`` is the RFC 9421 ``keyid`` it signs with."""

    __tablename__ = "exchange_client_key"
    __permission_entity__: ClassVar[str] = "exchange_client"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    client_id: Mapped[int] = mapped_column(ForeignKey("exchange_client.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    key_id: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16))  # "ed25519" | "hmac-sha256"
    # ed25519: the raw 32-byte public key. hmac-sha256: the secret, AES-GCM encrypted.
    key_material: Mapped[bytes] = mapped_column(LargeBinary)
    valid_from: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    revoke_reason: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    __audit_exclude__: ClassVar[frozenset[str]] = frozenset({"key_material"})

    client: Mapped[Client] = relationship(back_populates="keys", lazy="joined")

    def audit_repr(self) -> str:
        return self.key_id

    def state(self, now: dt.datetime) -> str:
        """``revoked``, ``not_yet_valid``, ``expired`` or ``valid`` at ``now``."""
        return key_state(self.valid_from, self.valid_until, self.revoked_at, now)


def key_state(
    valid_from: dt.datetime,
    valid_until: dt.datetime | None,
    revoked_at: dt.datetime | None,
    now: dt.datetime,
) -> str:
    """A key's state at ``now`` from its validity and revocation: ``revoked``,
    ``not_yet_valid``, ``expired`` or ``valid`` (the stored key's and the kept copy's)."""
    if revoked_at is not None and revoked_at <= now:
        return "revoked"
    if valid_from > now:
        return "not_yet_valid"
    if valid_until is not None and valid_until <= now:
        return "expired"
    return "valid"


class SeenNonce(Base):
    """A signature nonce already used with a key, kept for the replay window."""

    __tablename__ = "exchange_nonce"

    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


class Message(IdMixin, Base):
    """A message as received, kept verbatim with its receipt: the source of truth that the
    domain rows are applied from, in order per lane (``jcjg exchange replay`` re-applies).

    The request writes the row (``status`` ``accepted``) with the promise of its ledger leaf;
    an apply worker then applies it (``applied``, with ``results`` and ``warnings``) or refuses
    it (``rejected``, with ``problem``). Nothing else about it ever changes."""

    __tablename__ = "exchange_message"
    __permission_entity__: ClassVar[str] = "exchange_client"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (
        UniqueConstraint("client_id", "message_id"),
        # the apply workers' queue: what waits, per lane, oldest first
        Index("ix_exchange_message_status_lane", "status", "lane", "id"),
    )

    client_id: Mapped[int] = mapped_column(ForeignKey("exchange_client.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(64))
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institution.id"), index=True, default=None
    )
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    # messages of one lane are applied one after another, in acceptance order: "i<institution
    # id>" for an institution's messages, "r<region code>" for a region's
    lane: Mapped[str] = mapped_column(String(24))
    message_type: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(String(36))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # the request body, byte for byte
    content_sha256: Mapped[str] = mapped_column(String(64))  # of the canonical JSON (RFC 8785)
    signature_input: Mapped[str] = mapped_column(Text)
    signature: Mapped[str] = mapped_column(Text)
    # what else the signature covers, as received: {"method", "url", "headers": [[name,
    # value], ...]} (the covered header fields), so that a parent platform can verify the
    # lab's signature itself (jcjg.networking)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # a message forwarded by a child platform: where it was first accepted (platform, ledger
    # index and leaf hash there), how it is attested (the lab's own signature, verified here,
    # or only the child's), and what the child answered (its supervision code ...)
    origin: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)  # its ledger leaf
    receipt: Mapped[dict[str, Any]] = mapped_column(JSON)  # receipt v2, as answered
    status: Mapped[str] = mapped_column(String(16), default="accepted")  # MessageStatus
    applied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    results: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    warnings: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, default=None)
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class Lane(Base):
    """Who applies a lane's messages now: an apply worker holds a lane for ``lease_until`` and
    renews the lease in every batch's transaction, so two workers never apply one lane at once
    and a dead worker's lane is taken over once its lease lapses."""

    __tablename__ = "exchange_lane"

    lane: Mapped[str] = mapped_column(String(24), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    applied: Mapped[int] = mapped_column(BigInteger, default=0)


class ExchangeFile(IdMixin, Base):
    """A file a client uploaded (by PUT or tus), known by its SHA-256, per institution."""

    __tablename__ = "exchange_file"
    __permission_entity__: ClassVar[str] = "exchange_client"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (UniqueConstraint("sha256", "client_id"),)

    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    client_id: Mapped[int] = mapped_column(ForeignKey("exchange_client.id"), index=True)
    institution_id: Mapped[int | None] = mapped_column(Integer, index=True, default=None)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    filename: Mapped[str | None] = mapped_column(String(200), default=None)
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Upload(IdMixin, Base):
    """A tus 1.0 resumable upload in progress; the bytes so far live in a file on disk."""

    __tablename__ = "exchange_upload"

    token: Mapped[str] = mapped_column(String(64), unique=True)  # the URL's opaque id
    client_id: Mapped[int] = mapped_column(ForeignKey("exchange_client.id"), index=True)
    length: Mapped[int] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    metadata_: Mapped[dict[str, str]] = mapped_column("metadata", JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    completed_sha256: Mapped[str | None] = mapped_column(String(64), default=None)


class ClientStat(IdMixin, Base):
    """Counters per client, hour, message type and outcome (6.0.4 monitoring)."""

    __tablename__ = "exchange_client_stat"
    __table_args__ = (
        UniqueConstraint("client_id", "hour", "message_type", "outcome"),
        Index("ix_exchange_client_stat_hour", "hour"),
    )

    client_id: Mapped[int] = mapped_column(ForeignKey("exchange_client.id"), index=True)
    hour: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    message_type: Mapped[str] = mapped_column(String(64))  # "" for blobs and uploads
    outcome: Mapped[str] = mapped_column(String(64))  # accepted, duplicate, or the problem slug
    count: Mapped[int] = mapped_column(Integer, default=0)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms_sum: Mapped[float] = mapped_column(default=0.0)
    latency_ms_max: Mapped[float] = mapped_column(default=0.0)
