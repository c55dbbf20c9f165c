"""Test records carry their annual sequence (numbering continuity).

Revision ID: 96e3e2899f21
Revises: 8a65e85df908
Create Date: 2026-11-21 16:48:50.423942
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "96e3e2899f21"
down_revision: str | None = "8a65e85df908"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("test_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sequence", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("test_record", schema=None) as batch_op:
        batch_op.drop_column("sequence")
