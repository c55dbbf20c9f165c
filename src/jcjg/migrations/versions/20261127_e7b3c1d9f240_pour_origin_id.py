"""A child platform's pour rebuilt on its parent keeps the pour's id on the child, by which the
child's samples cast from it name it (issue 41).

Revision ID: e7b3c1d9f240
Revises: d5a92c4e1b63
Create Date: 2026-11-27 09:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e7b3c1d9f240"
down_revision: str | None = "d5a92c4e1b63"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("concrete_pour", sa.Column("origin_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("concrete_pour", schema=None) as batch_op:
        batch_op.drop_column("origin_id")
