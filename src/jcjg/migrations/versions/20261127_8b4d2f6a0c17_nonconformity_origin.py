"""A parent's register entry of a nonconforming result names the child's entry of the same
result (issue 41).

Revision ID: 8b4d2f6a0c17
Revises: 639a8c72cd82
Create Date: 2026-11-27 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8b4d2f6a0c17"
down_revision: str | None = "639a8c72cd82"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("nonconformity") as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(100), nullable=True))
        batch_op.add_column(sa.Column("origin_region", sa.String(6), nullable=True))
        batch_op.add_column(sa.Column("origin_index", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("origin_found_by", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("nonconformity") as batch_op:
        batch_op.drop_column("origin_found_by")
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin_region")
        batch_op.drop_column("origin")
