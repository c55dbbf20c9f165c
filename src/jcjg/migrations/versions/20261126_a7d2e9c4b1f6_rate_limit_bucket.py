"""Rate limits shared by every process on the database (issue 42: rate_limit_bucket).

Revision ID: a7d2e9c4b1f6
Revises: f5c9d3e2a8b7
Create Date: 2026-11-26 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d2e9c4b1f6"
down_revision: str | None = "f5c9d3e2a8b7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_bucket",
        sa.Column("limiter", sa.String(length=40), nullable=False),
        sa.Column("bucket_key", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("granted", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("limiter", "bucket_key", name=op.f("pk_rate_limit_bucket")),
    )


def downgrade() -> None:
    op.drop_table("rate_limit_bucket")
