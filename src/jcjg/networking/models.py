"""Three-level networking (000 3.0.4, 4.1.5, 6.0.7; 004 二): what a platform keeps of its
upstream (the forward cursor) and of its children (their log, their forwards, their labs' keys).

A child forwards its log to its parent in order: every leaf, from the first, the accepted
messages with their raw bodies and signatures, the platform's own facts as their notarised
entries. The parent keeps each forwarded leaf once (:class:`Forwarded`, unique per child and
index), applies the messages itself, and watches the child's checkpoints (:class:`Child`).
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
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow
from jcjg.core.mixins import ChangeLogged, IdMixin, TimestampMixin

_SCOPE = {"region": "region_code"}


class ForwardCursor(Base):
    """Where forwarding to the upstream stands: the next leaf index of this platform's log to
    forward. One row. A forwarder (a thread of any process) holds it with a lease renewed on
    every batch, so several processes never forward at once; the position moves only after the
    parent acknowledged a batch, and the parent answers a batch sent again as duplicates, so a
    crash anywhere loses and doubles nothing."""

    __tablename__ = "network_forward_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    upstream: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(BigInteger, default=0)
    holder: Mapped[str | None] = mapped_column(String(64), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    forwarded: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)  # leaves the parent refused
    last_forward_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # attempts failed in a row
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)


class Child(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A platform below this one (a city's under its province): its exchange client (the key
    it signs forwards with), its public address and log key, and how its forwarding and its log
    stand. ``status`` ``halted`` when its log was found inconsistent: its forwards are refused
    until an operator resumes it."""

    __tablename__ = "network_child"
    __permission_entity__: ClassVar[str] = "network_child"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    client_id: Mapped[int] = mapped_column(ForeignKey("exchange_client.id"), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    base_url: Mapped[str] = mapped_column(String(200))
    log_origin: Mapped[str] = mapped_column(String(200))
    log_key: Mapped[str] = mapped_column(String(300))  # its note verifier key
    status: Mapped[str] = mapped_column(String(16), default="active")  # ChildStatus
    halted_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    # forwarding, as its forwards tell
    next_index: Mapped[int] = mapped_column(BigInteger, default=0)  # the next leaf expected
    forwarded: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)
    last_forward_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    backlog: Mapped[int] = mapped_column(BigInteger, default=0)  # leaves it still holds back
    oldest_waiting_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    # its log, as we checked it
    checked_size: Mapped[int] = mapped_column(BigInteger, default=0)
    checked_root: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    checked_note: Mapped[str | None] = mapped_column(Text, default=None)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    cosigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    last_check_error: Mapped[str | None] = mapped_column(String(500), default=None)

    __audit_untracked__: ClassVar[frozenset[str]] = frozenset(
        {
            "next_index",
            "forwarded",
            "refused",
            "last_forward_at",
            "backlog",
            "oldest_waiting_at",
            "checked_size",
            "checked_root",
            "checked_note",
            "checked_at",
            "cosigned_at",
            "last_check_error",
            "updated_at",
        }
    )

    def audit_repr(self) -> str:
        return self.name


