"""A child platform's concrete pours rebuilt on its parent keep where they came from; the
child's sampler who recorded one holds no account here (issue 41).

Revision ID: c3e81f5a7d20
Revises: 8b4d2f6a0c17
Create Date: 2026-11-27 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c3e81f5a7d20"
down_revision: str | None = "8b4d2f6a0c17"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("concrete_pour", sa.Column("origin", sa.String(100), nullable=True))
    op.add_column("concrete_pour", sa.Column("origin_index", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("concrete_pour", schema=None) as batch_op:
        batch_op.alter_column("recorded_by", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    # a child's pours name no account here: they go with the columns that mark them
    children = "SELECT id FROM concrete_pour WHERE origin IS NOT NULL"
    op.execute(f"UPDATE sample SET pour_id = NULL WHERE pour_id IN ({children})")  # noqa: S608
    op.execute("DELETE FROM concrete_pour WHERE origin IS NOT NULL")
    with op.batch_alter_table("concrete_pour", schema=None) as batch_op:
        batch_op.alter_column("recorded_by", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
