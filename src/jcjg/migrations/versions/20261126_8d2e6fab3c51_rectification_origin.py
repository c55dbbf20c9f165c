"""A child platform's rectification orders rebuilt on its parent keep where they came from (issue 41).

Revision ID: 8d2e6fab3c51
Revises: 7c1d5e9a2b40
Create Date: 2026-11-26 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "8d2e6fab3c51"
down_revision: str | None = "7c1d5e9a2b40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("rectification_order", sa.Column("origin", sa.String(100), nullable=True))
    op.add_column("rectification_order", sa.Column("origin_index", sa.BigInteger(), nullable=True))
    op.create_index("ix_rectification_event_ledger_index", "rectification_event", ["ledger_index"])


def downgrade() -> None:
    op.drop_index("ix_rectification_event_ledger_index", table_name="rectification_event")
    with op.batch_alter_table("rectification_order", schema=None) as batch_op:
        batch_op.drop_column("origin_index")
        batch_op.drop_column("origin")
