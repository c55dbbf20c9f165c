"""A child platform's penalty decisions rebuilt on its parent keep where they came from (issue 41).

Revision ID: 7c1d5e9a2b40
Revises: 2e4cf997f639
Create Date: 2026-11-26 20:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "7c1d5e9a2b40"
down_revision: str | None = "2e4cf997f639"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("penalty", sa.Column("origin", sa.String(100), nullable=True))
    op.add_column("penalty", sa.Column("origin_index", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("penalty", schema=None) as batch_op:
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