class Forwarded(IdMixin, Base):
    """One leaf of a child's log as the child forwarded it: a lab's message (``message_id`` the
    row it became here) or a fact of the child's (its notarised entry). ``outcome``: ``stored``
    (a message, to be applied here), ``recorded`` (a fact), ``duplicate`` (the message reached
    this platform by another path first), ``refused`` (with ``problem``: a lab signature that
    does not verify, an entry that is not the leaf ...), ``origin_rejected`` (the child itself
    rejected the message: kept, not applied)."""

    __tablename__ = "network_forwarded"
    __permission_entity__: ClassVar[str] = "network_child"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE
    __table_args__ = (
        UniqueConstraint("child_id", "origin_index"),
        UniqueConstraint("source_origin", "source_index"),
        Index("ix_network_forwarded_child_outcome", "child_id", "outcome"),
    )

    child_id: Mapped[int] = mapped_column(ForeignKey("network_child.id"))
    region_code: Mapped[str] = mapped_column(String(6))
    origin_index: Mapped[int] = mapped_column(BigInteger)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_type: Mapped[str] = mapped_column(String(64))
    entry: Mapped[bytes] = mapped_column(LargeBinary)  # the leaf's canonical bytes, as hashed
    notarised_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(16))
    attestation: Mapped[str | None] = mapped_column(String(16), default=None)  # Attestation
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("exchange_message.id"), index=True, default=None
    )
    problem: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # a fact rebuilt here: where it was first notarised (the log's origin and the leaf's index
    # there: the child's, or the grandchild's a relay names), once whatever path it came by;
    # the content it came with, and the leaf of this platform's log that relays it upward
    source_origin: Mapped[str | None] = mapped_column(String(200), default=None)
    source_index: Mapped[int | None] = mapped_column(BigInteger, default=None)
    content: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    relay_leaf_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), index=True, default=None)
    # a fact of the child's own rebuilt here while this platform has an upstream: its relay
    # leaf is notarised only once the child's checked checkpoint covers the child's leaf
    # (``rebuilt`` with no relay leaf yet: waiting for it), and the proof read then is kept
    # here for the forward (the child's checkpoint cosigned here, the leaf's inclusion proof).
    # A relay of the child's child's fact refused for naming another log key than the one
    # pinned keeps the proof it came with here (and its content), to be judged again once an
    # operator accepts the log's new key (``log_keys.rejudge``; ``rejudged_at`` when it was)
    relay_proof: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    rejudged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)


class LabKey(IdMixin, Base):
    """A lab's public key (Ed25519 or SM2) as a child forwarded it (with the first message it
    signed): pinned, so that the child cannot later swap the key under a key id it once
    forwarded."""

    __tablename__ = "network_lab_key"
    __table_args__ = (UniqueConstraint("child_id", "key_id"),)

    child_id: Mapped[int] = mapped_column(ForeignKey("network_child.id"))
    key_id: Mapped[str] = mapped_column(String(64))
    alg: Mapped[str] = mapped_column(String(16))
    public_key: Mapped[bytes] = mapped_column(LargeBinary(65))
    institution_code: Mapped[str | None] = mapped_column(String(32), default=None)
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LogKey(IdMixin, Base):
    """The log verifier key of a platform below a child of ours (a city under a province under
    this nation), as the first relay of one of its facts named it (the key its parent
    registered): pinned, so that a relay naming another key for that log is refused instead of
    being checked against the key it brings."""

    __tablename__ = "network_log_key"

    origin: Mapped[str] = mapped_column(String(200), unique=True)  # the log's origin
    log_key: Mapped[str] = mapped_column(String(300))
    child_id: Mapped[int] = mapped_column(ForeignKey("network_child.id"))  # who relayed it first
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Application(ChangeLogged, IdMixin, TimestampMixin, Base):
    """A platform's application for access to this one as its child (000 6.0.7: its address,
    how it authenticates, its keys), sent online (``POST /exchange/v1/platform-applications``,
    signed with the Ed25519 key it will forward with) and approved or rejected here by the
    province's operators; approving registers the child (:class:`Child`) with that key.
    ``reference`` is what the applicant asks its status by."""

    __tablename__ = "network_application"
    __permission_entity__: ClassVar[str] = "network_child"
    __scope_columns__: ClassVar[dict[str, str]] = _SCOPE

    reference: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    base_url: Mapped[str] = mapped_column(String(200))
    log_key: Mapped[str] = mapped_column(String(300))
    log_origin: Mapped[str] = mapped_column(String(200), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)  # raw Ed25519
    contact_name: Mapped[str] = mapped_column(String(50))
    contact_phone: Mapped[str] = mapped_column(String(20))
    contact_email: Mapped[str | None] = mapped_column(String(100), default=None)
    note: Mapped[str | None] = mapped_column(String(500), default=None)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # ApplicationStatus
    reason: Mapped[str | None] = mapped_column(String(500), default=None)
    address_check: Mapped[str | None] = mapped_column(String(300), default=None)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, default=None)
    child_id: Mapped[int | None] = mapped_column(ForeignKey("network_child.id"), default=None)
    key_id: Mapped[str | None] = mapped_column(String(64), default=None)

    def audit_repr(self) -> str:
        return self.name
