"""delivery proofs: a masked delivery's place in its notarised batch

Revision ID: f1b7c3d9e5a2
Revises: a8d4f2c61e07
Create Date: 2026-11-27 19:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f1b7c3d9e5a2"
down_revision: str | None = "a8d4f2c61e07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("share_delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proof", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("share_delivery", schema=None) as batch_op:
        batch_op.drop_column("proof")
