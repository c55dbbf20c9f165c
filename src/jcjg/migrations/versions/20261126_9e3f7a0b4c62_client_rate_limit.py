"""A client's own limit of requests a minute (issue 44: a lab's bulk sync is not capped by the
platform's default).

Revision ID: 9e3f7a0b4c62
Revises: 8d2e6fab3c51
Create Date: 2026-11-26 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9e3f7a0b4c62"
down_revision: str | None = "8d2e6fab3c51"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "exchange_client", sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("exchange_client", schema=None) as batch_op:
        batch_op.drop_column("rate_limit_per_minute")
