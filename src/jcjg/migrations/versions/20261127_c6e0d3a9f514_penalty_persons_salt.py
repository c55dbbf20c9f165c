"""A penalty's names digest is salted: the decision keeps its random salt, which travels beside
its leaf and never into the log (issue 41).

Revision ID: c6e0d3a9f514
Revises: 5f3c0a9e7d21
Create Date: 2026-11-27 12:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c6e0d3a9f514"
down_revision: str | None = "5f3c0a9e7d21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("penalty", sa.Column("persons_salt", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("penalty", schema=None) as batch_op:
        batch_op.drop_column("persons_salt")
