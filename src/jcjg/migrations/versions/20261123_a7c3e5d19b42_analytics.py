"""analytics: saved analyses of the decision-analysis workbench (issue 24).

Revision ID: a7c3e5d19b42
Revises: 7c94b822bdc1
Create Date: 2026-11-23 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "a7c3e5d19b42"
down_revision: str | None = "7c94b822bdc1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analysis",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=True),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.String(length=8), nullable=False),
        sa.Column("last_run_at", jcjg.core.db.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institution.id"],
            name=op.f("fk_analysis_institution_id_institution"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user_account.id"], name=op.f("fk_analysis_owner_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analysis")),
    )
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_analysis_institution_id"), ["institution_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_analysis_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_analysis_region_code"), ["region_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("analysis", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analysis_region_code"))
        batch_op.drop_index(batch_op.f("ix_analysis_owner_id"))
        batch_op.drop_index(batch_op.f("ix_analysis_institution_id"))
    op.drop_table("analysis")
