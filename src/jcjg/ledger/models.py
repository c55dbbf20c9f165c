"""Storage of the log: leaves, perfect-subtree nodes, the index counter, the integrated head and
signed checkpoints. Rows are only ever inserted (the head row is the one row updated)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from jcjg.core.db import Base, UTCDateTime, utcnow


class LedgerLeaf(Base):
    """One notarised entry. ``leaf_index`` is assigned gap-free when the entry is appended."""

    __tablename__ = "ledger_leaf"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    entry_type: Mapped[str] = mapped_column(String(64), index=True)
    entry: Mapped[bytes] = mapped_column(LargeBinary)  # canonical JSON bytes, as hashed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerNode(Base):
    """The hash of a perfect subtree of level >= 1 (level 0 are the leaves' hashes)."""

    __tablename__ = "ledger_node"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    node_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class LedgerQueued(Base):
    """An entry promised but not yet sequenced: appended on a hot path (an exchange request)
    without touching the counter; the sequencer (:func:`jcjg.ledger.service.sequence`) gives the
    queued entries their indices in ``id`` order and moves them into ``ledger_leaf``."""

    __tablename__ = "ledger_queued"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    entry_type: Mapped[str] = mapped_column(String(64))
    entry: Mapped[bytes] = mapped_column(LargeBinary)  # canonical JSON bytes, as hashed
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerCounter(Base):
    """The next leaf index. Incremented inside the appending transaction, so a rolled-back
    append gives its index back: indices are unique and leave no hole."""

    __tablename__ = "ledger_counter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_index: Mapped[int] = mapped_column(BigInteger)


class LedgerHead(Base):
    """How far the tree is integrated, and its root there (one row, updated by the sequencer
    with a compare-and-set on ``size``)."""

    __tablename__ = "ledger_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerCheckpoint(Base):
    """A signed checkpoint (C2SP signed note) of one tree size, with any cosignatures."""

    __tablename__ = "ledger_checkpoint"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
