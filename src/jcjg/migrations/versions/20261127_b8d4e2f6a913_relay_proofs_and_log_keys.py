"""A relay of a child's fact waits, alone, for the child's checkpoint to cover it and keeps the
proof read then; the log keys of the platforms below a child are pinned on first sight
(issue 41).

Revision ID: b8d4e2f6a913
Revises: 1db00d92bf74
Create Date: 2026-11-27 12:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "b8d4e2f6a913"
down_revision: str | None = "1db00d92bf74"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("network_forwarded") as batch_op:
        batch_op.add_column(sa.Column("relay_proof", sa.JSON(), nullable=True))
    op.create_table(
        "network_log_key",
        sa.Column("origin", sa.String(length=200), nullable=False),
        sa.Column("log_key", sa.String(length=300), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["network_child.id"],
            name=op.f("fk_network_log_key_child_id_network_child"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_network_log_key")),
        sa.UniqueConstraint("origin", name=op.f("uq_network_log_key_origin")),
    )


def downgrade() -> None:
    op.drop_table("network_log_key")
    with op.batch_alter_table("network_forwarded") as batch_op:
        batch_op.drop_column("relay_proof")
