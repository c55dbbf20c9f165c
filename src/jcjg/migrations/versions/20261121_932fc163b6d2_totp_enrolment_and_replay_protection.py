"""totp enrolment and replay protection

Revision ID: 932fc163b6d2
Revises: 8d14f56f8637
Create Date: 2026-11-21 08:54:39.257970
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "932fc163b6d2"
down_revision: str | None = "8d14f56f8637"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_pending_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("totp_failures", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("totp_last_step", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("totp_last_step")
        batch_op.drop_column("totp_failures")
        batch_op.drop_column("totp_pending_secret")
