"""identity check: the face distance and the threshold it was judged by

Revision ID: 5b0c7d1e9a42
Revises: f4ee1cee8602
Create Date: 2026-11-23 11:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b0c7d1e9a42"
down_revision: str | None = "f4ee1cee8602"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # ``score`` was never written (no matcher ran before this revision): it becomes the
    # matcher's distance, beside the threshold the result was judged by.
    with op.batch_alter_table("identity_check", schema=None) as batch_op:
        batch_op.alter_column("score", new_column_name="distance", existing_type=sa.Float())
        batch_op.add_column(sa.Column("threshold", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_check", schema=None) as batch_op:
        batch_op.drop_column("threshold")
        batch_op.alter_column("distance", new_column_name="score", existing_type=sa.Float())
