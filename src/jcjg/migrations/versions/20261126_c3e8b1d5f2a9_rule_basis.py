"""A region's own basis for a rule (issue 48 item 1: rule_basis).

Revision ID: c3e8b1d5f2a9
Revises: a7d2e9c4b1f6
Create Date: 2026-11-26 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import jcjg.core.db

revision: str = "c3e8b1d5f2a9"
down_revision: str | None = "a7d2e9c4b1f6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_basis",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("clause", sa.String(length=500), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", jcjg.core.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_code"], ["region.code"], name=op.f("fk_rule_basis_region_code_region")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_basis")),
        sa.UniqueConstraint(
            "rule_id", "region_code", name=op.f("uq_rule_basis_rule_id_region_code")
        ),
    )
    op.create_index(op.f("ix_rule_basis_region_code"), "rule_basis", ["region_code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rule_basis_region_code"), table_name="rule_basis")
    op.drop_table("rule_basis")
