"""A child platform's identity checks rebuilt on its parent keep where they came from and who
was checked, by name: the person holds no account here (issue 41).

Revision ID: d5a92c4e1b63
Revises: c3e81f5a7d20
Create Date: 2026-11-27 06:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "d5a92c4e1b63"
down_revision: str | None = "c3e81f5a7d20"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("identity_check", sa.Column("origin", sa.String(100), nullable=True))
    op.add_column("identity_check", sa.Column("origin_index", sa.BigInteger(), nullable=True))
    op.add_column(
        "identity_check",
        sa.Column("person_name", sa.String(64), nullable=False, server_default=""),
    )
    with op.batch_alter_table("identity_check", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("person_name", server_default=None)


def downgrade() -> None:
    # a child's checks name no account here: they go with the columns that mark them
    op.execute("DELETE FROM identity_check WHERE origin IS NOT NULL")
    with op.batch_alter_table("identity_check", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("person_name")
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
