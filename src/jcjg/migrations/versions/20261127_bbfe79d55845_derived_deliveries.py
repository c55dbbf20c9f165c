"""Deliveries of derived data (issue 43): a delivery names either the applied message or the
derived record it was made of (a published or corrected penalty decision); ``share_record``
keeps each derived record as the deliver job last saw it public.

Revision ID: bbfe79d55845
Revises: f41b7c2e9d08
Create Date: 2026-11-27 22:02:59
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "bbfe79d55845"
down_revision: str | None = "f41b7c2e9d08"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "share_record",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("record_key", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seen_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_record")),
        sa.UniqueConstraint("source", "record_key", name=op.f("uq_share_record_source_record_key")),
    )
    with op.batch_alter_table("share_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_key", sa.BigInteger(), nullable=True))
        batch_op.alter_column("message_row_id", existing_type=sa.INTEGER(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM share_delivery WHERE message_row_id IS NULL")
    with op.batch_alter_table("share_delivery", schema=None) as batch_op:
        batch_op.alter_column("message_row_id", existing_type=sa.INTEGER(), nullable=False)
        batch_op.drop_column("record_key")
    op.drop_table("share_record")
