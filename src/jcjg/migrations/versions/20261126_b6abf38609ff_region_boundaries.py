"""Region boundaries as reference data, for the region view's map (issue 48 item 5).

Revision ID: b6abf38609ff
Revises: c3e8b1d5f2a9
Create Date: 2026-11-26 17:00:47.430993
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b6abf38609ff"
down_revision: str | None = "c3e8b1d5f2a9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "region_boundary",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("geometry", sa.JSON(), nullable=False),
        sa.Column("label_lon", sa.Float(), nullable=False),
        sa.Column("label_lat", sa.Float(), nullable=False),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["code"], ["region.code"], name=op.f("fk_region_boundary_code_region")
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["reference_edition.id"],
            name=op.f("fk_region_boundary_edition_id_reference_edition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_region_boundary")),
        sa.UniqueConstraint("edition_id", "code", name=op.f("uq_region_boundary_edition_id_code")),
    )
    op.create_index(op.f("ix_region_boundary_code"), "region_boundary", ["code"])


def downgrade() -> None:
    op.drop_index(op.f("ix_region_boundary_code"), table_name="region_boundary")
    op.drop_table("region_boundary")
