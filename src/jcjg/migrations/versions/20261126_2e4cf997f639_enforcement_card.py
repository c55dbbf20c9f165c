"""Officers' enforcement cards: only they are drawn to check (issue 48: 双随机 drew office accounts).

Revision ID: 2e4cf997f639
Revises: 969cec8006b2
Create Date: 2026-11-26 17:36:14.706925
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2e4cf997f639"
down_revision: str | None = "969cec8006b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("user_account", sa.Column("enforcement_card", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("user_account", schema=None) as batch_op:
        batch_op.drop_column("enforcement_card")
