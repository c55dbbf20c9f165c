"""An identity check's person digest is salted: the check keeps its random salt, which travels
beside its leaf and never into the log (issue 41).

Revision ID: a4f19c3e7b52
Revises: ce39aaa76dd6
Create Date: 2026-11-27 09:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a4f19c3e7b52"
down_revision: str | None = "ce39aaa76dd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("identity_check", sa.Column("person_salt", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("identity_check", schema=None) as batch_op:
        batch_op.drop_column("person_salt")
