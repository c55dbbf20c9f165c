"""Login captchas used up (issue 48 item 7: a graphic captcha after failed logins).

Revision ID: afec39506a00
Revises: b6abf38609ff
Create Date: 2026-11-26 17:21:00.801224
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "afec39506a00"
down_revision: str | None = "b6abf38609ff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "used_captcha",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_used_captcha")),
    )
    op.create_index(op.f("ix_used_captcha_used_at"), "used_captcha", ["used_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_used_captcha_used_at"), table_name="used_captcha")
    op.drop_table("used_captcha")
