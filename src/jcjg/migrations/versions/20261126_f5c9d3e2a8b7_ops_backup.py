"""Operations (issue 42): the backups made (ops_backup), the readings watched
(ops_reading) and the operator rules' thresholds (ops_threshold).

Revision ID: f5c9d3e2a8b7
Revises: e4b8c2d9f1a3
Create Date: 2026-11-26 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "f5c9d3e2a8b7"
down_revision: str | None = "e4b8c2d9f1a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ops_backup",
        sa.Column("started_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("files", sa.Integer(), nullable=True),
        sa.Column("ledger_size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=500), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_backup")),
    )
    with op.batch_alter_table("ops_backup", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ops_backup_started_at"), ["started_at"], unique=False)
    op.create_table(
        "ops_reading",
        sa.Column("host", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("total", sa.Float(), nullable=True),
        sa.Column("read_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_reading")),
        sa.UniqueConstraint("host", "name", name=op.f("uq_ops_reading_host_name")),
    )
    op.create_table(
        "ops_threshold",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ops_threshold")),
        sa.UniqueConstraint("rule_id", "key", name=op.f("uq_ops_threshold_rule_id_key")),
    )


def downgrade() -> None:
    op.drop_table("ops_threshold")
    op.drop_table("ops_reading")
    with op.batch_alter_table("ops_backup", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ops_backup_started_at"))
    op.drop_table("ops_backup")
