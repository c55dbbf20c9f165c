"""Three-level networking (issue 41): the forward cursor, child platforms, what they forwarded
and their labs' pinned keys; a message's signed request components and origin, and its leaf
hash indexed (the forwarder finds a leaf's message by it).

Revision ID: c3f1a8d2e7b4
Revises: a9c41e7b3d62
Create Date: 2026-11-25 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "c3f1a8d2e7b4"
down_revision: str | None = "a9c41e7b3d62"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "network_forward_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("upstream", sa.String(length=200), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=True),
        sa.Column("lease_until", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("forwarded", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.Column("last_forward_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_forward_cursor")),
    )
    op.create_table(
        "network_child",
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("base_url", sa.String(length=200), nullable=False),
        sa.Column("log_origin", sa.String(length=200), nullable=False),
        sa.Column("log_key", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("halted_reason", sa.String(length=500), nullable=True),
        sa.Column("next_index", sa.BigInteger(), nullable=False),
        sa.Column("forwarded", sa.BigInteger(), nullable=False),
        sa.Column("refused", sa.BigInteger(), nullable=False),
        sa.Column("last_forward_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("backlog", sa.BigInteger(), nullable=False),
        sa.Column("oldest_waiting_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("checked_size", sa.BigInteger(), nullable=False),
        sa.Column("checked_root", sa.LargeBinary(length=32), nullable=True),
        sa.Column("checked_note", sa.Text(), nullable=True),
        sa.Column("checked_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cosigned_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_check_error", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["exchange_client.id"],
            name=op.f("fk_network_child_client_id_exchange_client"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_child")),
        sa.UniqueConstraint("client_id", name=op.f("uq_network_child_client_id")),
    )
    with op.batch_alter_table("network_child", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_network_child_region_code"), ["region_code"], unique=False
        )

    op.create_table(
        "network_forwarded",
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("origin_index", sa.BigInteger(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("entry_type", sa.String(length=64), nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("notarised_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("attestation", sa.String(length=16), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("problem", sa.JSON(), nullable=True),
        sa.Column("received_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["network_child.id"],
            name=op.f("fk_network_forwarded_child_id_network_child"),
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["exchange_message.id"],
            name=op.f("fk_network_forwarded_message_id_exchange_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_forwarded")),
        sa.UniqueConstraint(
            "child_id", "origin_index", name=op.f("uq_network_forwarded_child_id_origin_index")
        ),
    )
    with op.batch_alter_table("network_forwarded", schema=None) as batch_op:
        batch_op.create_index(
            "ix_network_forwarded_child_outcome", ["child_id", "outcome"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_network_forwarded_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_network_forwarded_received_at"), ["received_at"], unique=False
        )

    op.create_table(
        "network_lab_key",
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("alg", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("institution_code", sa.String(length=32), nullable=True),
        sa.Column("first_seen_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["network_child.id"],
            name=op.f("fk_network_lab_key_child_id_network_child"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_lab_key")),
        sa.UniqueConstraint("child_id", "key_id", name=op.f("uq_network_lab_key_child_id_key_id")),
    )
    with op.batch_alter_table("exchange_message", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("origin", sa.JSON(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_exchange_message_leaf_hash"), ["leaf_hash"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("exchange_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_exchange_message_leaf_hash"))
        batch_op.drop_column("origin")
        batch_op.drop_column("request")

    op.drop_table("network_lab_key")
    with op.batch_alter_table("network_forwarded", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_forwarded_received_at"))
        batch_op.drop_index(batch_op.f("ix_network_forwarded_message_id"))
        batch_op.drop_index("ix_network_forwarded_child_outcome")

    op.drop_table("network_forwarded")
    with op.batch_alter_table("network_child", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_network_child_region_code"))

    op.drop_table("network_child")
    op.drop_table("network_forward_cursor")
