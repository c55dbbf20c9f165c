"""A relay refused for naming another log key than the one pinned keeps its proof and content,
and is judged again once an operator accepts the log's new key: when it was (issue 41).

Revision ID: f41b7c2e9d08
Revises: f1b7c3d9e5a2
Create Date: 2026-11-27 19:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "f41b7c2e9d08"
down_revision: str | None = "f1b7c3d9e5a2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("network_forwarded") as batch_op:
        batch_op.add_column(
            sa.Column("rejudged_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("network_forwarded") as batch_op:
        batch_op.drop_column("rejudged_at")
