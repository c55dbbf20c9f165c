"""A fact a parent rebuilt from a child goes on up: the forwarded row keeps the fact's first
origin (refused a second time by another path), the content it came with, and the leaf of this
platform's log that relays it (issue 41).

Revision ID: 5e2b7d90c1a4
Revises: 275661ee4df5
Create Date: 2026-11-27 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e2b7d90c1a4"
down_revision: str | None = "275661ee4df5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("network_forwarded") as batch_op:
        batch_op.add_column(sa.Column("source_origin", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("source_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("content", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("relay_leaf_hash", sa.LargeBinary(32), nullable=True))
        batch_op.create_unique_constraint(
            "uq_network_forwarded_source_origin_source_index", ["source_origin", "source_index"]
        )
        batch_op.create_index("ix_network_forwarded_relay_leaf_hash", ["relay_leaf_hash"])


def downgrade() -> None:
    with op.batch_alter_table("network_forwarded") as batch_op:
        batch_op.drop_index("ix_network_forwarded_relay_leaf_hash")
        batch_op.drop_constraint("uq_network_forwarded_source_origin_source_index", type_="unique")
        batch_op.drop_column("relay_leaf_hash")
        batch_op.drop_column("content")
        batch_op.drop_column("source_index")
        batch_op.drop_column("source_origin")
