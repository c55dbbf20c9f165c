"""A one-time login code by SMS or e-mail for authority accounts (issue 48 item 7).

Revision ID: 969cec8006b2
Revises: afec39506a00
Create Date: 2026-11-26 17:25:45.687401
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "969cec8006b2"
down_revision: str | None = "afec39506a00"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("user_account", sa.Column("login_code_channel", sa.String(8), nullable=True))
    op.add_column("user_session", sa.Column("login_code_hash", sa.String(64), nullable=True))
    op.add_column(
        "user_session",
        sa.Column("login_code_sent_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("login_code_sent_at")
        batch_op.drop_column("login_code_hash")

    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("login_code_channel")
